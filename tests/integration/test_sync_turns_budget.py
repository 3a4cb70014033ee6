"""Fair turns under failures and a budget that runs out: a write that fails keeps the owner its
record was given (the retry re-sends it, no second round-robin turn), and a run that reaches the
API floor pauses between pages (exit 6) and the next run carries on to the same result."""
from __future__ import annotations

import shutil
import subprocess
import sys
import os
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.orgs.base import BudgetExhausted, WriteResult
from connector.orgs.local import LocalOrg
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.scaffold import scaffold
from connector.workspace.workspace import load_workspace
from tests.integration.test_sync_edits import NOW

ROOT = Path(__file__).resolve().parents[2]
OUTPUTS = ["OwnerId", "Revsync_Stage__c", "Revsync_Score__c", "Revsync_Routed_At__c", "Revsync_SLA_Due__c",
           "Revsync_Lifecycle__c"]


class Failing:
    """The embedded org, except that writes to `ids` fail (UNABLE_TO_LOCK_ROW) while `fail` is set."""

    def __init__(self, org: LocalOrg, ids: set[str]):
        self.org, self.ids, self.fail = org, ids, True

    def __getattr__(self, name):
        return getattr(self.org, name)

    def write(self, patches):
        if not self.fail:
            return self.org.write(patches)
        ok = self.org.write([p for p in patches if p.id not in self.ids])
        return ok + [WriteResult(p.id, False, "UNABLE_TO_LOCK_ROW", "busy", True) for p in patches if p.id in self.ids]


class Budget:
    """The embedded org with an API budget: `check_budget` raises once `pages` pages were written."""

    def __init__(self, org: LocalOrg, pages: int):
        self.org, self.left = org, pages

    def __getattr__(self, name):
        return getattr(self.org, name)

    def check_budget(self):
        if self.left <= 0:
            raise BudgetExhausted("40 API calls left today, below the floor of 50 (api_floor)")
        self.left -= 1


@pytest.fixture()
def twins(tmp_path: Path):
    scaffold(tmp_path / "a")
    create_demo_org(tmp_path / "a" / "org.db", leads=400, seed=11)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    return tmp_path / "a", tmp_path / "b"


def run(backend, where: Path, **opts):
    state = State(where / "state.db")
    try:
        ws = load_workspace(where / "rules", where / "mappings", "Lead")
        return SyncRun(backend, ws, state, SyncOptions(**{"now": NOW, "page_size": 100, **opts})).run()
    finally:
        state.close()


def outputs(where: Path) -> dict[str, tuple]:
    org = LocalOrg(where / "org.db")
    try:
        return {r["Id"]: tuple(r[f] for f in OUTPUTS) for r in org.read_all("Lead", OUTPUTS)}
    finally:
        org.close()


def test_a_failed_write_keeps_its_owner_and_takes_no_second_turn(twins):
    straight, failing = twins
    before = outputs(straight)
    run(LocalOrg(straight / "org.db"), straight)
    # Records routed by round robin, early in the run: later records take the turns after theirs.
    routed = [rid for rid, row in outputs(straight).items()
              if row[0] != before[rid][0] and "round robin" in (row[5] or "")]
    assert len(routed) >= 5
    victims = set(routed[:3])

    org = Failing(LocalOrg(failing / "org.db"), victims)
    first = run(org, failing)
    assert first.failed == 3 and first.status == "partial"
    assert all(outputs(failing)[rid][0] == before[rid][0] for rid in victims)  # nothing written to them
    org.fail = False
    retried = run(org, failing)
    assert retried.failed == 0 and retried.written == 3
    assert outputs(failing) == outputs(straight)
    state = State(failing / "state.db")
    assert state.retry_ids("Lead") == []
    state.close()


def test_a_retry_of_a_record_someone_changed_is_decided_again(twins):
    straight, failing = twins
    before = outputs(failing)
    run(LocalOrg(straight / "org.db"), straight)
    lead = next(rid for rid, row in outputs(straight).items() if row[0] != before[rid][0])
    org = Failing(LocalOrg(failing / "org.db"), {lead})
    assert run(org, failing).failed == 1
    from connector.orgs.base import Patch
    person = LocalOrg(failing / "org.db")
    person.write([Patch("Lead", lead, {"OwnerId": before[lead][0], "Revsync_Score__c": 999})])
    person.close()
    org.fail = False
    again = run(org, failing)
    assert again.failed == 0
    # The stored patch said score None -> x; the record now holds 999, so it was decided afresh.
    assert outputs(failing)[lead][2] != 999


def test_a_run_that_reaches_the_api_floor_pauses_and_the_next_run_finishes_it(twins):
    straight, paused = twins
    run(LocalOrg(straight / "org.db"), straight)
    with pytest.raises(BudgetExhausted, match=r"^paused: api budget after 2 page\(s\), 160 record\(s\) written"
                                              r"; 40 API calls left today, below the floor"):
        run(Budget(LocalOrg(paused / "org.db"), pages=2), paused)
    state = State(paused / "state.db")
    [last] = state.runs(limit=1)
    assert last.status == "paused" and last.counts["written"] > 0
    assert state.pending_page("Lead") is None  # stopped before journalling the next page
    state.close()
    finished = run(LocalOrg(paused / "org.db"), paused)
    assert finished.status == "ok"
    assert outputs(paused) == outputs(straight)


def test_a_budget_stop_exits_6_with_what_the_run_did(twins, monkeypatch):
    _, where = twins
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REVSYNC_BUDGET_PAGES": "1"}
    proc = subprocess.run([sys.executable, "-c", BUDGET_CLI, "sync", "--org", "local:org.db", "--now",
                           "2026-11-24T15:00:00Z"], cwd=where, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 6, proc.stderr
    assert "paused: api budget after 1 page(s)" in proc.stderr and "Traceback" not in proc.stderr


# The CLI with the embedded org given a budget of N pages: the run's own exception path, end to end.
BUDGET_CLI = """
import os, sys
from connector.orgs.base import BudgetExhausted
from connector.orgs.local import LocalOrg
left = [int(os.environ["REVSYNC_BUDGET_PAGES"])]
def check_budget(self):
    if left[0] <= 0:
        raise BudgetExhausted("12 API calls left today, below the floor of 50 (api_floor)")
    left[0] -= 1
LocalOrg.check_budget = check_budget
sys.argv[0] = "revsync"
from cli import main
main()
"""


def test_a_new_state_on_an_org_revsync_already_synced_says_so(twins):
    where, _ = twins
    first = run(LocalOrg(where / "org.db"), where)
    assert first.notes == []
    state = State(where / "other.state.db")
    try:
        ws = load_workspace(where / "rules", where / "mappings", "Lead")
        second = SyncRun(LocalOrg(where / "org.db"), ws, state, SyncOptions(now=NOW, page_size=100)).run()
    finally:
        state.close()
    [note] = second.notes
    assert note.startswith("360 Lead records already hold revsync's decisions, but this state (")
    assert "another state file syncs this org" in str(second)
