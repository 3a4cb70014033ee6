"""RULES.md: sections and their order, score, routing and SLA (all pinned)."""
from collections import Counter
from datetime import timedelta

import pytest

from rules.model import Section
from tests.rulekit import NOW, decide, ruleset

FULL = """
object: Lead
segment:
  - {name: Retain, when: {account.share_of_wallet: {gte: 0.5}}, segment: Retain}
  - {name: Acquire, segment: Acquire}
score:
  caps: {fit: 30}
  min: 0
  max: 100
  grade: {category: fit, bands: {A: 30, B: 20, C: 10}}
  rules:
    - {name: Retain bonus, category: fit, when: {segment: Retain}, points: 5}
    - {name: Big, category: fit, when: {employees: {gte: 1000}}, points: 25}
    - {name: Software, category: fit, when: {industry: Software}, points: 10}
    - {name: Demo, category: engagement, when: {lead_source: Demo Request}, points: 30}
    - {name: Student, when: {title: {contains: student}}, points: -80}
qualify:
  - {name: Hot, when: {score: {gte: 50}, grade: [A, B], scores.engagement: {gt: 0}}, stage: MQL}
  - {name: Rest, stage: Nurture}
route:
  - {name: MQLs to Ann, when: {stage: MQL}, assign: {user: ann@acme.example}}
  - {name: Rest, assign: {queue: Inbound SDR}}
sla:
  - {name: MQL, when: {stage: MQL, owner: 'user:ann@acme.example'}, within: 4h, met_when: {status: Working}}
"""


def test_sections_run_in_order_and_later_ones_see_earlier_outputs():
    (d,) = decide(FULL, [{"id": "1", "account.share_of_wallet": 0.7, "employees": 5000,
                          "industry": "software", "lead_source": "Demo Request"}])
    assert d.segment == "Retain"
    assert d.matched["score"] == ["Retain bonus", "Big", "Software", "Demo"]
    assert d.scores == {"fit": 30, "engagement": 30}  # fit 40 capped at 30
    assert d.score == 60 and d.grade == "A"
    assert (d.stage, d.owner, d.matched["route"]) == ("MQL", "user:ann@acme.example", "MQLs to Ann")
    assert d.sla_due == NOW + timedelta(hours=4) and d.sla_status == "pending"
    assert [h.section for h in d.trace][:1] == [Section.SEGMENT]


def test_score_without_category_goes_to_other_and_total_is_clamped():
    (d,) = decide(FULL, [{"title": "Student", "lead_source": "Demo Request"}])
    assert d.scores == {"engagement": 30, "other": -80}
    assert d.score == 0  # -50 clamped to min 0
    (d,) = decide(FULL.replace("  min: 0\n", ""), [{"title": "Student"}])
    assert d.score == -80


def test_grade_is_highest_band_not_above_category_score_and_none_below_every_band():
    (d,) = decide(FULL, [{"industry": "Software"}])  # fit 10
    assert d.grade == "C"
    (d,) = decide(FULL, [{"industry": "Retail"}])  # fit 0, below every band
    assert d.grade is None
    (d,) = decide(FULL, [{"employees": 1000}])  # fit 25 -> B (20 <= 25 < 30)
    assert d.grade == "B"


def test_max_clamps_total():
    text = FULL.replace("max: 100", "max: 40")
    (d,) = decide(text, [{"employees": 5000, "industry": "software", "lead_source": "Demo Request"}])
    assert d.score == 40


def test_grade_on_total_when_no_category():
    text = FULL.replace("grade: {category: fit, ", "grade: {")
    (d,) = decide(text, [{"lead_source": "Demo Request", "industry": "software"}])  # 40
    assert d.grade == "A"


def test_absent_sections_and_no_match_give_null_and_empty_score_list():
    rs = """
        object: Lead
        qualify:
          - {name: MQL, when: {lead_source: Demo Request}, stage: MQL}
        """
    (d,) = decide(rs, [{"lead_source": "Web"}])
    out = d.asdict()
    assert out["stage"] is None and out["segment"] is None and out["owner"] is None
    # Absent sections are there too, as null: consumers read every key without checking.
    assert out["matched"] == {"segment": None, "score": [], "qualify": None, "route": None, "sla": None}
    (d,) = decide(FULL, [{}])
    assert d.matched["score"] == [] and d.score == 0


def test_first_match_wins_in_ordered_sections():
    rs = """
        object: Lead
        qualify:
          - {name: A, when: {employees: {gt: 10}}, stage: Big}
          - {name: B, when: {employees: {gt: 5}}, stage: Medium}
          - {name: C, stage: Small}
        """
    ds = decide(rs, [{"employees": 11}, {"employees": 6}, {"employees": 1}])
    assert [d.stage for d in ds] == ["Big", "Medium", "Small"]
    assert [d.matched["qualify"] for d in ds] == ["A", "B", "C"]


# -- routing ------------------------------------------------------------------------------
TEAMS = """
object: Lead
teams:
  west:
    members:
      - alice@acme.example
      - {user: bob@acme.example, weight: 2}
route:
  - {name: West, when: {state: [CA, OR, WA]}, assign: {team: west}}
  - {name: Account owner, when: {account.owner_id: {exists: true}}, assign: {field: account.owner_id}}
  - {name: Rest, assign: {queue: Inbound SDR}}
"""


