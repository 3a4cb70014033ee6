"""One lead's place in the funnel and its SLA clock, read from what revsync wrote on the record
(its output fields, read back through the mapping) and from the journal where it knows more.

Nothing is re-decided here: the report counts what the syncs decided and wrote, so its numbers
are the org's history, not what today's rules would say.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rules.calendar import BusinessCalendar
from rules.memory import Memory, bare, read_memory
from rules.model import AssignKind, RevsyncError, RuleSet, Section
from rules.values import id18, parse_bool, parse_instant

from connector.report.business_time import business_calendar, business_minutes
from connector.report.journal_read import JournalPast

UNASSIGNED = "(unassigned)"


class ReportError(RevsyncError):
    """The report cannot be made as asked: a person has to change something first (exit 2)."""

    exit_code = 2


def qualified_stages(ruleset: RuleSet) -> tuple[str, ...]:
    """The stages that count as qualified: the rule file's `funnel: {qualified: [...]}`, else a
    stage named MQL if the `qualify` section produces one; else the report cannot guess."""
    if ruleset.qualified_stages:
        return ruleset.qualified_stages
    produced = list(dict.fromkeys(r.value for r in ruleset.rules(Section.QUALIFY) if r.value))
    mql = [s for s in produced if s.strip().casefold() == "mql"]
    if mql:
        return (mql[0],)
    example = ", ".join(produced[:2]) or "SQL"
    raise ReportError(f"{ruleset.file} names no qualified stages and produces no stage named MQL "
                      f"(its stages: {', '.join(produced) or 'none'}); add the key that says which count, "
                      f"e.g. `funnel: {{qualified: [{example}]}}`, and run the report again")


@dataclass(frozen=True)
class Clock:
    """The SLA clock a record carries (its latest): as revsync last wrote it."""

    entry: str | None
    started: datetime | None
    due: datetime | None
    met_at: datetime | None
    met: bool
    escalated: bool

    def outcome(self, now: datetime) -> str:
        """met_on_time, met_late, breached (due passed, not met) or pending, as of `now`."""
        if self.met:
            late = self.met_at is not None and self.due is not None and self.met_at > self.due
            return "met_late" if late else "met_on_time"
        if self.due is not None and now > self.due:  # strictly after, as the SLA status turns
            return "breached"
        return "pending"


@dataclass(frozen=True)
class LeadFacts:
    id: str
    created: datetime | None
    source: str | None
    segment: str | None
    owner: str  # the current owner's username or `queue <Name>`
    team: str | None  # the team whose round robin (or escalation) gave the current owner
    given_to: str | None  # the member that team gave it to, as the rule file names them
    stage: str | None
    qualified: bool
    qualified_at: datetime | None  # when it first entered a qualified stage, where known
    followed_up: bool
    first_touch: datetime | None
    clock: Clock | None
    minutes_to_first_touch: float | None  # business minutes from clock start to met
    converted: bool
    opportunity: str | None  # the converted opportunity's Id
    won: bool
    amount: float | None  # the converted opportunity's amount


def _text(value: Any) -> str | None:
    return None if value is None or not str(value).strip() else str(value).strip()


def _memory(value: Any) -> Memory | None:
    try:
        return read_memory(value)
    except ValueError:  # edited by hand: it tells nothing
        return None


class FactReader:
    """Turns rule records (mapping.inbound of CRM records) into LeadFacts."""

    def __init__(self, ruleset: RuleSet, qualified: tuple[str, ...], names: dict[str, str],
                 opportunities: dict[str, dict], journal: JournalPast):
        self.qualified = {s.strip().casefold() for s in qualified}
        self.names = {id18(k): v for k, v in names.items()}
        self.opportunities = {id18(k): v for k, v in opportunities.items()}
        self.journal = journal
        calendars = {c.name: business_calendar(c) for c in ruleset.calendars}
        self.sla_calendar: dict[str, BusinessCalendar | None] = {
            r.name: calendars.get(r.calendar) if r.calendar else None for r in ruleset.rules(Section.SLA)}
        self.team_of: dict[str, str] = {}  # "route/<rule>" or "sla/<entry>" -> team
        for r in ruleset.rules(Section.ROUTE):
            if r.assign is not None and r.assign.kind is AssignKind.TEAM:
                self.team_of[r.key] = r.assign.target
        for r in ruleset.rules(Section.SLA):
            if r.escalate is not None and r.escalate.kind is AssignKind.TEAM:
                self.team_of[r.key] = r.escalate.target
        self.members: dict[str, dict[str, str]] = {}  # team -> folded username/email/Id -> member
        for team in ruleset.teams:
            self.members[team.name] = {id18(user.strip()).casefold(): user for user, _ in team.members}

    def is_qualified(self, stage: Any) -> bool:
        return stage is not None and str(stage).strip().casefold() in self.qualified

    def facts(self, rec: dict[str, Any]) -> LeadFacts:
        rid = str(rec.get("id") or "")
        stage = _text(rec.get("previous.stage"))
        entered = parse_instant(rec.get("previous.stage_entered_at"))
        past = self.journal.of(rid)
        entries = [(s, at) for s, at in (past.entries if past else []) if self.is_qualified(s)]
        if self.is_qualified(stage):
            entries.append((stage or "", entered))
        qualified = bool(entries) or self.is_qualified(rec.get("previous.previous_stage"))
        known = [at for _, at in entries if at is not None]
        qualified_at = min(known) if known else None

        memory = _memory(rec.get("previous.lifecycle"))
        clock = self._clock(rec, memory)
        touches = list(past.met_at) if past else []
        if clock is not None and clock.met_at is not None:
            touches.append(clock.met_at)
        after = [t for t in touches if qualified_at is None or t >= qualified_at]
        first_touch = min(after) if after else None
        converted = parse_bool(rec.get("converted")) is True
        activity = parse_instant(rec.get("last_activity_at"))
        # A date, not an instant: activity logged on the day it qualified counts.
        active_since = activity is not None and qualified_at is not None and activity.date() >= qualified_at.date()
        followed_up = qualified and (first_touch is not None or converted or active_since)
        minutes = None
        if clock is not None and clock.met and clock.started is not None and clock.met_at is not None:
            minutes = business_minutes(self.sla_calendar.get(clock.entry or ""), clock.started, clock.met_at)

        opp_id = _text(rec.get("converted_opportunity_id")) if converted else None
        opp = self.opportunities.get(id18(opp_id)) if opp_id else None
        amount = _number(opp.get("Amount")) if opp else None
        owner_id = _text(rec.get("owner_id"))
        team = self.team_of.get(memory.by or "") if memory is not None else None
        given_to = None
        if team is not None and memory is not None and memory.owner:
            given = self.names.get(id18(memory.owner), bare(memory.owner))
            given_to = self.members.get(team, {}).get(id18(given.strip()).casefold(), given)
        return LeadFacts(
            id=rid, created=parse_instant(rec.get("created_at")), source=_text(rec.get("lead_source")),
            segment=_text(rec.get("previous.segment")),
            owner=self.names.get(id18(owner_id), owner_id) if owner_id else UNASSIGNED,
            team=team, given_to=given_to, stage=stage, qualified=qualified, qualified_at=qualified_at,
            followed_up=followed_up, first_touch=first_touch, clock=clock, minutes_to_first_touch=minutes,
            converted=converted, opportunity=id18(opp_id) if opp_id else None,
            won=opp is not None and parse_bool(opp.get("IsWon")) is True, amount=amount)

    def _clock(self, rec: dict[str, Any], memory: Memory | None) -> Clock | None:
        started = parse_instant(rec.get("previous.sla_started_at"))
        due = parse_instant(rec.get("previous.sla_due"))
        if started is None and due is None:
            return None
        met_at = parse_instant(rec.get("previous.sla_met_at"))
        status = (_text(rec.get("previous.sla_status")) or "").casefold()
        return Clock(entry=memory.sla if memory else None, started=started, due=due, met_at=met_at,
                     met=met_at is not None or status == "met",
                     escalated=bool(memory and memory.escalated))


def _number(value: Any) -> float | None:
    try:
        return float(value) if value is not None and str(value).strip() else None
    except ValueError:
        return None
