"""Poison records: values no conversion can hold (an instant whose UTC time is in year 0 or
10000, NaN, a list where a date belongs, a megabyte title) are each one record's problem, never
an exception out of the batch, on the fused default path and on the section-by-section path.

A record that raises anyway (the net under the conversions) comes back undecided, with the
reason as its problem, and the rest of its batch is decided as if it were not there.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rules.evaluate import Context, Evaluator
from rules.memory import memory_of
from tests.rulekit import NOW, ruleset

RULES = """
object: Lead
calendars:
  us-east:
    timezone: America/New_York
    days: [mon, tue, wed, thu, fri]
    hours: ["09:00", "17:00"]
teams:
  sdr:
    members: [ann@x, bob@x]
segment:
  - {name: Big, when: {employees: {gte: 1000}}, segment: Big}
  - {name: Rest, segment: Small}
score:
  rules:
    - {name: Senior, when: {title: {contains: vp}}, points: 40}
    - {name: Recent, when: {last_activity_at: {newer_than: 7d}}, points: 20}
    - {name: Old, when: {created_at: {older_than: 30d}}, points: -5}
    - {name: Rich, when: {annual_revenue: {gt: 1000000}}, points: 10}
    - {name: Converted, when: {converted: true}, points: 5}
qualify:
  - {name: Hot, when: {score: {gte: 40}}, stage: MQL}
  - {name: Rest, stage: Nurture}
route:
  - {name: SDRs, when: {stage: MQL}, assign: {team: sdr}}
  - {name: Account, when: {account.owner_id: {exists: true}}, assign: {field: account.owner_id}}
  - {name: Nurture, assign: {queue: Inbound Nurture}}
sla:
  - name: From created
    when: {stage: MQL, lead_source: Web}
    within: 2d
    calendar: us-east
    from: created_at
    met_at: stage_changed_at
    met_when: {status: Contacted}
  - name: MQL
    when: {stage: MQL}
    within: 1d
    warn_before: 2h
    calendar: us-east
    met_when: {status: Contacted}
    escalate: {team: sdr}
  - name: Plain
    when: {stage: Nurture, lead_source: Web}
    within: 4h
    met_when: {status: Contacted}
