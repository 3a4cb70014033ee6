"""Capacity and availability in routing (RULES.md, pinned), with hand-worked expectations.

Every case runs through `agree`: the fused path, the section-by-section path and the durable
engine must decide the same, so what is checked here holds for both engines.
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from textwrap import dedent

import pytest

from rules.evaluate import Context, Evaluator
from rules.loader import parse_rules
from rules.memory import Memory
from rules.model import ConfigError
from rules.routing import wrr_sequence
from tests.rulekit import FIELDS, NOW
from tests.unit.test_fused_paths import agree

A, B, C = "alice@acme.example", "bob@acme.example", "carol@acme.example"


def rules_in(tmp_path: Path, text: str, ooo: str | None = None):
    if ooo is not None:
        (tmp_path / "out-of-office.csv").write_text(dedent(ooo).lstrip())
    path = tmp_path / "lead.yaml"
    path.write_text(dedent(text))
    return parse_rules(path.read_text(), str(path), FIELDS).ruleset


def owners(outs) -> list[str | None]:
    return [o["owner"].rsplit("/", 1)[-1] if o["owner"] else None for o in outs]


WEIGHTED = """
object: Lead
teams:
  sdr:
    members:
      - alice@acme.example
      - {user: bob@acme.example, weight: 2}
      - carol@acme.example
availability:
  out_of_office: out-of-office.csv
route:
  - {name: SDR, assign: {team: sdr}}
"""


def test_weights_1_2_1_with_one_member_out_for_three_of_nine_runs(tmp_path):
    # alice is out on days 4-6 of nine daily runs of four fresh leads each.
    rs = rules_in(tmp_path, WEIGHTED, "user,from,to\nalice@acme.example,2026-11-26,2026-11-28\n")
    assert wrr_sequence(((A, 1), (B, 2), (C, 1))) == (B, A, C, B)
    positions: dict = {}
    per_run = []
    for day in range(9):
        now = NOW + timedelta(days=day)
        outs = agree(rs, [{"id": f"{day}-{k}"} for k in range(4)], now=now, positions=positions)
        positions = _positions_after(rs, [{"id": "x"}] * 4, now, positions)
        got = Counter(owners(outs))
        per_run.append((got[A], got[B], got[C]))
    # Walking the cycle b a c b from position 12 with alice out: b,(a)c,b | b,(a)c,b,b,(a)c ...
    # run 4: b c b b; run 5: c b b c; run 6: b b c b. Position 28 = a whole cycle: alice is back
    # in her place, with her normal share and no turns owed.
    assert per_run == [(1, 2, 1)] * 3 + [(0, 3, 1), (0, 2, 2), (0, 3, 1)] + [(1, 2, 1)] * 3
    totals = [sum(r[i] for r in per_run[3:6]) for i in range(3)]
    assert totals == [0, 8, 4]  # exactly 2:1 among the two who were there
    assert positions == {"sdr": 40}  # 3 x 4 + 16 + 3 x 4: the cycle walked past her slots


def _positions_after(rs, records, now, positions):
    after = dict(positions)
    Evaluator(rs).evaluate_batch(records, Context(now=now, positions=after))
    return after


CAPPED = """
object: Lead
teams:
  sdr:
    max_open: 2
    when_full: {when_full}
    members:
      - alice@acme.example
      - bob@acme.example
route:
  - {{name: SDR, when: {{id: {{exists: true}}}}, assign: {{team: sdr}}}}
  - {{name: Rest, assign: {{queue: Inbound}}}}
"""


@pytest.mark.parametrize("when_full, fifth", [
    ("next", "queue:Inbound"), ("hold", None), ("{queue: Overflow}", "queue:Overflow")])
def test_a_cap_reached_mid_run(when_full, fifth):
    text = CAPPED.format(when_full=when_full)
    outs = agree(text, [{"id": str(k)} for k in range(6)])
    assert owners(outs)[:4] == [A, B, A, B]
    assert [o["owner"] for o in outs[4:]] == [fifth, fifth]
    held = [o.get("held") for o in outs]
    if when_full == "hold":
        assert held[:4] == [None] * 4 and all("sdr is full" in h and "2/2 open" in h for h in held[4:])
        assert [o["routed_at"] for o in outs[4:]] == [None, None]
    else:
        assert held == [None] * 6


def test_open_records_in_the_org_count_and_moved_records_are_taken_back():
    text = CAPPED.format(when_full="next")
    # alice already owns one open lead; a record moved away from bob frees one of his two.
    outs = agree(text, [{"id": "1"}, {"id": "2"}, {"id": "3"}, {"id": "4"}],
                 open_counts={A: 1, B: 2})
    assert [o["owner"] for o in outs] == ["team:sdr/alice@acme.example"] + ["queue:Inbound"] * 3


def test_a_member_override_replaces_the_team_cap():
    text = CAPPED.format(when_full="next").replace("      - bob@acme.example",
                                                   "      - {user: bob@acme.example, max_open: 3}")
    outs = agree(text, [{"id": str(k)} for k in range(6)])
    assert owners(outs) == [A, B, A, B, B, "queue:Inbound"]


DAILY = """
object: Lead
calendars:
  us-east: {timezone: America/New_York, days: [mon, tue, wed, thu, fri, sat, sun], hours: ["00:00", "23:59"]}
