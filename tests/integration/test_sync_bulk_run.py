"""The write path chosen by the number of changes in the whole run (connector/sync/spool.py),
against the fake Salesforce served through `responses`: a run of 10,000 changes writes them in
one Bulk API 2.0 ingest job, a run of 500 through sObject Collections, with the default
`bulk_write_threshold` (2,000) and `page_size` (200)."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
import responses

from connector.demo.org import create_demo_org
from connector.orgs.base import Patch
from connector.orgs.local import LocalOrg
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.scaffold import scaffold
from connector.workspace.workspace import load_workspace
from tests.fake_salesforce import FakeSalesforce, connect
from tests.integration.test_sync_turns_budget import outputs

NOW = datetime(2026, 11, 24, 15, tzinfo=timezone.utc)


def org_with_open_leads(where: Path, open_leads: int, seed: int = 3) -> Path:
    """A workspace whose org holds exactly `open_leads` open leads: a first sync changes each."""
    scaffold(where)
    create_demo_org(where / "org.db", leads=int(open_leads * 1.12) + 20, seed=seed)
    org = LocalOrg(where / "org.db")
    ids = [r["Id"] for r in org.read_all("Lead", ["IsConverted"]) if not r["IsConverted"]]
    assert len(ids) > open_leads
    assert all(r.ok for r in org.write([Patch("Lead", i, {"IsConverted": True}) for i in ids[open_leads:]]))
    org.close()
    return where


def sync(where: Path, faults: dict | None = None, **org_settings) -> tuple:
    """One sync of `where` through the fake org: the report, the connector's calls by kind, the
    fake's ingest jobs and the state (closed)."""
    backing = LocalOrg(where / "org.db")
    state = State(where / "state.db")
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            fake = FakeSalesforce(backing, rsps)
            for name, value in (faults or {}).items():
                setattr(fake.faults, name, value)
            org = connect(fake, api_floor=0, bulk_poll=0, **org_settings)
            ws = load_workspace(where / "rules", where / "mappings", "Lead")
            report = SyncRun(org, ws, state, SyncOptions(now=NOW)).run()
            jobs = [j for j in fake.jobs.values() if j["operation"] == "update"]
            return report, {k: v for k, v in org.calls_by_kind.items() if v}, jobs, state.retry_entries("Lead")
    finally:
        state.close()
        backing.close()


def test_ten_thousand_changes_take_one_ingest_job_and_five_hundred_take_rest(tmp_path):
    big = org_with_open_leads(tmp_path / "big", 10_000)
    report, calls, jobs, retry = sync(big)
    assert report.changed == report.written == 10_000 and report.failed == 0 and retry == []
    # One ingest job for the run's 56 pages: create, upload, close, two polls, three result lists.
    assert len(jobs) == 1 and len(jobs[0]["upload"]) == 10_000
    assert calls["bulk"] == 8 and "write" not in calls
    assert report.api_calls == 23  # 4 describes, 6 queries, 5 queryMore, 8 Bulk
    after = outputs(big)
    assert sum(1 for row in after.values() if row[1]) == 10_000  # every open lead has a stage now

    small = org_with_open_leads(tmp_path / "small", 500)
    report, calls, jobs, retry = sync(small)
    assert report.changed == report.written == 500 and report.failed == 0
    assert jobs == [] and "bulk" not in calls and calls["write"] == 3  # 200 records a call


