"""Reading values as their field's type, whatever the source (CSV text, JSON, REST strings).

Comparisons run on normalised forms: text folded and stripped, numbers as floats, dates
and datetimes as epoch seconds (a date is its midnight UTC). A value that cannot be read
becomes `Unreadable` so that every test on it fails and the trace can say why.
"""
from __future__ import annotations

import re
from functools import lru_cache
from datetime import date, datetime, time, timezone
from typing import Any, Callable

from .model import Duration, FieldType

UTC = timezone.utc


class Unreadable:
    """A value that could not be read as its field's type."""

    __slots__ = ("raw", "reason")

    def __init__(self, raw: Any, reason: str):
        self.raw = raw
        self.reason = reason

    def __repr__(self) -> str:
        return f"Unreadable({self.raw!r}: {self.reason})"

    def note(self, name: str) -> str:
        """`name: 'raw' is reason`, as a record's problems say it. A long value is cut: a
        megabyte of text would otherwise be repeated in every line that reports the record."""
        shown = repr(self.raw)
        if len(shown) > 120:
            shown = f"{shown[:100]}... ({len(shown)} characters)"
        return f"{name}: {shown} is {self.reason}"


def norm_text(value: str) -> str:
    return value.strip().casefold()


def _to_text(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        s = value.strip()
        return s if s else None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, datetime):
        instant = parse_instant(value)
        return Unreadable(value, OUT_OF_RANGE) if instant is None else format_instant(instant)
    if isinstance(value, date):
        return value.isoformat()
    return Unreadable(value, f"expected text, got {type(value).__name__}")


_INF = float("inf")


def _to_number(value: Any) -> Any:
    cls = value.__class__
    if cls is int:
        return value
    if cls is float:
        # JSON reads NaN and Infinity as floats; like the texts "nan" and "inf", no CRM means them.
        return value if value - value == 0.0 else Unreadable(value, "not a number")
    if value is None:
        return None
    if isinstance(value, bool):
        return Unreadable(value, "expected a number, got true/false")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None if not value.strip() else Unreadable(value, "not a number")
        # float() also reads "nan", "inf" and "1_000", which no CRM export means as numbers.
        if number != number or number in (_INF, -_INF) or "_" in value:
            return Unreadable(value, "not a number")
        return number
    return Unreadable(value, f"expected a number, got {type(value).__name__}")


