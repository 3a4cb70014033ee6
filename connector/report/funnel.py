"""The funnel and SLA counts of a set of leads: in total, per group, per owner, per team member
and per week. Pure: LeadFacts in, plain dicts out (the JSON the report prints)."""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterable

from rules.model import RuleSet

from connector.report.facts import LeadFacts

BY = ("source", "segment", "owner", "team", "week")
OUTCOMES = ("met_on_time", "met_late", "breached", "pending")


def week_of(instant: datetime) -> str:
    """The ISO week, `2026-W48`: weeks start on Monday, and the strings sort in time order."""
    iso = instant.isocalendar()
    return f"{iso.year}-W{iso.week:02d}"


def group_key(f: LeadFacts, by: str) -> str:
    if by == "source":
        return f.source or "(none)"
    if by == "segment":
        return f.segment or "(none)"
    if by == "owner":
        return f.owner
    if by == "team":
        return f.team or "(no team)"
    if by == "week":
        return week_of(f.created) if f.created else "(unknown)"
    raise ValueError(f"unknown grouping {by!r}; use one of {', '.join(BY)}")


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def p90(values: list[float]) -> float | None:
    """Nearest rank: the smallest value with at least 90% of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _minutes(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass
class Tally:
    leads: int = 0
    mql: int = 0
    followed_up: int = 0
    converted: int = 0
    mql_converted: int = 0
    opportunities: int = 0
    won: int = 0
    won_amount: float = 0.0
    clocks: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    escalated: int = 0
    minutes: list[float] = field(default_factory=list)
    _opportunities: set[str] = field(default_factory=set)

    def add(self, f: LeadFacts, now: datetime) -> None:
        self.leads += 1
        self.mql += f.qualified
        self.followed_up += f.followed_up
        self.converted += f.converted
        self.mql_converted += f.qualified and f.converted
        # Two leads converted into one opportunity bring its amount once.
        if f.opportunity and f.opportunity not in self._opportunities:
            self._opportunities.add(f.opportunity)
            self.opportunities += 1
            if f.won:
                self.won += 1
                self.won_amount += f.amount or 0.0
        if f.clock is not None:
            self.clocks += 1
            self.outcomes[f.clock.outcome(now)] += 1
            self.escalated += f.clock.escalated
        if f.minutes_to_first_touch is not None:
            self.minutes.append(f.minutes_to_first_touch)

    @property
    def decided(self) -> int:
        """Clocks whose outcome is known: met, on time or late, or breached."""
        return self.outcomes["met_on_time"] + self.outcomes["met_late"] + self.outcomes["breached"]

    def funnel(self) -> dict:
        return {"leads": self.leads, "mql": self.mql, "followed_up": self.followed_up,
                "follow_up_rate": rate(self.followed_up, self.mql), "converted": self.converted,
                "mql_converted": self.mql_converted,
                "opportunities": self.opportunities, "won": self.won, "won_amount": round(self.won_amount, 2)}

    def sla(self) -> dict:
        return {"clocks": self.clocks, **self.outcomes, "escalated": self.escalated,
                "compliance": rate(self.outcomes["met_on_time"], self.decided),
                "median_minutes_to_first_touch": _minutes(statistics.median(self.minutes) if self.minutes else None),
                "p90_minutes_to_first_touch": _minutes(p90(self.minutes))}


def funnel_report(facts: Iterable[LeadFacts], ruleset: RuleSet, now: datetime, by: str | None) -> dict:
    """Totals, groups (`by`), owners, team shares and SLA by week, as the report's JSON."""
    total = Tally()
    groups: dict[str, Tally] = defaultdict(Tally)
    owners: dict[str, Tally] = defaultdict(Tally)
    load: dict[str, int] = defaultdict(int)
    weeks: dict[str, Tally] = defaultdict(Tally)
    given: dict[tuple[str, str], int] = defaultdict(int)
    for f in facts:
        total.add(f, now)
        if by is not None:
            groups[group_key(f, by)].add(f, now)
        if f.qualified:
            owners[f.owner].add(f, now)
            load[f.owner] += not f.converted
        if f.clock is not None and f.clock.started is not None:
            weeks[week_of(f.clock.started)].add(f, now)
        if f.team is not None and f.given_to is not None:
            given[(f.team, f.given_to)] += 1
    return {
        "funnel": total.funnel(),
        "sla": total.sla(),
        "groups": [{"group": key, "funnel": t.funnel(), "sla": t.sla()} for key, t in sorted(groups.items())],
        "owners": [{"owner": name, "mql": t.mql, "load": load[name], "followed_up": t.followed_up,
                    "follow_up_rate": rate(t.followed_up, t.mql), **_owner_sla(t.sla())}
                   for name, t in sorted(owners.items(), key=lambda kv: (-load[kv[0]], kv[0]))],
        "teams": team_shares(ruleset, given),
        "weeks": [{"week": key, **_week_sla(t.sla())} for key, t in sorted(weeks.items())],
    }


def _owner_sla(sla: dict) -> dict:
    return {k: sla[k] for k in ("clocks", *OUTCOMES, "escalated", "compliance", "median_minutes_to_first_touch")}


def _week_sla(sla: dict) -> dict:
    return {k: sla[k] for k in ("clocks", *OUTCOMES, "escalated", "compliance")}


def team_shares(ruleset: RuleSet, given: dict[tuple[str, str], int]) -> list[dict]:
    """Per team of the rule file, each member's promised share (weight over the team's weights)
    against the share of the team's records revsync gave them."""
    out = []
    for team in ruleset.teams:
        weights = sum(w for _, w in team.members) or 1
        got = sum(n for (t, _), n in given.items() if t == team.name)
        members = [{"member": user, "weight": weight, "promised_share": round(weight / weights, 4),
                    "records": given.get((team.name, user), 0), "share": rate(given.get((team.name, user), 0), got)}
                   for user, weight in team.members]
        # Someone the team no longer lists who still holds records it gave them.
        listed = {user for user, _ in team.members}
        members += [{"member": user, "weight": 0, "promised_share": 0.0, "records": n, "share": rate(n, got)}
                    for (t, user), n in sorted(given.items()) if t == team.name and user not in listed]
        out.append({"team": team.name, "records": got, "members": members})
    return out
