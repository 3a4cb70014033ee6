"""One state per Salesforce org: two orgs synced from one directory keep apart, a state of
another org is refused, and the single state older versions kept is adopted by its own org."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.sync.journal import State
from connector.workspace.scaffold import scaffold
from rules.values import id18
from tests.fake_salesforce_server import FakeSalesforceServer
from tests.integration.test_cli_salesforce import _no_lag, revsync

NOW = "2026-11-24T15:00:00Z"
ORG_A, ORG_B = id18("00D5g000004FAKE"), id18("00D5g00000BBBBB")


@pytest.fixture()
def two_orgs(tmp_path):
    scaffold(tmp_path)
    _no_lag(tmp_path)
    create_demo_org(tmp_path / "a.db", leads=200, seed=2)
    (tmp_path / "cert-a").mkdir()
    (tmp_path / "cert-b").mkdir()
    shutil.copy(tmp_path / "a.db", tmp_path / "b.db")
    a, b = FakeSalesforceServer(tmp_path / "a.db", tmp_path / "cert-a"), FakeSalesforceServer(tmp_path / "b.db", tmp_path / "cert-b")
    b.fake.org_id = ORG_B
    yield tmp_path, a, b
    a.stop()
    b.stop()


def summary(proc) -> dict:
    done = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{") and '"run_done"' in line]
    assert done, proc.stderr
    return done[-1]


def sync(ws: Path, server, *extra: str):
    return revsync(ws, server.env(), "sync", "-v", "--org", "salesforce", "--now", NOW, *extra)


def test_two_orgs_in_one_directory_each_get_their_own_state(two_orgs):
    ws, a, b = two_orgs
    first_a = sync(ws, a)
    assert first_a.returncode == 0, first_a.stderr
    first_b = sync(ws, b)
    assert first_b.returncode == 0, first_b.stderr
    # B's never-synced leads are read and decided, not skipped through A's watermark.
    assert summary(first_b)["written"] == summary(first_a)["written"] > 100
    assert sorted(p.name for p in (ws / ".revsync").glob("*.state.db")) == [
        f"salesforce-{ORG_A[:15]}.state.db", f"salesforce-{ORG_B[:15]}.state.db"]


def test_a_state_of_another_org_is_refused_untouched(two_orgs):
    ws, a, b = two_orgs
    assert sync(ws, a).returncode == 0
    theirs = ws / ".revsync" / f"salesforce-{ORG_A[:15]}.state.db"
    before = theirs.read_bytes()
    proc = sync(ws, b, "--state", str(theirs))
    assert proc.returncode == 2, proc.stderr
    assert f"belongs to org {ORG_A}" in proc.stderr and f"not to org {ORG_B}" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert theirs.read_bytes() == before


def test_the_single_state_of_older_versions_is_adopted_by_its_org(two_orgs):
    ws, a, _ = two_orgs
    assert sync(ws, a).returncode == 0
    named = ws / ".revsync" / f"salesforce-{ORG_A[:15]}.state.db"
    legacy = ws / ".revsync" / "salesforce.state.db"
    named.rename(legacy)
    again = sync(ws, a)
    assert again.returncode == 0, again.stderr
    assert summary(again)["written"] == 0  # the adopted state's watermark and journal carry on
    assert named.exists() and not legacy.exists()
    state = State(named)
    assert state.meta("org_id") == ORG_A and len(state.runs()) == 2
    state.close()