_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def parse_bool(value: object) -> bool | None:
    """True or False as CRMs and exports write them: a bool, the numbers 1 and 0, or text
    (any case, blanks around) true/false, 1/0, yes/no, y/n, t/f. None for anything else,
    empty text and None included."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return bool(value) if value in (0, 1) else None
    if isinstance(value, str):
        s = value.strip().casefold()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
    return None


def _to_bool(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    parsed = parse_bool(value)
    if parsed is not None:
        return parsed
    if isinstance(value, str) and not value.strip():
        return None
    return Unreadable(value, "not true or false")


def to_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# What a datetime can hold in UTC, as epoch seconds (the end excluded). Text can name an instant
# outside it (0001-01-01T00:00:00+01:00 falls in year 0 in UTC): such a value is unreadable like
# any other, since turning it into a datetime later would raise in the middle of a batch.
_FIRST = datetime.min.replace(tzinfo=UTC).timestamp()
_END = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp() + 1
OUT_OF_RANGE = "an instant outside the years 1 to 9999 in UTC"
_NOT_INSTANT = "not an ISO 8601 date or datetime"


def parse_instant(value: Any) -> datetime | None:
    """A datetime (aware, UTC) from a datetime, date or ISO 8601 text; None if unreadable,
    or if it cannot be held in UTC (years 1 to 9999)."""
    try:
        if isinstance(value, datetime):
            return to_utc(value)
        if isinstance(value, date):
            return datetime.combine(value, time(0), UTC)
        if isinstance(value, str):
            return to_utc(datetime.fromisoformat(value.strip()))
    except (ValueError, OverflowError):  # not ISO 8601; or its UTC time is before year 1 or after 9999
        return None
    return None


@lru_cache(maxsize=8192)
def _text_to_epoch(value: str) -> float | str:
    """Epoch seconds, or why the text is not an instant (a str: the cache keeps both)."""
    # Exports repeat the same dates many times; parsing each once keeps the per-record path short.
    try:  # the common case first: CRM text is already clean ISO 8601
        instant = _FROM_ISO(value)
    except ValueError:
        try:
            instant = _FROM_ISO(value.strip())
        except ValueError:
            return _NOT_INSTANT
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    epoch = instant.timestamp()  # aware: arithmetic, never raises however far out
    return epoch if _FIRST <= epoch < _END else OUT_OF_RANGE


_FROM_ISO = datetime.fromisoformat


def _to_datetime(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        # Long text is read uncached: the cache holds up to 8192 keys, and they should be short.
        epoch = (_text_to_epoch if len(value) <= 64 else _text_to_epoch.__wrapped__)(value)
        return epoch if isinstance(epoch, float) else Unreadable(value, epoch)
    instant = parse_instant(value)
    if instant is None:
        return Unreadable(value, OUT_OF_RANGE if isinstance(value, date) else _NOT_INSTANT)
    return instant.timestamp()


@lru_cache(maxsize=8192)
def _text_to_day(value: str) -> float | str:
    instant = parse_instant(value)
    if instant is None:
        return OUT_OF_RANGE if _text_to_epoch(value) == OUT_OF_RANGE else "not an ISO 8601 date"
    return datetime.combine(instant.date(), time(0), UTC).timestamp()


def _to_date(value: Any) -> Any:
    """A date compares as its midnight UTC; a datetime given for a date field keeps its UTC day."""
    if isinstance(value, str):
        if not value.strip():
            return None
        epoch = (_text_to_day if len(value) <= 64 else _text_to_day.__wrapped__)(value)
        return epoch if isinstance(epoch, float) else Unreadable(value, epoch)
    if isinstance(value, datetime):
        instant = parse_instant(value)
        if instant is None:
            return Unreadable(value, OUT_OF_RANGE)
        value = instant.date()
    return _to_datetime(value)


COERCE: dict[FieldType, Callable[[Any], Any]] = {
    FieldType.STRING: _to_text,
    FieldType.PICKLIST: _to_text,
    FieldType.ID: _to_text,
    FieldType.NUMBER: _to_number,
    FieldType.BOOLEAN: _to_bool,
    FieldType.DATE: _to_date,
    FieldType.DATETIME: _to_datetime,
}


def coerce(value: Any, ftype: FieldType) -> Any:
    """The comparable form of `value` for a field of `ftype` (None, a value, or Unreadable)."""
    return COERCE[ftype](value)


_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def id18(value: str) -> str:
    """The 18-character form of a 15-character Salesforce Id (its suffix encodes which of
    the 15 characters are upper case, five at a time); other values unchanged."""
    if len(value) != 15 or not value.isalnum():
        return value
    suffix = ""
    for start in (0, 5, 10):
        bits = sum(1 << i for i, ch in enumerate(value[start:start + 5]) if "A" <= ch <= "Z")
        suffix += _SUFFIX[bits]
    return value + suffix


def same_id(a: str, b: str) -> bool:
    """Whether two texts name the same Salesforce Id (15 or 18 characters), or are the same text."""
    if a == b:
        return True
    if len(a) in (15, 18) and len(b) in (15, 18) and a.isalnum() and b.isalnum():
        return id18(a).casefold() == id18(b).casefold()
    return a.strip().casefold() == b.strip().casefold()


def format_instant(value: datetime) -> str:
    # isoformat is several times faster than strftime, and syncs format every deadline.
    return to_utc(value).isoformat(timespec="seconds")[:19] + "Z"


def from_epoch(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


_DURATION_RE = re.compile(r"(\d+)\s*([mhdw])")
# 156 weeks, three years: a longer SLA or age is a typo, and far longer ones overflow the
# datetime arithmetic of deadlines (9999999w is past the year 9999).
MAX_DURATION_DAYS = 156 * 7


def _duration_parts(text: Any) -> tuple[int, int, int] | None:
    """(weeks, days, minutes) as written, or None if it is not written as a duration."""
    if not isinstance(text, str):
        return None
    s = text.strip().lower()
    if not s or not re.fullmatch(r"(\d+\s*[mhdw]\s*)+", s):
        return None
    weeks = days = minutes = 0
    for number, unit in _DURATION_RE.findall(s):
        n = int(number) if len(number) <= 9 else 10 ** 9  # int() refuses thousands of digits
        if unit == "w":
            weeks += n
        elif unit == "d":
            days += n
        elif unit == "h":
            minutes += 60 * n
        else:
            minutes += n
    return None if weeks == days == minutes == 0 else (weeks, days, minutes)


def parse_duration(text: Any) -> Duration | None:
    """`30m`, `4h`, `2d`, `1w`, or several of them (`1d 4h`), at most MAX_DURATION_DAYS;
    None otherwise (bad_duration says why)."""
    parts = _duration_parts(text)
    if parts is None:
        return None
    duration = Duration(text.strip(), *parts)
    return duration if duration.seconds <= MAX_DURATION_DAYS * 86400 else None


def bad_duration(value: Any) -> tuple[str, str]:
    """The message and the fix for a value that parse_duration refused."""
    if _duration_parts(value) is not None:
        return (f"duration {value.strip()[:40]!r} is longer than {MAX_DURATION_DAYS // 7} weeks (three years)",
                f"write at most {MAX_DURATION_DAYS // 7}w")
    shown = repr(value)
    return f"bad duration {shown if len(shown) <= 60 else shown[:57] + '...'}", "write a number and a unit: 30m, 4h, 2d, 1w"
