"""The default engine's fused per-record function (rules/fused.py) against its section-by-section
path (`evaluator.fused = None`) and, where durable_rules imports, the durable engine.

Every test compares whole outcomes: each Decision's `asdict()` (outputs, matched, trace,
problems) and the round-robin positions left behind. A path that raises is compared by the
exception's type. Paths that all raise the same exception agree with each other but decided
nothing, so that fails too unless the test names the error it expects (`expect=`).
"""
from __future__ import annotations

import importlib.util
import random
from dataclasses import dataclass, field, replace
from datetime import timedelta
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from rules.evaluate import Context, Evaluator
from rules.memory import memory_of
from rules.model import ConfigError, Section
from tests.rulekit import NOW, ruleset

HAVE_DURABLE = importlib.util.find_spec("durable") is not None


def _run(rs, records, now, engine, fused, batch_size, ctx):
    positions = dict(ctx.get("positions", {}))
    kwargs = {**ctx, "positions": positions}
    try:
        if fused or engine != "default":
            ev = Evaluator(rs, engine)
        else:  # the section-by-section path, without building the fused function at all
            with mock.patch("rules.evaluate.build_decider", lambda program: None):
                ev = Evaluator(rs, engine)
        out = [whole(d) for d in ev.evaluate(records, Context(now=now, **kwargs), batch_size=batch_size)]
    except Exception as exc:  # noqa: BLE001 - compared, not hidden
        return Raised(type(exc), str(exc)), positions
    return out, positions


@dataclass(frozen=True)
class Raised:
    """A path's exception, compared by type only: each engine may word its message its own way."""

    type: type
    message: str = field(compare=False)


def whole(d) -> dict:
    """Everything a decision says, the lifecycle it leaves on the record included."""
    return {**d.asdict(), "memory": memory_of(d, d.matched["sla"]).text(), "handoff_from": d.handoff_from,
            "clock_started": d.clock_started, "escalated": d.escalated}


def paths(text, records, now=NOW, durable=True, batch_size=1000, **ctx):
    """Outcomes of the fused path, the section-by-section path and (optionally) durable."""
    rs = ruleset(text) if isinstance(text, str) else text
    fused = _run(rs, records, now, "default", True, batch_size, ctx)
    by_section = _run(rs, records, now, "default", False, batch_size, ctx)
    durable_out = None
    if durable and HAVE_DURABLE:
        durable_out = _run(rs, records, now, "durable", False, batch_size, ctx)
    return fused, by_section, durable_out


def agree(text, records, now=NOW, durable=True, batch_size=1000, expect=None, **ctx):
    """The paths' shared outcome. `expect`: the exception type every path must raise instead."""
    fused, by_section, durable_out = paths(text, records, now, durable, batch_size, **ctx)
    assert fused == by_section, "fused and section-by-section paths disagree"
    if durable_out is not None:
        assert by_section == durable_out, "default and durable engines disagree"
    out = fused[0]
    if expect is None:
        # An error every path shares is still an error: agreeing on it proves nothing was decided.
        assert not isinstance(out, Raised), f"every path raised {out.type.__name__}: {out.message}"
    else:
        got = out if isinstance(out, Raised) else f"{len(out)} decisions"
        assert isinstance(out, Raised) and out.type is expect, f"expected {expect.__name__}, got {got}"
    return out


# -- score arithmetic ---------------------------------------------------------------------

