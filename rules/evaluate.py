"""Batch evaluation: records -> Decisions, section by section, whichever engine matches.

An engine only answers "which rules match these facts"; what a match means (points,
caps, grades, round robin, stickiness, deadlines) is decided here once, so the default
and durable engines cannot drift apart on anything but matching, which the differential
test checks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Iterable, Iterator, Protocol

from .compile import Program, compile_ruleset
from .model import NOWHERE, Decision, FieldType, Hit, Rule, RuleSet, Section
from .prepare import Preparer
from .routing import RoundRobin, owner_label, resolve
from .values import UTC, coerce, to_utc

ALL_MATCH_SECTIONS = (Section.SCORE, Section.ROUTE)


@dataclass
class Context:
    """What an evaluation needs besides the records. `positions` is mutated (round robin)."""

    now: datetime
    positions: dict[str, int] = field(default_factory=dict)
    inactive: frozenset[str] = frozenset()  # users (name, email or Id, folded) known inactive
    reroute: bool = False


class Matcher(Protocol):
    def first(self, section: Section, rows: list[list], T: list[float]) -> list[int]: ...
    def all(self, section: Section, rows: list[list], T: list[float]) -> list[list[int]]: ...
    def met(self, rows: list[list], T: list[float], rule_indexes: list[int]) -> list[bool]: ...


class CompiledMatcher:
    """The default engine: generated Python functions, one per section."""

    name = "default"

    def __init__(self, program: Program):
        self.program = program

    def first(self, section, rows, T):
        f = self.program.functions[f"m_{section.value}"]
        return [f(v, T) for v in rows]

    all = first  # the generated function of an all-match section returns every hit

    def met(self, rows, T, rule_indexes):
        f = self.program.functions["m_met"]
        return [f(v, T, i) for v, i in zip(rows, rule_indexes)]


@dataclass
class _Out:
    segment: str | None = None
    score: float | None = None
    scores: dict[str, float] = field(default_factory=dict)
    grade: str | None = None
    stage: str | None = None
    owner: str | None = None
    routed_at: datetime | None = None
    sla_due: datetime | None = None
    sla_status: str | None = None
    escalated: bool = False
    sla_start: datetime | None = None
    matched: dict[str, Any] = field(default_factory=dict)
    trace: list[Hit] = field(default_factory=list)


class Evaluator:
    def __init__(self, ruleset: RuleSet, engine: str = "default"):
        self.ruleset = ruleset
        self.program = compile_ruleset(ruleset)
        self.preparer = Preparer(self.program)
        self.matcher: Matcher = make_matcher(engine, self.program)
        self.teams = {t.name: t for t in ruleset.teams}
        self.calendars = {c.name: _business_calendar(c) for c in ruleset.calendars}
        self._due_cache: dict[tuple, datetime] = {}

    @property
    def engine(self) -> str:
        return getattr(self.matcher, "name", "default")

    def evaluate(self, records: Iterable[dict], ctx: Context, batch_size: int = 1000) -> Iterator[Decision]:
        batch: list[dict] = []
        for record in records:
            batch.append(record)
            if len(batch) >= batch_size:
                yield from self.evaluate_batch(batch, ctx)
                batch = []
        if batch:
            yield from self.evaluate_batch(batch, ctx)

    def evaluate_batch(self, records: list[dict], ctx: Context) -> list[Decision]:
        return self.evaluate_with_facts(records, ctx)[0]

    def evaluate_with_facts(self, records: list[dict], ctx: Context) -> tuple[list[Decision], list[list]]:
        """Decisions and the facts (slot lists) they were decided on, for explanations."""
        now = to_utc(ctx.now)
        T = self.program.thresholds(now.timestamp())
        prepared = [self.preparer.prepare(r) for r in records]
        rows = [p[0] for p in prepared]
        outs = [_Out(matched={s.value: ([] if s is Section.SCORE else None)
                              for s, _ in self.ruleset.sections}) for _ in records]
        rr = RoundRobin(ctx.positions, ctx.inactive)
        for section, rules in self.ruleset.sections:
            if section in ALL_MATCH_SECTIONS:
                hits = self.matcher.all(section, rows, T)
            else:
                hits = self.matcher.first(section, rows, T)
            if section is Section.SLA:
                self._sla(rules, rows, hits, records, outs, now, T, rr)
                continue
            for rec, v, h, out in zip(records, rows, hits, outs):
                if section is Section.SEGMENT:
                    self._segment(rules, v, h, out)
                elif section is Section.SCORE:
                    self._score(rules, v, h, out)
                elif section is Section.QUALIFY:
                    self._qualify(rules, v, h, out)
                else:
                    self._route(rules, rec, v, h, out, now, ctx, rr)
        decisions = [self._decision(rec, out, p[1]) for rec, out, p in zip(records, outs, prepared)]
        return decisions, rows

    # -- sections ------------------------------------------------------------------
    def _segment(self, rules, v, i, out):
        if i >= 0:
            rule = rules[i]
            out.segment = rule.value
            out.matched["segment"] = rule.name
            out.trace.append(Hit(Section.SEGMENT, rule.name, rule.loc, f"segment = {rule.value}"))
            self.preparer.set(v, "segment", rule.value)

    def _score(self, rules, v, hits, out):
        cfg = self.ruleset.score_config
        sums: dict[str, float] = {}
        for i in hits:
            rule = rules[i]
            sums[rule.category] = sums.get(rule.category, 0.0) + rule.points
            out.matched["score"].append(rule.name)
            out.trace.append(Hit(Section.SCORE, rule.name, rule.loc,
                                 f"{rule.points:+g} {rule.category}"))
        for cat, cap in (cfg.caps if cfg else ()):
            if sums.get(cat, 0.0) > cap:
                out.trace.append(Hit(Section.SCORE, f"cap {cat}", cfg.grade.loc if cfg.grade else rules[0].loc,
                                     f"{cat} {sums[cat]:g} capped at {cap:g}"))
                sums[cat] = cap
        total = sum(sums.values())
        if cfg and cfg.min is not None and total < cfg.min:
            total = cfg.min
        if cfg and cfg.max is not None and total > cfg.max:
            total = cfg.max
        out.score, out.scores = total, sums
        self.preparer.set(v, "score", total)
        for name in self.program.slots:
            if name.startswith("scores."):
                self.preparer.set(v, name, sums.get(name[7:], 0.0))
        if cfg and cfg.grade:
            g = cfg.grade
            basis = total if g.category is None else sums.get(g.category, 0.0)
            out.grade = next((label for label, low in g.bands if basis >= low), None)
            out.trace.append(Hit(Section.SCORE, "grade", g.loc,
                                 f"grade = {out.grade} ({g.category or 'total'} {basis:g})"))
            self.preparer.set(v, "grade", out.grade)

    def _qualify(self, rules, v, i, out):
        if i >= 0:
            rule = rules[i]
            out.stage = rule.value
            out.matched["qualify"] = rule.name
            out.trace.append(Hit(Section.QUALIFY, rule.name, rule.loc, f"stage = {rule.value}"))
            self.preparer.set(v, "stage", rule.value)

    def _route(self, rules, rec, v, hits, out, now, ctx, rr):
        routed_at = self.preparer.instant(rec, "routed_at")
        current = self.preparer.raw(rec, "owner_id")
        active = coerce(self.preparer.raw(rec, "owner.is_active"), FieldType.BOOLEAN)
        owner_ok = active is not False and (current is None or str(current).casefold() not in ctx.inactive)
        if routed_at is not None and current is not None and owner_ok and not ctx.reroute:
            out.owner, out.routed_at = owner_label(current), routed_at
            out.trace.append(Hit(Section.ROUTE, "(sticky)", rules[0].loc if rules else NOWHERE,
                                 f"kept owner {out.owner}: routed at {_fmt(routed_at)}"))
        else:
            for i in hits:
                rule = rules[i]
                owner = resolve(rule.assign, self.teams, rr, lambda f: self.preparer.raw(rec, f))
                if owner is None:
                    out.trace.append(Hit(Section.ROUTE, rule.name, rule.loc,
                                         f"matched but {rule.assign.kind.value} "
                                         f"'{rule.assign.target}' names nobody; next entry"))
                    continue
                out.owner, out.routed_at = owner, now
                out.matched["route"] = rule.name
                out.trace.append(Hit(Section.ROUTE, rule.name, rule.loc, f"owner = {owner}"))
                break
            else:
                out.routed_at = routed_at
        self.preparer.set(v, "owner", out.owner)

    def _sla(self, rules, rows, hits, records, outs, now, T, rr):
        met = self.matcher.met(rows, T, [max(i, 0) for i in hits])
        for rec, i, is_met, out in zip(records, hits, met, outs):
            if i < 0:
                continue
            rule: Rule = rules[i]
            if rule.start_field:
                start = self.preparer.instant(rec, rule.start_field)
                basis = rule.start_field
            else:
                start, basis = out.routed_at, "routed_at"
                if start is None:
                    start, basis = self.preparer.instant(rec, "created_at") or now, "created_at"
            if start is None:
                out.trace.append(Hit(Section.SLA, rule.name, rule.loc,
                                     f"no SLA: {basis} is empty"))
                continue
            due = self._due(rule, start)
            out.sla_due, out.sla_start = due, start
            if rule.met_when is not None and is_met:
                out.sla_status = "met"
            else:
                out.sla_status = "breached" if now > due else "pending"
            out.matched["sla"] = rule.name
            out.trace.append(Hit(Section.SLA, rule.name, rule.loc,
                                 f"due {_fmt(due)} ({rule.within.text} from {basis} {_fmt(start)}"
                                 f"{' on ' + rule.calendar if rule.calendar else ''}): {out.sla_status}"))
            previous = coerce(self.preparer.raw(rec, "previous.sla_status"), FieldType.STRING)
            if out.sla_status == "breached" and rule.escalate and previous != "breached":
                owner = resolve(rule.escalate, self.teams, rr, lambda f: self.preparer.raw(rec, f))
                if owner is not None:
                    out.owner, out.escalated = owner, True
                    out.trace.append(Hit(Section.SLA, rule.name, rule.escalate.loc,
                                         f"breached: escalated to {owner}"))

    def _due(self, rule: Rule, start: datetime) -> datetime:
        key = (rule.calendar, rule.within, start)
        due = self._due_cache.get(key)
        if due is None:
            d = rule.within
            if rule.calendar:
                due = self.calendars[rule.calendar].add(start, weeks=d.weeks, days=d.days, minutes=d.minutes)
            else:
                due = start + timedelta(seconds=d.seconds)
            due = to_utc(due)
            if len(self._due_cache) > 100_000:
                self._due_cache.clear()
            self._due_cache[key] = due
        return due

    def _decision(self, rec: dict, out: _Out, problems: list[str]) -> Decision:
        rid = self.preparer.raw(rec, "id")
        return Decision(
            id=None if rid is None else str(rid), segment=out.segment, score=out.score,
            scores=out.scores, grade=out.grade, stage=out.stage, owner=out.owner,
            routed_at=out.routed_at, sla_due=out.sla_due, sla_status=out.sla_status,
            matched=out.matched, trace=tuple(out.trace), problems=tuple(problems),
            escalated=out.escalated, sla_start=out.sla_start)


def _fmt(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _business_calendar(cal):
    from .calendar import BusinessCalendar
    hh, mm = (int(x) for x in cal.opens.split(":"))
    ch, cm = (int(x) for x in cal.closes.split(":"))
    return BusinessCalendar(cal.name, cal.timezone, cal.days, time(hh, mm), time(ch, cm), cal.holidays)


def make_matcher(engine: str, program: Program) -> Matcher:
    if engine == "default":
        return CompiledMatcher(program)
    if engine == "durable":
        from .durable_engine import DurableMatcher
        return DurableMatcher(program)
    raise ValueError(f"unknown engine {engine!r}: use default or durable")


__all__ = ["Context", "Evaluator", "CompiledMatcher", "make_matcher", "UTC"]
