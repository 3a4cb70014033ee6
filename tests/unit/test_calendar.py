"""rules.calendar: business time for SLA deadlines (working hours, days, holidays, DST)."""
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings, strategies as st

import rules.calendar as calmod
from rules.calendar import WEEKDAYS, BusinessCalendar, CalendarError, supported_holiday_countries

UTC = timezone.utc
MON_FRI = (0, 1, 2, 3, 4)
NY = BusinessCalendar("us-east", "America/New_York", MON_FRI, time(9), time(17), "US")
PLAIN = BusinessCalendar("plain", "America/New_York", MON_FRI, time(9), time(17))


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def ny(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("America/New_York"))


# November 2026 is EST (UTC-5): 09:00 local = 14:00Z, 17:00 local = 22:00Z.
@pytest.mark.parametrize("start,kwargs,due", [
    ("2026-11-23T15:00:00Z", {"minutes": 240}, "2026-11-23T19:00:00Z"),  # Mon 10:00 + 4h, same day
    ("2026-11-23T21:00:00Z", {"minutes": 180}, "2026-11-24T16:00:00Z"),  # Mon 16:00 + 3h spills to Tue 11:00
    ("2026-11-20T21:00:00Z", {"minutes": 120}, "2026-11-23T15:00:00Z"),  # Fri 16:00 + 2h -> Mon 10:00
    ("2026-11-23T11:00:00Z", {"minutes": 60}, "2026-11-23T15:00:00Z"),  # 06:00, before opening
    ("2026-11-23T23:00:00Z", {"minutes": 60}, "2026-11-24T15:00:00Z"),  # 18:00, after closing
    ("2026-11-21T14:00:00Z", {"minutes": 240}, "2026-11-23T18:00:00Z"),  # Saturday
    ("2026-11-22T12:00:00Z", {"minutes": 30}, "2026-11-23T14:30:00Z"),  # Sunday
    ("2026-11-26T17:00:00Z", {"minutes": 60}, "2026-11-27T15:00:00Z"),  # on Thanksgiving
    ("2026-11-25T21:00:00Z", {"minutes": 120}, "2026-11-27T15:00:00Z"),  # across Thanksgiving
    ("2026-12-25T15:00:00Z", {"minutes": 30}, "2026-12-28T14:30:00Z"),  # on Christmas (a Friday)
    ("2026-12-24T21:30:00Z", {"minutes": 60}, "2026-12-28T14:30:00Z"),  # across Christmas + weekend
    ("2026-07-02T20:00:00Z", {"minutes": 120}, "2026-07-06T14:00:00Z"),  # July 4th observed on Fri 3rd
    ("2026-11-23T21:00:00Z", {"minutes": 60}, "2026-11-23T22:00:00Z"),  # lands exactly at 17:00
    ("2026-11-23T14:00:00Z", {"days": 1}, "2026-11-23T22:00:00Z"),  # opening + 1d = same day's close
    ("2026-11-23T22:00:00Z", {"minutes": 60}, "2026-11-24T15:00:00Z"),  # starts exactly at close
    ("2026-11-30T15:00:00Z", {"weeks": 1}, "2026-12-07T15:00:00Z"),  # plain week
    ("2026-11-23T15:00:00Z", {"weeks": 1}, "2026-12-01T15:00:00Z"),  # week with Thanksgiving
])
def test_deadlines(start, kwargs, due):
    assert NY.add(z(start), **kwargs) == z(due)


