"""What the rules decided for one record, and the forms its outputs take offline."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .model import Hit

if TYPE_CHECKING:  # trace.py imports the model, which imports this module
    from .trace import Tracer


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
    tracer: Tracer | None = field(default=None, repr=False, compare=False)
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
    held: str | None = None  # why no team member could take the record now (it stays unrouted)
    held_until: datetime | None = field(default=None, repr=False, compare=False)  # worth trying again then
    # Team members passed over for this record, and why ("out of office ...", "40/40 open").
    skipped_members: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)

    @property
    def trace(self) -> list[Hit]:
        """Every rule that decided something, in the order the sections ran, with its effect."""
        if self._trace is None:
            self._trace = self._tracer().trace(self)
        return self._trace

    def citation(self) -> str:
        """Every trace entry as `section/rule (file:line)`, joined with "; "."""
        return self._tracer().citation(self)

    def matched_rules(self) -> list[tuple[str, str]]:
        """(section, rule name) of every rule `matched` names, in section order."""
        return self._tracer().matched_rules(self)

    @property
    def matched(self) -> dict[str, Any]:
        """The deciding rule's name per section (a list of names for `score`)."""
        if self._matched is None:
            self._matched = self._tracer().matched(self)
        return self._matched

    def _tracer(self) -> Tracer:
        if self.tracer is None:  # an AttributeError, as for any attribute a value lacks: callers may catch it
            raise AttributeError("this Decision was not made by an Evaluator: it has no tracer to cite rules")
        return self.tracer

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

    def asdict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, **self.outputs(), "matched": self.matched}
        out["trace"] = [h.asdict() for h in self.trace]
        if self.held:
            out["held"] = self.held
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