def test_failed_bulk_rows_go_to_the_retry_queue_and_the_next_run_sends_them(tmp_path):
    """A row the job fails (a locked record) and a row its results leave out both wait in the
    retry queue with the patch they were decided with; the next run sends them, and the org ends
    as an uninterrupted run left it."""
    straight = org_with_open_leads(tmp_path / "straight", 450, seed=8)
    failing = tmp_path / "failing"
    shutil.copytree(straight, failing)
    sync(straight, bulk_write_threshold=0)  # REST throughout: nothing fails
    ids = [r["Id"] for r in LocalOrg(failing / "org.db").read_all("Lead", ["IsConverted"]) if not r["IsConverted"]]
    locked, unreported = ids[10:13], ids[200]
    report, calls, jobs, retry = sync(failing, {"lock_rows": set(locked), "bulk_unreported": {unreported}},
                                      bulk_write_threshold=400)
    assert len(jobs) == 1 and "write" not in calls
    assert report.written == 450 - 4 and report.failed == 4 and report.status == "partial"
    assert {e["record_id"]: e["code"] for e in retry} == {**dict.fromkeys(locked, "UNABLE_TO_LOCK_ROW"),
                                                          unreported: "UNKNOWN"}
    state = State(failing / "state.db")
    kept = state.retry_patches("Lead")
    assert set(kept) == {*locked, unreported} and all("OwnerId" in kept[i].values for i in locked)
    assert state.db.execute("SELECT count(*) FROM pages WHERE status != 'done'").fetchone()[0] == 0
    assert state.db.execute("SELECT count(*) FROM page_plan").fetchone()[0] == 0
    state.close()
    again, calls, jobs, retry = sync(failing, bulk_write_threshold=400)
    assert again.failed == 0 and retry == [] and jobs == []  # 3 to send: REST
    assert again.written == 3  # the unreported record was written: it holds its decision
    assert outputs(failing) == outputs(straight)


def test_an_upload_retried_after_a_503_is_sent_whole(tmp_path):
    where = org_with_open_leads(tmp_path / "org", 300, seed=6)
    report, calls, jobs, retry = sync(where, {"bulk_upload_unavailable": 1}, bulk_write_threshold=100)
    assert report.written == 300 and report.failed == 0 and retry == []
    assert len(jobs) == 1 and len(jobs[0]["upload"]) == 300 and calls["bulk"] == 9  # the upload twice


@pytest.mark.parametrize("limit", [4_000, 100_000_000])
def test_an_upload_above_the_limit_is_split_into_jobs(tmp_path, limit, monkeypatch):
    where = org_with_open_leads(tmp_path / "org", 300, seed=6)
    from connector.orgs.salesforce import SalesforceOrg
    monkeypatch.setattr(SalesforceOrg, "bulk_upload_bytes", limit)
    report, calls, jobs, _ = sync(where, bulk_write_threshold=100)
    assert report.written == 300 and report.failed == 0
    assert sum(len(j["upload"]) for j in jobs) == 300
    if limit < 100_000_000:
        assert len(jobs) > 5 and calls["bulk"] == 8 * len(jobs)
    else:
        assert len(jobs) == 1


def test_a_budget_pause_leaves_spooled_pages_pending_and_the_next_run_finishes_them(tmp_path):
    """The floor reached while the run plans: the pages journalled so far stay pending, nothing
    is written, and the next run finishes them first, to the org an uninterrupted run leaves."""
    straight = org_with_open_leads(tmp_path / "straight", 450, seed=12)
    paused = tmp_path / "paused"
    shutil.copytree(straight, paused)
    sync(straight, bulk_write_threshold=100)
    from connector.orgs.base import BudgetExhausted
    from connector.orgs.salesforce import SalesforceOrg
    checks = {"left": 2}

    def check_budget(self):  # two of three pages planned, then the floor
        if checks["left"] <= 0:
            raise BudgetExhausted("40 API calls left today, below the floor of 50 (api_floor)")
        checks["left"] -= 1

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SalesforceOrg, "check_budget", check_budget)
        with pytest.raises(BudgetExhausted, match=r"^paused: api budget after 0 page\(s\), 0 record\(s\) written "
                                                  r"\(2 page\(s\) journalled, written by the next run\)"):
            sync(paused, bulk_write_threshold=100)
    state = State(paused / "state.db")
    assert [r.status for r in state.runs()] == ["paused"]
    assert state.db.execute("SELECT count(*) FROM pages WHERE status='pending'").fetchone()[0] == 2
    assert state.db.execute("SELECT count(*) FROM page_plan").fetchone()[0] == 2
    state.close()
    assert outputs(paused) != outputs(straight)  # nothing written yet
    report, calls, jobs, retry = sync(paused, bulk_write_threshold=100)
    assert report.recovered > 0 and report.failed == 0 and retry == []
    assert outputs(paused) == outputs(straight)
    state = State(paused / "state.db")
    assert [r.status for r in state.runs()] == ["ok", "paused"]  # finished by the next run, still a pause
    state.close()