SCORE_MATH = """
object: Lead
segment:
  - {name: Big, when: {employees: {gte: 1000}}, segment: ' Big '}
  - {name: Rest, segment: small}
score:
  caps: {fit: 20, engagement: 0.5, never: 3}
  min: -7.5
  max: 33.3
  grade: {category: fit, bands: {A: 20, B: 10.1, C: 0, D: -5}}
  rules:
    - {name: e1, category: engagement, when: {lead_source: Demo Request}, points: 0.1}
    - {name: f1, category: fit, when: {title: {matches: '\\b(vp|chief)\\b'}}, points: 12.7}
    - {name: f2, category: fit, when: {industry: [Software, ' financial services ']}, points: 9.9}
    - {name: o1, when: {title: {contains: student}}, points: -30}
    - {name: e2, category: engagement, when: {segment: big}, points: 0.2}
    - {name: e3, category: engagement, when: {last_activity_at: {older_than: 30d}}, points: 0.3}
    - {name: n1, category: never, when: {title: {eq: nobody-has-this}}, points: 1}
    - {name: z1, category: zero, when: {employees: {exists: false}}, points: 0}
qualify:
  - {name: NeverHit, when: {scores.never: {gt: 0}}, stage: Impossible}
  - {name: NeverZero, when: {scores.never: 0, scores.zero: {ne: 0}}, stage: ZeroTouched}
  - {name: Hot, when: {score: {gte: 20}, grade: [a, ' B ']}, stage: MQL}
  - {name: Cold, when: {score: {lt: 0}}, stage: Cold}
  - {name: NoGrade, when: {grade: {exists: false}}, stage: Ungraded}
  - {name: Rest, stage: Nurture}
route:
  - {name: ByGrade, when: {grade: A, scores.engagement: {between: [0.5, 0.5]}}, assign: {user: ann}}
  - {name: ByScore, when: {score: {between: [0.3, 0.31]}}, assign: {queue: Fractions}}
  - {name: Rest, assign: {queue: Inbound}}
sla:
  - {name: Neg, when: {score: {lt: 0}, owner: {ne: 'user:ann'}}, within: 1h}
"""

SCORE_RECORDS = [
    {"id": "a", "title": "VP Sales", "industry": "software ", "lead_source": "demo request",
     "employees": 5000, "last_activity_at": "2026-01-01"},
    {"id": "b", "title": "Chief Student", "industry": "Financial Services", "employees": "12"},
    {"id": "c", "title": "student", "employees": None},
    {"id": "d", "title": "vp", "industry": "Software", "lead_source": "Demo Request", "employees": 1000,
     "last_activity_at": "2026-11-22"},
    {"id": "e"},
    {"id": "f", "lead_source": "Demo Request", "employees": 1, "last_activity_at": "2020-01-01T00:00:00Z"},
]


def test_score_categories_caps_bounds_grades_fractions():
    agree(SCORE_MATH, SCORE_RECORDS)


def test_grade_on_total_below_every_band_and_clamps():
    text = """
object: Lead
score:
  min: 0
  max: 10
  grade: {bands: {A: 10, B: 2.5}}
  rules:
    - {name: p, when: {employees: {gt: 0}}, points: 2.4}
    - {name: q, when: {employees: {gt: 100}}, points: 0.1}
    - {name: big, when: {employees: {gt: 1000}}, points: 50}
    - {name: neg, when: {title: {exists: true}}, points: -3}
qualify:
  - {name: G, when: {grade: {ne: b}}, stage: NotB}
  - {name: S, when: {score: 2.5}, stage: Exact}
"""
    agree(text, [{"employees": 1}, {"employees": 200}, {"employees": 5000}, {"employees": 5000, "title": "x"},
                 {"title": "x"}, {}])


# -- sections absent, empty, and outputs tested later ------------------------------------

@pytest.mark.parametrize("text", [
    """
object: Lead
qualify:
  - {name: NoSeg, when: {segment: {exists: false}, score: {exists: false}, grade: {ne: A}}, stage: Bare}
route:
  - {name: ByStage, when: {stage: bare}, assign: {queue: Q}}
sla:
  - {name: Own, when: {owner: {exists: false}}, within: 1h}
  - {name: Owned, when: {owner: {starts_with: 'QUEUE:'}}, within: 2h}
""",
    """
object: Lead
segment: []
score: {}
qualify: []
route: []
sla: []
""",
    """
object: Lead
segment: []
qualify:
  - {name: Q, when: {segment: {exists: false}}, stage: S}
route: []
sla:
  - {name: T, when: {owner: {exists: false}}, within: 1d}
""",
    """
object: Lead
score:
  grade: {bands: {A: 0}}
""",
])
def test_absent_and_empty_sections(text):
    out = agree(text, [{"id": "x", "routed_at": "2026-11-20T00:00:00Z", "owner_id": "005A"}, {"id": 3},
                       {"created_at": "2026-11-01T00:00:00Z"}])
    assert isinstance(out, list) and len(out) == 3, out  # decided, trace included; nothing raised


