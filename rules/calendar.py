"""Business time for SLA deadlines: working hours in an IANA time zone, working days, holidays.

Working hours are local wall-clock hours, so a 09:00-17:00 day is eight working hours even on the
days the UTC offset changes. Deadlines jump over whole working days at once; nothing walks minutes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
UTC = timezone.utc
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")  # same grammar as the rule-file parser
_ONE_DAY = timedelta(days=1)
_MAX_CLOSED_DAYS = 3700  # ten years without a working day means the calendar is broken
_CACHE_LIMIT = 65_536


class CalendarError(ValueError):
    """A calendar that cannot be used; the message is written for the rule author."""


@lru_cache(maxsize=1)
def supported_holiday_countries() -> dict[str, list[str]]:
    import holidays  # imported lazily: it is slow to import and most runs have no calendar
    return holidays.list_supported_countries()


@lru_cache(maxsize=1024)
def _holiday_names(code: str, year: int) -> dict[date, str]:
    # Keyed on the code, not the calendar: calendars sharing "US" share one set per year.
    import holidays
    country, _, subdiv = code.partition("-")
    return dict(holidays.country_holidays(country, subdiv=subdiv or None, years=year))


def _clock(value: time | str, what: str, name: str) -> time:
    if isinstance(value, str):
        match = _HHMM.match(value.strip())
        if not match:
            raise CalendarError(f"calendar {name!r}: {what} time {value!r} is not HH:MM (e.g. \"09:00\")")
        return time(int(match[1]), int(match[2]))
    if not isinstance(value, time) or value.tzinfo is not None or value.second or value.microsecond:
        raise CalendarError(f"calendar {name!r}: {what} time {value!r} must be a whole minute, HH:MM")
    return value


def _weekday(value: int | str, name: str) -> int:
    if isinstance(value, str) and value.strip().lower()[:3] in WEEKDAYS:
        return WEEKDAYS.index(value.strip().lower()[:3])
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 7:
        return value
    raise CalendarError(f"calendar {name!r}: unknown day {value!r}; use mon, tue, wed, thu, fri, sat, sun")


def _holiday_code(code: str, name: str) -> str:
    country, dash, subdiv = str(code).strip().partition("-")
    supported = supported_holiday_countries()
    if country.upper() not in supported:
        raise CalendarError(f"calendar {name!r}: holidays {code!r} is not a country the holidays "
                            "package knows; use an ISO 3166 code such as US, GB or DE")
    country = country.upper()
    if not dash:
        return country
    known = {s.upper(): s for s in supported[country]}
    if subdiv.upper() not in known:
        shown = ", ".join(supported[country][:20]) or "none"
        raise CalendarError(f"calendar {name!r}: {subdiv!r} is not a subdivision of {country} "
                            f"(known: {shown})")
    return f"{country}-{known[subdiv.upper()]}"


def _z(value: datetime) -> str:
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _aware(value: datetime) -> datetime:
    # Naive instants are UTC throughout revsync (see values.to_utc), never the host's zone.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _hm(span: timedelta | int) -> str:
    minutes = span if isinstance(span, int) else int(span.total_seconds() // 60)
    return f"{minutes // 60}h {minutes % 60}m"


@dataclass(frozen=True)
class BusinessCalendar:
    name: str
    timezone: str  # IANA name
    days: tuple[int, ...]  # weekday ints, 0 = Monday (names such as "mon" are accepted too)
    opens: time  # "HH:MM" strings are accepted too
    closes: time
    holidays: str | None = None  # "US" or "US-CA"
    # Derived in __post_init__; kept out of __init__, eq, hash and repr.
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)
    _dayset: frozenset[int] = field(init=False, repr=False, compare=False)
    _day: timedelta = field(init=False, repr=False, compare=False)  # one working day's length
    _nth: dict[tuple[date, int], date] = field(init=False, repr=False, compare=False)  # _nth_working_day's cache

    def __post_init__(self) -> None:
        name = self.name
        try:
            zone = ZoneInfo(self.timezone)
        except Exception:  # not found, malformed key, not a string: all the same to the author
            raise CalendarError(f"calendar {name!r}: unknown time zone {self.timezone!r}; "
                                "use an IANA name such as America/New_York or Europe/Berlin") from None
        if not isinstance(self.days, (tuple, list, set, frozenset)) or not self.days:
            raise CalendarError(f"calendar {name!r} needs at least one working day, e.g. [mon, tue, wed, thu, fri]")
        days = tuple(sorted({_weekday(d, name) for d in self.days}))
        opens, closes = _clock(self.opens, "opening", name), _clock(self.closes, "closing", name)
        if closes <= opens:
            raise CalendarError(f"calendar {name!r}: closing time {closes:%H:%M} must be after "
                                f"opening time {opens:%H:%M} (overnight hours are not supported)")
        code = None if self.holidays is None else _holiday_code(self.holidays, name)
        # Normalised values replace the given ones so that equal calendars hash equal.
        for attr, value in (("days", days), ("opens", opens), ("closes", closes), ("holidays", code)):
            object.__setattr__(self, attr, value)
        # Rebuilt by every construction (a frozen dataclass sets them through object).
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_dayset", frozenset(days))
        object.__setattr__(self, "_day", datetime.combine(date.min, closes) - datetime.combine(date.min, opens))
        object.__setattr__(self, "_nth", {})

    @property
    def zone(self) -> ZoneInfo:
        return self._zone

    @property
    def minutes_per_day(self) -> int:
        return int(self._day.total_seconds() // 60)

    def holiday(self, day: date) -> str | None:
        """The holiday's name when `day` is one in this calendar's holiday set."""
        return _holiday_names(self.holidays, day.year).get(day) if self.holidays else None

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self._dayset and not (self.holidays and self.holiday(day))

    def is_open(self, instant: datetime) -> bool:
        wall = self._wall(instant)
        return self.is_working_day(wall.date()) and self.opens <= wall.time() < self.closes

    def next_opening(self, instant: datetime) -> datetime:
        """`instant` itself (in UTC) when open, else the next opening, in UTC."""
        if self.is_open(instant):
            return _aware(instant).astimezone(UTC)
        return self._utc(self._opening(self._wall(instant)))

    def add_minutes(self, start: datetime, minutes: int) -> datetime:
        if minutes < 0:
            raise ValueError(f"cannot add {minutes} working minutes: durations are not negative")
        if minutes == 0:
            return self.next_opening(start)
        wall = self._opening(self._wall(start))
        step = timedelta(minutes=minutes)
        left = datetime.combine(wall.date(), self.closes) - wall
        if step <= left:
            return self._utc(wall + step)
        full, rest = divmod(step - left, self._day)
        if not rest:  # lands exactly on a closing time, which stays the deadline
            return self._utc(datetime.combine(self._nth_working_day(wall.date(), full), self.closes))
        return self._utc(datetime.combine(self._nth_working_day(wall.date(), full + 1), self.opens) + rest)

    def add(self, start: datetime, *, weeks: int = 0, days: int = 0, minutes: int = 0) -> datetime:
        return self.add_minutes(start, self._total(weeks, days, minutes))

    def steps(self, start: datetime, *, weeks: int = 0, days: int = 0, minutes: int = 0) -> list[str]:
        """The deadline arithmetic in words, for `explain`."""
        total, zone = self._total(weeks, days, minutes), self.timezone
        local = self._wall(start)
        wall = self._opening(local)
        if self.is_open(start):
            out = [f"clock starts {_z(start)}, {local:%a %Y-%m-%d %H:%M} {zone} (open)"]
        else:
            out = [f"clock starts {_z(start)}, {local:%a %Y-%m-%d %H:%M} {zone} ({self._closed_why(local)}): "
                   f"counting from the next opening {wall:%a %Y-%m-%d %H:%M} {zone}"]
        asked = " ".join(f"{n}{u}" for n, u in ((weeks, "w"), (days, "d")) if n)
        asked = f"{asked} = " if asked else ""
        extra = f", {self.holidays} holidays closed" if self.holidays else ""
        out.append(f"{asked}{_hm(total)} of working time on {self.name} ({self.opens:%H:%M}-{self.closes:%H:%M} "
                   f"{zone}, {_hm(self.minutes_per_day)} a day, "
                   f"{'/'.join(WEEKDAYS[d] for d in self.days)}{extra})")
        spans, left = [], timedelta(minutes=total)
        while left:
            used = min(left, datetime.combine(wall.date(), self.closes) - wall)
            spans.append(f"{wall:%a %m-%d %H:%M}-{wall + used:%H:%M} ({_hm(used)})")
            left -= used
            if left:
                nxt = self._nth_working_day(wall.date(), 1)
                day = wall.date() + _ONE_DAY
                while day < nxt:  # say why designated days were skipped; weekends go without saying
                    if day.weekday() in self._dayset:
                        spans.append(f"{day:%a %m-%d} closed: {self.holiday(day)}")
                    day += _ONE_DAY
                wall = datetime.combine(nxt, self.opens)
        if len(spans) > 9:
            spans[4:-4] = [f"... {len(spans) - 8} more days ..."]
        out += spans
        due = self.add_minutes(start, total)
        out.append(f"due {_z(due)}, {due.astimezone(self._zone):%a %Y-%m-%d %H:%M} {zone}")
        return out

    # -- internals: naive datetimes below are local wall-clock times in the calendar's zone --------
    def _total(self, weeks: int, days: int, minutes: int) -> int:
        return (weeks * len(self.days) + days) * self.minutes_per_day + minutes

    def _wall(self, instant: datetime) -> datetime:
        return _aware(instant).astimezone(self._zone).replace(tzinfo=None)

    def _utc(self, wall: datetime) -> datetime:
        return wall.replace(tzinfo=self._zone).astimezone(UTC)

    def _opening(self, wall: datetime) -> datetime:
        """The first working wall-clock moment at or after `wall`."""
        day = wall.date()
        if self.is_working_day(day):
            if wall.time() < self.opens:
                return datetime.combine(day, self.opens)
            if wall.time() < self.closes:
                return wall
        return datetime.combine(self._nth_working_day(day, 1), self.opens)

    def _nth_working_day(self, day: date, n: int) -> date:
        """The n-th working day after `day` (n >= 1); cached since records share start days."""
        cache = self._nth
        found = cache.get((day, n))
        if found is None:
            found, count, closed = day, 0, 0
            while count < n:
                found += _ONE_DAY
                if self.is_working_day(found):
                    count, closed = count + 1, 0
                elif (closed := closed + 1) > _MAX_CLOSED_DAYS:
                    raise CalendarError(f"calendar {self.name!r} has no working day for ten years")
            if len(cache) >= _CACHE_LIMIT:
                cache.clear()
            cache[(day, n)] = found
        return found

    def _closed_why(self, wall: datetime) -> str:
        day = wall.date()
        if day.weekday() not in self._dayset:
            return f"{DAY_NAMES[day.weekday()]}, closed"
        if not self.is_working_day(day):
            return f"closed: {self.holiday(day)}"
        if wall.time() < self.opens:
            return f"before opening at {self.opens:%H:%M}"
        return f"after closing at {self.closes:%H:%M}"
