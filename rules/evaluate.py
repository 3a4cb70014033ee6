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

from .compile import OUTPUT_FIELDS, Program, compile_ruleset
from .model import NOWHERE, Decision, FieldType, Hit, Rule, RuleSet, ScoreConfig, Section
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


class Evaluator:
    def __init__(self, ruleset: RuleSet, engine: str = "default"):
        self.ruleset = ruleset
        self.program = compile_ruleset(ruleset)
        self.preparer = Preparer(self.program)
        self.matcher: Matcher = make_matcher(engine, self.program)
        self.teams = {t.name: t for t in ruleset.teams}
        self.calendars = {c.name: _business_calendar(c) for c in ruleset.calendars}
        self._due_cache: dict[tuple, datetime] = {}
        self._hit_cache: dict[tuple, Hit] = {}  # trace entries that repeat (grades, owners)
        # Everything that does not depend on the record is made once here: the trace entries
        # of each rule, the empty `matched` map, the slots outputs are written to.
        self._hits = {sec: [self._hit(r) for r in rules] for sec, rules in ruleset.sections}
        self._matched = {s.value: ([] if s is Section.SCORE else None) for s, _ in ruleset.sections}
        self._slot = {name: self.program.slots.get(name) for name in OUTPUT_FIELDS}
        self._score_slots = [(s, name[7:]) for name, s in self.program.slots.items()
                             if name.startswith("scores.")]

    @staticmethod
    def _hit(rule: Rule) -> Hit:
        if rule.section is Section.SCORE:
            effect = f"{rule.points:+g} {rule.category}"
        elif rule.section is Section.SEGMENT:
            effect = f"segment = {rule.value}"
        elif rule.section is Section.QUALIFY:
            effect = f"stage = {rule.value}"
        else:
            effect = ""
        return Hit(rule.section, rule.name, rule.loc, effect)

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
        if len(self._hit_cache) > 10_000:
            self._hit_cache.clear()
        rows: list[list] = []
        outs: list[Decision] = []
        prepare, raw, matched = self.preparer._prepare, self.preparer.raw, self._matched
        for rec in records:
            v, problems = prepare(rec)
            rows.append(v)
            rid = raw(rec, "id")
            d = Decision(None if rid is None else str(rid), matched=_copy_matched(matched))
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
                self._first(section, "segment", rules, rows, hits, outs)
            elif section is Section.SCORE:
                self._score(rules, rows, hits, outs)
            elif section is Section.QUALIFY:
                self._first(section, "stage", rules, rows, hits, outs)
            elif section is Section.ROUTE:
                self._route(rules, records, rows, hits, outs, now, ctx, rr)
            else:
                self._sla(rules, rows, hits, records, outs, now, T, rr)
        return outs, rows

    # -- sections ------------------------------------------------------------------
    def _first(self, section, output, rules, rows, hits, outs):
        s = self._slot[output]
        key = section.value
        trace = self._hits[section]
        for v, i, d in zip(rows, hits, outs):
            if i >= 0:
                value = rules[i].value
                setattr(d, output, value)
                d.matched[key] = rules[i].name
                d.trace.append(trace[i])
                v[s], v[s + 1], v[s + 2] = value, value.strip().casefold(), False

    def _score(self, rules, rows, all_hits, outs):
        cfg = self.ruleset.score_config or ScoreConfig()
        caps, lo, hi, grade = cfg.caps, cfg.min, cfg.max, cfg.grade
        trace = self._hits[Section.SCORE]
        s_score, s_grade = self._slot["score"], self._slot["grade"]
        score_slots = self._score_slots
        hit_cache = self._hit_cache
        info = [(r.category, r.points, r.name, trace[r.index]) for r in rules]
        for v, hits, d in zip(rows, all_hits, outs):
            sums: dict[str, float] = {}
            names = d.matched["score"]
            add = d.trace.append
            for i in hits:
                category, points, name, hit = info[i]
                sums[category] = sums.get(category, 0.0) + points
                names.append(name)
                add(hit)
            for cat, cap in caps:
                if cat in sums and sums[cat] > cap:
                    d.trace.append(Hit(Section.SCORE, f"cap {cat}", rules[0].loc,
                                       f"{cat} {sums[cat]:g} capped at {cap:g}"))
                    sums[cat] = cap
            total = sum(sums.values())
            if lo is not None and total < lo:
                total = lo
            if hi is not None and total > hi:
                total = hi
            d.score, d.scores = total, sums
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
                d.grade = label
                hit = hit_cache.get((label, basis))
                if hit is None:
                    hit = hit_cache[(label, basis)] = Hit(
                        Section.SCORE, "grade", grade.loc, f"grade = {label} ({grade.category or 'total'} {basis:g})")
                d.trace.append(hit)
                if label is not None:
                    v[s_grade], v[s_grade + 1], v[s_grade + 2] = label, label.casefold(), False

    def _route(self, rules, records, rows, all_hits, outs, now, ctx, rr):
        raw, instant = self.preparer.raw, self.preparer.instant
        s = self._slot["owner"]
        hit_cache = self._hit_cache
        for rec, v, hits, d in zip(records, rows, all_hits, outs):
            routed_at = None if raw(rec, "routed_at") is None else instant(rec, "routed_at")
            current = raw(rec, "owner_id")
            if routed_at is not None and current is not None and not ctx.reroute:
                active = coerce(raw(rec, "owner.is_active"), FieldType.BOOLEAN)
                if active is not False and str(current).casefold() not in ctx.inactive:
                    d.owner, d.routed_at = owner_label(current), routed_at
                    d.trace.append(Hit(Section.ROUTE, "(sticky)", rules[0].loc if rules else NOWHERE,
                                       f"kept owner {d.owner}: routed at {_fmt(routed_at)}"))
                    v[s], v[s + 1], v[s + 2] = d.owner, d.owner.casefold(), False
                    continue
            for i in hits:
                rule = rules[i]
                owner = resolve(rule.assign, self.teams, rr, rec, raw)
                if owner is None:
                    d.trace.append(Hit(Section.ROUTE, rule.name, rule.loc,
                                       f"matched but {rule.assign.kind.value} "
                                       f"'{rule.assign.target}' names nobody; next entry"))
                    continue
                d.owner, d.routed_at = owner, now
                d.matched["route"] = rule.name
                hit = hit_cache.get((i, owner))
                if hit is None:
                    hit = hit_cache[(i, owner)] = Hit(Section.ROUTE, rule.name, rule.loc, f"owner = {owner}")
                d.trace.append(hit)
                v[s], v[s + 1], v[s + 2] = owner, owner.casefold(), False
                break
            else:
                d.routed_at = routed_at

    def _sla(self, rules, rows, hits, records, outs, now, T, rr):
        met = self.matcher.met(rows, T, [max(i, 0) for i in hits])
        raw = self.preparer.raw
        for rec, i, is_met, d in zip(records, hits, met, outs):
            if i < 0:
                continue
            rule: Rule = rules[i]
            if rule.start_field:
                start = self.preparer.instant(rec, rule.start_field)
                basis = rule.start_field
            else:
                start, basis = d.routed_at, "routed_at"
                if start is None:
                    start, basis = self.preparer.instant(rec, "created_at") or now, "created_at"
            if start is None:
                d.trace.append(Hit(Section.SLA, rule.name, rule.loc, f"no SLA: {basis} is empty"))
                continue
            due = self._due(rule, start)
            d.sla_due, d.sla_start = due, start
            if rule.met_when is not None and is_met:
                d.sla_status = "met"
            else:
                d.sla_status = "breached" if now > due else "pending"
            d.matched["sla"] = rule.name
            key = (i, due, basis, start, d.sla_status)
            hit = self._hit_cache.get(key)
            if hit is None:
                hit = self._hit_cache[key] = Hit(
                    Section.SLA, rule.name, rule.loc,
                    f"due {_fmt(due)} ({rule.within.text} from {basis} {_fmt(start)}"
                    f"{' on ' + rule.calendar if rule.calendar else ''}): {d.sla_status}")
            d.trace.append(hit)
            if d.sla_status == "breached" and rule.escalate:
                previous = coerce(raw(rec, "previous.sla_status"), FieldType.STRING)
                if previous is None or previous.casefold() != "breached":
                    owner = resolve(rule.escalate, self.teams, rr, rec, raw)
                    if owner is not None:
                        d.owner, d.escalated = owner, True
                        d.trace.append(Hit(Section.SLA, rule.name, rule.escalate.loc,
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
            if len(self._due_cache) > 10_000:
                self._due_cache.clear()
            self._due_cache[key] = due
        return due


def _copy_matched(template: dict) -> dict:
    out = template.copy()
    if "score" in out:
        out["score"] = []
    return out


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
