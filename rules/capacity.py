"""Who on a team can take a record now, and why the others cannot (RULES.md, Capacity and
availability): active, not paused, not out of office on the evaluation date in the team's time
zone, under `max_open` and `max_per_day`, and the team's calendar open.

Counts start from what the org and the state say (a sync) or from nothing (offline), and grow
with what this evaluation routes: the ledger lives on the Context, so it spans a run's batches.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from .availability import absent
from .memory import bare, same_owner
from .model import AssignKind, Decision, Rule, RuleSet, Team

if TYPE_CHECKING:
    from .calendar import BusinessCalendar
    from .evaluate import Context


def kind_of(reason: str) -> str:
    """A reason `Workload.why_not` gives, without its numbers and dates, for counting: "40/40 open"
    -> "max_open", "out of office 2026-11-23..2026-11-27" -> "out of office"."""
    if reason.endswith(" open"):
        return "max_open"
    if reason.endswith(" today"):
        return "max_per_day"
    return reason.split(" 2")[0]


@dataclass
class Ledger:
    """What this evaluation routed, by owner key: open records gained (less those moved away)
    and records given. Kept on the Context so that every batch of a run adds to it."""

    opened: dict[str, int] = field(default_factory=dict)
    given: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Held:
    """A record no member can take now: why, and when it is worth trying again."""

    reason: str
    until: datetime


class Workload:
    def __init__(self, ruleset: RuleSet, calendars: dict[str, BusinessCalendar], ctx: Context, now: datetime):
        self.ruleset, self.calendars, self.ctx, self.now = ruleset, calendars, ctx, now
        self.ledger: Ledger = ctx.ledger
        self._keys: dict[str, str] = {}
        self._days: dict[str, tuple[date, datetime]] = {}
        self._static: dict[tuple[str, str], str | None] = {}
        self._since: dict[tuple[str, datetime], int] = {}
        # Without caps there is nothing to count: the ledger is not kept (every assignment would pay for it).
        self.capped = any(cap is not None for team in ruleset.teams for caps in team.caps for cap in caps)

    # -- who is who ------------------------------------------------------------------------
    def key(self, member: str) -> str:
        """One key per person: the Id a sync writes (15 characters), or the folded name offline."""
        found = self._keys.get(member)
        if found is None:
            oid = self.ctx.owner_id(f"user:{member}") if self.ctx.owner_id is not None else None
            found = self._keys[member] = oid[:15] if oid else member.strip().casefold()
        return found

    def owner_key(self, owner: Any) -> str | None:
        """The key of a record's current owner: an Id (a sync) or a label or name (offline)."""
        if owner is None or not str(owner).strip():
            return None
        text = str(owner).strip()
        if ":" in text:
            return self.key(bare(text))
        if len(text) in (15, 18) and text.isalnum() and text[:3].isdigit():
            return text[:15]
        return self.key(text)

    # -- time --------------------------------------------------------------------------------
    def zone(self, team: Team | None) -> str:
        if team is not None and team.calendar and team.calendar in self.calendars:
            return self.calendars[team.calendar].timezone
        return "UTC"

    def day(self, team: Team | None) -> tuple[date, datetime]:
        """The evaluation date in the team's time zone, and its midnight as a UTC instant."""
        tz = self.zone(team)
        found = self._days.get(tz)
        if found is None:
            zone = timezone.utc if tz == "UTC" else ZoneInfo(tz)
            local = self.now.astimezone(zone)
            midnight = datetime.combine(local.date(), time(0), zone).astimezone(timezone.utc)
            found = self._days[tz] = (local.date(), midnight)
        return found

    def closed(self, team: Team) -> Held | None:
        """Outside the team calendar's working hours nobody on the team is eligible."""
        if not team.calendar or team.calendar not in self.calendars:
            return None
        cal = self.calendars[team.calendar]
        if cal.is_open(self.now):
            return None
        opening = cal.next_opening(self.now)
        return Held(f"outside {team.calendar} working hours: held until {opening:%Y-%m-%d %H:%M} UTC", opening)

    # -- eligibility -------------------------------------------------------------------------
    def why_not(self, team: Team, index: int) -> str | None:
        """Why member `index` cannot take a new record now, or None when they can."""
        member = team.members[index][0]
        static = self._static_reason(team, member)
        if static is not None:
            return static
        max_open, max_day = team.limits(index)
        if max_open is None and max_day is None:
            return None
        key = self.key(member)
        if max_open is not None:
            counts = self.ctx.open_counts
            n = (counts.get(key, 0) if counts is not None else 0) + self.ledger.opened.get(key, 0)
            if n >= max_open:
                return f"{n}/{max_open} open"
        if max_day is not None:
            n = self._given_today(team, key) + self.ledger.given.get(key, 0)
            if n >= max_day:
                return f"{n}/{max_day} today"
        return None

    def _static_reason(self, team: Team, member: str) -> str | None:
        """Inactive, paused or out of office: fixed for the run (by the team's date)."""
        cache_key = (team.name, member)
        if cache_key not in self._static:
            folded = member.strip().casefold()
            reason = None
            if folded in self.ctx.inactive:
                reason = "inactive"
            elif folded in self.ctx.paused or self.key(member).casefold() in self.ctx.paused:
                reason = "paused"
            else:
                gone = absent(self.ruleset.availability, member, self.day(team)[0])
                if gone is not None:
                    reason = f"out of office {gone.first}..{gone.last}"
            self._static[cache_key] = reason
        return self._static[cache_key]

    def _given_today(self, team: Team, key: str) -> int:
        if self.ctx.given_since is None:
            return 0
        since = self.day(team)[1]
        found = self._since.get((key, since))
        if found is None:
            found = self._since[(key, since)] = self.ctx.given_since(key, since)
        return found

    def away(self, owner: Any, team: Team | None) -> str | None:
        """Why a current owner takes nothing new (paused or out of office), or None."""
        text = str(owner).strip().casefold() if owner is not None else ""
        if text in self.ctx.paused or (text[:15] in self.ctx.paused and len(text) == 18):
            return "paused"
        key = self.owner_key(owner)
        if key is None:
            return None
        day = self.day(team)[0]
        for a in self.ruleset.availability.out_of_office:
            if a.first <= day <= a.last and self.key(a.user) == key:
                return f"out of office {a.first}..{a.last}"
        return None

    def owner_away(self, rules: tuple[Rule, ...], teams: dict[str, Team], current: Any, sla_status: Any,
                   d: Decision) -> tuple[str, str] | None:
        """(the route rule that gave the owner, why they are away) when an owner revsync gave is
        paused or out of office while the record's SLA clock is pending; else None. Caps and
        working hours never move a record a person already has."""
        given, mem = d.owner_given, d.memory
        if given is None or mem is None or not same_owner(current, given) or \
                not (mem.by or "").startswith(("route/", "sla/")):
            return None
        if str(sla_status or "").strip().casefold() not in ("pending", "at_risk"):
            return None
        # An owner an escalation gave goes back to routing: the first route rule that names someone.
        rule_name = (mem.by or "")[len("route/"):] if (mem.by or "").startswith("route/") else ""
        rule = next((r for r in rules if r.name == rule_name), None)
        assign = rule.assign if rule is not None else None
        team = teams.get(assign.target) if assign is not None and assign.kind is AssignKind.TEAM else None
        why = self.away(current, team)
        return None if why is None else (rule_name, why)

    # -- the ledger -----------------------------------------------------------------------
    def moved(self, from_owner: Any, to_owner: str | None) -> None:
        """A record revsync passes from one owner to another in this evaluation."""
        if to_owner is None or not self.capped:
            return
        if to_owner.startswith(("team:", "user:", "field:")) or ":" not in to_owner:
            key = self.owner_key(to_owner)
            if key is not None:
                self.ledger.opened[key] = self.ledger.opened.get(key, 0) + 1
                self.ledger.given[key] = self.ledger.given.get(key, 0) + 1
        # Offline nobody's open records are counted, so only what this evaluation gave is taken back.
        before = self.owner_key(from_owner)
        if before is not None and (self.ctx.open_counts is not None or before in self.ledger.opened):
            self.ledger.opened[before] = self.ledger.opened.get(before, 0) - 1
