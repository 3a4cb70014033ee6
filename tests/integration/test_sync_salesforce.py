"""The sync acceptance tests against a stateful fake Salesforce served through `responses`."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import responses

from connector.orgs.base import BudgetExhausted, Patch
from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.sync.revert import revert
from connector.workspace.scaffold import scaffold
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace
from tests.fake_salesforce import FakeSalesforce, connect

NOW = datetime(2026, 11, 24, 15, tzinfo=timezone.utc)


@pytest.fixture()
def env(tmp_path: Path):
    scaffold(tmp_path)
    create_demo_org(tmp_path / "org.db", leads=500, seed=5)
    backing = LocalOrg(tmp_path / "org.db")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake = FakeSalesforce(backing, rsps, batch=150)
        ws = load_workspace(tmp_path / "rules", tmp_path / "mappings", "Lead")
        yield fake, ws, State(tmp_path / "state.db"), backing


def run(fake, ws, state, api_floor: int = 0, **opts):
    return SyncRun(connect(fake, api_floor=api_floor), ws, state, SyncOptions(now=NOW, **opts)).run()


def snapshot(backing: LocalOrg) -> dict:
    fields = ["OwnerId", "Revsync_Stage__c", "Revsync_Score__c", "Revsync_SLA_Due__c", "Revsync_Routed_At__c"]
    return {r["Id"]: tuple(r[f] for f in fields) for r in backing.read_all("Lead", fields)}


def test_writes_do_not_run_the_orgs_lead_assignment_rule(env):
    fake, ws, state, backing = env
    default_queue = next(g["Id"] for g in backing.read_all("Group", ["Name"]) if g["Name"] == "Inbound SDR")
    fake.faults.lead_assignment_owner = default_queue  # an org whose active rule sends leads there
    first = run(fake, ws, state)
    assert first.written > 400
    owners = {r["OwnerId"] for r in backing.read_all("Lead", ["OwnerId", "IsConverted"]) if not r["IsConverted"]}
    assert default_queue not in owners and len(owners) > 5  # every owner is the one revsync gave
    assert run(fake, ws, state).written == 0


def test_second_sync_writes_nothing_with_few_calls(env):
    fake, ws, state, backing = env
    first = run(fake, ws, state)
    assert first.written == first.evaluated > 400 and first.failed == 0
    writes = fake.writes
    assert writes == -(-first.written // 200) or writes <= first.read // 150 + 1  # at most one call per page
    second = run(fake, ws, state)
    assert second.written == 0 and fake.writes == writes


def test_faults_are_survived(env):
    fake, ws, state, backing = env
    fake.faults.unavailable = 2  # a 503 burst at login+describe time
    fake.faults.expire_after = 12  # the session expires mid-run
    ids = [r["Id"] for r in backing.read_all("Lead", ["IsConverted"]) if not r["IsConverted"]]
    fake.faults.lock_rows = set(ids[:5])
    report = run(fake, ws, state)
    assert report.failed == 0 and report.written == report.evaluated
    assert fake.logins >= 2  # logged in again after the expiry
    assert all(snapshot(backing)[i][1] for i in ids[:5])  # the locked rows were written on retry


def test_daily_limit_stops_cleanly_and_the_next_run_finishes(env):
    fake, ws, state, backing = env
    fake.faults.daily_left = 43
    with pytest.raises(BudgetExhausted, match="below the floor"):
        run(fake, ws, state, api_floor=30)  # stops cleanly between pages, before the limit is hit
    done_pages = state.db.execute("SELECT count(*) FROM pages WHERE status='done'").fetchone()[0]
    assert done_pages >= 1
    fake.faults.daily_left = None
    report = run(fake, ws, state)
    assert report.failed == 0
    assert all(v[1] for rid, v in snapshot(backing).items()
               if rid in {r["Id"] for r in backing.read_all("Lead", ["IsConverted"]) if not r["IsConverted"]})


def test_sticky_owner_and_revert_through_the_api(env):
    fake, ws, state, backing = env
    before = snapshot(backing)
    first = run(fake, ws, state)
    after = snapshot(backing)
    lead = next(rid for rid in after if after[rid] != before[rid])
    person = next(u["Id"] for u in backing.read_all("User", ["IsActive"]) if u["IsActive"] and u["Id"] != after[lead][0])
    backing.write([Patch("Lead", lead, {"OwnerId": person})])
    fake.advance(timedelta(seconds=5))  # the next run: a read ends at the org's clock, so not the same second
    noted = run(fake, ws, state)  # only revsync's memory changes: a person holds the lead now
    assert noted.written == 1 and set(noted.fields) == {"Revsync_Lifecycle__c", "Revsync_Reason__c"}
    assert snapshot(backing)[lead][0] == person
    report = revert(connect(fake), state, first.run_id)
    restored = snapshot(backing)
    assert restored[lead][0] == person  # the person's change stays
    assert restored[lead][1] == before[lead][1]  # revsync's own fields are restored
    assert any(k[0] == lead and k[1] == "OwnerId" for k in report.kept)


def test_bulk_backfill_reads_and_writes_like_the_rest_path(tmp_path):
    outcomes = {}
    for mode in ("rest", "bulk"):
        base = tmp_path / mode
        base.mkdir()
        scaffold(base)
        create_demo_org(base / "org.db", leads=400, seed=9)
        backing = LocalOrg(base / "org.db")
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            fake = FakeSalesforce(backing, rsps, batch=150)
            ws = load_workspace(base / "rules", base / "mappings", "Lead")
            kw = dict(bulk_query_threshold=100, bulk_write_threshold=100, bulk_poll=0) if mode == "bulk" else \
                dict(bulk_query_threshold=0, bulk_write_threshold=0)
            ids = [r["Id"] for r in backing.read_all("Lead", ["IsConverted"]) if not r["IsConverted"]]
            fake.faults.lock_rows = {ids[0]}
            org = connect(fake, api_floor=0, **kw)
            report = SyncRun(org, ws, State(base / "state.db"), SyncOptions(now=NOW, page_size=1000)).run()
            outcomes[mode] = (snapshot(backing), report)
            calls = list(fake.calls)
        if mode == "bulk":
            assert any("/jobs/query" in c for c in calls) and any("/jobs/ingest" in c for c in calls)
            assert not any(c.endswith("/composite/sobjects") for c in calls)
            # A constant number of calls per job, whatever its size.
            assert sum("/jobs/" in c for c in calls) <= 20
        else:
            assert not any("/jobs/" in c for c in calls)
    rest, bulk = outcomes["rest"], outcomes["bulk"]
    assert bulk[1].failed == 1 and rest[1].failed == 0  # REST retries the locked row; bulk queues it
    lock = [rid for rid in bulk[0] if bulk[0][rid] != rest[0][rid]]
    assert len(lock) == 1
    assert {k: v for k, v in bulk[0].items() if k not in lock} == {k: v for k, v in rest[0].items() if k not in lock}


def test_an_idle_incremental_run_costs_at_most_four_calls(env):
    fake, ws, state, backing = env
    run(fake, ws, state)
    state.db.execute("UPDATE watermark SET modstamp = '2999-01-01T00:00:00.000+0000'")
    before = len(fake.calls)
    report = run(fake, ws, state)
    # login and describe, the changed records, and the users (who may have left since)
    assert report.read == 0 and len(fake.calls) - before <= 4, fake.calls[before:]
