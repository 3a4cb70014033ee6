"""RULES.md Routing / Lifecycle / SLA (pinned), as properties of a simulated sync loop.

No org: each lead is a dict holding what the sync would read back (rule field names as rules
see them). Hypothesis draws sequences of steps: time passes (minutes to days), someone edits a
lead's scoring fields (so it flips MQL <-> Nurture, or moves between the two MQL SLA entries),
a person reassigns the owner, a person sets or reopens the status, and a run evaluates every
lead and writes its outputs back as the sync does (`previous.*`, `routed_at`, the owner as an
Id, and the lifecycle memory text). The round-robin positions are kept across runs.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mappings.outbound import crm_format
from rules.evaluate import Context, Evaluator
from rules.lifecycle import memory_of, read_memory
from rules.model import Decision
from tests.rulekit import ruleset

RULES = """
object: Lead
calendars:
  us-east:
    timezone: America/New_York
    days: [mon, tue, wed, thu, fri]
    hours: ["09:00", "17:00"]
teams:
  sdr:
    members: [ann@x, bob@x, frank@x]
score:
  rules:
    - {name: Big, when: {employees: {gte: 1000}}, points: 40}
    - {name: Senior, when: {title: {contains: vp}}, points: 30}
    - {name: Demo, when: {lead_source: Demo Request}, points: 30}
qualify:
  - {name: Hot, when: {score: {gte: 60}}, stage: MQL}
  - {name: Rest, stage: Nurture}
route:
  - {name: SDRs, when: {stage: MQL}, assign: {team: sdr}}
  - {name: Nurture, when: {stage: Nurture}, assign: {queue: Inbound Nurture}}
sla:
  - name: Demo MQL
    when: {stage: MQL, lead_source: Demo Request}
    within: 4h
    calendar: us-east
    warn_before: 1h
    met_when: {status: Contacted}
    escalate: {queue: SDR Managers}
  - name: MQL
    when: {stage: MQL}
    within: 1d
    warn_before: 2h
    met_when: {status: Contacted}
    escalate: {queue: SDR Managers}