teams:
  sdr:
    %s
    max_per_day: 2
    members: [alice@acme.example, bob@acme.example]
route:
  - {name: SDR, assign: {team: sdr}}
  - {name: Rest, assign: {queue: Inbound}}
"""


def test_max_per_day_counts_from_midnight_in_the_team_time_zone():
    # Two leads went to alice at 22:00 New York time on Monday (03:00 UTC Tuesday).
    given = [(A, datetime(2026, 11, 24, 3, 0, tzinfo=timezone.utc))] * 2
    now = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)  # Tuesday 10:00 in New York

    def given_since(key, since):
        return sum(1 for who, at in given if who == key and at >= since)

    records = [{"id": str(k)} for k in range(3)]
    # In New York it is a new day: alice has room again (a, b, a).
    ny = agree(DAILY % "calendar: us-east", records, now=now, given_since=given_since)
    assert owners(ny) == [A, B, A]
    # In UTC both were given today: alice is full, bob takes two, the third falls through.
    utc = agree(DAILY % "", records, now=now, given_since=given_since)
    assert owners(utc) == [B, B, "queue:Inbound"]


OFFICE_HOURS = """
object: Lead
calendars:
  us-east: {timezone: America/New_York, days: [mon, tue, wed, thu, fri], hours: ["09:00", "17:00"]}
teams:
  sdr: {calendar: us-east, members: [alice@acme.example, bob@acme.example]}
"""
HOURS = OFFICE_HOURS + """route:
  - {name: SDR, assign: {team: sdr}}
  - {name: Rest, assign: {queue: Inbound}}
"""


def test_outside_working_hours_records_are_held_until_the_opening():
    friday_night = datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)  # 18:00 in New York
    rs = rules_in_text(HOURS)
    ev = Evaluator(rs)
    ds, rows = ev.evaluate_with_facts([{"id": "1"}], Context(now=friday_night))
    (d,) = ds
    assert d.owner is None and d.routed_at is None and "outside us-east working hours" in d.held
    monday_opening = datetime(2026, 11, 30, 14, 0, tzinfo=timezone.utc)
    assert ev.next_change_at(d, rows[0], friday_night) == monday_opening
    outs = agree(HOURS, [{"id": "1"}, {"id": "2"}], now=monday_opening)
    assert owners(outs) == [A, B]


def rules_in_text(text):
    return parse_rules(dedent(text), "lead.yaml", FIELDS).ruleset


ESCALATE = """
object: Lead
teams:
  sdr:
    when_full: %s
    members: [alice@acme.example, bob@acme.example, carol@acme.example]
route:
  - {name: SDR, assign: {team: sdr}}
sla:
  - {name: Follow up, within: 1h, met_when: {status: Working}, escalate: {team: sdr}}
