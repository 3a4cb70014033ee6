"""kill -9 between a run's spooling and its writes, and inside its Bulk write, through the CLI and
the fake Salesforce over HTTPS: the run after it leaves the org as an uninterrupted run does,
with no record lost and none written twice (tests/killpoints.py names the points)."""
from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.workspace.scaffold import scaffold
from tests.fake_salesforce_server import FakeSalesforceServer
from tests.integration.test_cli_salesforce import revsync

NOW = "2026-11-24T15:00:00Z"
# The 450 or so changes of a first sync of 500 leads: through one ingest job at 100, through
# sObject Collections (after spooling, as the run may reach the threshold) at the default 2,000.
SETTINGS = {"bulk": "bulk_write_threshold = 100\n", "rest": ""}


def synced(where: Path, path: str, fault: str | None) -> tuple[list, Counter, list[int]]:
    """The org's decisions after a sync (killed at `fault`, then run again), the updates each
    record received, and the runs' exit codes."""
    where.mkdir()
    scaffold(where)
    with (where / "revsync.toml").open("a") as fh:
        fh.write("lag_seconds = 0\n" + SETTINGS[path])
    create_demo_org(where / "org.db", leads=500, seed=4)
    srv = FakeSalesforceServer(where / "org.db", where)
    codes = []
    try:
        env = srv.env()
        if fault:
            codes.append(revsync(where, {**env, "REVSYNC_KILL_AT": fault}, "sync", "--org", "salesforce",
                                 "--now", NOW).returncode)
        proc = revsync(where, env, "sync", "--org", "salesforce", "--now", NOW)
        assert proc.returncode == 0, proc.stderr
        codes.append(proc.returncode)
        writes, jobs = Counter(srv.fake.record_writes), [j for j in srv.fake.jobs.values() if j["operation"] == "update"]
    finally:
        srv.stop()
    # The Bulk path's job, unless the run was killed before it; a recovered page goes through REST.
    assert bool(jobs) == (path == "bulk" and fault != "after-spool")
    db = sqlite3.connect(where / "org.db")
    rows = db.execute("SELECT Id, OwnerId, Revsync_Stage__c, Revsync_Score__c, Revsync_SLA_Due__c, "
                      "Revsync_Lifecycle__c FROM Lead ORDER BY Id").fetchall()
    db.close()
    return rows, writes, codes


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An uninterrupted run of the same org, on each path."""
    return {path: synced(tmp_path_factory.mktemp(path) / "org", path, None) for path in SETTINGS}


@pytest.mark.parametrize("path, fault", [("bulk", "after-spool"), ("rest", "after-spool"), ("bulk", "mid-write"),
                                         ("bulk", "after-write:2")])
def test_a_run_killed_after_spooling_or_in_its_bulk_write_loses_nothing_and_doubles_nothing(
        tmp_path, straight, path, fault):
    expected, straight_writes, _ = straight[path]
    assert len(straight_writes) > 400 and max(straight_writes.values()) == 1
    rows, writes, codes = synced(tmp_path / "killed", path, fault)
    assert codes == [-9, 0]  # SIGKILL, then a run that finishes
    assert rows == expected  # the same owners, stages, scores, deadlines and lifecycle memory
    assert [rid for rid in straight_writes if not writes[rid]] == []  # lost
    assert [rid for rid, n in writes.items() if n > 1] == []  # written twice
