"""Business time: working hours in a time zone, working days, and holidays.

Working hours are local wall-clock hours (zoneinfo), so a 09:00-17:00 day is eight working
hours on daylight-saving changeover days too. Arithmetic walks whole days, never minutes.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UTC = timezone.utc


class CalendarError(ValueError):
    pass


@lru_cache(maxsize=1)
def supported_holiday_countries() -> dict[str, list[str]]:
    import holidays
    return holidays.list_supported_countries()


@lru_cache(maxsize=256)
def _holiday_dates(code: str, year: int) -> frozenset[date]:
    import holidays
    country, _, subdiv = code.partition("-")
    return frozenset(holidays.country_holidays(country.upper(), subdiv=subdiv.upper() or None, years=year))


@dataclass(frozen=True)
class BusinessCalendar:
    name: str
    timezone: str
    days: tuple[int, ...]
    opens: time
    closes: time
    holidays: str | None = None

    def __post_init__(self) -> None:
        try:
            from zoneinfo import ZoneInfo
            ZoneInfo(self.timezone)
        except Exception:
            raise CalendarError(f"unknown time zone {self.timezone!r}")
        if not self.days or any(d not in range(7) for d in self.days):
            raise CalendarError("days must be weekdays (0 = Monday)")
        if self.closes <= self.opens:
            raise CalendarError("closing time must be after opening time")
        if self.holidays:
            country, _, subdiv = self.holidays.partition("-")
            supported = supported_holiday_countries()
            if country.upper() not in supported:
                raise CalendarError(f"unknown holiday country {self.holidays!r}")
            if subdiv and subdiv.upper() not in {s.upper() for s in supported[country.upper()]}:
                raise CalendarError(f"unknown subdivision {self.holidays!r}")

    @property
    def zone(self):
        from zoneinfo import ZoneInfo
        return ZoneInfo(self.timezone)

    @property
    def minutes_per_day(self) -> int:
        return (self.closes.hour * 60 + self.closes.minute) - (self.opens.hour * 60 + self.opens.minute)

    def is_working_day(self, day: date) -> bool:
        if day.weekday() not in self.days:
            return False
        return not (self.holidays and day in _holiday_dates(self.holidays, day.year))

    def _window(self, day: date) -> tuple[datetime, datetime]:
        zone = self.zone
        return (datetime.combine(day, self.opens, zone), datetime.combine(day, self.closes, zone))

    def is_open(self, instant: datetime) -> bool:
        local = instant.astimezone(self.zone)
        if not self.is_working_day(local.date()):
            return False
        start, end = self._window(local.date())
        return start <= local < end

    def next_opening(self, instant: datetime) -> datetime:
        """`instant` itself when open, else the next opening (aware, in the calendar's zone)."""
        local = instant.astimezone(self.zone)
        day = local.date()
        for _ in range(3700):  # ten years of closed days is a broken calendar
            if self.is_working_day(day):
                start, end = self._window(day)
                if local < start:
                    return start
                if local < end:
                    return local
            day += timedelta(days=1)
            local = datetime.combine(day, time(0), self.zone)
        raise CalendarError(f"calendar {self.name} has no working time within ten years")

    def add_minutes(self, start: datetime, minutes: int) -> datetime:
        current = self.next_opening(start)
        remaining = timedelta(minutes=minutes)
        while True:
            _, end = self._window(current.date())
            # Wall-clock difference: working hours are local hours, whatever the UTC offset does.
            left = end.replace(tzinfo=None) - current.replace(tzinfo=None)
            if remaining <= left:
                result = (current.replace(tzinfo=None) + remaining).replace(tzinfo=self.zone)
                return result.astimezone(UTC)
            remaining -= left
            current = self.next_opening(datetime.combine(current.date() + timedelta(days=1), time(0), self.zone))

    def add(self, start: datetime, *, weeks: int = 0, days: int = 0, minutes: int = 0) -> datetime:
        total = (weeks * len(self.days) + days) * self.minutes_per_day + minutes
        return self.add_minutes(start, total)

    def steps(self, start: datetime, *, weeks: int = 0, days: int = 0, minutes: int = 0) -> list[str]:
        """The deadline arithmetic in words, for explanations."""
        total = (weeks * len(self.days) + days) * self.minutes_per_day + minutes
        zone = self.timezone
        local = start.astimezone(self.zone)
        opened = self.next_opening(start)
        out = [f"clock starts {_z(start)} ({local:%a %Y-%m-%d %H:%M} {zone})"]
        if opened != local:
            why = "a holiday" if local.weekday() in self.days and not self.is_working_day(local.date()) \
                else "closed"
            out.append(f"  {why} then: counting from the next opening, {opened:%a %Y-%m-%d %H:%M} {zone}")
        out.append(f"  {total // 60}h {total % 60:02d}m of working time on {self.name} "
                   f"({self.opens:%H:%M}-{self.closes:%H:%M} {zone}, {self.minutes_per_day // 60}h"
                   f"{self.minutes_per_day % 60:02d} a day{', ' + self.holidays + ' holidays' if self.holidays else ''})")
        current, remaining = opened, total
        for _ in range(60):
            _, end = self._window(current.date())
            left = int((end.replace(tzinfo=None) - current.replace(tzinfo=None)).total_seconds() // 60)
            used = min(left, remaining)
            stop = (current.replace(tzinfo=None) + timedelta(minutes=used))
            out.append(f"  {current:%a %m-%d %H:%M}-{stop:%H:%M}: {used // 60}h {used % 60:02d}m")
            remaining -= used
            if remaining <= 0:
                break
            current = self.next_opening(datetime.combine(current.date() + timedelta(days=1), time(0), self.zone))
        else:
            out.append("  ...")
        due = self.add_minutes(start, total)
        out.append(f"due {_z(due)} ({due.astimezone(self.zone):%a %Y-%m-%d %H:%M} {zone})")
        return out


def _z(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