"""
RS = ruleset(RULES)

# The org's Ids, 18 characters: users 005..., queues 00G... (so is_queue() knows a queue).
USERS = {"ann@x": "005000000000001AAA", "bob@x": "005000000000002AAA", "frank@x": "005000000000003AAA"}
QUEUES = {"Inbound Nurture": "00G000000000001AAA", "SDR Managers": "00G000000000002AAA"}
CREATOR = "005000000000000AAA"  # owns every new lead until revsync first routes it
# Users a person may hand a lead to: two outside the team and one team member.
PEOPLE = ("005000000000007AAA", "005000000000008AAA", USERS["bob@x"])
START = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York

# What the sync reads back: output -> rule field name.
READ_BACK = {
    "stage": "previous.stage", "previous_stage": "previous.previous_stage",
    "stage_entered_at": "previous.stage_entered_at", "routed_at": "routed_at",
    "sla_due": "previous.sla_due", "sla_status": "previous.sla_status",
    "sla_started_at": "previous.sla_started_at", "sla_met_at": "previous.sla_met_at",
}


def written_id(label: str) -> str | None:
    """The Id an owner label is written as (the sync's Outbound.written_id, for this org)."""
    kind, _, rest = label.partition(":")
    rest = rest.strip()
    if kind == "team":
        return USERS.get(rest.split("/", 1)[1]) if "/" in rest else None
    if kind == "queue":
        return QUEUES.get(rest) or (rest if rest.startswith("00G") and len(rest) == 18 else None)
    if kind in ("user", "field"):
        known = set(USERS.values()) | set(PEOPLE) | {CREATOR} | set(QUEUES.values())
        return USERS.get(rest) or (rest if rest in known else None)
    return None


def instant(value: datetime | None) -> str | None:
    return None if value is None else crm_format(value)


def written(rec: dict, d: Decision) -> dict:
    """The record as the sync leaves it after writing decision `d` back (a new dict)."""
    out = dict(rec)
    for output, name in READ_BACK.items():
        value = getattr(d, output)
        out[name] = instant(value) if isinstance(value, datetime) else value
    if d.owner is not None:
        owner = written_id(d.owner)
        assert owner is not None, f"owner {d.owner!r} names nobody in the org"
        out["owner_id"] = owner
    out["previous.lifecycle"] = memory_of(d, d.matched["sla"], written_id).text()
    return out


@dataclass
class Run:
    """One evaluation of every lead, and what the sync wrote back."""

    now: datetime
    before: list[dict]  # the records as evaluated
    decisions: list[Decision]
    after: list[dict]  # the records once written back
    person: list[tuple[str, bool] | None]  # per lead: (owner a person set, is it revsync's given owner)
    positions_after: dict
    rerun: list[Decision] | None = None  # the same records, evaluated again at the same `now`
    rerun_positions: dict | None = None


@dataclass
class Sim:
    runs: list[Run] = field(default_factory=list)


EVALUATOR = Evaluator(RS)

FIELD_VALUES = {"employees": (10, 5000), "title": ("Intern", "VP Sales"), "lead_source": ("Web", "Demo Request")}

lead_index = st.integers(0, 2)  # taken modulo the number of leads
minutes = st.one_of(st.integers(1, 90), st.integers(90, 12 * 60), st.integers(12 * 60, 5 * 24 * 60))
tick = st.tuples(st.just("tick"), minutes)  # time passes, then the scheduled run
edit = st.tuples(st.just("edit"), lead_index, st.sampled_from(sorted(FIELD_VALUES)), st.integers(0, 1))
status = st.tuples(st.just("status"), lead_index, st.sampled_from(("Contacted", "Open")))
steps = st.one_of(  # a strategy listed twice is drawn twice as often
    tick, tick, tick, edit, edit, status, status,
    st.tuples(st.just("wait"), minutes),  # time passes, no run
    st.tuples(st.just("run")),  # a run at the same instant as whatever came before
    # A person gives the lead to someone, or back to the user revsync gave it to ("back").
    st.tuples(st.just("reassign"), lead_index, st.sampled_from((*PEOPLE, "back"))),
)
profile = st.fixed_dictionaries({name: st.sampled_from(values) for name, values in FIELD_VALUES.items()})
scenarios = st.tuples(
    st.integers(0, 7 * 24 * 60 // 15),  # start offset, quarter hours: any weekday or hour
    st.lists(profile, min_size=1, max_size=3),
    st.lists(steps, min_size=10, max_size=40),
)


def simulate(scenario, rerun: bool = False) -> Sim:
    offset, profiles, plan = scenario
    now = START + timedelta(minutes=15 * offset)
    leads = [{"id": f"00Q{i:015d}", **p, "status": "Open", "owner_id": CREATOR} for i, p in enumerate(profiles)]
    # Per lead, the owner a person set that must stay, and whether it is also the owner revsync
    # gave (a person handed the lead back to it): as of now, and as of the last run.
    person: list[tuple[str, bool] | None] = [None] * len(leads)
    person_then = list(person)
    owner_then = [CREATOR] * len(leads)  # the owner each lead had after the last run
    positions: dict[str, int] = {}
    sim = Sim()
    for step in [*plan, ("run",)]:  # every scenario ends with a run
        kind = step[0]
        if kind in ("wait", "tick"):
            now += timedelta(minutes=step[1])
        elif kind == "edit":
            _, i, name, which = step
            leads[i % len(leads)][name] = FIELD_VALUES[name][which]
        elif kind == "status":
            _, i, status = step
            leads[i % len(leads)]["status"] = status
        elif kind == "reassign":
            _, i, user = step
            i %= len(leads)
            rec = leads[i]
            mem = read_memory(rec.get("previous.lifecycle"))
            given = mem.owner if mem is not None else None
            if user == "back":
                if given is None or not given.startswith("005"):
                    continue  # revsync gave no user (a queue, or nothing yet)
                user = given
            rec["owner_id"] = user
            if rec.get("routed_at") is None:
                person[i] = None  # not routed yet: the first routing gives the lead its owner
            elif user != owner_then[i]:
                person[i] = (user, user == given)  # a person changed the owner the last run left
            else:
                person[i] = person_then[i]  # set back to the owner the last run saw: no change
        if kind in ("run", "tick"):
            before = copy.deepcopy(leads)
            held = list(person)
            ctx = Context(now=now, positions=positions, owner_id=written_id)
            decisions = EVALUATOR.evaluate_batch(copy.deepcopy(leads), ctx)
            leads = [written(rec, d) for rec, d in zip(leads, decisions)]
            for i, d in enumerate(decisions):
                if d.escalated:
                    person[i] = None  # an escalation may move a person's owner, once
            person_then, owner_then = list(person), [rec["owner_id"] for rec in leads]
            run = Run(now, before, decisions, copy.deepcopy(leads), held, dict(positions))
            if rerun:
                again = dict(positions)
                run.rerun = EVALUATOR.evaluate_batch(copy.deepcopy(leads), Context(now=now, positions=again,
                                                                                  owner_id=written_id))
                run.rerun_positions = again
            sim.runs.append(run)
    return sim


def pairs(sim: Sim):
    """(lead index, previous run's decision or None, this run, this run's decision), in order."""
    for k, run in enumerate(sim.runs):
        for i, d in enumerate(run.decisions):
            prev = sim.runs[k - 1].decisions[i] if k else None
            yield i, prev, run, d


def same_clock(prev: Decision | None, d: Decision) -> bool:
    """The run before had the same SLA entry: the clock keeps running."""
    return prev is not None and d.matched["sla"] is not None and prev.matched["sla"] == d.matched["sla"]


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- 1. deadlines ---------------------------------------------------------------------------------
@PROPS
@given(scenarios)
def test_no_deadline_before_its_start_and_a_running_clock_keeps_start_and_due(scenario):
    for i, prev, run, d in pairs(simulate(scenario)):
        if d.matched["sla"] is None:
            assert d.sla_due is None and d.sla_started_at is None and d.sla_status is None
            continue
        assert d.sla_due is not None and d.sla_started_at is not None
        assert d.sla_due >= d.sla_started_at, (i, run.now, d)
        if same_clock(prev, d):
            assert (d.sla_started_at, d.sla_due) == (prev.sla_started_at, prev.sla_due), (i, run.now, prev, d)
        else:  # a new entry's clock starts at this evaluation: a full window, never a past due
            assert d.sla_started_at == run.now and d.sla_due > run.now, (i, run.now, prev, d)
        # The status agrees with the deadline: breached once it passed, pending or at risk until.
        if d.sla_status in ("pending", "at_risk"):
            assert run.now <= d.sla_due, (i, run.now, d)
        elif d.sla_status == "breached":
            assert run.now > d.sla_due, (i, run.now, d)


# -- 2. people's owners ---------------------------------------------------------------------------
def check_people_keep_their_owners(sim: Sim, handed_back: bool) -> None:
    """A person's owner stays, with its `routed_at`, unless an escalation moves it. With
    `handed_back` False, owners a person set that are also the owner revsync last gave are left
    out (a person gave the lead back to that owner: see the xfail test below)."""
    for run in sim.runs:
        for i, d in enumerate(run.decisions):
            held = run.person[i]
            if held is None or d.escalated or (held[1] and not handed_back):
                continue
            owner = held[0]
            assert run.after[i]["owner_id"] == owner, (i, run.now, owner, d)
            assert run.after[i]["routed_at"] == run.before[i]["routed_at"], (i, run.now, d)
            assert d.handoff_from is None and d.route_rule == -1, (i, run.now, d)


@PROPS
@given(scenarios)
def test_an_owner_a_person_set_is_only_moved_by_an_escalation(scenario):
    sim = simulate(scenario)
    check_people_keep_their_owners(sim, handed_back=False)
    # And the handoffs happen where no person decided: a lead whose stage changed goes to the
    # rule that assigns now, in the run that sees the change, unless that rule gave its owner
    # (RULES.md's example: a Nurture lead in the Inbound Nurture queue that becomes an MQL goes to
    # the SDR team's round robin), also when the run is at the very instant of the last routing
    # (a replay with a fixed --now).
    rule_for = {"MQL": "route/SDRs", "Nurture": "route/Nurture"}
    for k, run in enumerate(sim.runs[1:], 1):
        for i, d in enumerate(run.decisions):
            prev = sim.runs[k - 1].decisions[i]
            mem = read_memory(run.before[i]["previous.lifecycle"])
            if prev.stage == d.stage or run.person[i] is not None or d.escalated \
                    or mem.by == rule_for[d.stage]:
                continue
            target = "team:sdr/" if d.stage == "MQL" else "queue:Inbound Nurture"
            assert d.owner.startswith(target) and d.routed_at == run.now, (i, run.now, prev, d)
            assert d.handoff_from is not None, (i, run.now, prev, d)


# Found by this file: an MQL routed to ann (team:sdr/ann@x); a person gives it to 005...7 and a
# run sees that; the person gives it back to ann; it cools down to Nurture. The next run must
# leave it with ann (routed_at unchanged): a person changed the owner since revsync gave it.
@PROPS
@given(scenarios)
@example((0, [{"employees": 5000, "title": "Intern", "lead_source": "Demo Request"}],
          [("run",), ("tick", 10), ("reassign", 0, PEOPLE[0]), ("run",), ("reassign", 0, "back"),
           ("edit", 0, "employees", 0), ("tick", 10)]))
def test_an_owner_a_person_handed_back_is_only_moved_by_an_escalation(scenario):
    check_people_keep_their_owners(simulate(scenario), handed_back=True)


# -- 3. idempotence ------------------------------------------------------------------------------
@PROPS
@given(scenarios)
def test_running_again_with_nothing_new_changes_nothing(scenario):
    for run in simulate(scenario, rerun=True).runs:
        assert run.rerun_positions == run.positions_after, (run.now, run.positions_after, run.rerun_positions)
        for i, (rec, d) in enumerate(zip(run.after, run.rerun)):
            again = written(rec, d)
            diff = {k: (rec.get(k), again.get(k)) for k in again if rec.get(k) != again.get(k)}
            assert not diff, (i, run.now, diff)
            assert not d.escalated and d.route_rule == -1, (i, run.now, d)


# -- 4. met stays met ----------------------------------------------------------------------------
@PROPS
@given(scenarios)
def test_a_met_clock_stays_met_and_keeps_when(scenario):
    for i, prev, run, d in pairs(simulate(scenario)):
        assert (d.sla_status == "met") == (d.sla_met_at is not None), (i, run.now, d)
        if d.sla_met_at is not None:
            assert d.sla_started_at <= d.sla_met_at <= run.now, (i, run.now, d)
        if same_clock(prev, d) and prev.sla_status == "met":
            assert d.sla_status == "met" and d.sla_met_at == prev.sla_met_at, (i, run.now, prev, d)
        elif d.sla_status == "met":  # first seen met: now (the entries have no `met_at` field)
            assert d.sla_met_at == run.now, (i, run.now, prev, d)


# -- 5. one escalation per clock -----------------------------------------------------------------
@PROPS
@given(scenarios)
def test_a_clock_escalates_at_most_once(scenario):
    sim = simulate(scenario)
    escalations: dict[int, int] = {}
    for i, prev, run, d in pairs(sim):
        if not same_clock(prev, d):
            escalations[i] = 0
        if d.escalated:
            escalations[i] += 1
            assert d.sla_status == "breached" and run.now > d.sla_due, (i, run.now, d)
            assert d.owner == "queue:SDR Managers" and d.routed_at == run.now, (i, run.now, d)
        assert escalations[i] <= 1, (i, run.now, prev, d)
        # ...and at least once: a breach not escalated before escalates now (a met clock never).
        escalated_before = same_clock(prev, d) and prev.clock_escalated
        assert d.escalated == (d.sla_status == "breached" and not escalated_before), (i, run.now, prev, d)
        assert d.clock_escalated == (d.escalated or escalated_before), (i, run.now, prev, d)


# -- 6. stage entries ----------------------------------------------------------------------------
@PROPS
@given(scenarios)
def test_stage_entered_at_moves_forward_only_and_previous_stage_is_the_last_one(scenario):
    for i, prev, run, d in pairs(simulate(scenario)):
        assert d.stage in ("MQL", "Nurture")
        if prev is None:
            assert d.stage_entered_at == run.now and d.previous_stage is None, (i, run.now, d)
        elif d.stage != prev.stage:
            assert d.stage_entered_at == run.now, (i, run.now, prev, d)
            assert d.previous_stage == prev.stage, (i, run.now, prev, d)
        else:
            assert d.stage_entered_at == prev.stage_entered_at, (i, run.now, prev, d)
            assert d.previous_stage == prev.previous_stage, (i, run.now, prev, d)
        if prev is not None:
            assert d.stage_entered_at >= prev.stage_entered_at, (i, run.now, prev, d)