# -- reading values: ids, text, unreadable vs missing, dates -------------------------------

READING = """
object: Lead
segment:
  - {name: Ne, when: {state: {ne: ca}, employees: {ne: 5}}, segment: ne}
  - {name: NotIn, when: {state: {not_in: [' CA ', WA]}}, segment: notin}
  - {name: Gone, when: {employees: {exists: false}}, segment: gone}
  - {name: Not, when: {not: {converted: true}}, segment: not}
score:
  rules:
    - {name: old, when: {created_at: {older_than: 2d}}, points: 1}
    - {name: new, when: {created_at: {newer_than: 1w}}, points: 2}
    - {name: dold, when: {last_activity_at: {older_than: 1d}}, points: 4}
    - {name: dnew, when: {last_activity_at: {newer_than: 1d}}, points: 8}
    - {name: after, when: {created_at: {gte: '2026-11-22'}}, points: 16}
    - {name: day, when: {last_activity_at: '2026-11-22'}, points: 32}
    - {name: re, when: {title: {matches: '^vp|ceo$'}}, points: 64}
    - {name: sw, when: {title: {starts_with: ' VP'}, email_domain: {ends_with: .COM}}, points: 128}
    - {name: num, when: {annual_revenue: {gt: 999.5}}, points: 256}
    - {name: yes, when: {converted: false}, points: 512}
    - {name: id, when: {id: {exists: true}}, points: 1024}
"""

READ_RECORDS = [
    {"id": 17, "state": " ca ", "employees": "5", "title": " VP of Sales ", "email_domain": "x.com"},
    {"id": 1.5, "state": "", "employees": "", "title": "", "converted": ""},
    {"id": "  ", "state": "WA", "employees": "lots", "converted": "maybe", "created_at": "soon"},
    {"id": "", "employees": True, "converted": "no", "annual_revenue": "1e3", "last_activity_at": "2026-11-22T23:59:59Z"},
    {"id": None, "employees": "nan", "annual_revenue": "1_000", "created_at": "2026-11-21T15:00:00+05:00"},
    {"id": " L1 ", "title": "The CEO", "created_at": "2026-11-23T14:59:59Z", "last_activity_at": "2026-11-20"},
    {"id": False, "title": 7, "state": 12, "annual_revenue": 999.5, "created_at": "2026-11-16T15:00:00Z",
     "last_activity_at": "yesterday"},
    {"id": "L2", "account": {"owner_id": "005A"}, "converted": 1, "created_at": "2026-11-22"},
]


@pytest.mark.parametrize("hours", [0, 12, 36, 24 * 8])
def test_reading_missing_unreadable_dates_text_ids(hours):
    agree(READING, READ_RECORDS, now=NOW + timedelta(hours=hours))


# -- routing ---------------------------------------------------------------------------

ROUTING = """
object: Lead
teams:
  west: {members: [alice, {user: Bob, weight: 2}]}
  gone: {members: [zed]}
qualify:
  - {name: M, when: {employees: {gte: 100}}, stage: MQL}
route:
  - {name: Gone team, when: {stage: MQL}, assign: {team: gone}}
  - {name: Inactive user, when: {state: CA}, assign: {user: Dan}}
  - {name: Account owner, when: {account.owner_id: {exists: true}}, assign: {field: account.owner_id}}
  - {name: West, when: {state: [CA, OR, WA]}, assign: {team: west}}
  - {name: Rest, assign: {queue: Inbound SDR}}
sla:
  - {name: Routed, when: {owner: {starts_with: 'team:'}}, within: 4h}
"""