def test_results_are_utc_whatever_the_start_zone():
    tokyo = datetime(2026, 11, 24, 0, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # = Mon 10:00 in New York
    due = NY.add(tokyo, minutes=60)
    assert due == z("2026-11-23T16:00:00Z") and due.utcoffset() == timedelta(0) and due.tzinfo is UTC
    assert NY.add(datetime(2026, 11, 23, 15, 0), minutes=60) == z("2026-11-23T16:00:00Z")  # naive = UTC


def test_holidays_only_when_asked_for():
    assert PLAIN.add(z("2026-11-25T21:00:00Z"), minutes=120) == z("2026-11-26T15:00:00Z")
    assert PLAIN.is_open(z("2026-11-26T15:00:00Z")) and not NY.is_open(z("2026-11-26T15:00:00Z"))


def test_one_day_is_one_full_working_day_and_one_week_is_len_days():
    assert NY.minutes_per_day == 480
    start = z("2026-11-23T15:00:00Z")
    assert NY.add(start, days=1) == NY.add(start, minutes=480) == z("2026-11-24T15:00:00Z")
    assert NY.add(start, weeks=1) == NY.add(start, days=5)
    assert NY.add(start, weeks=2, days=1, minutes=30) == NY.add_minutes(start, 11 * 480 + 30)
    short = BusinessCalendar("short", "UTC", (0, 2), time(10), time(12, 30))
    assert short.minutes_per_day == 150
    # 1w on a mon/wed calendar is two working days: Mon 11:00 -> next Mon 11:00.
    assert short.add(z("2026-11-23T11:00:00Z"), weeks=1) == z("2026-11-30T11:00:00Z")
    # From an opening, whole days end on a closing time rather than the next morning.
    assert short.add(z("2026-11-23T10:00:00Z"), weeks=1) == z("2026-11-25T12:30:00Z")
    assert NY.add(z("2026-11-30T14:00:00Z"), weeks=1) == z("2026-12-04T22:00:00Z")  # Mon 09:00 -> Fri 17:00


def test_add_minutes_zero_is_the_next_opening():
    assert NY.add_minutes(z("2026-11-21T14:00:00Z"), 0) == z("2026-11-23T14:00:00Z")
    assert NY.add_minutes(z("2026-11-23T15:17:00Z"), 0) == z("2026-11-23T15:17:00Z")
    assert NY.add_minutes(z("2026-11-23T22:00:00Z"), 0) == z("2026-11-24T14:00:00Z")  # close is closed
    with pytest.raises(ValueError):
        NY.add_minutes(z("2026-11-23T15:00:00Z"), -1)


def test_is_open_and_next_opening():
    assert NY.is_open(z("2026-11-23T14:00:00Z"))  # 09:00 opens
    assert not NY.is_open(z("2026-11-23T22:00:00Z"))  # 17:00 is closed
    assert not NY.is_open(z("2026-11-21T15:00:00Z"))  # Saturday
    open_instant = datetime(2026, 11, 23, 10, 30, tzinfo=ZoneInfo("America/New_York"))
    assert NY.next_opening(open_instant) == open_instant
    assert NY.next_opening(open_instant).tzinfo is UTC
    assert NY.next_opening(z("2026-11-25T23:00:00Z")) == z("2026-11-27T14:00:00Z")  # skips Thanksgiving


def test_daylight_saving_spring_forward():
    # DST starts Sunday 2026-03-08. Friday 16:00 EST (UTC-5) + 1d = Monday 16:00 EDT (UTC-4).
    assert NY.add(z("2026-03-06T21:00:00Z"), days=1) == z("2026-03-09T20:00:00Z")
    assert NY.add(ny("2026-03-06T16:00"), days=1) == ny("2026-03-09T16:00")
    # The whole week: Monday 10:00 EST to Monday 10:00 EDT.
    assert NY.add(z("2026-03-02T15:00:00Z"), weeks=1) == z("2026-03-09T14:00:00Z")
    assert NY.next_opening(z("2026-03-08T12:00:00Z")) == z("2026-03-09T13:00:00Z")
    assert NY.is_open(z("2026-03-09T20:59:00Z")) and not NY.is_open(z("2026-03-09T21:00:00Z"))
    assert NY.is_open(z("2026-03-06T21:30:00Z"))  # 16:30 EST on the Friday before


def test_daylight_saving_fall_back():
    # DST ends Sunday 2026-11-01. Friday 16:00 EDT + 1d = Monday 16:00 EST.
    assert NY.add(z("2026-10-30T20:00:00Z"), days=1) == z("2026-11-02T21:00:00Z")
    assert NY.add(ny("2026-10-30T16:00"), days=1) == ny("2026-11-02T16:00")
    assert NY.add(z("2026-10-26T14:00:00Z"), weeks=1) == z("2026-11-02T15:00:00Z")  # 10:00 to 10:00
    # Exactly-at-close in EST after the change.
    assert NY.add(ny("2026-10-30T16:00"), minutes=60 + 480) == z("2026-11-02T22:00:00Z")


def test_europe_berlin_with_german_holidays():
    berlin = BusinessCalendar("de", "Europe/Berlin", MON_FRI, time(9), time(17), "DE")
    # Thu 2026-04-30 16:00 CEST + 2h: 1h left, Labour Day (Fri 1 May) closed, weekend -> Mon 10:00.
    assert berlin.add(z("2026-04-30T14:00:00Z"), minutes=120) == z("2026-05-04T08:00:00Z")
    # Christmas Eve is a working day in DE, the 25th is not; CET (UTC+1) in December.
    assert berlin.add(z("2026-12-24T15:00:00Z"), minutes=120) == z("2026-12-28T09:00:00Z")
    # Europe changes clocks on 2026-03-29: Friday 16:00 CET + 1d = Monday 16:00 CEST.
    assert berlin.add(z("2026-03-27T15:00:00Z"), days=1) == z("2026-03-30T14:00:00Z")


def test_us_subdivision_adds_state_holidays():
    california = BusinessCalendar("ca", "America/Los_Angeles", MON_FRI, time(9), time(17), "us-ca")
    assert california.holidays == "US-CA"  # normalised
    federal = BusinessCalendar("us", "America/Los_Angeles", MON_FRI, time(9), time(17), "US")
    wednesday_4pm = z("2026-11-26T00:00:00Z")  # Wed 2026-11-25 16:00 PST
    # The day after Thanksgiving is a California state holiday, not a federal one.
    assert federal.add(wednesday_4pm, minutes=120) == z("2026-11-27T18:00:00Z")
    assert california.add(wednesday_4pm, minutes=120) == z("2026-11-30T18:00:00Z")


def test_accepts_names_and_strings_and_normalises():
    named = BusinessCalendar("us-east", "America/New_York", ("Fri", "mon", "tue", "wed", "thu", "mon"), "09:00", "17:00",
                             "US")
    assert named == NY and hash(named) == hash(NY)
    assert named.days == MON_FRI and named.opens == time(9)
    assert WEEKDAYS[datetime(2026, 11, 23).weekday()] == "mon"


@pytest.mark.parametrize("kwargs,message", [
    ({"timezone": "Mars/Olympus"}, "unknown time zone"),
    ({"timezone": ""}, "unknown time zone"),
    ({"timezone": None}, "unknown time zone"),
    ({"timezone": "../etc/passwd"}, "unknown time zone"),
    ({"opens": "9am"}, "not HH:MM"),
    ({"closes": "25:00"}, "not HH:MM"),
    ({"opens": "9:00"}, "not HH:MM"),
    ({"opens": time(9, 0, 30)}, "whole minute"),
    ({"opens": 9}, "whole minute"),
    ({"opens": time(17), "closes": time(9)}, "must be after"),
    ({"opens": "09:00", "closes": "09:00"}, "must be after"),
    ({"days": ()}, "at least one working day"),
    ({"days": "mon"}, "at least one working day"),
    ({"days": (7,)}, "unknown day"),
    ({"days": (-1,)}, "unknown day"),
    ({"days": (True,)}, "unknown day"),
    ({"days": ("funday",)}, "unknown day"),
    ({"holidays": "XX"}, "not a country"),
    ({"holidays": ""}, "not a country"),
    ({"holidays": "US-ZZ"}, "not a subdivision of US"),
])
def test_bad_calendars(kwargs, message):
    args = {"name": "x", "timezone": "UTC", "days": (0,), "opens": time(9), "closes": time(17), **kwargs}
    with pytest.raises(CalendarError, match=message) as raised:
        BusinessCalendar(**args)
    assert "calendar 'x'" in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_supported_holiday_countries_is_cached():
    countries = supported_holiday_countries()
    assert "CA" in countries["US"] and "DE" in countries
    assert supported_holiday_countries() is countries


def test_holidays_are_computed_once_per_year():
    calmod._holiday_names.cache_clear()
    cal = BusinessCalendar("cache", "America/New_York", MON_FRI, time(9), time(17), "US")
    start = z("2026-01-05T15:00:00Z")
    for hour in range(2000):
        cal.add(start + timedelta(hours=hour), days=3, minutes=hour % 480)
    info = calmod._holiday_names.cache_info()
    assert info.misses <= 2  # 2026 and at most 2027
    assert info.hits > 1000


def test_long_durations_skip_days_and_stay_consistent():
    start = z("2026-11-23T15:00:00Z")
    far = NY.add(start, weeks=52)
    assert z("2027-11-20T00:00:00Z") < far < z("2027-12-10T00:00:00Z")
    assert far == NY.add(NY.add(start, weeks=26), weeks=26)
    assert NY.is_open(far)


def test_steps_explain_the_start_rule_and_the_due_instant():
    weekend = NY.steps(z("2026-11-21T14:00:00Z"), minutes=240)
    assert weekend[0].startswith("clock starts 2026-11-21T14:00:00Z")
    assert "Saturday" in weekend[0] and "next opening Mon 2026-11-23 09:00 America/New_York" in weekend[0]
    assert any("Mon 11-23 09:00-13:00 (4h 0m)" in s for s in weekend)
    assert weekend[-1].startswith("due 2026-11-23T18:00:00Z")

    holiday = NY.steps(z("2026-11-25T21:00:00Z"), days=1)
    assert "(open)" in holiday[0]
    assert any(s.startswith("1d = 8h 0m of working time on us-east") for s in holiday)
    assert any("Thu 11-26 closed: Thanksgiving Day" in s for s in holiday)
    assert any("Fri 11-27 09:00-16:00 (7h 0m)" in s for s in holiday)
    assert holiday[-1].startswith(f"due {NY.add(z('2026-11-25T21:00:00Z'), days=1):%Y-%m-%dT%H:%M:%SZ}")

    on_holiday = NY.steps(z("2026-11-26T15:00:00Z"), minutes=30)
    assert "Thanksgiving Day" in on_holiday[0] and "next opening" in on_holiday[0]
    after_close = NY.steps(z("2026-11-23T23:30:00Z"), minutes=30)
    assert "after closing at 17:00" in after_close[0]

    long = NY.steps(z("2026-11-23T15:00:00Z"), weeks=8)
    assert len(long) < 15 and any("more days" in s for s in long)
    assert long[-1].startswith(f"due {NY.add(z('2026-11-23T15:00:00Z'), weeks=8):%Y-%m-%dT%H:%M:%SZ}")


starts = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2028, 1, 31),
                      timezones=st.sampled_from([UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")]))
amounts = st.integers(min_value=0, max_value=6000)


@settings(max_examples=300, deadline=None)
@given(starts, amounts, amounts)
def test_adding_composes_and_lands_in_working_time(start, a, b):
    once = NY.add_minutes(start, a + b)
    twice = NY.add_minutes(NY.add_minutes(start, a), b)
    if b:
        assert once == twice
    else:
        # Adding nothing moves a deadline that sits on a closing time to the next opening.
        assert NY.next_opening(once) == twice
    local = once.astimezone(NY.zone)
    assert once.tzinfo is UTC
    assert NY.is_open(once) or (local.time() == time(17) and NY.is_working_day(local.date()) and a + b > 0)
    assert once >= start
    assert NY.add_minutes(start, a + b + 1) > once


@settings(max_examples=150, deadline=None)
@given(starts, st.integers(0, 3), st.integers(0, 6), st.integers(0, 900))
def test_add_is_add_minutes_of_the_total(start, weeks, days, minutes):
    total = (weeks * 5 + days) * 480 + minutes
    assert NY.add(start, weeks=weeks, days=days, minutes=minutes) == NY.add_minutes(start, total)
