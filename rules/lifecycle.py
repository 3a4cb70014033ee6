"""A record's lifecycle across runs: stage entries, routing with handoffs, SLA clocks.

revsync decides each record from what it holds now and from what revsync wrote on it last
(read back as `previous.<output>`, `routed_at`, and one compact text, the memory): the stage
it was in, when it entered it, which rule gave the current owner and which owner that was,
the SLA entry whose clock runs and whether it escalated, the owners it has had. Nothing is
kept per record anywhere else, so a new state file, another machine or an export evaluated
offline decide exactly as the sync would (RULES.md, Lifecycle).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .memory import Memory, is_queue, memory_of, passed_to, read_memory, same_owner
from .model import (
    NOWHERE, Assignment, AssignKind, Decision, Duration, FieldType, Hit, Location, Rule, RuleSet, Section, Team,
)
from .prepare import Preparer
from .routing import RoundRobin, names_somebody, owner_label, resolve
from .values import coerce, from_epoch, to_utc

if TYPE_CHECKING:  # evaluate.py imports this module; calendar.py is imported where a rule set has calendars
    from .calendar import BusinessCalendar
    from .evaluate import Context

raw = Preparer.raw
__all__ = ["Lifecycle", "Memory", "memory_of", "read_memory", "same_owner", "stage_facts"]


def stage_facts(rec: dict[str, Any], stage: str | None, now_ts: float) -> tuple[str | None, float | None, bool]:
    """(previous_stage, stage_entered_at as epoch seconds, whether the entry time was known).

    The stage revsync wrote last is `previous.stage`; a stage decided for the first time, or
    a changed one, is entered now; an unchanged stage keeps its entry time, and one revsync
    never recorded (an org synced by an earlier version) starts now."""
    before = raw(rec, "previous.stage")
    if before is None:
        return None, (now_ts if stage is not None else None), True
    if stage is not None and str(before).strip().casefold() == stage.strip().casefold():
        previous = raw(rec, "previous.previous_stage")
        entered = coerce(raw(rec, "previous.stage_entered_at"), FieldType.DATETIME)
        known = entered.__class__ is float
        return (None if previous is None else str(previous).strip()), (entered if known else now_ts), known
    return str(before).strip(), (now_ts if stage is not None else None), True


class Lifecycle:
    """Stage entries, routing and SLA clocks for one evaluator (rules, teams, calendars)."""

    def __init__(self, ruleset: RuleSet, teams: dict[str, Team], calendars: dict[str, BusinessCalendar]):
        self.ruleset = ruleset
        self.teams = teams
        self.calendars = calendars
        self.has_qualify = ruleset.has(Section.QUALIFY)
        self._due_cache: dict[tuple[int, datetime], datetime] = {}

    # -- reading what the record carries ----------------------------------------------------
    def instant(self, rec: dict[str, Any], name: str, d: Decision) -> datetime | None:
        """The instant in field `name`, or None; a value there that is not one is reported
        on the decision, as a rule testing the field would report it."""
        value = raw(rec, name)
        if value is None:
            return None
        got = coerce(value, FieldType.DATETIME)
        if isinstance(got, float):
            return from_epoch(got)
        note = got.note(name)
        if note not in d.problems:
            d.problems += (note,)
        return None

    def remember(self, rec: dict[str, Any], d: Decision) -> None:
        """Read the record's memory once; an unreadable one is treated as none and noted."""
        try:
            d.memory = read_memory(raw(rec, "previous.lifecycle"))
        except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested past Python's limit
            d.memory = None
            why = exc if isinstance(exc, ValueError) else "is nested too deeply to read"
            d.notes += (Hit(Section.ROUTE, "(lifecycle)", self.ruleset.section_loc(Section.ROUTE)
                            or NOWHERE, f"revsync's lifecycle field {why}: read as empty"),)
        mem = d.memory
        if mem is not None:
            d.owners, d.owner_by, d.owner_given = mem.owners, mem.by, mem.owner
            current = raw(rec, "owner_id")
            if mem.owner is not None and current is not None and not same_owner(current, mem.owner):
                # A person took the record: revsync no longer holds the owner it gave, even if
                # someone later hands it back (RULES.md: "no person changed it since").
                d.owner_given = None
                d.owners = passed_to(mem.owners, current, None)

    def stage(self, rec: dict[str, Any], d: Decision, now: datetime) -> None:
        if not self.has_qualify:
            return
        previous, entered, _ = stage_facts(rec, d.stage, now.timestamp())
        d.previous_stage = previous
        d.stage_entered_at = None if entered is None else from_epoch(entered)

    # -- routing -------------------------------------------------------------------------------
    def route(self, rules: tuple[Rule, ...], rec: dict[str, Any], hits: list[int], d: Decision, now: datetime,
              ctx: Context, rr: RoundRobin) -> int | None:
        """Decide the owner; returns the route rule that assigned, or None (kept, held or nobody)."""
        current = raw(rec, "owner_id")
        routed = raw(rec, "routed_at") is not None
        routed_at = self.instant(rec, "routed_at", d) if routed else None
        # Routed before, even when its time cannot be read (reported): never reshuffled.
        if routed and not ctx.reroute:
            active = coerce(raw(rec, "owner.is_active"), FieldType.BOOLEAN)
            if current is not None and active is not False and str(current).casefold() not in ctx.inactive:
                away = rr.workload.owner_away(rules, self.teams, current, raw(rec, "previous.sla_status"), d)
                if away is None:
                    i = self._handoff(rules, rec, hits, d, routed_at, current, ctx, rr)
                    if i is not None:
                        given = self._assign(rules, i, rec, d, now, rr, handoff_from=owner_label(current))
                        if given is not None:
                            return given
                    d.owner = d.routed_owner = owner_label(current)
                    d.routed_at, d.kept_owner = routed_at, True
                    return None
                rule_name, why = away
                d.notes += (Hit(Section.ROUTE, rule_name or "(away)", self._rule_loc(rules, rule_name),
                                f"{owner_label(current)} is {why} while the SLA clock runs: re-routed"),)
                first = next((i for i in hits if rules[i].name == rule_name), None)
                if first is not None:  # the rule that gave the owner gives the next one
                    hits = [first] + [i for i in hits if i != first]
        for i in hits:
            given = self._assign(rules, i, rec, d, now, rr)
            if given is not None or d.held is not None:
                if d.held is not None:
                    d.routed_at = routed_at
                return given
        d.routed_at = routed_at
        return None

    def _assign(self, rules: tuple[Rule, ...], i: int, rec: dict[str, Any], d: Decision, now: datetime,
                rr: RoundRobin, handoff_from: str | None = None) -> int | None:
        """Give the record the owner rule `i` names: returns `i`, or None when the rule names
        nobody who can take it (noted; the next rule is tried) or holds it (`d.held`)."""
        rule = rules[i]
        assign = _assignment(rule)
        pick = resolve(assign, self.teams, rr, rec, raw)
        if pick.skipped:
            d.skipped_members += pick.skipped
        if pick.held is not None:
            d.held, d.held_until = pick.held.reason, pick.held.until
            d.notes += (Hit(Section.ROUTE, rule.name, rule.loc, pick.held.reason),)
            return None
        owner = pick.label
        if owner is None:
            why = f" ({pick.why()})" if pick.skipped else ""
            d.notes += (Hit(Section.ROUTE, rule.name, rule.loc,
                            f"matched but {assign.kind.value} '{assign.target}' names nobody who can take it{why}; "
                            "next entry"),)
            return None
        if pick.skipped or pick.overflow:
            full = f"team full, overflow to {owner}: " if pick.overflow else "skipped "
            d.notes += (Hit(Section.ROUTE, rule.name, rule.loc, full + pick.why()),)
        current = raw(rec, "owner_id")
        d.owner = d.routed_owner = owner
        d.routed_at, d.route_rule, d.handoff_from = now, i, handoff_from
        d.owner_by, d.owner_given = f"route/{rule.name}", owner
        d.owners = passed_to(d.owners, current, owner)
        rr.workload.moved(current, owner)
        return i

    def _rule_loc(self, rules: tuple[Rule, ...], name: str) -> Location:
        found = next((r.loc for r in rules if r.name == name), None)
        return found or self.ruleset.section_loc(Section.ROUTE) or NOWHERE

    def _handoff(self, rules: tuple[Rule, ...], rec: dict[str, Any], hits: list[int], d: Decision,
                 routed_at: datetime | None, current: Any, ctx: Context, rr: RoundRobin) -> int | None:
        """The route rule a handoff goes to, or None when the record keeps its owner."""
        entered = d.stage_entered_at
        if entered is None or routed_at is None or entered < routed_at:
            return None
        if entered == routed_at and not self._changed_now(rec, d):
            return None  # routed when it entered its stage: nothing to hand off
        now_rule = next((i for i in hits if names_somebody(_assignment(rules[i]), self.teams, rr, rec, raw)), None)
        if now_rule is None:
            return None
        rule = rules[now_rule]
        assign = _assignment(rule)
        mem = d.memory
        if mem is not None and mem.by == f"route/{rule.name}":
            return None
        queue = is_queue(current)
        if mem is None or mem.by is None:
            # Routed before revsync recorded by which rule: only a queue is taken as unowned.
            if not queue:
                return None
            if assign.kind is AssignKind.QUEUE and self._gives(assign.target, current, ctx):
                d.owner_by, d.owner_given = f"route/{rule.name}", str(current).strip()
                return None  # the rule that assigns now is the one that put it in this queue
            return now_rule
        if not queue and not same_owner(current, mem.owner):
            return None  # a person changed the owner revsync gave: people's decisions win
        return now_rule

    @staticmethod
    def _changed_now(rec: dict[str, Any], d: Decision) -> bool:
        """The stage changed in this evaluation: a run at the same instant as the one that
        routed the record (a replay with a fixed --now) still sees the change as after it."""
        before = raw(rec, "previous.stage")
        return before is not None and d.stage is not None and \
            str(before).strip().casefold() != d.stage.strip().casefold()

    @staticmethod
    def _gives(queue: str, current: Any, ctx: Context) -> bool:
        if same_owner(f"queue:{queue}", current):
            return True
        found = ctx.owner_id(f"queue:{queue}") if ctx.owner_id is not None else None
        return found is not None and same_owner(found, current)

    # -- SLA clocks ----------------------------------------------------------------------------
    def sla(self, rules: tuple[Rule, ...], rec: dict[str, Any], i: int, is_met: bool, d: Decision, now: datetime,
            rr: RoundRobin) -> None:
        try:
            self._sla(rules, rec, i, is_met, d, now, rr)
        except (OverflowError, ValueError) as exc:
            # A clock starting within its `within` of year 1 or 9999 (read from the record, so
            # readable) has no deadline a datetime can hold: the record is reported, as one with
            # an unreadable value is, and the batch goes on. Nothing was escalated: that comes last.
            d.sla_due = d.sla_started_at = d.sla_met_at = d.sla_basis = d.sla_status = None
            d.sla_rule, d.clock_started, d.clock_escalated = -1, False, False
            d.problems += (f"sla {rules[i].name!r}: no deadline from the clock's start ({exc}); "
                           "check the record's SLA and routing dates",)

    def _sla(self, rules: tuple[Rule, ...], rec: dict[str, Any], i: int, is_met: bool, d: Decision, now: datetime,
             rr: RoundRobin) -> None:
        rule = rules[i]
        mem = d.memory
        prev_start = self.instant(rec, "previous.sla_started_at", d)
        prev_due = self.instant(rec, "previous.sla_due", d)
        same_entry = mem is not None and mem.sla == rule.name
        legacy = False
        if rule.start_field:
            start, basis = self.instant(rec, rule.start_field, d), rule.start_field
            if start is None:
                why = "cannot be read" if raw(rec, rule.start_field) is not None else "is empty"
                d.notes += (Hit(Section.SLA, rule.name, rule.loc, f"no SLA: {rule.start_field} {why}"),)
                return
            same = same_entry and prev_start == start
        elif prev_start is not None and (same_entry or mem is None and self._written_due(rule, prev_start, prev_due)):
            # A mapping without the memory field still keeps a clock whose written due is this entry's.
            start, basis, same = prev_start, "clock start", True
        else:
            legacy_start, basis, same = self._legacy_start(rec, rule, d, prev_due)
            legacy = same
            if legacy_start is None:  # exactly when not `same`
                start, basis = now, self._why_now(d, now)
                d.clock_started = True
            else:
                start = legacy_start
        due = prev_due if same and prev_due is not None else self._due(rule, start)
        d.sla_due, d.sla_started_at, d.sla_basis, d.sla_rule = due, start, basis, i
        met_at = self._met_at(rec, rule, d, same, is_met, start, now)
        d.sla_met_at = met_at
        if met_at is not None:
            status = "met"
        elif now > due:
            status = "breached"
        elif rule.warn_before is not None and now >= self.at_risk_from(rule, start, due):
            status = "at_risk"
        else:
            status = "pending"
        d.sla_status = status
        previous_status = raw(rec, "previous.sla_status")
        escalated_before = same and ((mem.escalated if mem is not None and not legacy else False)
                                     or (legacy and str(previous_status).strip().casefold() == "breached"))
        d.clock_escalated = escalated_before
        if status != "breached" or not rule.escalate or escalated_before:
            return
        if rule.start_field and raw(rec, "previous.stage") is None and mem is None and \
                raw(rec, "previous.sla_status") is None:
            d.notes += (Hit(Section.SLA, rule.name, rule.escalate.loc,
                            "breached before revsync first decided the record: not escalated"),)
            d.clock_escalated = True  # this clock's breach is history, not news
            return
        current = raw(rec, "owner_id")
        had = {k for k in map(rr.workload.owner_key, (*d.owners, current, d.owner)) if k is not None}
        pick = resolve(rule.escalate, self.teams, rr, rec, raw, lambda m: rr.workload.key(m) in had)
        if pick.skipped:
            d.skipped_members += pick.skipped
        if pick.held is not None:
            d.held_until = pick.held.until  # breached and waiting: escalated when someone can take it
            d.notes += (Hit(Section.SLA, rule.name, rule.escalate.loc, f"breached: escalation {pick.held.reason}"),)
            return
        owner = pick.label
        if owner is None:
            if pick.skipped:
                d.notes += (Hit(Section.SLA, rule.name, rule.escalate.loc,
                                f"breached: nobody to escalate to ({pick.why()})"),)
            return
        d.owner, d.escalated, d.clock_escalated = owner, True, True
        d.routed_at, d.owner_by, d.owner_given = now, f"sla/{rule.name}", owner
        d.owners = passed_to(d.owners, current, owner)
        rr.workload.moved(current if d.routed_owner is None or d.kept_owner else d.routed_owner, owner)
        d.notes += (Hit(Section.SLA, rule.name, rule.escalate.loc, f"breached: escalated to {owner}"),)

    def _legacy_start(self, rec: dict[str, Any], rule: Rule, d: Decision, prev_due: datetime | None
                      ) -> tuple[datetime | None, str, bool]:
        """A clock an earlier version started at `routed_at` keeps running (due as written)
        while the stage and the SLA entry stay the same: the entry is the same when its
        deadline from `routed_at` is the one written."""
        if d.memory is not None or prev_due is None or raw(rec, "previous.sla_started_at") is not None:
            return None, "", False
        before = raw(rec, "previous.stage")
        if self.has_qualify and (before is None or d.stage is None
                                 or str(before).strip().casefold() != d.stage.strip().casefold()):
            return None, "", False
        routed = self.instant(rec, "routed_at", d)
        if routed is None or not self._written_due(rule, routed, prev_due):
            return None, "", False
        return routed, "routed_at", True

    def _written_due(self, rule: Rule, start: datetime, written: datetime | None) -> bool:
        return written is not None and abs((self._due(rule, start) - written).total_seconds()) < 1

    @staticmethod
    def _why_now(d: Decision, now: datetime) -> str:
        if d.stage_entered_at is not None and abs((d.stage_entered_at - now).total_seconds()) < 1e-3:
            return "stage entered"
        if d.routed_at == now:
            return "routed"
        return "entry matched"

    def _met_at(self, rec: dict[str, Any], rule: Rule, d: Decision, same: bool, is_met: bool, start: datetime,
                now: datetime) -> datetime | None:
        if same:
            before = self.instant(rec, "previous.sla_met_at", d)
            if before is not None:
                return before
            if str(raw(rec, "previous.sla_status") or "").strip().casefold() == "met":
                return now  # met before revsync recorded when: it stays met from now
        if not is_met:
            return None
        at = self.instant(rec, rule.met_at_field, d) if rule.met_at_field else None
        if at is None:
            return now
        return min(max(at, start), now)  # a touch before the clock started counts at the start

    def next_sla_change(self, d: Decision) -> datetime | None:
        """When the SLA status may change with time alone: at risk, then breached."""
        if d.sla_due is None or d.sla_status not in ("pending", "at_risk"):
            return None
        rule = self.ruleset.rules(Section.SLA)[d.sla_rule]
        try:
            if d.sla_status == "pending" and rule.warn_before is not None:
                assert d.sla_started_at is not None  # a clock's start is set with its due
                return self.at_risk_from(rule, d.sla_started_at, d.sla_due)
            return d.sla_due + timedelta(seconds=1)
        except (OverflowError, ValueError):  # due in the last second of year 9999: no change to expect
            return None

    def at_risk_from(self, rule: Rule, start: datetime, due: datetime) -> datetime:
        warn = rule.warn_before
        assert warn is not None  # asked only of entries that warn
        if rule.calendar:
            cal = self.calendars[rule.calendar]
            w = _within(rule)
            left = cal._total(w.weeks, w.days, w.minutes) - cal._total(warn.weeks, warn.days, warn.minutes)
            return to_utc(cal.add_minutes(start, max(left, 0)))
        return max(start, due - timedelta(seconds=warn.seconds))

    def _due(self, rule: Rule, start: datetime) -> datetime:
        key = (id(rule), start)  # rules live as long as the evaluator
        due = self._due_cache.get(key)
        if due is None:
            w = _within(rule)
            if rule.calendar:
                due = self.calendars[rule.calendar].add(start, weeks=w.weeks, days=w.days, minutes=w.minutes)
            else:
                due = start + timedelta(seconds=w.seconds)
            due = to_utc(due)
            if len(self._due_cache) > 10_000:
                self._due_cache.clear()
            self._due_cache[key] = due
        return due


def _assignment(rule: Rule) -> Assignment:
    assert rule.assign is not None  # the parser gives every route entry its assignment
    return rule.assign


def _within(rule: Rule) -> Duration:
    assert rule.within is not None  # the parser gives every SLA entry its `within`
    return rule.within