ROUTE_RECORDS = [
    {"id": "1", "state": "CA", "employees": 500},
    {"id": "2", "state": "ca", "account": {"owner_id": " "}},
    {"id": "3", "state": "OR", "account.owner_id": "dan"},
    {"id": "4", "state": "WA", "account.owner_id": "005ACC"},
    {"id": "5", "state": "TX"},
    {"id": "6", "state": "WA", "routed_at": "2026-11-20T10:00:00Z", "owner_id": "005KEEP"},
    {"id": "7", "state": "WA", "routed_at": "2026-11-20T10:00:00Z", "owner_id": "005OFF", "owner.is_active": "false"},
    {"id": "8", "state": "WA", "routed_at": "2026-11-20T10:00:00Z", "owner_id": "Dan"},
    {"id": "9", "state": "WA", "routed_at": "2026-11-20T10:00:00Z"},
    {"id": "10", "state": "WA", "routed_at": "not a time", "owner_id": "005X"},
    {"id": "11", "state": "WA", "routed_at": "2026-11-20T10:00:00Z", "owner_id": "00G123", "owner": {"is_active": True}},
    {"id": "12", "state": "WA", "routed_at": " ", "owner_id": "005X"},
] + [{"id": f"w{i}", "state": "WA"} for i in range(7)]


@pytest.mark.parametrize("ctx", [
    {},
    {"inactive": frozenset({"dan", "zed"})},
    {"inactive": frozenset({"dan", "zed", "bob"}), "positions": {"west": 4}},
    {"inactive": frozenset({"alice", "bob"})},
    {"reroute": True, "positions": {"west": 1, "gone": 3}},
])
def test_route_fallthrough_sticky_and_round_robin(ctx):
    agree(ROUTING, ROUTE_RECORDS, **ctx)


def test_round_robin_positions_across_batches():
    text = """
object: Lead
teams:
  t: {members: [a, {user: b, weight: 2}, {user: c, weight: 3}]}
route:
  - {name: T, assign: {team: t}}
"""
    agree(text, [{"id": str(i)} for i in range(31)], batch_size=4, positions={"t": 2})


# -- SLA ---------------------------------------------------------------------------------

SLA = """
object: Lead
calendars:
  us-east: {timezone: America/New_York, days: [mon, tue, wed, thu, fri], hours: ["09:00", "17:00"], holidays: US}
qualify:
  - {name: M, when: {employees: {gte: 100}}, stage: MQL}
  - {name: N, stage: Nurture}
route:
  - {name: Q, assign: {queue: Inbound}}
sla:
  - name: Hot
    when: {stage: MQL, owner: {ne: 'user:x'}}
    within: 4h
    calendar: us-east
    met_when: {status: [Working - Contacted, Qualified]}
    escalate: {queue: SDR Managers}
  - name: From field
    when: {state: CA}
    within: 1d
    calendar: us-east
    from: stage_changed_at
    escalate: {user: Dan}
  - name: Rest
    within: 30m
"""

