"""Elapsed business time: the inverse of the calendar's deadline arithmetic."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from connector.report.business_time import business_minutes
from rules.calendar import BusinessCalendar

NY = BusinessCalendar("ny", "America/New_York", ("mon", "tue", "wed", "thu", "fri"), "09:00", "17:00", "US")
UTC = timezone.utc


def test_hand_counted_spans():
    mon_9 = datetime(2026, 11, 16, 14, tzinfo=UTC)  # Monday 09:00 New York
    assert business_minutes(NY, mon_9, mon_9 + timedelta(hours=2)) == 120
    assert business_minutes(NY, mon_9, datetime(2026, 11, 17, 15, tzinfo=UTC)) == 540  # to Tuesday 10:00
    # Friday 16:00 to Monday 10:00: one hour each side of the weekend.
    assert business_minutes(NY, datetime(2026, 11, 20, 21, tzinfo=UTC), datetime(2026, 11, 23, 15, tzinfo=UTC)) == 120
    # Wednesday 16:00 to Friday 10:00 across Thanksgiving (Thursday 11-26): two hours.
    assert business_minutes(NY, datetime(2026, 11, 25, 21, tzinfo=UTC), datetime(2026, 11, 27, 15, tzinfo=UTC)) == 120
    assert business_minutes(NY, mon_9, mon_9 - timedelta(hours=1)) == 0
    assert business_minutes(None, mon_9, mon_9 + timedelta(days=1)) == 24 * 60


def test_the_day_clocks_change_still_has_eight_working_hours():
    # Sunday 2026-03-08 US clocks go forward: Monday is the first day at UTC-4.
    fri_17 = datetime(2026, 3, 6, 22, tzinfo=UTC)
    mon_17 = datetime(2026, 3, 9, 21, tzinfo=UTC)
    assert business_minutes(NY, fri_17, mon_17) == 480


@settings(max_examples=300, deadline=None)
@given(start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
       minutes=st.integers(min_value=1, max_value=60 * 8 * 30))
def test_business_minutes_undo_add_minutes(start, minutes):
    start = start.replace(microsecond=0)
    assert business_minutes(NY, start, NY.add_minutes(start, minutes)) == minutes
