"""Owners: symbolic assignment targets and weighted round robin over teams."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from .capacity import Held, Workload
from .model import Assignment, AssignKind, Team

# How a record's value is read by field name (Preparer.raw): nested related records included.
RawReader = Callable[[dict[str, Any], str], Any]


@lru_cache(maxsize=256)
def wrr_sequence(members: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    """One full cycle of smooth weighted round robin: each member appears `weight` times,
    spread out (weights 1 and 2 give b, a, b), so any whole cycle is exact."""
    total = sum(w for _, w in members)
    current = [0] * len(members)
    out = []
    for _ in range(total):
        for i, (_, w) in enumerate(members):
            current[i] += w
        best = max(range(len(members)), key=lambda i: (current[i], -i))
        current[best] -= total
        out.append(members[best][0])
    return tuple(out)


def owner_label(owner_id: Any) -> str | None:
    """The symbolic form of an owner a record already has."""
    if owner_id is None or str(owner_id).strip() == "":
        return None
    text = str(owner_id).strip()
    return f"queue:{text}" if text.startswith("00G") else f"user:{text}"


@dataclass(frozen=True)
class Pick:
    """What a team gives a record: a member's label (or the overflow queue's), or nobody, with
    the members skipped and why, and whether the record is held rather than passed on."""

    label: str | None
    skipped: tuple[tuple[str, str], ...] = ()
    held: Held | None = None
    overflow: bool = False

    def why(self) -> str:
        return "; ".join(f"{m}: {r}" for m, r in self.skipped)


class RoundRobin:
    """Team positions persist between runs through `positions`, which the caller stores.

    A team's cycle is one smooth weighted round robin over all its members; a position walks
    it, and a member who cannot take the record (RULES.md, Capacity and availability) is
    passed over: their slot is spent, so they keep their place and are owed nothing, and the
    shares among those who can take records stay exact. Fixed assignments' labels are worked
    out once per run (who is inactive is fixed for a run)."""

    def __init__(self, positions: dict[str, int], inactive: frozenset[str], workload: Workload):
        self.positions = positions
        self.inactive = inactive
        self.workload = workload
        self._cycles: dict[str, tuple[int, ...]] = {}
        self._labels: dict[int, str | None] = {}  # by id(): rule sets outlive the run
        self._picks: dict[int, Pick] = {}
        # Per team, when nobody on it can be passed over this run (no hours, no caps, nobody
        # inactive, paused or away): each member's Pick, and the walk is one step.
        self._open_picks: dict[str, tuple[Pick, ...] | None] = {}

    def _cycle(self, team: Team) -> tuple[int, ...]:
        cycle = self._cycles.get(team.name)
        if cycle is None:
            index = {u: i for i, (u, _) in enumerate(team.members)}
            cycle = self._cycles[team.name] = tuple(index[u] for u in wrr_sequence(team.members))
        return cycle

    def pick(self, team: Team, owned: Callable[[str], bool] | None = None, take: bool = True) -> Pick:
        """The next member who can take a record (and has not owned it, for an escalation).
        With `take`, the turn is used; without, nothing changes (to ask whether it would)."""
        cycle = self._cycle(team)
        position = self.positions.get(team.name, 0)
        if owned is None:
            picks = self._everyone(team)
            if picks is not None:
                if take:
                    self.positions[team.name] = position + 1
                return picks[cycle[position % len(cycle)]]
        closed = self.workload.closed(team)
        if closed is not None:
            return Pick(None, held=closed)
        skipped: dict[str, str] = {}
        for step in range(len(cycle)):
            i = cycle[(position + step) % len(cycle)]
            member = team.members[i][0]
            if member in skipped:
                continue
            why = self.workload.why_not(team, i)
            if why is None and owned is not None and owned(member):
                why = "owned it before"
            if why is None:
                if take:
                    self.positions[team.name] = position + step + 1
                return Pick(f"team:{team.name}/{member}", tuple(skipped.items()))
            skipped[member] = why
        gone = tuple(skipped.items())
        if team.when_full == "queue":
            return Pick(f"queue:{team.overflow}", gone, overflow=True)
        if team.when_full == "hold":
            why = "; ".join(f"{m}: {r}" for m, r in gone)
            return Pick(None, gone, Held(f"team {team.name} is full ({why}): held", self.workload.now))
        return Pick(None, gone)

    def _everyone(self, team: Team) -> tuple[Pick, ...] | None:
        if team.name not in self._open_picks:
            w = self.workload
            free = not team.calendar and not any(c is not None for caps in team.caps for c in caps) and \
                all(w.why_not(team, i) is None for i in range(len(team.members)))
            self._open_picks[team.name] = tuple(Pick(f"team:{team.name}/{u}") for u, _ in team.members) \
                if free else None
        return self._open_picks[team.name]

    def fixed_pick(self, assign: Assignment) -> Pick:
        """`fixed` as a Pick, made once per run: most records are routed to a queue or a user."""
        found = self._picks.get(id(assign))
        if found is None:
            found = self._picks[id(assign)] = Pick(self.fixed(assign))
        return found

    def fixed(self, assign: Assignment) -> str | None:
        try:
            return self._labels[id(assign)]
        except KeyError:
            if assign.kind is AssignKind.USER:
                label = None if assign.target.casefold() in self.inactive else f"user:{assign.target}"
            else:
                label = f"queue:{assign.target}"
            self._labels[id(assign)] = label
            return label


def names_somebody(assign: Assignment, teams: dict[str, Team], rr: RoundRobin, record: dict[str, Any],
                   raw: RawReader) -> bool:
    """Whether `resolve` would give an owner or hold the record, without taking a turn."""
    if assign.kind is AssignKind.TEAM:
        pick = rr.pick(teams[assign.target], take=False)
        return pick.label is not None or pick.held is not None
    if assign.kind is not AssignKind.FIELD:
        return rr.fixed(assign) is not None
    value = raw(record, assign.target)
    return not (value is None or str(value).strip() == "" or str(value).strip().casefold() in rr.inactive)


def resolve(assign: Assignment, teams: dict[str, Team], rr: RoundRobin, record: dict[str, Any],
            raw: RawReader, owned: Callable[[str], bool] | None = None) -> Pick:
    """What an assignment gives: an owner, or nobody who can take it (an empty field, an
    inactive user, a team with no eligible member and nowhere to overflow), or a hold."""
    kind = assign.kind
    if kind is AssignKind.TEAM:
        return rr.pick(teams[assign.target], owned)
    if kind is not AssignKind.FIELD:
        return rr.fixed_pick(assign)
    value = raw(record, assign.target)
    if value is None or str(value).strip() == "" or str(value).strip().casefold() in rr.inactive:
        return Pick(None)
    return Pick(f"field:{str(value).strip()}")
