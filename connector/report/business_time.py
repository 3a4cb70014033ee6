"""Elapsed business time between two instants, in an SLA calendar's working hours.

The inverse of `BusinessCalendar.add_minutes`: for any start and any number of working minutes
m, `business_minutes(cal, start, cal.add_minutes(start, m)) == m`. Working hours are local
wall-clock hours, as the calendar counts them, so a day on which the UTC offset changes still
has its eight working hours.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta

from rules.calendar import BusinessCalendar
from rules.model import Calendar
from rules.values import to_utc


def business_calendar(cal: Calendar) -> BusinessCalendar:
    """The working-time calendar of a rule file's `calendars:` entry."""
    return BusinessCalendar(cal.name, cal.timezone, cal.days, time.fromisoformat(cal.opens),
                            time.fromisoformat(cal.closes), cal.holidays)


def business_minutes(cal: BusinessCalendar | None, start: datetime, end: datetime) -> float:
    """Working minutes from `start` to `end` (0 when `end` is not later); wall-clock minutes
    without a calendar."""
    start, end = to_utc(start), to_utc(end)
    if end <= start:
        return 0.0
    if cal is None:
        return (end - start).total_seconds() / 60
    first = start.astimezone(cal.zone).replace(tzinfo=None)
    last = end.astimezone(cal.zone).replace(tzinfo=None)
    total = timedelta(0)
    day: date = first.date()
    while day <= last.date():
        if cal.is_working_day(day):
            opens, closes = datetime.combine(day, cal.opens), datetime.combine(day, cal.closes)
            low, high = max(opens, first), min(closes, last)
            if high > low:
                total += high - low
        day += timedelta(days=1)
    return total.total_seconds() / 60
