"""Batch evaluation: records -> Decisions, section by section, whichever engine matches.

An engine only answers "which rules match these facts"; what a match means (points,
caps, grades, round robin, stickiness, deadlines) is decided here once, so the default
and durable engines cannot drift apart on anything but matching, which the differential
test checks.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Iterable, Iterator, Protocol

from .compile import OUTPUT_FIELDS, Program, compile_ruleset
from .model import Decision, FieldType, Hit, Rule, RuleSet, ScoreConfig, Section
from .fused import build as build_decider
from .prepare import Preparer
from .routing import RoundRobin, owner_label, resolve
from .trace import Tracer
from .values import UTC, coerce, from_epoch, to_utc

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


class Evaluator:
    def __init__(self, ruleset: RuleSet, engine: str = "default"):
        self.ruleset = ruleset
        self.program = compile_ruleset(ruleset)
        self.preparer = Preparer(self.program)
        self.matcher: Matcher = make_matcher(engine, self.program)
        self.tracer = Tracer(ruleset)
        # The default engine decides record by record in one generated function; any other
        # matcher goes section by section over the batch (and so can the default, to check).
        self.fused = build_decider(self.program) if engine == "default" else None
        self.teams = {t.name: t for t in ruleset.teams}
        self.calendars = {c.name: _business_calendar(c) for c in ruleset.calendars}
        self._due_cache: dict[tuple, datetime] = {}
        self._slot = {name: self.program.slots.get(name) for name in OUTPUT_FIELDS}
        self._score_slots = [(s, name[7:]) for name, s in self.program.slots.items()
                             if name.startswith("scores.")]
        self._categories = tuple(dict.fromkeys(r.category for r in ruleset.rules(Section.SCORE)))

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
        # A batch makes no reference cycles, so the collector would only walk it for nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if self.fused is not None and self.matcher.__class__ is CompiledMatcher:
                return self._by_record(records, ctx, now, T)
            return self._by_section(records, ctx, now, T)
        finally:
            if collecting:
                gc.enable()

    def _by_record(self, records, ctx, now, T):
        rows: list[list] = []
        outs: list[Decision] = []
        decide, tracer = self.fused, self.tracer
        route = self.ruleset.rules(Section.ROUTE) if self.ruleset.has(Section.ROUTE) else None
        sla = self.ruleset.rules(Section.SLA) if self.ruleset.has(Section.SLA) else None
        m_sla, m_met = self.program.functions.get("m_sla"), self.program.functions.get("m_met")
        rr = RoundRobin(ctx.positions, ctx.inactive)
        route_one, sla_one = self._route_one, self._sla_one
        for rec in records:
            d, v, route_hits = decide(rec, T, tracer)
            rows.append(v)
            outs.append(d)
            if route is not None:
                route_one(route, rec, v, route_hits, d, now, ctx, rr)
        if sla is not None:
            # After the whole batch is routed, as on the section-by-section path: escalations
            # to a team take their round-robin turns after the batch's routing.
            for rec, v, d in zip(records, rows, outs):
                i = m_sla(v, T)
                if i >= 0:
                    sla_one(sla, rec, i, sla[i].met_when is not None and m_met(v, T, i), d, now, rr)
        return outs, rows

    def _by_section(self, records, ctx, now, T):
        rows: list[list] = []
        outs: list[Decision] = []
        prepare, raw, tracer = self.preparer._prepare, self.preparer.raw, self.tracer
        for rec in records:
            v, problems = prepare(rec)
            rows.append(v)
            rid = raw(rec, "id")
            d = Decision(None if rid is None else str(rid), tracer=tracer)
            if problems:
                d.problems = tuple(f"{n}: {bad.raw!r} is {bad.reason}" for n, bad in problems)
            outs.append(d)
        rr = RoundRobin(ctx.positions, ctx.inactive)
        for section, rules in self.ruleset.sections:
            if section in ALL_MATCH_SECTIONS:
                hits = self.matcher.all(section, rows, T)
            else:
                hits = self.matcher.first(section, rows, T)
            if section is Section.SEGMENT:
                self._first("segment", rules, rows, hits, outs)
            elif section is Section.SCORE:
                self._score(rules, rows, hits, outs)
            elif section is Section.QUALIFY:
                self._first("stage", rules, rows, hits, outs)
            elif section is Section.ROUTE:
                for rec, v, h, d in zip(records, rows, hits, outs):
                    self._route_one(rules, rec, v, h, d, now, ctx, rr)
            else:
                met = self.matcher.met(rows, T, [max(i, 0) for i in hits])
                for rec, i, is_met, d in zip(records, hits, met, outs):
                    if i >= 0:
                        self._sla_one(rules, rec, i, rules[i].met_when is not None and is_met, d, now, rr)
        return outs, rows

    # -- sections ------------------------------------------------------------------
    def _first(self, output, rules, rows, hits, outs):
        s = self._slot[output]
        for v, i, d in zip(rows, hits, outs):
            if i >= 0:
                value = rules[i].value
                if output == "segment":
                    d.segment, d.seg_rule = value, i
                else:
                    d.stage, d.stage_rule = value, i
                if s is not None:
                    v[s], v[s + 1], v[s + 2] = value, value.strip().casefold(), False

    def _score(self, rules, rows, all_hits, outs):
        cfg = self.ruleset.score_config or ScoreConfig()
        caps, lo, hi, grade = cfg.caps, cfg.min, cfg.max, cfg.grade
        s_score, s_grade = self._slot["score"], self._slot["grade"]
        score_slots, categories = self._score_slots, self._categories
        info = [(r.category, r.points) for r in rules]
        for v, hits, d in zip(rows, all_hits, outs):
            sums: dict[str, float] = {}
            for i in hits:
                category, points = info[i]
                sums[category] = sums.get(category, 0.0) + points
            capped: tuple = ()
            for cat, cap in caps:
                if cat in sums and sums[cat] > cap:
                    capped += ((cat, sums[cat]),)
                    sums[cat] = cap
            # Categories add up in the order the rule file names them, whichever matched first.
            sums = {cat: sums[cat] for cat in categories if cat in sums}
            total = sum(sums.values())
            if lo is not None and total < lo:
                total = lo
            if hi is not None and total > hi:
                total = hi
            d.score, d.scores, d.score_rules, d.capped = total, sums, hits, capped
            if s_score is not None:
                v[s_score], v[s_score + 2] = total, False
            for s, cat in score_slots:
                v[s], v[s + 2] = sums.get(cat, 0.0), False
            if grade is not None:
                basis = total if grade.category is None else sums.get(grade.category, 0.0)
                label = None
                for name, low in grade.bands:
                    if basis >= low:
                        label = name
                        break
                d.grade, d.grade_basis = label, basis
                if label is not None and s_grade is not None:
                    v[s_grade], v[s_grade + 1], v[s_grade + 2] = label, label.casefold(), False

    def _route_one(self, rules, rec, v, hits, d, now, ctx, rr):
        raw = self.preparer.raw
        s = self._slot["owner"]
        routed = raw(rec, "routed_at") is not None
        routed_at = self._instant(rec, "routed_at", d) if routed else None
        # Routed before, even when its time cannot be read (reported): never reshuffled.
        if routed and not ctx.reroute:
            current = raw(rec, "owner_id")
            active = coerce(raw(rec, "owner.is_active"), FieldType.BOOLEAN)
            if current is not None and active is not False and str(current).casefold() not in ctx.inactive:
                d.owner = d.routed_owner = owner_label(current)
                d.routed_at, d.kept_owner = routed_at, True
                if s is not None:
                    v[s], v[s + 1], v[s + 2] = d.owner, d.owner.casefold(), False
                return
        for i in hits:
            rule = rules[i]
            owner = resolve(rule.assign, self.teams, rr, rec, raw)
            if owner is None:
                d.notes += (Hit(Section.ROUTE, rule.name, rule.loc,
                                f"matched but {rule.assign.kind.value} "
                                f"'{rule.assign.target}' names nobody; next entry"),)
                continue
            d.owner = d.routed_owner = owner
            d.routed_at, d.route_rule = now, i
            if s is not None:
                v[s], v[s + 1], v[s + 2] = owner, owner.casefold(), False
            return
        d.routed_at = routed_at

    def _sla_one(self, rules, rec, i, is_met, d, now, rr):
        rule: Rule = rules[i]
        if rule.start_field:
            start = self._instant(rec, rule.start_field, d)
            basis = rule.start_field
        else:
            # Routed by this evaluation, kept, or (with no route section) routed before.
            start, basis = d.routed_at or self._instant(rec, "routed_at", d), "routed_at"
            if start is None:
                start, basis = self._instant(rec, "created_at", d) or now, "created_at"
        if start is None:
            why = "cannot be read" if self.preparer.raw(rec, basis) is not None else "is empty"
            d.notes += (Hit(Section.SLA, rule.name, rule.loc, f"no SLA: {basis} {why}"),)
            return
        due = self._due(rule, start)
        d.sla_due, d.sla_start, d.sla_basis, d.sla_rule = due, start, basis, i
        d.sla_status = status = "met" if is_met else ("breached" if now > due else "pending")
        if status == "breached" and rule.escalate:
            previous = coerce(self.preparer.raw(rec, "previous.sla_status"), FieldType.STRING)
            if previous is None or previous.casefold() != "breached":
                owner = resolve(rule.escalate, self.teams, rr, rec, self.preparer.raw)
                if owner is not None:
                    d.owner, d.escalated = owner, True
                    d.notes += (Hit(Section.SLA, rule.name, rule.escalate.loc, f"breached: escalated to {owner}"),)

    def _instant(self, rec, name: str, d: Decision) -> datetime | None:
        """The instant in field `name`, or None; a value there that is not one is reported
        on the decision, as a rule testing the field would report it."""
        value = self.preparer.raw(rec, name)
        if value is None:
            return None
        got = coerce(value, FieldType.DATETIME)
        if isinstance(got, float):
            return from_epoch(got)
        note = f"{name}: {value!r} is {got.reason}"
        if note not in d.problems:
            d.problems += (note,)
        return None

    def _due(self, rule: Rule, start: datetime) -> datetime:
        key = (id(rule), start)  # rules live as long as the evaluator
        due = self._due_cache.get(key)
        if due is None:
            d = rule.within
            if rule.calendar:
                due = self.calendars[rule.calendar].add(start, weeks=d.weeks, days=d.days, minutes=d.minutes)
            else:
                due = start + timedelta(seconds=d.seconds)
            due = to_utc(due)
            if len(self._due_cache) > 10_000:
                self._due_cache.clear()
            self._due_cache[key] = due
        return due


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
