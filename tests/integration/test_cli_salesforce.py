"""`revsync sync --org salesforce` as a subprocess against the fake org over HTTPS on loopback."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.workspace.scaffold import scaffold
from tests.fake_salesforce_server import FakeSalesforceServer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture()
def server(tmp_path):
    scaffold(tmp_path)
    _no_lag(tmp_path)
    create_demo_org(tmp_path / "org.db", leads=300, seed=2)
    srv = FakeSalesforceServer(tmp_path / "org.db", tmp_path)
    yield srv, tmp_path
    srv.stop()


def _no_lag(ws: Path) -> None:
    # The fake org's records were all written moments ago: read them without the usual lag.
    with (ws / "revsync.toml").open("a") as fh:
        fh.write("lag_seconds = 0\n")


def revsync(cwd: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SF_")}
    module = "tests.killpoints" if "REVSYNC_KILL_AT" in env else "cli"  # the kill harness
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                          env={**clean, "PYTHONPATH": str(ROOT), **env}, timeout=300)


def test_sync_doctor_and_preview_against_salesforce(server):
    srv, ws = server
    env = srv.env()
    doctor = revsync(ws, env, "doctor", "--org", "salesforce")
    assert doctor.returncode == 0 and "ready" in doctor.stdout, doctor.stderr
    first = revsync(ws, env, "sync", "-v", "--org", "salesforce", "--now", "2026-11-24T15:00:00Z")
    assert first.returncode == 0, first.stderr
    done = [json.loads(line) for line in first.stderr.splitlines() if '"run_done"' in line][-1]
    assert done["written"] > 200 and done["api_calls"] >= done["written"] // 200
    # Owners by name from the state, which keeps the users and queues the sync read: no login needed.
    shown = revsync(ws, {}, "runs", "show", "1", "--org", "salesforce")
    assert shown.returncode == 0 and "owner moves" in shown.stdout, shown.stdout + shown.stderr
    assert "@" in shown.stdout and not re.search(r"\b00[5G][A-Za-z0-9]{12}", shown.stdout), shown.stdout
    second = revsync(ws, env, "sync", "--org", "salesforce", "--now", "2026-11-24T15:00:00Z")
    assert second.returncode == 0 and "wrote 0" in second.stdout
    assert env["SF_ACCESS_TOKEN"] not in first.stdout + first.stderr + second.stderr  # never logged


def test_wrong_token_is_one_clear_error_and_exit_3(server):
    srv, ws = server
    env = {**srv.env(), "SF_ACCESS_TOKEN": "00Dwrong!token"}
    proc = revsync(ws, env, "sync", "--org", "salesforce")
    assert proc.returncode == 3, proc.stderr
    assert "INVALID_SESSION_ID" in proc.stderr and "Traceback" not in proc.stderr
    assert "00Dwrong!token" not in proc.stderr


def test_untrusted_certificate_is_refused(server):
    srv, ws = server
    env = {**srv.env(), "REQUESTS_CA_BUNDLE": ""}
    env.pop("REQUESTS_CA_BUNDLE")
    proc = revsync(ws, env, "doctor", "--org", "salesforce")
    from connector.orgs.salesforce import API_VERSION
    # The org's problem (exit 3), not a bug: the person reads which request failed, that the
    # certificate is the reason and how to trust it. OpenSSL's reason in between varies by version.
    assert proc.returncode == 3, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith(f"error: GET /services/data/v{API_VERSION}/sobjects/Lead/describe: "
                           f"the TLS certificate of {srv.url} could not be verified"), proc.stderr
    assert last.endswith("set REQUESTS_CA_BUNDLE to a PEM file holding that authority's certificate, "
                         "then run again"), proc.stderr
    # Nothing that reads as if the org had been checked, and no retries: the same trust store
    # refuses the certificate every time.
    assert proc.stdout == "" and "salesforce_retry" not in proc.stderr, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and env["SF_ACCESS_TOKEN"] not in proc.stderr


def test_killed_run_against_salesforce_resumes_to_the_uninterrupted_state(tmp_path):
    import sqlite3
    results = {}
    for name, fault in (("straight", None), ("killed", "after-write:1")):
        ws = tmp_path / name
        ws.mkdir()
        scaffold(ws)
        _no_lag(ws)
        create_demo_org(ws / "org.db", leads=500, seed=4)
        srv = FakeSalesforceServer(ws / "org.db", ws)
        try:
            env = srv.env()
            if fault:
                crashed = revsync(ws, {**env, "REVSYNC_KILL_AT": fault}, "sync", "--org", "salesforce",
                                  "--now", "2026-11-24T15:00:00Z")
                assert crashed.returncode == -9, crashed.stderr
            proc = revsync(ws, env, "sync", "--org", "salesforce", "--now", "2026-11-24T15:00:00Z")
            assert proc.returncode == 0, proc.stderr
        finally:
            srv.stop()
        db = sqlite3.connect(ws / "org.db")
        results[name] = db.execute("SELECT Id, OwnerId, Revsync_Stage__c, Revsync_Score__c, Revsync_SLA_Due__c "
                                   "FROM Lead ORDER BY Id").fetchall()
    assert results["killed"] == results["straight"]
