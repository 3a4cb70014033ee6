"""The validated rule model: what a rule file means once it has been read and checked.

Everything here is frozen: a RuleSet is built once at load time and shared by every
evaluation, engine and preview that uses it.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from enum import Enum
from typing import Any, Union


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"

    @property
    def short(self) -> str:
        return f"{self.file}:{self.line}"


NOWHERE = Location("<none>", 0, 0)


class Severity(str, Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a rule or mapping file, with what to do about it."""

    code: str
    message: str
    loc: Location
    fix: str = ""
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        text = f"{self.loc}: {self.code} {self.message}"
        return f"{text} ({self.fix})" if self.fix else text

    def asdict(self) -> dict[str, Any]:
        return {
            "file": self.loc.file, "line": self.loc.line, "col": self.loc.col,
            "code": self.code, "severity": self.severity.value,
            "message": self.message, "fix": self.fix,
        }


class RevsyncError(Exception):
    """Root of revsync's own errors. Each class carries the exit code the command line ends
    with (the table in docs/operations.md) and whether running again unchanged can help;
    cli.py turns them into a message and that code in one place. Bad input unless a class says
    otherwise: a person has to change something first."""

    exit_code = 2
    retryable = False


class Locked(RevsyncError):
    """Another run holds the lock; this one did nothing (exit 4)."""

    exit_code = 4
    retryable = True


class GuardStop(RevsyncError):
    """The change guard stopped a run before it wrote anything: a person looks first (exit 5)."""

    exit_code = 5


