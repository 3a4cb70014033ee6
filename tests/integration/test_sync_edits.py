"""Sync runs while people edit the org, and what the journal says afterwards: edits made during
a run are read by the next one, each record is counted once, statuses after failures, crashes,
recoveries and reverts, journals of the previous schema, the org's clock across connections,
and owners the org does not have."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connector.orgs.base import Patch
from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.sync.revert import revert
from connector.workspace.scaffold import scaffold
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace

NOW = datetime(2026, 11, 24, 15, tzinfo=timezone.utc)


@pytest.fixture()
def env(tmp_path: Path):
    scaffold(tmp_path)
    create_demo_org(tmp_path / "org.db", leads=300, seed=7)
    org = LocalOrg(tmp_path / "org.db")
    state = State(tmp_path / "state.db")
    yield tmp_path, org, state
    state.close()
    org.close()


def workspace(tmp_path: Path, object: str = "Lead"):
    return load_workspace(tmp_path / "rules", tmp_path / "mappings", object)


def sync(backend, tmp_path, state, on_page=None, **opts):
    return SyncRun(backend, workspace(tmp_path), state, SyncOptions(**{"now": NOW, "page_size": 100, **opts}),
                   on_page=on_page).run()


def open_leads(org: LocalOrg) -> list[str]:
    return [r["Id"] for r in org.read_all("Lead", ["IsConverted"]) if not r["IsConverted"]]


# -- edits during a run -------------------------------------------------------------------------

def test_a_persons_edit_during_the_run_to_a_record_the_run_wrote_is_not_lost(env):
    """The run writes R on page 1; a person then disqualifies R (a competitor's address), and
    ten minutes later a new lead arrives. The next scheduled run must read R again and decide on
    the person's values, though the watermark has moved past R's edit by more than the overlap."""
    tmp_path, org, state = env
    person = LocalOrg(tmp_path / "org.db")
    edited: list[str] = []

    def on_page(n: int) -> None:
        if n != 1:
            return
        rid = state.changes(1, 1)[0].record_id
        assert person.write([Patch("Lead", rid, {"Title": "Student", "Email": "x@rival.example"})])[0].ok
        edited.append(rid)
        person._sync_clock()
        person._last_stamp = person.now() + timedelta(minutes=10)  # ten minutes pass
        person.insert("Lead", [{"LastName": "Later", "Company": "Acme", "Status": "Open"}])

    first = sync(org, tmp_path, state, on_page=on_page)
    assert first.failed == 0 and edited
    sync(org, tmp_path, state)  # the next scheduled run
    (row,) = org.read_ids("Lead", ["Revsync_Stage__c"], edited)
    assert row["Revsync_Stage__c"] == "Disqualified"
    person.close()


def test_a_dry_run_counts_each_record_once_when_people_edit_during_it(env):
    """A record edited after the run read it is not read again in the same run: read, evaluated
    and "would write" count each record once (the change guard counts the same way)."""
    tmp_path, org, state = env
    person = LocalOrg(tmp_path / "org.db")

    class EditedDuringTheRun:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def changed_since(self, *args, **kwargs):
            for n, page in enumerate(self.inner.changed_since(*args, **kwargs)):
                yield page
                if n == 0:
                    ids = [r["Id"] for r in page if not r.get("IsConverted")][:10]
                    assert all(r.ok for r in person.write([Patch("Lead", i, {"Phone": "555"}) for i in ids]))

    report = sync(EditedDuringTheRun(org), tmp_path, state, dry_run=True)
    assert report.read == org.count("Lead")
    assert report.evaluated == len(open_leads(org))
    assert report.would_write == report.changed == len(open_leads(org)) and report.written == 0
    person.close()


# -- counts, statuses and the clock --------------------------------------------------------------

def test_a_first_sync_evaluates_each_record_once(env):
    tmp_path, org, state = env
    report = sync(org, tmp_path, state)
    assert report.evaluated == report.written == len(open_leads(org))
    assert report.read == org.count("Lead")
    journalled = Counter(c.record_id for c in state.changes(report.run_id))
    assert len(journalled) == report.written  # one journal row per record


def test_a_retry_record_read_among_the_changed_ones_is_not_read_again_by_id(env):
    tmp_path, org, state = env
    victim = open_leads(org)[0]
    org.faults = {victim: ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Status must be set", False)}
    assert sync(org, tmp_path, state).failed == 1
    org.faults = {}
    by_id: list[list[str]] = []

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def read_ids(self, object, fields, ids):
            by_id.append(list(ids))
            return self.inner.read_ids(object, fields, ids)

    second = sync(Counting(org), tmp_path, state, overlap=timedelta(minutes=5))  # the victim is in the window
    assert second.written >= 1 and second.failed == 0
    assert not any(victim in ids for ids in by_id)
    assert [c.status for c in state.changes(second.run_id) if c.record_id == victim][:1] == ["written"]
    assert state.retry_entries("Lead") == []


def test_statuses_after_a_failure_a_crash_its_recovery_and_reverts(env):
    tmp_path, org, state = env
    victim = open_leads(org)[0]
    org.faults = {victim: ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "nope", False)}

    class CrashAfterSecondWrite:
        def __init__(self, inner):
            self.inner, self.writes = inner, 0

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def write(self, patches):
            self.writes += 1
            results = self.inner.write(patches)
            if self.writes == 2:
                raise KeyboardInterrupt("killed after the writes landed")
            return results

    with pytest.raises(KeyboardInterrupt):
        sync(CrashAfterSecondWrite(org), tmp_path, state)
    by_page = {(c.page, c.status) for c in state.changes(1)}
    assert by_page == {(1, "written"), (1, "failed"), (2, "pending")}
    assert {c.status for c in state.changes(1) if c.record_id == victim} == {"failed"}

    org.faults = {}
    sync(org, tmp_path, state)  # recovers page 2 of run 1, then runs
    assert state.run(1).status == "interrupted"
    assert {c.status for c in state.changes(1, 2)} == {"written"}
    written_in_1 = {c.record_id for c in state.changes(1) if c.status == "written"}

    undo = revert(org, state, 1)
    assert undo.restored == len(written_in_1) and not undo.failed
    assert {c.status for c in state.changes(undo.reverted_by)} == {"written"}
    redo = revert(org, state, undo.reverted_by)
    assert redo.restored == undo.restored


def test_journal_rows_marked_written_by_an_older_revsync_read_as_before(env):
    tmp_path, org, state = env
    victim = open_leads(org)[0]
    org.faults = {victim: ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "nope", False)}
    report = sync(org, tmp_path, state)
    # What the previous version stored: every row of a done page marked one way or the other.
    state.db.execute("UPDATE changes SET status='written' WHERE status='pending'")
    statuses = Counter(c.status for c in state.changes(report.run_id))
    assert statuses["failed"] and set(statuses) == {"written", "failed"}
    assert revert(org, state, report.run_id).restored == report.written


def test_a_connection_used_earlier_stamps_after_writes_another_made_since(tmp_path):
    early = LocalOrg(tmp_path / "org.db", create=True)
    early.insert("Lead", [{"LastName": "First", "Company": "Acme", "Status": "Open"}])
    other = LocalOrg(tmp_path / "org.db")  # another process: runs ahead of the wall clock
    other.insert("Lead", [{"LastName": f"L{i}", "Company": "Acme", "Status": "Open"} for i in range(3000)])
    newest = max(r["SystemModstamp"] for r in other.read_all("Lead", ["SystemModstamp"]))
    first = next(r["Id"] for r in early.read_all("Lead", ["LastName"]) if r["LastName"] == "First")
    assert early.write([Patch("Lead", first, {"Status": "Working"})])[0].ok
    (row,) = early.read_ids("Lead", ["SystemModstamp"], [first])
    assert row["SystemModstamp"] > newest
    early.close()
    other.close()


def test_an_unknown_queue_skips_every_record_routed_to_it(env):
    tmp_path, org, state = env
    rules = tmp_path / "rules" / "lead.yaml"
    text = rules.read_text()
    assert "assign: {queue: Inbound Nurture}" in text
    rules.write_text(text.replace("assign: {queue: Inbound Nurture}", "assign: {queue: Nobody Home}"))
    report = sync(org, tmp_path, state, accept_changes=True)
    why = [w for _, w in report.skipped if "Nobody Home" in w]
    assert len(why) >= 2 and set(why) == {"queue:Nobody Home: no such queue in the org"}
    skipped = {rid for rid, w in report.skipped if "Nobody Home" in w}
    assert not skipped & {c.record_id for c in state.changes(report.run_id)}
    assert report.written == len(open_leads(org)) - len(skipped)


def test_a_revert_that_partly_failed_is_finished_by_reverting_again(env):
    tmp_path, org, state = env
    before = {r["Id"]: r["Revsync_Stage__c"] for r in org.read_all("Lead", ["Revsync_Stage__c"])}
    first = sync(org, tmp_path, state)
    victim = open_leads(org)[0]
    org.faults = {victim: ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access", True)}
    partial = revert(org, state, first.run_id)
    assert partial.failed and partial.restored == first.written - 1
    org.faults = {}
    rest = revert(org, state, first.run_id)  # not refused: the first revert did not finish
    assert rest.restored == 1 and rest.kept == [] and not rest.failed
    assert {r["Id"]: r["Revsync_Stage__c"] for r in org.read_all("Lead", ["Revsync_Stage__c"])} == before
    from connector.sync.revert import RevertRefused
    with pytest.raises(RevertRefused, match="already reverted"):
        revert(org, state, first.run_id)


def test_the_leads_of_a_user_who_left_are_routed_again_by_the_next_run(env):
    tmp_path, org, state = env
    sync(org, tmp_path, state)
    owners = Counter(r["OwnerId"] for r in org.read_all("Lead", ["OwnerId", "IsConverted"]) if not r["IsConverted"])
    leaver = next(o for o, n in owners.most_common() if o.startswith("005") and n > 5)
    theirs = [r["Id"] for r in org.read_all("Lead", ["OwnerId", "IsConverted"])
              if r["OwnerId"] == leaver and not r["IsConverted"]]
    assert org.write([Patch("User", leaver, {"IsActive": False})])[0].ok  # no lead changes
    second = sync(org, tmp_path, state, now=NOW + timedelta(minutes=5))
    assert second.read >= len(theirs)
    rows = {r["Id"]: r["OwnerId"] for r in org.read_ids("Lead", ["OwnerId"], theirs)}
    assert all(owner != leaver for owner in rows.values())
    assert leaver in state.inactive_owners("Lead")
    third = sync(org, tmp_path, state, now=NOW + timedelta(minutes=10))
    assert third.written == 0  # read back once, as every run's own writes are; nothing moves again