def test_weighted_round_robin_is_exact_over_a_cycle():
    ds = decide(TEAMS, [{"id": str(i), "state": "CA"} for i in range(30)])
    counts = Counter(d.owner for d in ds)
    assert counts == {"team:west/alice@acme.example": 10, "team:west/bob@acme.example": 20}
    # Spread out, not in blocks: no member gets three in a row.
    owners = [d.owner for d in ds]
    assert all(len(set(owners[i:i + 3])) > 1 for i in range(len(owners) - 2))


def test_round_robin_position_persists_between_runs():
    positions: dict = {}
    first = decide(TEAMS, [{"state": "CA"}], positions=positions)
    second = decide(TEAMS, [{"state": "CA"}, {"state": "CA"}], positions=positions)
    assert [d.owner.split("/")[1] for d in first + second] == \
        ["bob@acme.example", "alice@acme.example", "bob@acme.example"]
    assert positions == {"west": 3}


def test_round_robin_skips_inactive_users():
    ds = decide(TEAMS, [{"state": "CA"} for _ in range(5)], inactive=frozenset({"bob@acme.example"}))
    assert {d.owner for d in ds} == {"team:west/alice@acme.example"}


def test_field_assignment_and_fall_through_when_field_empty():
    ds = decide(TEAMS, [{"account.owner_id": "005000000000001AAA"}, {"account.owner_id": ""}])
    assert ds[0].owner == "field:005000000000001AAA"
    assert ds[1].owner == "queue:Inbound SDR"


def test_routing_is_sticky():
    routed = {"state": "CA", "routed_at": "2026-11-01T10:00:00Z", "owner_id": "005AAA"}
    (d,) = decide(TEAMS, [routed])
    assert d.owner == "user:005AAA" and d.matched["route"] is None
    (kept,) = [h for h in d.trace if h.rule == "(sticky)"]
    assert kept.loc.line == 8 and d.citation() == "route/(sticky) (lead.yaml:8)"  # the `route:` line
    assert d.routed_at.isoformat() == "2026-11-01T10:00:00+00:00"
    # ...unless the owner is inactive, or re-routing is asked for.
    (d,) = decide(TEAMS, [{**routed, "owner.is_active": "false"}])
    assert d.owner.startswith("team:west/") and d.routed_at == NOW
    (d,) = decide(TEAMS, [routed], inactive=frozenset({"005aaa"}))
    assert d.owner.startswith("team:west/")
    (d,) = decide(TEAMS, [routed], reroute=True)
    assert d.owner.startswith("team:west/")


def test_fresh_record_routed_now():
    (d,) = decide(TEAMS, [{"state": "NY"}])
    assert d.owner == "queue:Inbound SDR" and d.routed_at == NOW


# -- SLA ---------------------------------------------------------------------------------------
SLA = """
object: Lead
route:
  - {name: Everyone, assign: {queue: Inbound SDR}}
sla:
  - name: Demo
    when: {lead_source: Demo Request}
    within: 4h
    met_when: {status: [Working - Contacted, Qualified]}
    escalate: {queue: SDR Managers}
  - name: Stage change
    when: {lead_source: Partner}
    within: 2d
    from: stage_changed_at
"""


def test_sla_clock_starts_when_routed_now():
    (d,) = decide(SLA, [{"lead_source": "Demo Request"}])
    assert d.sla_due == NOW + timedelta(hours=4) and d.sla_status == "pending"
    assert d.asdict()["sla_due"] == "2026-11-23T19:00:00Z"


def test_a_clock_starts_when_its_entry_first_applies_not_at_routed_at():
    rec = {"lead_source": "Demo Request", "routed_at": "2026-11-20T09:00:00Z", "owner_id": "005BOB"}
    (d,) = decide(SLA, [rec])
    assert d.sla_started_at == NOW and d.sla_due == NOW + timedelta(hours=4) and d.sla_status == "pending"
    assert d.clock_started and not d.escalated


def test_a_running_clock_keeps_its_due_breaches_and_escalates_once():
    rec = {"lead_source": "Demo Request", "routed_at": "2026-11-23T09:00:00Z", "owner_id": "005BOB",
           "previous.sla_started_at": "2026-11-23T09:00:00Z", "previous.sla_due": "2026-11-23T13:00:00Z",
           "previous.sla_status": "pending", "previous.lifecycle": '{"v":1,"by":"route/Everyone","sla":"Demo"}'}
    (d,) = decide(SLA, [rec])
    assert d.sla_due.isoformat() == "2026-11-23T13:00:00+00:00" and not d.clock_started
    assert d.sla_status == "breached" and d.owner == "queue:SDR Managers" and d.escalated
    assert d.routed_at == NOW and d.owner_by == "sla/Demo" and d.clock_escalated
    again = {**rec, "previous.sla_status": "breached", "owner_id": "00G000000000001AAA",
             "previous.lifecycle": {"by": "sla/Demo", "owner": "00G000000000001AAA", "sla": "Demo", "esc": 1}}
    (d,) = decide(SLA, [again])
    assert d.sla_status == "breached" and not d.escalated and d.clock_escalated
    assert d.owner == "queue:00G000000000001AAA"