"""


def breached(history: list[str]) -> dict:
    mem = Memory(by="route/SDR", owner=f"team:sdr/{history[-1]}", sla="Follow up",
                 owners=tuple(f"team:sdr/{m}" for m in history))
    start = NOW - timedelta(hours=3)
    return {"id": "1", "routed_at": start.isoformat(), "owner_id": history[-1],
            "previous.stage": None, "previous.sla_started_at": start.isoformat(),
            "previous.sla_due": (start + timedelta(hours=1)).isoformat(), "previous.sla_status": "pending",
            "previous.lifecycle": mem.text()}


def test_escalation_goes_to_the_next_member_who_has_not_owned_the_record():
    # The position points at alice (0: the cycle is alice, bob, carol); alice and bob had it.
    (out,) = agree(ESCALATE % "next", [breached([A, B])], positions={"sdr": 0})
    assert out["owner"] == "team:sdr/carol@acme.example" and out["sla_status"] == "breached"


@pytest.mark.parametrize("when_full, owner", [("next", "user:carol@acme.example"),
                                              ("{queue: Managers}", "queue:Managers")])
def test_when_every_member_owned_it_when_full_decides(when_full, owner):
    (out,) = agree(ESCALATE % when_full, [breached([A, B, C])])
    assert out["owner"] == owner  # next: nobody left, the owner stays; a queue takes it


def test_an_owner_out_of_office_with_a_running_clock_is_replaced_and_kept_away(tmp_path):
    rs = rules_in(tmp_path, WEIGHTED, "user,from,to\nalice@acme.example,2026-11-23,2026-11-27\n")
    running = {**breached([A]), "previous.sla_due": (NOW + timedelta(hours=1)).isoformat(),
               "previous.lifecycle": Memory(by="route/SDR", owner=f"team:sdr/{A}", owners=(f"team:sdr/{A}",)).text()}
    (out,) = agree(rs, [running])
    assert out["owner"] != f"team:sdr/{A}" and out["routed_at"] == "2026-11-23T15:00:00Z"
    # Met clocks and owners a person chose stay, out of office or not.
    (met,) = agree(rs, [{**running, "previous.sla_status": "met"}])
    assert met["owner"] == f"user:{A}"
    (chosen,) = agree(rs, [{**running, "owner_id": "dave@acme.example"}])
    assert chosen["owner"] == "user:dave@acme.example"


def test_paused_members_take_nothing_new():
    outs = agree(WEIGHTED.replace("availability:\n  out_of_office: out-of-office.csv\n", ""),
                 [{"id": str(k)} for k in range(4)], paused=frozenset({B}))
    assert Counter(owners(outs)) == {A: 2, C: 2}


# -- validation ---------------------------------------------------------------------------

def codes(tmp_path, text, ooo=None):
    try:
        rules_in(tmp_path, text, ooo)
    except ConfigError as exc:
        return sorted((p.code, Path(p.loc.file).name, p.loc.line) for p in exc.problems if p.code[0] == "E")
    return []


def test_out_of_office_file_problems_are_located_in_the_file(tmp_path):
    ooo = """\
        user,from,to
        alice@acme.example,2026-11-23,2026-11-27
        alicia@acme.example,2026-11-23,2026-11-27
        bob@acme.example,2026-11-30,2026-11-28
        alice@acme.example,2026-11-27,2026-12-01
        carol@acme.example,2026-13-01,2026-12-02
        """
    assert codes(tmp_path, WEIGHTED, ooo) == [
        ("E128", "out-of-office.csv", 3), ("E128", "out-of-office.csv", 6),
        ("E129", "out-of-office.csv", 4), ("E129", "out-of-office.csv", 5)]


def test_a_missing_out_of_office_file_is_reported_where_it_is_named(tmp_path):
    assert codes(tmp_path, WEIGHTED) == [("E128", "lead.yaml", 10)]


def test_bad_team_options(tmp_path):
    text = """
    object: Lead
    teams:
      sdr:
        max_open: -1
        when_full: later
        calendar: nowhere
        members: [{user: alice@acme.example, max_per_day: 1.5}]
      zero:
        max_open: 0
        members: [bob@acme.example]
    route:
      - {name: SDR, assign: {team: sdr}}
      - {name: Zero, assign: {team: zero}}
    """
    assert codes(tmp_path, text) == [("E117", "lead.yaml", 7), ("E126", "lead.yaml", 5),
                                     ("E126", "lead.yaml", 6), ("E126", "lead.yaml", 8),
                                     ("E127", "lead.yaml", 10)]


def test_hold_without_a_catch_all_warns(tmp_path):
    text = """
    object: Lead
    teams:
      sdr: {when_full: hold, members: [alice@acme.example]}
    route:
      - {name: SDR, when: {state: CA}, assign: {team: sdr}}
    """
    loaded = parse_rules(dedent(text), "lead.yaml", FIELDS)
    assert sorted(p.code for p in loaded.warnings) == ["W201", "W203"]


HANDOFF = OFFICE_HOURS + """qualify:
  - {name: Hot, when: {title: CEO}, stage: MQL}
  - {name: Rest, stage: Nurture}
route:
  - {name: MQLs, when: {stage: MQL}, assign: {team: sdr}}
  - {name: Nurture, assign: {queue: Inbound Nurture}}
"""


def test_a_handoff_outside_working_hours_waits_for_the_opening():
    routed = datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)
    queue = "00G000000000001AAA"  # the Inbound Nurture queue, as an export gives it
    lead = {"id": "1", "title": "CEO", "owner_id": queue, "routed_at": routed.isoformat(),
            "previous.stage": "Nurture", "previous.stage_entered_at": routed.isoformat(),
            "previous.lifecycle": Memory(by="route/Nurture", owner=queue).text()}
    friday_night = datetime(2026, 11, 27, 23, 0, tzinfo=timezone.utc)
    (night,) = agree(HANDOFF, [lead], now=friday_night)
    # Held: the queue keeps it, routed_at stays, the stage entry is recorded now.
    assert night["stage"] == "MQL" and night["owner"] == f"queue:{queue}"
    assert night["routed_at"] == "2026-11-20T15:00:00Z" and "held until 2026-11-30 14:00" in night["held"]
    # Monday's run sees the stage entered after the routing: the handoff happens at the opening.
    monday = datetime(2026, 11, 30, 14, 5, tzinfo=timezone.utc)
    later = {**lead, "previous.stage": "MQL", "previous.stage_entered_at": night["stage_entered_at"],
             "previous.previous_stage": "Nurture"}
    (opened,) = agree(HANDOFF, [later], now=monday)
    assert opened["owner"] == "team:sdr/alice@acme.example" and opened["routed_at"] == "2026-11-30T14:05:00Z"