SLA_RECORDS = [
    {"id": "1", "employees": 500},
    {"id": "2", "employees": 500, "status": " working - contacted"},
    {"id": "3", "employees": 500, "routed_at": "2026-11-19T14:00:00Z", "owner_id": "005A"},
    {"id": "4", "employees": 500, "routed_at": "2026-11-19T14:00:00Z", "owner_id": "005A",
     "previous.sla_status": "Breached"},
    {"id": "5", "employees": 500, "routed_at": "2026-11-19T14:00:00Z", "owner_id": "005A", "status": "Qualified"},
    {"id": "6", "state": "CA", "stage_changed_at": "2026-11-20T22:00:00Z"},
    {"id": "7", "state": "CA", "stage_changed_at": ""},
    {"id": "8", "state": "CA", "stage_changed_at": "garbage"},
    {"id": "9", "created_at": "2026-11-01T00:00:00Z", "routed_at": "2026-11-23T14:00:00Z", "owner_id": "005B"},
    {"id": "10", "employees": 500, "routed_at": "2026-11-26T20:00:00Z", "owner_id": "005A"},
    # What revsync wrote last: a running clock, a met one, an escalated one, a legacy one.
    {"id": "11", "employees": 500, "routed_at": "2026-11-19T14:00:00Z", "owner_id": "005A",
     "previous.stage": "MQL", "previous.stage_entered_at": "2026-11-19T14:00:00Z",
     "previous.sla_started_at": "2026-11-19T14:00:00Z", "previous.sla_due": "2026-11-19T18:00:00Z",
     "previous.sla_status": "pending", "previous.lifecycle": '{"v":1,"by":"route/Q","owner":"005A","sla":"Hot"}'},
    {"id": "12", "employees": 500, "routed_at": "2026-11-19T14:00:00Z", "owner_id": "005A",
     "previous.stage": "MQL", "previous.sla_started_at": "2026-11-19T14:00:00Z",
     "previous.sla_due": "2026-11-19T18:00:00Z", "previous.sla_status": "met",
     "previous.sla_met_at": "2026-11-19T15:00:00Z", "previous.lifecycle": '{"v":1,"sla":"Hot"}'},
    {"id": "13", "employees": 500, "routed_at": "2026-11-20T14:00:00Z", "owner_id": "00G000000000001AAA",
     "previous.stage": "MQL", "previous.sla_started_at": "2026-11-19T14:00:00Z",
     "previous.sla_due": "2026-11-19T18:00:00Z", "previous.sla_status": "breached",
     "previous.lifecycle": '{"v":1,"by":"sla/Hot","owner":"00G000000000001AAA","sla":"Hot","esc":1}'},
    {"id": "14", "employees": 500, "routed_at": "2026-11-19T14:00:00Z", "owner_id": "005A",
     "previous.stage": "MQL", "previous.sla_due": "2026-11-19T18:00:00Z", "previous.sla_status": "pending"},
    {"id": "15", "employees": 5, "routed_at": "2026-11-19T14:00:00Z", "owner_id": "005A",
     "previous.stage": "MQL", "previous.lifecycle": "not json"},
]


@pytest.mark.parametrize("hours", [0, 3, 50, 24 * 4])
@pytest.mark.parametrize("inactive", [frozenset(), frozenset({"dan"})])
def test_sla_calendars_met_when_and_escalation(hours, inactive):
    agree(SLA, SLA_RECORDS, now=NOW + timedelta(hours=hours), inactive=inactive)


# -- divergences found in review ------------------------------------------------------------

HANDOFFS = """
object: Lead
teams:
  sdr: {members: [ann, {user: bob, weight: 2}]}
qualify:
  - {name: M, when: {employees: {gte: 100}}, stage: MQL}
  - {name: N, stage: Nurture}
route:
  - {name: Fresh MQLs, when: {stage: MQL, previous_stage: Nurture, stage_entered_at: {newer_than: 1d}}, assign: {team: sdr}}
  - {name: MQLs, when: {stage: MQL}, assign: {user: carl}}
  - {name: Nurture, assign: {queue: Nurture}}
sla:
  - {name: Just qualified, when: {previous_stage: Nurture, stage_entered_at: {newer_than: 2d}}, within: 2h, warn_before: 30m}
  - {name: MQL, when: {stage: MQL}, within: 1d, met_when: {status: Contacted}, escalate: {team: sdr}}
"""

NURTURED = {"routed_at": "2026-11-10T10:00:00Z", "previous.stage": "Nurture",
            "previous.stage_entered_at": "2026-11-10T10:00:00Z"}
