"""Calendars and teams: the definitions a rule file's SLA entries and assignments name.

A mixin of the rule file parser (rules/parse.py): it reports problems through the parser's
`err` and `unknown_keys`, and remembers definitions that had problems so that entries using
them are not also reported as naming something unknown.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING

from .calendar import WEEKDAYS, supported_holiday_countries
from .suggest import did_you_mean
from .model import Calendar, Location, Severity, Team
from .source import Node

TEAM_KEYS = ("members", "description", "calendar", "max_open", "max_per_day", "when_full")
# Hours are written "HH:MM" with leading zeros (the calendar itself also reads 9:00).
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@lru_cache(maxsize=1)
def _timezones() -> frozenset[str]:
    import zoneinfo
    return frozenset(zoneinfo.available_timezones())




class DefinitionsParser:
    broken_calendars: set[str]
    broken_teams: set[str]

    if TYPE_CHECKING:  # the rule file parser's (rules/parse.py), which this class is mixed into
        def err(self, code: str, message: str, loc: Location, fix: str = "",
                severity: Severity = Severity.ERROR) -> None: ...

        def unknown_keys(self, node: Node, allowed: tuple[str, ...], where: str) -> None: ...

    # -- calendars and teams ----------------------------------------------------------
    def calendars(self, node: Node | None) -> dict[str, Calendar]:
        out: dict[str, Calendar] = {}
        if node is None:
            return out
        if not node.is_map:
            self.err("E102", "`calendars` must map names to calendars", node.loc)
            return out
        for name, cal in node.items():
            parsed = self.calendar(name, cal)
            if parsed is not None:
                out[name] = parsed
            else:
                self.broken_calendars.add(name)
        return out

    def calendar(self, name: str, node: Node) -> Calendar | None:
        if not node.is_map:
            self.err("E102", f"calendar '{name}' must be a mapping", node.loc)
            return None
        self.unknown_keys(node, ("timezone", "days", "hours", "holidays"), "a calendar")
        ok = True
        tz = node.get("timezone")
        if tz is None or str(tz.value) not in _timezones():
            shown = tz.value if tz is not None else None
            self.err("E115", f"unknown time zone {shown!r}" if tz else "calendar without `timezone:`",
                     (tz or node).loc, did_you_mean(str(shown), _timezones()) or
                     "use an IANA name such as America/New_York or Europe/Berlin")
            ok = False
        days_node = node.get("days")
        days: list[int] = []
        items = days_node.value if days_node is not None and days_node.is_seq else None
        if not items:
            self.err("E112", "calendar needs `days:` as a list such as [mon, tue, wed, thu, fri]",
                     (days_node or node).loc)
            ok = False
        for item in items or []:
            day = str(item.value).strip().lower()[:3]
            if day not in WEEKDAYS:
                self.err("E112", f"unknown day {item.value!r}", item.loc, "use mon, tue, wed, thu, fri, sat, sun")
                ok = False
            elif WEEKDAYS.index(day) not in days:
                days.append(WEEKDAYS.index(day))
        hours = node.get("hours")
        hv = [str(h.value) for h in hours.value] if hours is not None and hours.is_seq else []
        if len(hv) != 2 or not all(HHMM.match(h) for h in hv) or hv[0] >= hv[1]:
            self.err("E112", "calendar `hours` must be [\"HH:MM\", \"HH:MM\"], opening before closing",
                     (hours or node).loc, 'e.g. hours: ["09:00", "17:00"] (quote them)')
            ok = False
        hol = node.get("holidays")
        holidays = None
        if hol is not None:
            holidays = str(hol.value).strip()
            country, _, subdiv = holidays.partition("-")
            supported = supported_holiday_countries()
            if country.upper() not in supported:
                self.err("E123", f"unknown holiday country '{holidays}'", hol.loc,
                         did_you_mean(country.upper(), supported) or "use an ISO 3166 code such as US, GB, DE")
                ok = False
            elif subdiv and subdiv.upper() not in {s.upper() for s in supported[country.upper()]}:
                self.err("E123", f"unknown subdivision '{subdiv}' of {country}", hol.loc,
                         "known: " + ", ".join(supported[country.upper()][:20]))
                ok = False
        if not ok or tz is None:  # no `timezone:` made `ok` false
            return None
        return Calendar(name, str(tz.value), tuple(sorted(days)), hv[0], hv[1], holidays, node.loc)

    def teams(self, node: Node | None, calendars: dict[str, Calendar]) -> dict[str, Team]:
        out: dict[str, Team] = {}
        if node is None:
            return out
        if not node.is_map:
            self.err("E102", "`teams` must map names to teams", node.loc)
            return out
        for name, team in node.items():
            members_node = team.get("members") if team.is_map else None
            if team.is_map:
                self.unknown_keys(team, TEAM_KEYS, "a team")
            if members_node is None or not members_node.is_seq or not members_node.value:
                self.err("E122", f"team '{name}' needs a list of `members:`", team.loc,
                         "e.g. members: [alice@acme.example, {user: bob@acme.example, weight: 2}]")
                self.broken_teams.add(name)
                continue
            defaults = (self.cap(team.get("max_open"), "max_open"), self.cap(team.get("max_per_day"), "max_per_day"))
            ok = not any(c is False for c in defaults)
            calendar = self.team_calendar(team.get("calendar"), calendars)
            when_full, overflow = self.when_full(team.get("when_full"))
            ok = ok and calendar is not False and when_full is not None
            members, caps = [], []
            for m in members_node.value:
                member = self.member(m, defaults)
                if member is not None:
                    members.append(member[0])
                    caps.append(member[1])
            if ok and len(members) == len(members_node.value):
                out[name] = Team(name, tuple(members), team.loc, calendar if isinstance(calendar, str) and calendar else None,
                                 tuple(caps), when_full or "next", overflow)
                self.never_takes(out[name], team)
            else:
                self.broken_teams.add(name)
        return out

    def cap(self, node: Node | None, key: str) -> int | None | bool:
        """A cap's value; False when it is not a whole number of at least 0 (reported)."""
        if node is None:
            return None
        v = node.value
        if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 1_000_000:
            self.err("E126", f"{key} must be a whole number from 0 to 1,000,000, got {node.plain()!r}", node.loc,
                     f"e.g. {key}: {50 if key == 'max_open' else 15}")
            return False
        return v

    def team_calendar(self, node: Node | None, calendars: dict[str, Calendar]) -> str | bool:
        if node is None:
            return ""
        text = str(node.value).strip() if isinstance(node.value, str) else ""
        if text in calendars:
            return text
        if text not in self.broken_calendars:
            self.err("E117", f"unknown calendar {node.plain()!r}", node.loc,
                     did_you_mean(text, calendars) or "define it under `calendars:`")
        return False

    def when_full(self, node: Node | None) -> tuple[str | None, str | None]:
        """(next | hold | queue, the overflow queue); (None, None) when it is wrong (reported)."""
        if node is None:
            return "next", None
        if isinstance(node.value, str) and node.value.strip() in ("next", "hold"):
            return node.value.strip(), None
        if node.is_map:
            self.unknown_keys(node, ("queue",), "`when_full`")
            queue = node.get("queue")
            if queue is not None and isinstance(queue.value, str) and queue.value.strip():
                return "queue", queue.value.strip()
        self.err("E126", f"when_full must be next, hold or {{queue: <name>}}, got {node.plain()!r}", node.loc,
                 did_you_mean(str(node.plain()), ("next", "hold")) or "e.g. when_full: {queue: Overflow}")
        return None, None

    def never_takes(self, team: Team, node: Node) -> None:
        """A team whose every member is capped at 0 takes nothing; with nowhere else to go
        (`when_full: next` falls through, `hold` holds forever), that is a mistake."""
        if team.when_full == "queue" or not all(0 in caps for caps in team.caps):
            return
        where = node.get("max_open") or node.get("max_per_day") or node
        self.err("E127", f"team '{team.name}' takes no record: every member has a cap of 0", where.loc,
                 "raise the cap, or send full records somewhere: when_full: {queue: Overflow}")

    def member(self, node: Node, defaults: tuple[int | None | bool, int | None | bool]
               ) -> tuple[tuple[str, int], tuple[int | None, int | None]] | None:
        # A cap is an int, None (none) or False (reported): `type` tells 0 from False.
        team_open = defaults[0] if type(defaults[0]) is int else None
        team_day = defaults[1] if type(defaults[1]) is int else None
        if node.is_scalar and isinstance(node.value, str) and node.value.strip():
            return (node.value.strip(), 1), (team_open, team_day)
        if node.is_map:
            self.unknown_keys(node, ("user", "weight", "max_open", "max_per_day"), "a team member")
            user, weight = node.get("user"), node.get("weight")
            w = 1 if weight is None else weight.value
            max_open, max_day = self.cap(node.get("max_open"), "max_open"), self.cap(node.get("max_per_day"),
                                                                                      "max_per_day")
            if user is None or not isinstance(user.value, str):
                self.err("E122", "team member needs `user:`", node.loc)
            elif isinstance(w, bool) or not isinstance(w, int) or w < 1:
                self.err("E112", f"weight must be a whole number of at least 1, got {w!r}",
                         weight.loc if weight else node.loc)
            elif max_open is not False and max_day is not False:
                return (user.value.strip(), w), (team_open if max_open is None else int(max_open),
                                                  team_day if max_day is None else int(max_day))
            return None
        self.err("E112", "team member must be a user name or {user: ..., weight: N}", node.loc)
        return None
