"""One lead's facts and the tallies over them, case by case."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from connector.report.facts import Clock, FactReader, LeadFacts
from connector.report.funnel import Tally, funnel_report, p90
from connector.report.journal_read import JournalPast, RecordPast
from tests.reportkit import NOW, RULES
from tests.rulekit import ruleset

T = datetime(2026, 11, 16, 14, tzinfo=timezone.utc)


def reader(journal: JournalPast | None = None) -> FactReader:
    return FactReader(ruleset(RULES), ("MQL",), {}, {"006000000000001AAA": {"IsWon": True, "Amount": 10}},
                      journal or JournalPast())


def test_a_touch_before_the_lead_qualified_is_no_follow_up():
    """Met 11-10 (a clock of an earlier stage), qualified 11-16: not followed up; met 11-17: it is."""
    lead = {"id": "00Q000000000001EAA", "previous.stage": "MQL", "previous.stage_entered_at": "2026-11-16T14:00:00Z"}
    before = JournalPast(records={"00Q000000000001EAA": RecordPast(met_at=[datetime(2026, 11, 10, tzinfo=timezone.utc)])})
    assert reader(before).facts(lead).followed_up is False
    after = JournalPast(records={"00Q000000000001EAA": RecordPast(met_at=[datetime(2026, 11, 17, tzinfo=timezone.utc)])})
    f = reader(after).facts(lead)
    assert (f.followed_up, f.first_touch) == (True, datetime(2026, 11, 17, tzinfo=timezone.utc))


def test_the_first_qualified_entry_in_the_journal_is_when_it_qualified():
    journal = JournalPast(records={"00Q000000000001EAA": RecordPast(entries=[
        ("Nurture", datetime(2026, 11, 1, tzinfo=timezone.utc)), ("MQL", datetime(2026, 11, 3, tzinfo=timezone.utc))])})
    lead = {"id": "00Q000000000001", "previous.stage": "MQL", "previous.stage_entered_at": "2026-11-16T14:00:00Z"}
    assert reader(journal).facts(lead).qualified_at == datetime(2026, 11, 3, tzinfo=timezone.utc)  # a 15-char Id too


def test_a_hand_edited_memory_tells_nothing_and_breaks_nothing():
    lead = {"id": "00Q1", "previous.stage": "MQL", "previous.sla_started_at": "2026-11-16T14:00:00Z",
            "previous.sla_due": "2026-11-16T22:00:00Z", "previous.lifecycle": "not json"}
    f = reader().facts(lead)
    assert (f.team, f.clock.entry, f.clock.escalated, f.clock.outcome(NOW)) == (None, None, False, "breached")


def test_minutes_to_first_touch_count_business_time_of_the_entry_calendar():
    lead = {"id": "00Q1", "previous.stage": "MQL", "previous.sla_started_at": "2026-11-20T21:00:00Z",  # Fri 16:00 NY
            "previous.sla_due": "2026-11-23T21:00:00Z", "previous.sla_met_at": "2026-11-23T15:00:00Z",  # Mon 10:00
            "previous.lifecycle": '{"v":1,"sla":"MQL"}'}
    assert reader().facts(lead).minutes_to_first_touch == 120  # Fri 16-17 and Mon 9-10 New York


def facts(opportunity: str | None, won: bool, amount: float | None) -> LeadFacts:
    return LeadFacts(id="x", created=None, source=None, segment=None, owner="o", team=None, given_to=None, stage=None,
                     qualified=False, qualified_at=None, followed_up=False, first_touch=None, clock=None,
                     minutes_to_first_touch=None, converted=True, opportunity=opportunity, won=won, amount=amount)


def test_two_leads_converted_into_one_opportunity_bring_its_amount_once():
    tally = Tally()
    for f in (facts("006A", True, 100.0), facts("006A", True, 100.0), facts("006B", True, 50.0), facts(None, False, None)):
        tally.add(f, NOW)
    assert tally.funnel()["converted"] == 4
    assert (tally.opportunities, tally.won, tally.won_amount) == (2, 2, 150.0)


def test_p90_is_the_nearest_rank():
    assert p90(list(range(1, 11))) == 9
    assert p90([5.0]) == 5.0
    assert p90([]) is None


clocks = st.none() | st.builds(
    lambda start, due_h, met_h, met, esc: Clock("MQL", start, start + timedelta(hours=due_h),
                                               start + timedelta(hours=met_h) if met else None, met, esc),
    st.datetimes(min_value=datetime(2026, 10, 1), max_value=datetime(2026, 12, 31), timezones=st.just(timezone.utc)),
    st.integers(1, 48), st.integers(0, 96), st.booleans(), st.booleans())
leads = st.builds(
    lambda n, source, owner, qualified, followed, clock, converted, opp, won: LeadFacts(
        id=f"L{n}", created=T, source=source, segment=None, owner=owner, team=None, given_to=None, stage=None,
        qualified=qualified, qualified_at=None, followed_up=qualified and followed, first_touch=None, clock=clock,
        minutes_to_first_touch=None, converted=converted, opportunity=opp if converted else None,
        won=won, amount=100.0),
    st.integers(0, 10_000), st.sampled_from(["Web", "Webinar", None]), st.sampled_from(["ann", "bo", "queue Q"]),
    st.booleans(), st.booleans(), clocks, st.booleans(), st.sampled_from(["006A", "006B", "006C", "006D"]),
    st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.lists(leads, max_size=40), st.sampled_from(["source", "owner", "week"]))
def test_groups_add_up_to_the_totals_and_outcomes_to_the_clocks(facts_, by):
    data = funnel_report(facts_, ruleset(RULES), NOW, by)
    s = data["sla"]
    assert s["met_on_time"] + s["met_late"] + s["breached"] + s["pending"] == s["clocks"]
    assert data["funnel"]["followed_up"] <= data["funnel"]["mql"] <= data["funnel"]["leads"]
    for key in ("leads", "mql", "followed_up", "converted", "mql_converted"):
        assert sum(g["funnel"][key] for g in data["groups"]) == data["funnel"][key]
    for key in ("clocks", "met_on_time", "met_late", "breached", "pending", "escalated"):
        assert sum(g["sla"][key] for g in data["groups"]) == s[key]
        assert sum(w[key] for w in data["weeks"]) == s[key]