HANDOFF_RECORDS = [
    {"id": "queue", "employees": 500, "owner_id": "00G000000000009AAA", **NURTURED,
     "previous.lifecycle": '{"v":1,"by":"route/Nurture","owner":"00G000000000009AAA"}'},
    {"id": "given", "employees": 500, "owner_id": "005000000000001AAA", **NURTURED,
     "previous.lifecycle": '{"v":1,"by":"route/Nurture","owner":"005000000000001AAA"}'},
    {"id": "person", "employees": 500, "owner_id": "005000000000002AAA", **NURTURED,
     "previous.lifecycle": '{"v":1,"by":"route/Nurture","owner":"005000000000001AAA"}'},
    {"id": "legacy-queue", "employees": 500, "owner_id": "00G000000000009AAA", **NURTURED},
    {"id": "legacy-user", "employees": 500, "owner_id": "005000000000001AAA", **NURTURED},
    {"id": "same-rule", "employees": 5, "owner_id": "00G000000000009AAA", **NURTURED,
     "previous.lifecycle": '{"v":1,"by":"route/Nurture","owner":"00G000000000009AAA"}'},
    {"id": "held", "employees": 500, "owner_id": "00G000000000009AAA", "routed_at": "2026-11-10T10:00:00Z",
     "previous.stage": "MQL", "previous.previous_stage": "Nurture", "previous.stage_entered_at": "2026-11-22T10:00:00Z",
     "previous.lifecycle": '{"v":1,"by":"route/Nurture","owner":"00G000000000009AAA"}'},
    {"id": "breached", "employees": 500, "owner_id": "005000000000001AAA", "routed_at": "2026-11-19T10:00:00Z",
     "previous.stage": "MQL", "previous.stage_entered_at": "2026-11-19T10:00:00Z",
     "previous.sla_started_at": "2026-11-19T10:00:00Z", "previous.sla_due": "2026-11-20T10:00:00Z",
     "previous.lifecycle": '{"v":1,"by":"route/MQLs","owner":"005000000000001AAA","sla":"MQL",'
                           '"owners":["00G000000000009AAA","team:sdr/bob"]}'},
]


@pytest.mark.parametrize("hours", [0, 1, 30, 24 * 5])
def test_handoffs_and_clocks_from_lifecycle_fields_agree(hours):
    out = agree(HANDOFFS, HANDOFF_RECORDS, now=NOW + timedelta(hours=hours), positions={"sdr": 1})
    by_id = {d["id"]: d for d in out}
    assert by_id["queue"]["handoff_from"] == "queue:00G000000000009AAA"
    assert by_id["given"]["handoff_from"] == "user:005000000000001AAA"
    assert by_id["person"]["owner"] == "user:005000000000002AAA" and by_id["person"]["handoff_from"] is None
    assert by_id["legacy-queue"]["handoff_from"] and by_id["legacy-user"]["handoff_from"] is None
    assert by_id["same-rule"]["owner"] == "queue:00G000000000009AAA" and by_id["same-rule"]["handoff_from"] is None
    # A stage entered after the last routing whose handoff did not happen then happens now.
    assert by_id["held"]["handoff_from"] == "queue:00G000000000009AAA"
    if hours == 0:
        assert by_id["held"]["owner"] == "user:carl" and by_id["queue"]["owner"] == "team:sdr/ann"


def test_escalation_to_the_team_that_routing_also_uses():
    """Round robin is shared by route and SLA escalation: the positions each record gets
    must not depend on the path (section by section routes the whole batch first)."""
    text = """
object: Lead
teams:
  t: {members: [alice, bob]}
route:
  - {name: All, assign: {team: t}}
sla:
  - {name: S, within: 1h, escalate: {team: t}}
"""
    records = [{"id": "old", "routed_at": "2026-11-20T00:00:00Z", "owner_id": "005X"}, {"id": "new"}]
    agree(text, records)


@pytest.mark.parametrize("score", [
    "grade: {bands: {A: 10, Z: -.inf}}",
    "max: .inf",
    "min: -.inf",
    "caps: {other: .inf}",
    "points: .nan",
])
def test_non_finite_numbers_in_score_config_are_rejected(score):
    """YAML's .inf and .nan are numbers to a YAML reader; a score made of them means nothing."""
    extra, points = (score, 5) if not score.startswith("points") else ("", ".nan")
    text = f"""
object: Lead
score:
  {extra}
  rules:
    - {{name: r, when: {{employees: {{gte: 1}}}}, points: {points}}}
"""
    with pytest.raises(ConfigError) as info:
        ruleset(text)
    assert [p.code for p in info.value.problems] == ["E112"]


def test_non_finite_numbers_still_decide_the_same_on_both_paths():
    """Constants the generated code cannot spell as literals (a model built without the parser)."""
    base = ruleset("object: Lead\nscore:\n  max: 100\n  rules:\n    - {name: r, when: {employees: {gte: 1}}, points: 5}\n")
    rs = replace(base, score_config=replace(base.score_config, max=float("inf"), min=float("-inf")))
    out = agree(rs, [{"id": "1", "employees": 3}, {"id": "2"}], durable=False)
    assert [d["score"] for d in out] == [5, 0]


