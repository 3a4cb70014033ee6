"""Batch evaluation: records -> Decisions, section by section, whichever engine matches.

An engine only answers "which rules match these facts"; what a match means (points,
caps, grades, round robin, stickiness, deadlines) is decided here once, so the default
and durable engines cannot drift apart on anything but matching, which the differential
test checks.
"""
from __future__ import annotations

import gc
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Protocol

from .compile import OUTPUT_FIELDS, Program, compile_ruleset, tests_of
from .model import Calendar, Decision, Op, Rule, RuleSet, ScoreConfig, Section
from .fused import Decider, _record_id, build as build_decider
from .prepare import Preparer
from .capacity import Ledger, Workload
from .lifecycle import Lifecycle
from .routing import RoundRobin
from .trace import Tracer
from .values import UTC, to_utc

if TYPE_CHECKING:  # imported when a rule set has calendars (see _business_calendar)
    from .calendar import BusinessCalendar

ALL_MATCH_SECTIONS = (Section.SCORE, Section.ROUTE)


@dataclass
class Context:
    """What an evaluation needs besides the records. `positions` is mutated (round robin)."""

    now: datetime
    positions: dict[str, int] = field(default_factory=dict)
    inactive: frozenset[str] = frozenset()  # users (name, email or Id, folded) known inactive
    reroute: bool = False
    # The Id an owner label is written as, where an org can say (a sync); None offline.
    owner_id: Callable[[str], str | None] | None = None
    paused: frozenset[str] = frozenset()  # users (name, email or Id, folded) who take nothing new
    # Open records per owner (Id, 15 characters) as the org counts them; None offline: caps
    # then count only what this evaluation routes.
    open_counts: dict[str, int] | None = None
    # Records revsync gave an owner (key as above) since an instant, as the state remembers.
    given_since: Callable[[str, datetime], int] | None = None
    ledger: Ledger = field(default_factory=Ledger)  # what this run routed so far


class Matcher(Protocol):
    def first(self, section: Section, rows: list[list[Any]], T: list[float]) -> list[int]: ...
    def all(self, section: Section, rows: list[list[Any]], T: list[float]) -> list[list[int]]: ...
    def met(self, rows: list[list[Any]], T: list[float], rule_indexes: list[int]) -> list[bool]: ...


