"""The validated rule model: what a rule file means once it has been read and checked.

Everything here is frozen: a RuleSet is built once at load time and shared by every
evaluation, engine and preview that uses it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
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

    def asdict(self) -> dict:
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
    written: Any = field(default=None, compare=False)  # the value as the file spells it, for explanations

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

    def asdict(self) -> dict:
        return {"section": self.section.value, "rule": self.rule,
                "at": self.loc.short, "effect": self.effect}


@dataclass(slots=True)
class Decision:
    """What the rules decided for one record. Mutable only while it is being evaluated.

    Which rules decided is kept as rule indexes while evaluating and turned into `trace`
    and `matched` (cited rule names) only when someone reads them: a scheduled sync reads
    them for the few records that change, so the rest never pay for them.
    """

    id: str | None
    segment: str | None = None
    score: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    grade: str | None = None
    stage: str | None = None
    owner: str | None = None
    routed_at: datetime | None = None
    sla_due: datetime | None = None
    sla_status: str | None = None
    problems: tuple[str, ...] = ()  # values that could not be read as their field's type
    escalated: bool = False
    sla_started_at: datetime | None = None  # when the running SLA clock started
    # What decided, compactly: filled by the evaluator (which always sets `tracer`), read
    # through `trace`, `matched` and `citation()`.
    tracer: Any = field(default=None, repr=False, compare=False)
    seg_rule: int = field(default=-1, repr=False, compare=False)
    score_rules: list[int] | tuple[int, ...] = field(default=(), repr=False, compare=False)
    capped: tuple[tuple[str, float], ...] = field(default=(), repr=False, compare=False)
    grade_basis: float | None = field(default=None, repr=False, compare=False)
    stage_rule: int = field(default=-1, repr=False, compare=False)
    route_rule: int = field(default=-1, repr=False, compare=False)
    routed_owner: str | None = field(default=None, repr=False, compare=False)  # before any escalation
    kept_owner: bool = field(default=False, repr=False, compare=False)  # routing was sticky
    sla_rule: int = field(default=-1, repr=False, compare=False)
    sla_basis: str | None = field(default=None, repr=False, compare=False)
    notes: tuple[Hit, ...] = field(default=(), repr=False, compare=False)  # rarer route and SLA entries
    _trace: list[Hit] | None = field(default=None, repr=False, compare=False)
    _matched: dict[str, Any] | None = field(default=None, repr=False, compare=False)
    # The lifecycle (see rules/lifecycle.py): where the record stood and what revsync gave it.
    previous_stage: str | None = None
    stage_entered_at: datetime | None = None
    sla_met_at: datetime | None = None
    memory: Any = field(default=None, repr=False, compare=False)  # what the record carried in
    owner_by: str | None = None  # "route/<rule>" or "sla/<entry>": who gave the current owner
    owner_given: str | None = None  # the owner revsync gave (an Id once written, a label offline)
    owners: tuple[str, ...] = field(default=(), repr=False)  # owners the record has had, oldest first
    handoff_from: str | None = None  # the owner a handoff took the record from
    clock_started: bool = False  # this evaluation started the SLA clock
    clock_escalated: bool = False  # the running clock has escalated (now or before)

    @property
    def trace(self) -> list[Hit]:
        """Every rule that decided something, in the order the sections ran, with its effect."""
        if self._trace is None:
            self._trace = self.tracer.trace(self)
        return self._trace

    def citation(self) -> str:
        """Every trace entry as `section/rule (file:line)`, joined with "; "."""
        return self.tracer.citation(self)

    def matched_rules(self) -> list[tuple[str, str]]:
        """(section, rule name) of every rule `matched` names, in section order."""
        return self.tracer.matched_rules(self)

    @property
    def matched(self) -> dict[str, Any]:
        """The deciding rule's name per section (a list of names for `score`)."""
        if self._matched is None:
            self._matched = self.tracer.matched(self)
        return self._matched

    def outputs(self) -> dict[str, Any]:
        """The decided values, in the forms the offline output uses."""
        return {
            "segment": self.segment, "score": _num(self.score),
            "scores": {k: _num(v) for k, v in self.scores.items()},
            "grade": self.grade, "stage": self.stage, "previous_stage": self.previous_stage,
            "stage_entered_at": _instant(self.stage_entered_at), "owner": self.owner,
            "routed_at": _instant(self.routed_at), "sla_due": _instant(self.sla_due),
            "sla_status": self.sla_status, "sla_started_at": _instant(self.sla_started_at),
            "sla_met_at": _instant(self.sla_met_at),
        }

    def asdict(self) -> dict:
        out: dict[str, Any] = {"id": self.id, **self.outputs(), "matched": self.matched}
        out["trace"] = [h.asdict() for h in self.trace]
        if self.problems:
            out["problems"] = list(self.problems)
        return out


def _num(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 6)


def _instant(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")
