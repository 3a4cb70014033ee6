"""What the Salesforce backend knows about the org and what it costs: the org's Id and clock from
its answers, describes kept in a cache between runs (and read again when the org refutes them),
calls counted by kind, owners kept through every write path of an org with an active assignment
rule, booleans from Bulk API CSV, SF_LOGIN_URL and untrusted certificates over real HTTPS.
Against the fake org (tests/fake_salesforce.py), in-process or served over HTTPS on loopback."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
import requests
import responses

from connector.context import OrgContext
from connector.demo.org import create_demo_org
from connector.orgs.base import BackendError, CertificateError, MemoryCache, Patch
from connector.orgs.local import LocalOrg
from connector.orgs.salesforce import API_VERSION, Credentials, SalesforceOrg
from connector.orgs.salesforce_identity import KnownOrgs
from connector.sync.journal import State, StateCache
from connector.sync.preflight import preflight
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace
from rules.templates import example_rules_dir
from rules.values import id18
from tests.fake_salesforce import INSTANCE, FakeSalesforce, connect
from tests.fake_salesforce_server import FakeSalesforceServer

BASE = f"/services/data/v{API_VERSION}"
GONE = ("Lead", "Revsync_Segment__c")  # a field an admin deletes between two runs


@pytest.fixture()
def org_file(tmp_path):
    create_demo_org(tmp_path / "org.db", leads=120, seed=3)
    return tmp_path / "org.db"


@pytest.fixture()
def fake(org_file):
    backing = LocalOrg(org_file)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeSalesforce(backing, rsps, batch=50), backing


@pytest.fixture()
def server(org_file, tmp_path):
    srv = FakeSalesforceServer(org_file, tmp_path)
    yield srv
    srv.stop()


def open_leads(backing: LocalOrg) -> list[str]:
    return [r["Id"] for r in backing.read_all("Lead", ["IsConverted"]) if not r["IsConverted"]]


def one_run(org: SalesforceOrg) -> list[dict]:
    """What a run reads whatever changed: the users and queues, and the leads."""
    list(org.read_all("User", ["IsActive"]))
    list(org.read_all("Group", ["Name"]))
    return [r for page in org.changed_since("Lead", ["Status", GONE[1]], None) for r in page]


def test_the_org_id_and_the_clock_come_from_the_orgs_answers(fake):
    fake, backing = fake
    fake.clock = lambda: datetime(2001, 2, 3, 4, 5, 6, 789000, tzinfo=timezone.utc)
    org = connect(fake, lag_seconds=30, bulk_query_threshold=0)
    assert org.org_id == fake.org_id and len(org.org_id) == 18 and org.calls == 0  # named by the login
    assert org.server_time == datetime(2001, 2, 3, 4, 5, 6, tzinfo=timezone.utc)  # Date: whole seconds
    fake.clock = lambda: datetime(2001, 2, 3, 4, 6, tzinfo=timezone.utc)
    org.describe("Lead")
    assert org.server_time == datetime(2001, 2, 3, 4, 6, tzinfo=timezone.utc)  # as of the latest answer
    # Every lead was stamped after the org's clock less the lag: none is read yet, whatever
    # this machine's clock says.
    assert [r for page in org.changed_since("Lead", ["Status"], None) for r in page] == []
    fake.clock = lambda: datetime.now(timezone.utc) + timedelta(minutes=1)
    org.describe("User")
    assert len([r for page in org.changed_since("Lead", ["Status"], None) for r in page]) == backing.count("Lead")


def test_describes_are_read_once_a_day_through_the_cache(fake):
    fake, backing = fake
    cache = MemoryCache()
    first = connect(fake, metadata_cache=cache, bulk_query_threshold=0)
    records = one_run(first)
    assert first.calls_by_kind["describe"] == 3 and len(cache.entries) == 3
    second = connect(fake, metadata_cache=cache, bulk_query_threshold=0)
    assert one_run(second) == records and second.calls_by_kind == {
        "describe": 0, "query": 3, "queryMore": -(-len(records) // 50) - 1, "write": 0, "bulk": 0}
    for key, (value, fetched_at) in cache.entries.items():  # a day later
        cache.entries[key] = (value, fetched_at - timedelta(hours=25))
    third = connect(fake, metadata_cache=cache, bulk_query_threshold=0)
    one_run(third)
    assert third.calls_by_kind["describe"] == 3
    without = connect(fake, bulk_query_threshold=0)  # no cache: as before, every run describes
    one_run(without)
    assert without.calls_by_kind["describe"] == 3


def test_describes_read_before_the_cache_was_given_are_kept_in_it(fake):
    """A first run creates its state after the preflight has described the org: the run after
    it must not describe the org again."""
    fake, backing = fake
    first = connect(fake)
    one_run(first)
    cache = MemoryCache()
    first.metadata_cache = cache
    assert len(cache.entries) == 3
    second = connect(fake, metadata_cache=cache)
    one_run(second)
    assert second.calls_by_kind["describe"] == 0


def test_a_field_deleted_since_the_describe_was_cached_is_described_again_once(fake):
    fake, backing = fake
    cache = MemoryCache()
    one_run(connect(fake, metadata_cache=cache, bulk_query_threshold=0))
    fake.faults.deleted_fields.add(GONE)
    org = connect(fake, metadata_cache=cache, bulk_query_threshold=0)
    records = one_run(org)
    assert len(records) == backing.count("Lead") and all(GONE[1] not in r for r in records)
    # The users' and queues' describes still came from the cache; the leads' was refuted by the
    # org (INVALID_FIELD), read again once, and the query built again.
    assert org.calls_by_kind["describe"] == 1 and org.calls_by_kind["query"] == 4
    after = connect(fake, metadata_cache=cache, bulk_query_threshold=0)
    one_run(after)
    assert after.calls_by_kind["describe"] == 0 and after.calls_by_kind["query"] == 3


def test_without_a_cache_a_refuted_query_fails_as_before(fake):
    fake, backing = fake
    org = connect(fake, bulk_query_threshold=0)
    org.describe("Lead")
    fake.faults.deleted_fields.add(GONE)  # deleted during the run: this run's describe is not doubted
    with pytest.raises(BackendError, match="INVALID_FIELD"):
        list(org.changed_since("Lead", [GONE[1]], None))
    assert org.calls_by_kind["describe"] == 1 and org.calls_by_kind["query"] == 1


def test_a_write_the_org_refutes_refreshes_the_cached_describe(fake):
    fake, backing = fake
    cache = MemoryCache()
    connect(fake, metadata_cache=cache).describe("Lead")
    fake.faults.deleted_fields.add(GONE)
    org = connect(fake, metadata_cache=cache)
    assert GONE[1] in org.describe("Lead")  # what the cache still says
    with pytest.raises(BackendError, match="INVALID_FIELD"):
        org.write([Patch("Lead", open_leads(backing)[0], {GONE[1]: "SMB"})])
    assert org.calls_by_kind["describe"] == 0  # a write asks nothing more of the org
    after = connect(fake, metadata_cache=cache)  # the next run's preflight does not trust the cache
    assert GONE[1] not in after.describe("Lead") and after.calls_by_kind["describe"] == 1
    assert GONE[1] not in org.describe("Lead") and org.calls_by_kind["describe"] == 1  # nor does this run


def test_owners_survive_an_active_assignment_rule_through_both_rest_write_paths(fake):
    fake, backing = fake
    queue = next(g["Id"] for g in backing.read_all("Group", ["Name"]))
    fake.faults.lead_assignment_owner = queue  # the org's active rule sends every lead there
    users = [u["Id"] for u in backing.read_all("User", ["IsActive"]) if u["IsActive"]][:3]
    leads = open_leads(backing)[:3]
    org = connect(fake)
    # sObject Collections ...
    assert all(r.ok for r in org.write([Patch("Lead", leads[0], {"OwnerId": users[0]}),
                                        Patch("Lead", leads[1], {"OwnerId": users[1]})]))
    # ... and one sObject, through the same request layer, which no write path can bypass.
    org.request("PATCH", f"{BASE}/sobjects/Lead/{leads[2]}", data=json.dumps({"OwnerId": users[2]}),
                headers={"Content-Type": "application/json"})
    owners = {r["Id"]: r["OwnerId"] for r in backing.read_ids("Lead", ["OwnerId"], leads)}
    assert [owners[i] for i in leads] == users
    assert org.calls_by_kind["write"] == 2
    # The rule is active: a write that asks for it loses the owner.
    org.request("PATCH", f"{BASE}/sobjects/Lead/{leads[2]}", data=json.dumps({"OwnerId": users[2]}),
                headers={"Content-Type": "application/json", "Sforce-Auto-Assign": "TRUE"})
    assert backing.read_ids("Lead", ["OwnerId"], [leads[2]])[0]["OwnerId"] == queue


def test_bulk_ingest_jobs_run_no_assignment_rule(fake):
    fake, backing = fake
    queue = next(g["Id"] for g in backing.read_all("Group", ["Name"]))
    fake.faults.lead_assignment_owner = queue
    users = [u["Id"] for u in backing.read_all("User", ["IsActive"]) if u["IsActive"]][:3]
    leads = open_leads(backing)[:3]
    org = connect(fake, bulk_poll=0)
    results: list = []
    assert org.write_many("Lead", ["OwnerId"], [(i, {"OwnerId": u}) for i, u in zip(leads, users)],
                          results.extend) == 1
    assert sorted(r.id for r in results if r.ok) == sorted(leads)
    assert {r["Id"]: r["OwnerId"] for r in backing.read_ids("Lead", ["OwnerId"], leads)} == dict(zip(leads, users))
    assert org.calls_by_kind["bulk"] > 0 and org.calls_by_kind["write"] == 0
    # The fake refuses a job that names a rule, so a connector that sent one would fail here.
    with pytest.raises(BackendError, match="INVALIDJOB"):
        org.request("POST", f"{BASE}/jobs/ingest", data=json.dumps(
            {"object": "Lead", "operation": "update", "assignmentRuleId": "01Q5g000000FAKE"}),
            headers={"Content-Type": "application/json"})


@pytest.mark.parametrize("case", ["upper", "lower"])
def test_a_bulk_backfill_reads_booleans_whatever_their_case(fake, case):
    fake, backing = fake
    fake.faults.bulk_boolean_case = case
    read = {}
    for path, kw in (("rest", {"bulk_query_threshold": 0}), ("bulk", {"bulk_query_threshold": 1, "bulk_poll": 0})):
        org = connect(fake, **kw)
        read[path] = {r["Id"]: r["IsConverted"] for page in org.changed_since("Lead", ["IsConverted"], None)
                      for r in page}
        assert (org.calls_by_kind["bulk"] > 0) == (path == "bulk")
    assert read["bulk"] == read["rest"] and set(read["bulk"].values()) == {True, False}


# -- what scheduled runs cost -------------------------------------------------------------------------
NOW = datetime(2026, 11, 24, 15, tzinfo=timezone.utc)
USERINFO = "GET /services/oauth2/userinfo"


def scheduled_run(fake: FakeSalesforce, state: State, known: KnownOrgs | None = None, **opts) -> dict:
    """One run as `revsync sync` makes it, given an access token: the org's identity, describes
    from the state, users and queues shared by the preflight and the run."""
    org = SalesforceOrg(Credentials("session", instance_url=INSTANCE, access_token=fake.token), api_floor=0,
                        max_wait=0.01, bulk_query_threshold=0, lag_seconds=opts.pop("lag_seconds", 30))
    org.known_orgs = known
    assert org.org_id == fake.org_id
    org.metadata_cache = StateCache(state)
    ws = load_workspace(example_rules_dir(), None, "Lead")
    context = OrgContext(org, ws.mapping)
    assert not [p for p in preflight(org, ws.mapping, ws.ruleset, context) if p.severity.value == "error"]
    report = SyncRun(org, ws, state, SyncOptions(now=NOW, **opts), context=context).run()
    return {"calls": org.calls, "kinds": {k: v for k, v in org.calls_by_kind.items() if v}, "read": report.read,
            "written": report.written}


def test_a_quiet_run_in_steady_state_costs_three_calls_and_reads_nothing(fake, tmp_path):
    fake, backing = fake
    state, known = State(tmp_path / "state.db"), KnownOrgs(tmp_path / "salesforce-orgs.json")
    fake.advance(timedelta(minutes=15))  # runs a scheduler starts every 15 minutes, default lag and overlap
    first = scheduled_run(fake, state, known)
    assert first["written"] > 80 and first["kinds"]["identity"] == 1
    fake.advance(timedelta(minutes=15))
    after = scheduled_run(fake, state, known)  # reads the first run's writes back once
    assert after["read"] == first["written"] and after["written"] == 0
    for _ in range(3):
        fake.advance(timedelta(minutes=15))
        # users, queues, the changed leads: no identity call, no describe, no accounts.
        assert scheduled_run(fake, state, known) == {"calls": 3, "kinds": {"query": 3}, "read": 0, "written": 0}
    assert fake.calls.count(USERINFO) == 1  # the org behind the token, asked once
    lead = open_leads(backing)[0]
    backing.write([Patch("Lead", lead, {"Title": "VP Sales"})])
    fake.advance(timedelta(minutes=15))
    changed = scheduled_run(fake, state, known)
    assert changed["read"] == 1 and changed["calls"] <= 3 + 1 + changed["written"]  # + accounts for matching
    fake.advance(timedelta(minutes=15))
    assert scheduled_run(fake, state, known)["read"] == changed["written"]  # its own write, read back once
    fake.advance(timedelta(minutes=15))
    assert scheduled_run(fake, state, known)["read"] == 0


def test_the_record_at_the_edge_of_a_read_is_read_once_not_every_run(fake, tmp_path):
    """No lag, no overlap: the read's upper bound is the org's clock, which the Date header
    gives in whole seconds. A record stamped later in that second is left to the next read,
    and read once, instead of lying at the watermark and being read by every run after."""
    fake, backing = fake
    state = State(tmp_path / "state.db")
    run = lambda: scheduled_run(fake, state, lag_seconds=0, overlap=timedelta(0))  # noqa: E731
    run()
    fake.advance(timedelta(minutes=1))
    run()
    second = (fake.org_clock() + timedelta(seconds=5)).replace(microsecond=0)
    backing.clock = lambda: second + timedelta(milliseconds=900)
    backing.write([Patch("Lead", open_leads(backing)[0], {"Title": "VP Sales"})])
    backing.clock = fake.org_clock
    fake.clock = lambda: second  # the org answers within that second
    assert run()["read"] == 0  # stamped after the read's bound
    fake.clock = lambda: second + timedelta(seconds=1)
    assert run()["read"] == 1
    assert [run()["read"] for _ in range(3)] == [0, 0, 0]


def test_the_org_behind_an_access_token_is_remembered_per_instance_url(fake, tmp_path):
    fake, backing = fake
    known = KnownOrgs(tmp_path / "salesforce-orgs.json")

    def org_id(token: str, remember: KnownOrgs | None = known) -> str | None:
        org = SalesforceOrg(Credentials("session", instance_url=INSTANCE, access_token=token))
        org.known_orgs = remember
        return org.org_id
    assert org_id(fake.token, KnownOrgs(tmp_path / "salesforce-orgs.json", save=False)) == fake.org_id
    assert not known.path.exists()  # a dry run writes nothing
    assert [org_id(fake.token) for _ in range(3)] == [fake.org_id] * 3
    assert fake.calls.count(USERINFO) == 2
    assert fake.token not in known.path.read_text()  # the file names orgs, never a credential
    # The sandbox refreshed in place: same URL, another org, and its session Ids name it.
    refreshed = id18("00D5g00000REFRS")
    fake.org_id = refreshed
    fake.sessions.add(token := f"{refreshed[:15]}!AQ4AQFakeSession")
    assert org_id(token) == refreshed and fake.calls.count(USERINFO) == 3
    assert org_id(token) == refreshed and fake.calls.count(USERINFO) == 3  # remembered from then on
    known.path.write_text("{not json")  # damaged: asked again, and written whole again
    assert org_id(token) == refreshed and fake.calls.count(USERINFO) == 4
    assert json.loads(known.path.read_text())["orgs"][INSTANCE.lower()]["org_id"] == refreshed


# -- over HTTPS on loopback ------------------------------------------------------------------------------
def test_sf_login_url_logs_in_every_flow_at_that_host_and_names_the_org(server, monkeypatch):
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(server.cert))
    server.fake.clock = lambda: datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    env = server.login_env()
    oauth = SalesforceOrg(Credentials.from_env(env), lag_seconds=0)
    soap = SalesforceOrg(Credentials.from_env({"SF_LOGIN_URL": server.url, "SF_USERNAME": "integration@fake.example",
                                               "SF_PASSWORD": "p", "SF_SECURITY_TOKEN": "t"}))
    assert oauth.instance_url == soap.instance_url == server.url
    assert oauth.org_id == soap.org_id == server.fake.org_id and server.fake.logins == 2
    # The fake's Date, not the test server's own: one Date header per answer.
    assert oauth.server_time == datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    token = SalesforceOrg(Credentials("session", instance_url=server.url, access_token=server.fake.token))
    assert token.org_id == server.fake.org_id and token.calls_by_kind["identity"] == 1


def test_an_untrusted_certificate_is_refused_at_once_with_what_to_do(server, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    attempts = []
    original = requests.Session.request

    def spy(self, method, url, **kwargs):
        attempts.append(url)
        return original(self, method, url, **kwargs)
    monkeypatch.setattr(requests.Session, "request", spy)
    org = SalesforceOrg(Credentials("session", instance_url=server.url, access_token=server.fake.token))
    with pytest.raises(CertificateError) as caught:
        org.describe("Lead")
    assert len(attempts) == 1 and caught.value.exit_code == 3  # not retried
    message = str(caught.value)
    assert message.startswith(f"GET {BASE}/sobjects/Lead/describe: the TLS certificate of {server.url} could not "
                              "be verified (self-signed certificate)") and "REQUESTS_CA_BUNDLE" in message
    with pytest.raises(CertificateError, match=f"cannot log in to Salesforce: the TLS certificate of {server.url}"):
        SalesforceOrg(Credentials.from_env({**server.login_env(), "REQUESTS_CA_BUNDLE": ""}))