class CompiledMatcher:
    """The default engine: generated Python functions, one per section."""

    name = "default"

    def __init__(self, program: Program):
        self.program = program

    def first(self, section: Section, rows: list[list[Any]], T: list[float]) -> list[int]:
        f = self.program.functions[f"m_{section.value}"]
        return [f(v, T) for v in rows]

    def all(self, section: Section, rows: list[list[Any]], T: list[float]) -> list[list[int]]:
        # The same generated function as `first`: an all-match section's returns every hit.
        f = self.program.functions[f"m_{section.value}"]
        return [f(v, T) for v in rows]

    def met(self, rows: list[list[Any]], T: list[float], rule_indexes: list[int]) -> list[bool]:
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
        self.life = Lifecycle(ruleset, self.teams, self.calendars)
        self._slot = {name: self.program.slots.get(name) for name in OUTPUT_FIELDS}
        self._score_slots = [(s, name[7:]) for name, s in self.program.slots.items()
                             if name.startswith("scores.")]
        self._categories = tuple(dict.fromkeys(r.category for r in ruleset.rules(Section.SCORE)))
        # The facts of a record that could not be decided: every slot empty and missing.
        self._nothing = [None, None, True] * (self.program.width // 3)
        # (slot, seconds) of every `older_than` / `newer_than` test: where time alone flips a match.
        self._age_tests = sorted({(self.program.slots[t.field], t.value.seconds)
                                  for rule in ruleset.all_rules() for t in tests_of(rule.when) + tests_of(rule.met_when)
                                  if t.op in (Op.OLDER_THAN, Op.NEWER_THAN)})

    @property
    def engine(self) -> str:
        return getattr(self.matcher, "name", "default")

    def evaluate(self, records: Iterable[dict[str, Any]], ctx: Context, batch_size: int = 1000) -> Iterator[Decision]:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(record)
            if len(batch) >= batch_size:
                yield from self.evaluate_batch(batch, ctx)
                batch = []
        if batch:
            yield from self.evaluate_batch(batch, ctx)

    def evaluate_batch(self, records: list[dict[str, Any]], ctx: Context) -> list[Decision]:
        return self.evaluate_with_facts(records, ctx)[0]

    def evaluate_with_facts(self, records: list[dict[str, Any]], ctx: Context
                            ) -> tuple[list[Decision], list[list[Any]]]:
        """Decisions and the facts (slot lists) they were decided on, for explanations."""
        now = to_utc(ctx.now)
        T = self.program.thresholds(now.timestamp())
        # A batch makes no reference cycles, so the collector would only walk it for nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            if self.fused is not None and self.matcher.__class__ is CompiledMatcher:
                return self._by_record(self.fused, records, ctx, now, T)
            return self._by_section(records, ctx, now, T)
        finally:
            if collecting:
                gc.enable()

    def next_change_at(self, d: Decision, facts: list[Any], now: datetime) -> datetime | None:
        """The next instant after `now` at which this decision may change with time alone (an age
        test starting or stopping to match, the SLA turning at risk or breached, a held record's
        team opening or having room again: `now` itself, meaning the next run), or None.
        `facts` is the record's slot list from `evaluate_with_facts`."""
        at = now.timestamp()
        times = []
        upcoming = self.life.next_sla_change(d)
        if upcoming is not None:
            times.append(upcoming.timestamp())
        if d.held_until is not None:  # held: at the team's next opening, or the next run
            times.append(max(d.held_until.timestamp(), at))
        for slot, seconds in self._age_tests:
            value = facts[slot]
            if isinstance(value, float) and value + seconds > at:
                times.append(value + seconds)
        if not times:
            return None
        try:
            return datetime.fromtimestamp(min(times), timezone.utc)
        except (OverflowError, ValueError, OSError):  # after year 9999: nothing to re-check before
            return None

    def _by_record(self, decide: Decider, records: list[dict[str, Any]], ctx: Context, now: datetime,
                   T: list[float]) -> tuple[list[Decision], list[list[Any]]]:
        rows: list[list[Any]] = []
        outs: list[Decision] = []
        tracer = self.tracer
        route = self.ruleset.rules(Section.ROUTE) if self.ruleset.has(Section.ROUTE) else None
        sla = self.ruleset.rules(Section.SLA) if self.ruleset.has(Section.SLA) else None
        rr = RoundRobin(ctx.positions, ctx.inactive, Workload(self.ruleset, self.calendars, ctx, now))
        route_one, life, facts = self._route_one, self.life, self._stage_facts
        failed: set[int] = set()
        for k, rec in enumerate(records):
            try:
                d, v, route_hits = decide(rec, T, tracer)
                life.remember(rec, d)
                life.stage(rec, d, now)
                facts(v, d)
                if route is not None and route_hits is not None:  # None exactly when there is no route section
                    route_one(route, rec, v, route_hits, d, now, ctx, rr)
            except Exception as exc:  # noqa: BLE001 - one record's failure must not end the batch
                d, v = self._undecided(rec, exc), self._nothing[:]
                failed.add(k)
            rows.append(v)
            outs.append(d)
        if sla is not None:
            # After the whole batch is routed, as on the section-by-section path: escalations
            # to a team take their round-robin turns after the batch's routing.
            sla_one = life.sla
            m_sla, m_met = self.program.functions["m_sla"], self.program.functions["m_met"]
            for k, (rec, v, d) in enumerate(zip(records, rows, outs)):
                if k in failed:
                    continue
                try:
                    i = m_sla(v, T)
                    if i >= 0:
                        sla_one(sla, rec, i, sla[i].met_when is not None and m_met(v, T, i), d, now, rr)
                except Exception as exc:  # noqa: BLE001 - as above
                    outs[k], rows[k] = self._undecided(rec, exc), self._nothing[:]
        return outs, rows

    def _undecided(self, rec: object, exc: Exception) -> Decision:
        """A record whose evaluation raised: no outputs, and the reason as its problem, so a
        sync skips and reports it and `evaluate` still prints its line. Value conversions report
        what they cannot read without raising; this is the net under everything else."""
        why = str(exc) if len(str(exc)) <= 200 else str(exc)[:200] + "..."
        rid = _record_id(self.preparer.raw(rec, "id")) if isinstance(rec, dict) else None
        return Decision(rid, problems=(f"not evaluated: {type(exc).__name__}: {why}",), tracer=self.tracer)

    def _by_section(self, records: list[dict[str, Any]], ctx: Context, now: datetime,
                    T: list[float]) -> tuple[list[Decision], list[list[Any]]]:
        rows: list[list[Any]] = []
        outs: list[Decision] = []
        prepare, raw, tracer = self.preparer._prepare, self.preparer.raw, self.tracer
        # A record whose evaluation raises takes no further step (as on the fused path, which
        # stops at the same step) and ends as an undecided record; matching stays batch-wide.
        failed: dict[int, Exception] = {}

        def each(step: Callable[..., None], *columns: Iterable[Any]) -> None:
            for k, args in enumerate(zip(records, *columns)):
                if k not in failed:
                    try:
                        step(*args)
                    except Exception as exc:  # noqa: BLE001 - one record's failure must not end the batch
                        failed[k] = exc

        for k, rec in enumerate(records):
            try:
                v, problems = prepare(rec)
                rid = raw(rec, "id")
                d = Decision(None if rid is None else str(rid), tracer=tracer)
                if problems:
                    d.problems = tuple(bad.note(n) for n, bad in problems)
                self.life.remember(rec, d)
            except Exception as exc:  # noqa: BLE001 - as above
                v, d, failed[k] = self._nothing[:], Decision(None, tracer=tracer), exc
            rows.append(v)
            outs.append(d)
        rr = RoundRobin(ctx.positions, ctx.inactive, Workload(self.ruleset, self.calendars, ctx, now))
        for section, rules in self.ruleset.sections:
            if section in ALL_MATCH_SECTIONS:
                every = self.matcher.all(section, rows, T)
            else:
                hits = self.matcher.first(section, rows, T)
            if section is Section.SEGMENT:
                self._first("segment", rules, rows, hits, outs)
            elif section is Section.SCORE:
                self._score(rules, rows, every, outs)
            elif section is Section.QUALIFY:
                self._first("stage", rules, rows, hits, outs)

                def stage(rec: dict[str, Any], v: list[Any], d: Decision) -> None:
                    self.life.stage(rec, d, now)
                    self._stage_facts(v, d)
                each(stage, rows, outs)
            elif section is Section.ROUTE:
                def route(rec: dict[str, Any], v: list[Any], h: list[int], d: Decision,
                          rules: tuple[Rule, ...] = rules) -> None:
                    self._route_one(rules, rec, v, h, d, now, ctx, rr)
                each(route, rows, every, outs)
            else:
                met = self.matcher.met(rows, T, [max(i, 0) for i in hits])

                def clock(rec: dict[str, Any], i: int, is_met: bool, d: Decision,
                          rules: tuple[Rule, ...] = rules) -> None:
                    if i >= 0:
                        self.life.sla(rules, rec, i, rules[i].met_when is not None and is_met, d, now, rr)
                each(clock, hits, met, outs)
        for k, error in failed.items():
            outs[k], rows[k] = self._undecided(records[k], error), self._nothing[:]
        return outs, rows

    # -- sections ------------------------------------------------------------------
    def _first(self, output: str, rules: tuple[Rule, ...], rows: list[list[Any]], hits: list[int],
               outs: list[Decision]) -> None:
        s = self._slot[output]
        for v, i, d in zip(rows, hits, outs):
            if i >= 0:
                value = rules[i].value
                assert value is not None  # the parser gives every segment and qualify entry its value
                if output == "segment":
                    d.segment, d.seg_rule = value, i
                else:
                    d.stage, d.stage_rule = value, i
                if s is not None:
                    v[s], v[s + 1], v[s + 2] = value, value.strip().casefold(), False

    def _score(self, rules: tuple[Rule, ...], rows: list[list[Any]], all_hits: list[list[int]],
               outs: list[Decision]) -> None:
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
            capped: tuple[tuple[str, float], ...] = ()
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

    def _route_one(self, rules: tuple[Rule, ...], rec: dict[str, Any], v: list[Any], hits: list[int], d: Decision,
                   now: datetime, ctx: Context, rr: RoundRobin) -> None:
        self.life.route(rules, rec, hits, d, now, ctx, rr)
        s = self._slot["owner"]
        if s is not None and d.owner is not None:
            v[s], v[s + 1], v[s + 2] = d.owner, d.owner.casefold(), False

    def _stage_facts(self, v: list[Any], d: Decision) -> None:
        """previous_stage and stage_entered_at as facts for route and SLA tests."""
        s = self._slot["previous_stage"]
        if s is not None:
            p = d.previous_stage
            v[s], v[s + 1], v[s + 2] = p, (p.strip().casefold() if p is not None else None), p is None
        s = self._slot["stage_entered_at"]
        if s is not None:
            e = d.stage_entered_at
            v[s], v[s + 1], v[s + 2] = (e.timestamp() if e is not None else None), None, e is None


def _business_calendar(cal: Calendar) -> BusinessCalendar:
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