def test_long_first_match_section():
    """A first-match section of a few thousand entries (e.g. a generated territory table)."""
    n = 3000
    base = ruleset("object: Lead\nqualify:\n  - {name: q0, when: {employees: 0}, stage: s0}\n")
    (first,) = base.rules(Section.QUALIFY)
    rules = tuple(replace(first, name=f"q{i}", index=i, value=f"s{i}", when=replace(first.when, value=float(i)))
                  for i in range(n))  # what the parser makes of n such entries, without parsing n lines
    rs = replace(base, sections=((Section.QUALIFY, rules),))
    agree(rs, [{"employees": n - 1}, {"employees": 0}, {}], durable=False)


# -- random rule files --------------------------------------------------------------------

_BASE = ["{title: {contains: vp}}", "{title: ' CEO '}", "{employees: {gte: 100}}", "{employees: {ne: 5}}",
         "{state: {not_in: [CA]}}", "{state: {exists: false}}", "{created_at: {older_than: 2d}}",
         "{last_activity_at: {newer_than: 1w}}", "{converted: true}", "{title: {matches: '^(vp|chief)'}}",
         "{not: {industry: [Software]}}", "{any: [{state: CA}, {employees: {gt: 1000}}]}",
         "{account.owner_id: {exists: true}}", "{employees: {between: [1, 50]}}"]
_LATER = {"score": ["{segment: [Big, small]}", "{segment: {exists: false}}"],
          "qualify": ["{score: {gte: 10}}", "{score: {lt: 0}}", "{grade: A}", "{grade: {exists: false}}",
                      "{scores.fit: {gte: 5}}", "{scores.eng: 0}"],
          "route": ["{stage: MQL}", "{stage: {ne: mql}}", "{score: {gt: 3.3}}"],
          "sla": ["{owner: {starts_with: 'team:'}}", "{owner: {exists: false}}", "{stage: MQL}"]}


def _cond(section, rnd):
    pool = list(_BASE)
    for sec in ("score", "qualify", "route", "sla"):
        if section == "segment":
            break
        pool += _LATER[sec]
        if sec == section:
            break
    c = rnd.choice(pool)
    return "{all: [%s, %s]}" % (c, rnd.choice(pool)) if rnd.random() < 0.2 else c


def _first_match_section(out, rnd, section, key, prefix, values, rest):
    if rnd.random() < 0.7:
        out.append(f"{section}:")
        for i in range(rnd.randint(1, 3)):
            out.append(f"  - {{name: {prefix}{i}, when: {_cond(section, rnd)}, {key}: {rnd.choice(values)}}}")
        if rnd.random() < 0.5:
            out.append(f"  - {{name: {prefix}all, {key}: {rest}}}")