"""
RS = ruleset(RULES)
FUSED = Evaluator(RS)
with mock.patch("rules.evaluate.build_decider", lambda program: None):
    SECTIONS = Evaluator(RS)  # the section-by-section path (see test_fused_paths.py)
PATHS = {"fused": FUSED, "sections": SECTIONS}

# Every field the rules or the lifecycle read, the lifecycle's read-backs included.
FIELDS = ("title", "employees", "annual_revenue", "converted", "last_activity_at", "created_at",
          "stage_changed_at", "lead_source", "status", "account.owner_id", "owner_id", "owner.is_active",
          "routed_at", "previous.stage", "previous.previous_stage", "previous.stage_entered_at",
          "previous.sla_due", "previous.sla_status", "previous.sla_started_at", "previous.sla_met_at",
          "previous.lifecycle")

# A clean MQL, routed and on a running MQL clock, as a sync would read it back.
CLEAN = {"id": "00Q000000000001AAA", "title": "VP Sales", "employees": 50, "lead_source": "Demo Request",
         "status": "Open", "owner_id": "ann@x", "routed_at": "2026-11-23T14:00:00Z",
         "previous.stage": "MQL", "previous.stage_entered_at": "2026-11-23T14:00:00Z",
         "previous.sla_started_at": "2026-11-23T14:00:00Z", "previous.sla_due": "2026-11-24T14:00:00Z",
         "previous.sla_status": "pending",
         "previous.lifecycle": json.dumps({"by": "route/SDRs", "owner": "team:sdr/ann@x", "sla": "MQL"})}


def decide(evaluator: Evaluator, records: list[dict], now: datetime = NOW):
    return evaluator.evaluate_batch(records, Context(now=now, positions={}))


def whole(d) -> dict:
    return {**d.asdict(), "memory": memory_of(d, d.matched["sla"]).text(), "handoff_from": d.handoff_from,
            "escalated": d.escalated}


# -- the reported cases, one by one ------------------------------------------------------------

@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("field,value,problem", [
    ("routed_at", "0001-01-01T00:00:00+0100", "routed_at: '0001-01-01T00:00:00+0100' is an instant outside"),
    ("routed_at", "9999-12-31T23:59:59-0100", "routed_at: '9999-12-31T23:59:59-0100' is an instant outside"),
    ("last_activity_at", "0001-01-01T00:00:00+0100", "last_activity_at: '0001-01-01T00:00:00+0100' is an instant"),
    ("created_at", "9999-12-31T23:59:59-01:00", "created_at: '9999-12-31T23:59:59-01:00' is an instant outside"),
    ("previous.sla_due", "0001-01-01T00:00:00+0100", "previous.sla_due: '0001-01-01T00:00:00+0100' is an instant"),
    ("employees", float("nan"), "employees: nan is not a number"),
    ("employees", float("-inf"), "employees: -inf is not a number"),
    ("employees", "1e400", "employees: '1e400' is not a number"),
    ("employees", [1000], "employees: [1000] is expected a number, got list"),
    ("title", {"vp": True}, "title: {'vp': True} is expected text, got dict"),
    ("last_activity_at", ["2026-11-20"], "last_activity_at: ['2026-11-20'] is not an ISO 8601 date"),
    ("last_activity_at", "x" * 100_000, "last_activity_at: 'xxxxx"),
    # A readable start with no deadline a datetime can hold: the SLA says so, the batch goes on.
    ("previous.sla_started_at", "9999-12-31T23:59:59Z", "sla 'MQL': no deadline from the clock's start"),
    ("previous.sla_started_at", "0001-01-01T00:00:00Z", "sla 'MQL': no deadline from the clock's start"),
])
def test_a_value_no_conversion_can_hold_is_the_records_problem(path, field, value, problem):
    evaluator = PATHS[path]
    poisoned = {**CLEAN, "id": "00Q000000000002AAA", field: value}
    if field == "previous.sla_started_at":
        poisoned["previous.lifecycle"] = None  # no memory: the written due is checked from the start
    before, bad, after = decide(evaluator, [CLEAN, poisoned, {**CLEAN, "id": "00Q000000000003AAA"}])
    assert any(p.startswith(problem) for p in bad.problems), bad.problems
    assert all(len(p) < 400 for p in bad.problems)  # a 100 kB value is cut in the report
    assert bad.id == "00Q000000000002AAA"
    for d in (before, after):  # its neighbours are decided as if it were not there
        assert not d.problems and d.stage == "MQL" and d.sla_status == "pending"
    json.dumps(bad.asdict(), allow_nan=False)


def test_a_datetime_far_out_is_unreadable_on_every_conversion():
    from rules.model import FieldType
    from rules.values import Unreadable, coerce, parse_instant
    for text in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"):
        assert parse_instant(text) is None
        for ftype in (FieldType.DATE, FieldType.DATETIME):
            assert isinstance(coerce(text, ftype), Unreadable)
    aware = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    for ftype in (FieldType.DATE, FieldType.DATETIME, FieldType.STRING):
        assert isinstance(coerce(aware, ftype), Unreadable)
    # The ends themselves are readable, and read back.
    assert coerce("0001-01-01T00:00:00Z", FieldType.DATETIME) == datetime.min.replace(tzinfo=timezone.utc).timestamp()
    assert coerce("9999-12-31T23:59:59Z", FieldType.DATETIME) == 253402300799.0
    assert coerce(date(9999, 12, 31), FieldType.DATE) == 253402214400.0


@pytest.mark.parametrize("path", PATHS)
def test_a_record_that_raises_is_undecided_and_the_batch_goes_on(path):
    evaluator = PATHS[path]
    route = evaluator.life.route

    def flaky(rules, rec, *args):
        if rec.get("id") == "boom":
            raise RuntimeError("something no conversion foresaw")
        return route(rules, rec, *args)
    records = [CLEAN, {**CLEAN, "id": "boom"}, {**CLEAN, "id": "00Q000000000003AAA"}]
    with mock.patch.object(evaluator.life, "route", flaky):
        out = decide(evaluator, records)
    assert [d.id for d in out] == ["00Q000000000001AAA", "boom", "00Q000000000003AAA"]
    assert out[1].problems == ("not evaluated: RuntimeError: something no conversion foresaw",)
    assert out[1].stage is None and out[1].owner is None and out[1].sla_due is None
    assert [whole(d) for d in (out[0], out[2])] == [whole(d) for d in decide(evaluator, [records[0], records[2]])]


# -- any value at all -----------------------------------------------------------------------

def _instant_text(moment: datetime, minutes: int) -> str:
    return moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()


EDGES = ["0001-01-01T00:00:00+0100", "9999-12-31T23:59:59-0100", "0001-01-01", "9999-12-31",
         "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00-23:59", "9999-12-31T23:59:59+23:59",
         "nan", "inf", "-inf", "1e400", "1_000", "-0", "", " ", "[/bold]", ":smile:", "\ud800", "\x00",
         "x" * 100_000, "{" * 5000, "2026-13-45", "vp" * 10_000]
VALUES = st.one_of(
    st.sampled_from(EDGES),
    st.builds(_instant_text, st.datetimes(), st.integers(-(24 * 60 - 1), 24 * 60 - 1)),
    st.dates().map(date.isoformat),
    st.datetimes(),  # an API client that parses: naive datetimes of any year
    st.floats(), st.integers(), st.sampled_from([10 ** 400, -10 ** 400, 2 ** 63]),
    st.booleans(), st.none(), st.text(max_size=40),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
RECORDS = st.lists(st.dictionaries(st.sampled_from(FIELDS + ("id",)), VALUES, max_size=8), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=RECORDS, days=st.integers(-400, 400))
@example(records=[{"routed_at": "0001-01-01T00:00:00+0100"}], days=0)
@example(records=[{**CLEAN, "previous.lifecycle": None, "previous.sla_started_at": "9999-12-31T23:59:59Z"}], days=0)
def test_no_value_raises_out_of_a_batch_on_either_path(records, days):
    """Whatever the values, both paths decide every record (or report it), agree with each other,
    and leave a clean record in the same batch decided as it is alone."""
    now = NOW + timedelta(days=days)
    batch = [{**CLEAN, **r} for r in records] + [CLEAN]
    outcomes = {}
    for name, evaluator in PATHS.items():
        out = decide(evaluator, batch, now)  # must not raise
        assert len(out) == len(batch)
        for d in out:
            json.dumps(d.asdict(), allow_nan=False)  # printable by `evaluate`, every line
            assert all(isinstance(p, str) and len(p) < 600 for p in d.problems)
        outcomes[name] = [whole(d) for d in out]
    assert outcomes["fused"] == outcomes["sections"]
    alone = decide(FUSED, [CLEAN], now)[0]
    witness = outcomes["fused"][-1]
    assert not witness.get("problems") and witness["stage"] == alone.stage and witness["score"] == alone.score