class ConfigError(RevsyncError):
    """Rule or mapping files are wrong: fix them and run again (exit 2)."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(problems, key=lambda p: (p.loc, p.code))
        errors = [p for p in self.problems if p.severity is Severity.ERROR]
        super().__init__(f"{len(errors)} problem(s) in rule or mapping files")


class FieldType(str, Enum):
    """Types a rule can rely on. Values are the strings used in mapping files."""

    STRING = "string"
    PICKLIST = "picklist"
    ID = "id"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"

    @property
    def is_text(self) -> bool:
        return self in (FieldType.STRING, FieldType.PICKLIST, FieldType.ID)

    @property
    def is_temporal(self) -> bool:
        return self in (FieldType.DATE, FieldType.DATETIME)


class Op(str, Enum):
    EQ = "eq"
    NE = "ne"
    IN = "in"
    NOT_IN = "not_in"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    BETWEEN = "between"
    CONTAINS = "contains"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    MATCHES = "matches"
    EXISTS = "exists"
    OLDER_THAN = "older_than"
    NEWER_THAN = "newer_than"


@dataclass(frozen=True)
class Duration:
    """A span as written in a rule file (`4h`, `2d`, `1w`, `1d4h`)."""

    text: str
    weeks: int = 0
    days: int = 0
    minutes: int = 0

    @property
    def seconds(self) -> int:
        """Calendar (not business) length."""
        return ((self.weeks * 7 + self.days) * 24 * 60 + self.minutes) * 60


@dataclass(frozen=True)
class Test:
    """One operator applied to one field. `value` is already typed for the field."""

    field: str
    op: Op
    value: Any
    loc: Location
    # dataclasses.field by its full name: in this class body, `field` is the attribute above.
    written: Any = dataclasses.field(default=None, compare=False)  # the value as the file spells it, for explanations

    def describe(self) -> str:
        shown = self.value if self.written is None or self.op in (Op.OLDER_THAN, Op.NEWER_THAN, Op.MATCHES) else self.written
        return f"{self.field} {self.op.value} {_show(shown)}"


def _show(value: Any) -> str:
    if isinstance(value, Duration):
        return value.text
    if hasattr(value, "pattern"):
        return f"'{value.pattern}'"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, frozenset):
        return "[" + ", ".join(sorted(_show(v) for v in value)) + "]"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


@dataclass(frozen=True)
class All:
    items: tuple["Condition", ...]
    loc: Location


@dataclass(frozen=True)
class AnyOf:
    items: tuple["Condition", ...]
    loc: Location


@dataclass(frozen=True)
class Not:
    item: "Condition"
    loc: Location


Condition = Union[Test, All, AnyOf, Not]


class AssignKind(str, Enum):
    USER = "user"
    QUEUE = "queue"
    TEAM = "team"
    FIELD = "field"


@dataclass(frozen=True)
class Assignment:
    kind: AssignKind
    target: str
    loc: Location


class Section(str, Enum):
    SEGMENT = "segment"
    SCORE = "score"
    QUALIFY = "qualify"
    ROUTE = "route"
    SLA = "sla"


SECTION_ORDER = (Section.SEGMENT, Section.SCORE, Section.QUALIFY, Section.ROUTE, Section.SLA)

# What each section produces, for the fields later sections may test.
PRODUCED: dict[Section, tuple[str, ...]] = {
    Section.SEGMENT: ("segment",),
    Section.SCORE: ("score", "grade"),  # and scores.<category>
    Section.QUALIFY: ("stage", "previous_stage", "stage_entered_at"),  # the last two: the lifecycle
    Section.ROUTE: ("owner",),
    Section.SLA: (),
}


@dataclass(frozen=True)
class Rule:
    section: Section
    name: str
    when: Condition | None
    loc: Location
    index: int  # position within its section
    value: str | None = None  # segment / stage
    category: str = "other"  # score
    points: float = 0  # score
    assign: Assignment | None = None  # route
    within: Duration | None = None  # sla
    calendar: str | None = None  # sla
    met_when: Condition | None = None  # sla
    escalate: Assignment | None = None  # sla
    start_field: str | None = None  # sla `from`
    warn_before: Duration | None = None  # sla: `at_risk` from this long before the due
    met_at_field: str | None = None  # sla `met_at`: when the SLA was met, if a field says

    @property
    def key(self) -> str:
        return f"{self.section.value}/{self.name}"

    @property
    def is_catch_all(self) -> bool:
        return self.when is None


@dataclass(frozen=True)
class Calendar:
    name: str
    timezone: str
    days: tuple[int, ...]
    opens: str  # "HH:MM"
    closes: str
    holidays: str | None
    loc: Location


@dataclass(frozen=True)
class Team:
    name: str
    members: tuple[tuple[str, int], ...]  # (user, weight)
    loc: Location
    calendar: str | None = None  # members take records only in its working hours
    # Per member, in `members` order: (max_open, max_per_day), the team's default unless overridden.
    caps: tuple[tuple[int | None, int | None], ...] = ()
    when_full: str = "next"  # next | hold | queue (then `overflow` names the queue)
    overflow: str | None = None

    def limits(self, index: int) -> tuple[int | None, int | None]:
        return self.caps[index] if index < len(self.caps) else (None, None)


@dataclass(frozen=True)
class Absence:
    """A user out of office from `first` to `last` (dates, inclusive), from the availability file."""

    user: str
    first: date
    last: date
    loc: Location


@dataclass(frozen=True)
class Availability:
    out_of_office: tuple[Absence, ...] = ()
    paused_field: str | None = None  # a User checkbox: true = takes nothing new


@dataclass(frozen=True)
class Grade:
    category: str | None  # None: the total score
    bands: tuple[tuple[str, float], ...]  # highest threshold first
    loc: Location


@dataclass(frozen=True)
class ScoreConfig:
    caps: tuple[tuple[str, float], ...] = ()
    min: float | None = None
    max: float | None = None
    grade: Grade | None = None


@dataclass(frozen=True)
class RuleSet:
    object: str
    file: str
    fingerprint: str
    fields: tuple[tuple[str, FieldType], ...]  # the record fields rules may test
    calendars: tuple[Calendar, ...] = ()
    teams: tuple[Team, ...] = ()
    score_config: ScoreConfig | None = None
    sections: tuple[tuple[Section, tuple[Rule, ...]], ...] = ()
    # Where each section starts (`route:`), cited by entries no single rule made (a kept owner).
    section_locs: tuple[tuple[Section, Location], ...] = ()
    qualified_stages: tuple[str, ...] = ()  # `funnel: {qualified: [...]}`; empty: not given
    availability: Availability = Availability()

    def section_loc(self, section: Section) -> Location | None:
        return next((loc for sec, loc in self.section_locs if sec is section), None)

    def rules(self, section: Section) -> tuple[Rule, ...]:
        for sec, rules in self.sections:
            if sec is section:
                return rules
        return ()

    def has(self, section: Section) -> bool:
        return any(sec is section for sec, _ in self.sections)

    def team(self, name: str) -> Team | None:
        return next((t for t in self.teams if t.name == name), None)

    def calendar(self, name: str) -> Calendar | None:
        return next((c for c in self.calendars if c.name == name), None)

    def all_rules(self) -> list[Rule]:
        return [r for _, rules in self.sections for r in rules]


@dataclass(frozen=True)
class Hit:
    """A rule that decided something for a record, and what it did."""

    section: Section
    rule: str
    loc: Location
    effect: str

    def asdict(self) -> dict[str, Any]:
        return {"section": self.section.value, "rule": self.rule,
                "at": self.loc.short, "effect": self.effect}


# Decisions live in their own module; imported here (at the end: it needs Hit) so that
# `from rules.model import Decision` keeps working everywhere.
from .decision import Decision as Decision  # noqa: E402  (re-exported)