def _rule_file(rnd):
    out = ["object: Lead",
           "calendars:",
           "  us: {timezone: America/New_York, days: [mon, tue, wed, thu, fri], hours: ['09:00', '17:00']}",
           "teams:", "  t1: {members: [alice, {user: bob, weight: 2}]}", "  t2: {members: [carol, dave]}"]
    _first_match_section(out, rnd, "segment", "segment", "g", ["Big", " small ", "Mid"], "Other")
    out += ["score:", "  rules:"]
    cats = {"fit", "eng"}
    for i in range(rnd.randint(1, 5)):
        cat = rnd.choice(["fit", "eng", None])
        cats.add(cat or "other")
        when = "" if rnd.random() < 0.15 else f", when: {_cond('score', rnd)}"
        out.append(f"    - {{name: r{i}{when}, points: {rnd.choice([1, 5, -3, 0.1, 0.2, 2.5, -0.7, 40])}"
                   + (f", category: {cat}" if cat else "") + "}")
    out.append("    - {name: fitx, category: fit, when: {title: nobody}, points: 1}")
    out.append("    - {name: engx, category: eng, when: {title: nobody}, points: 1}")
    if rnd.random() < 0.5:
        out.append("  caps: {" + ", ".join(f"{c}: {rnd.choice([0, 3, 4.5, -1])}"
                                          for c in rnd.sample(sorted(cats), 2)) + "}")
    if rnd.random() < 0.4:
        out.append(f"  min: {rnd.choice([-5, 0, 0.5])}")
    if rnd.random() < 0.4:
        out.append(f"  max: {rnd.choice([5, 10, 30.5])}")
    if rnd.random() < 0.6:
        gc = rnd.choice([None, "fit", "eng"])
        out.append("  grade: {" + (f"category: {gc}, " if gc else "") + "bands: {A: 10, B: 4.5, C: 0}}")
    _first_match_section(out, rnd, "qualify", "stage", "q", ["MQL", "Nurture", "mql "], "Rest")
    if rnd.random() < 0.8:
        out.append("route:")
        for i in range(rnd.randint(0, 3)):
            a = rnd.choice(["{team: t1}", "{team: t2}", "{user: ann}", "{user: Dan}", "{queue: Q}",
                            "{field: account.owner_id}"])
            out.append(f"  - {{name: o{i}, when: {_cond('route', rnd)}, assign: {a}}}")
        out.append("  - {name: oall, assign: %s}" % rnd.choice(["{queue: Inbound}", "{team: t1}"]))
    if rnd.random() < 0.7:
        out.append("sla:")
        for i in range(rnd.randint(1, 2)):
            extra = ""
            if rnd.random() < 0.5:
                extra += ", calendar: us"
            if rnd.random() < 0.5:
                extra += ", met_when: {status: [Working - Contacted]}"
            if rnd.random() < 0.5:
                extra += ", escalate: " + rnd.choice(["{queue: Mgr}", "{user: dan}", "{team: t2}"])
            if rnd.random() < 0.3:
                extra += ", from: " + rnd.choice(["created_at", "stage_changed_at"])
            when = "" if rnd.random() < 0.3 else f", when: {_cond('sla', rnd)}"
            out.append(f"  - {{name: t{i}{when}, within: {rnd.choice(['1h', '4h', '1d', '30m'])}{extra}}}")
    return "\n".join(out) + "\n"


def _record(rnd, i):
    rec = {"id": rnd.choice([f"L{i}", i, "", " ", None]),
           "title": rnd.choice([None, "", "VP Sales", " ceo ", "Chief", 5]),
           "employees": rnd.choice([None, "", 5, 100, "100", "lots", 1e3, True]),
           "state": rnd.choice([None, "CA", " ca", ""]),
           "created_at": rnd.choice([None, "2026-11-22T15:00:00Z", "2026-10-01", "bad"]),
           "last_activity_at": rnd.choice([None, "2026-10-01", "2026-11-22T23:30:00Z", "junk"]),
           "converted": rnd.choice([None, True, "no", "maybe"]),
           "industry": rnd.choice([None, "software", "Retail"]),
           "status": rnd.choice([None, "working - contacted ", "Open"]),
           "account.owner_id": rnd.choice([None, "005A", " ", "alice"]),
           "stage_changed_at": rnd.choice([None, "2026-11-20T10:00:00Z", "x"]),
           "previous.sla_status": rnd.choice([None, "Breached", "pending"])}
    if rnd.random() < 0.4:
        rec.update(routed_at=rnd.choice(["2026-11-20T10:00:00Z", "2026-11-23T14:30:00Z", "", "garbage"]),
                   owner_id=rnd.choice([None, "005B", "00G1", "dan"]),
                   **{"owner.is_active": rnd.choice([None, False, "true"])})
    return {k: v for k, v in rec.items() if v is not None}


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32))
def test_random_rule_files_decide_identically(seed):
    rnd = random.Random(seed)
    text = _rule_file(rnd)
    try:
        rs = ruleset(text)
    except ConfigError:
        return
    records = [_record(rnd, i) for i in range(rnd.randint(1, 10))]
    now = NOW + timedelta(hours=rnd.choice([0, 5, 30, 100]))
    inactive = frozenset(rnd.sample(["alice", "bob", "carol", "ann", "dan", "005b"], rnd.randint(0, 2)))
    agree(rs, records, now=now, durable=False, inactive=inactive,
          positions=rnd.choice([{}, {"t1": 2}, {"t2": 7}]))