def test_a_clock_an_earlier_version_started_at_routed_at_keeps_running():
    legacy = {"lead_source": "Demo Request", "routed_at": "2026-11-23T09:00:00Z", "owner_id": "005BOB",
              "previous.sla_due": "2026-11-23T13:00:00Z", "previous.sla_status": "pending"}
    (d,) = decide(SLA, [legacy])
    assert d.sla_started_at.isoformat() == "2026-11-23T09:00:00+00:00" and d.sla_status == "breached"
    assert d.escalated  # it was pending when the earlier version last looked: this breach is new
    (d,) = decide(SLA, [{**legacy, "previous.sla_status": "breached"}])
    assert d.sla_status == "breached" and not d.escalated  # already breached: never escalated again
    # A due no entry would give from routed_at was another entry's: this one starts now.
    (d,) = decide(SLA, [{**legacy, "previous.sla_due": "2026-11-25T13:00:00Z"}])
    assert d.sla_started_at == NOW and d.sla_status == "pending"


def test_sla_met_when_holds():
    rec = {"lead_source": "Demo Request", "routed_at": "2026-11-23T09:00:00Z", "owner_id": "005BOB",
           "status": "working - contacted"}
    (d,) = decide(SLA, [rec])
    assert d.sla_status == "met" and d.owner == "user:005BOB"


def test_sla_pending_until_due_passes():
    rec = {"lead_source": "Demo Request", "routed_at": "2026-11-23T11:00:00Z", "owner_id": "005BOB",
           "previous.sla_started_at": "2026-11-23T11:00:00Z", "previous.sla_due": "2026-11-23T15:00:00Z",
           "previous.lifecycle": '{"v":1,"sla":"Demo"}'}
    (d,) = decide(SLA, [rec], now=NOW.replace(hour=15))
    assert d.sla_status == "pending"  # due exactly now
    (d,) = decide(SLA, [rec], now=NOW.replace(hour=15, second=1))
    assert d.sla_status == "breached"


def test_sla_from_another_field():
    (d,) = decide(SLA, [{"lead_source": "Partner", "stage_changed_at": "2026-11-20T08:00:00Z"}])
    assert d.sla_due.isoformat() == "2026-11-22T08:00:00+00:00" and d.sla_status == "breached"
    (d,) = decide(SLA, [{"lead_source": "Partner"}])
    assert d.sla_due is None and d.matched["sla"] is None


@pytest.mark.parametrize("engine", ["default", "durable"])
def test_sla_without_a_route_section_starts_when_the_entry_first_applies(engine):
    if engine == "durable":
        pytest.importorskip("durable.lang")
    only_sla = SLA.replace("route:\n  - {name: Everyone, assign: {queue: Inbound SDR}}\n", "")
    rec = {"lead_source": "Demo Request", "routed_at": "2026-11-23T10:00:00Z", "created_at": "2026-11-20T10:00:00Z"}
    (d,) = decide(only_sla, [rec], engine=engine)
    assert d.sla_started_at == NOW and d.sla_due == NOW + timedelta(hours=4) and d.sla_basis == "entry matched"
    later = NOW + timedelta(hours=1)
    carried = {**rec, "previous.sla_started_at": "2026-11-23T15:00:00Z", "previous.sla_due": "2026-11-23T19:00:00Z",
               "previous.lifecycle": '{"v":1,"sla":"Demo"}'}
    (d,) = decide(only_sla, [carried], now=later, engine=engine)
    assert d.sla_started_at == NOW and d.sla_due == NOW + timedelta(hours=4) and d.sla_basis == "clock start"


def test_an_unreadable_routed_at_keeps_the_owner_and_is_reported():
    rec = {"state": "CA", "routed_at": "yesterday", "owner_id": "005AAA"}
    (d,) = decide(TEAMS, [rec])
    assert d.owner == "user:005AAA" and d.kept_owner
    assert d.problems == ("routed_at: 'yesterday' is not an ISO 8601 date or datetime",)
    assert [h.effect for h in d.trace if h.rule == "(sticky)"] == [
        "kept owner user:005AAA: routed at a time that cannot be read"]


def test_an_unreadable_sla_start_is_reported_not_taken_for_empty():
    (d,) = decide(SLA, [{"lead_source": "Partner", "stage_changed_at": "soon"}])
    assert d.sla_due is None and d.problems == ("stage_changed_at: 'soon' is not an ISO 8601 date or datetime",)
    assert any("no SLA: stage_changed_at cannot be read" == h.effect for h in d.trace)


def test_two_rule_versions_side_by_side():
    a = ruleset(FULL)
    b = ruleset(FULL.replace("points: 25", "points: 5"))
    rec = {"employees": 5000, "industry": "software", "lead_source": "Demo Request"}
    (da,), (db,) = decide(a, [rec]), decide(b, [rec])
    assert (da.score, db.score) == (60, 45)
    assert a.fingerprint != b.fingerprint

