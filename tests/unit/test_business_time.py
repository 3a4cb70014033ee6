"""Business calendars: working hours, weekends, holidays, daylight saving."""
from datetime import datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from rules.calendar import BusinessCalendar, CalendarError
from tests.rulekit import decide

UTC = timezone.utc
NY = BusinessCalendar("us-east", "America/New_York", (0, 1, 2, 3, 4), time(9), time(17), "US")


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("start,kwargs,due", [
    ("2026-11-23T15:00:00Z", {"minutes": 240}, "2026-11-23T19:00:00Z"),  # Mon 10:00 +4h
    ("2026-11-23T15:00:00Z", {"days": 1}, "2026-11-24T15:00:00Z"),  # 1d = 8 working hours
    ("2026-11-23T20:00:00Z", {"minutes": 180}, "2026-11-24T15:00:00Z"),  # spills into Tuesday
    ("2026-11-20T21:00:00Z", {"minutes": 120}, "2026-11-23T15:00:00Z"),  # Friday 16:00 -> Monday
    ("2026-11-23T11:00:00Z", {"minutes": 60}, "2026-11-23T15:00:00Z"),  # before opening
    ("2026-11-23T23:00:00Z", {"minutes": 60}, "2026-11-24T15:00:00Z"),  # after closing
    ("2026-11-22T12:00:00Z", {"minutes": 30}, "2026-11-23T14:30:00Z"),  # Sunday
    ("2026-11-25T20:00:00Z", {"minutes": 240}, "2026-11-27T16:00:00Z"),  # Thanksgiving is closed
    ("2026-12-24T21:30:00Z", {"minutes": 60}, "2026-12-28T14:30:00Z"),  # Christmas (Fri 25th)
    ("2026-11-23T21:00:00Z", {"minutes": 60}, "2026-11-23T22:00:00Z"),  # ends exactly at close
    ("2026-11-23T15:00:00Z", {"weeks": 1}, "2026-12-01T15:00:00Z"),  # 5 working days, Thanksgiving skipped
])
def test_deadlines(start, kwargs, due):
    assert NY.add(z(start), **kwargs) == z(due)


def test_one_day_is_one_full_working_day():
    assert NY.minutes_per_day == 480
    start = z("2026-11-23T15:00:00Z")
    assert NY.add(start, days=1) == NY.add(start, minutes=480)
    assert NY.add(start, weeks=1) == NY.add(start, days=5)


def test_daylight_saving_spring_forward_and_fall_back():
    # Friday 16:00 EST (UTC-5) + 1 working day = Monday 16:00 EDT (UTC-4).
    assert NY.add(z("2026-03-06T21:00:00Z"), days=1) == z("2026-03-09T20:00:00Z")
    # Friday 16:00 EDT + 1 working day = Monday 16:00 EST.
    assert NY.add(z("2026-10-30T20:00:00Z"), days=1) == z("2026-11-02T21:00:00Z")


def test_other_zones_and_subdivisions():
    berlin = BusinessCalendar("de", "Europe/Berlin", (0, 1, 2, 3, 4), time(8), time(16), "DE")
    # Thursday 15:30 in Berlin + 1h: 30 minutes left, Christmas Day closed, then the weekend.
    assert berlin.add(z("2026-12-24T14:30:00Z"), minutes=60) == z("2026-12-28T07:30:00Z")
    california = BusinessCalendar("ca", "America/Los_Angeles", (0, 1, 2, 3, 4), time(9), time(17), "US-CA")
    # California closes on Thanksgiving and the day after: Wednesday 16:00 + 2h lands on Monday.
    assert california.add(z("2026-11-26T00:00:00Z"), minutes=120) == z("2026-11-30T18:00:00Z")


@pytest.mark.parametrize("kwargs", [
    {"timezone": "Mars/Olympus"}, {"days": ()}, {"opens": time(17), "closes": time(9)},
    {"holidays": "XX"}, {"holidays": "US-ZZ"},
])
def test_bad_calendars(kwargs):
    args = {"name": "x", "timezone": "UTC", "days": (0,), "opens": time(9), "closes": time(17), **kwargs}
    with pytest.raises(CalendarError):
        BusinessCalendar(**args)


def test_steps_explain_the_arithmetic():
    steps = NY.steps(z("2026-11-25T20:00:00Z"), minutes=240)
    assert steps[0].startswith("clock starts 2026-11-25T20:00:00Z")
    assert any("Fri 11-27 09:00-11:00" in s for s in steps)
    assert steps[-1].startswith("due 2026-11-27T16:00:00Z")
    weekend = NY.steps(z("2026-11-21T14:00:00Z"), minutes=60)
    assert any("next opening" in s for s in weekend)


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31)),
       st.integers(0, 5000), st.integers(0, 5000))
def test_adding_is_associative_and_lands_in_working_time(start, a, b):
    start = start.replace(tzinfo=UTC)
    once = NY.add_minutes(start, a + b)
    twice = NY.add_minutes(NY.add_minutes(start, a), b)
    assert once == twice or (NY.add_minutes(once, 0) == NY.add_minutes(twice, 0))
    local = once.astimezone(NY.zone)
    assert NY.is_open(once) or local.time() == time(17)
    assert once >= start


def test_sla_with_a_calendar_counts_business_time():
    rules = """
        object: Lead
        calendars:
          us-east: {timezone: America/New_York, days: [mon, tue, wed, thu, fri], hours: ["09:00", "17:00"], holidays: US}
        route:
          - {name: all, assign: {queue: Q}}
        sla:
          - {name: fast, when: {lead_source: Demo Request}, within: 4h, calendar: us-east}
          - {name: slow, within: 1d, calendar: us-east}
        """
    wed = z("2026-11-25T20:00:00Z")
    ds = decide(rules, [{"lead_source": "Demo Request"}, {}], now=wed)
    assert ds[0].sla_due == z("2026-11-27T16:00:00Z")
    assert ds[1].sla_due == z("2026-11-27T20:00:00Z")
    assert ds[0].sla_due - wed > timedelta(hours=4)
