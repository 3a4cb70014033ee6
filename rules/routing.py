"""Owners: symbolic assignment targets and weighted round robin over teams."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable

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


class RoundRobin:
    """Team positions persist between runs through `positions`, which the caller stores.

    Who is inactive is fixed for a run, so each team's cycle of owner labels and each
    assignment's label are worked out once per run, not once per record."""

    def __init__(self, positions: dict[str, int], inactive: frozenset[str]):
        self.positions = positions
        self.inactive = inactive
        self._cycles: dict[str, tuple[str, ...]] = {}
        self._labels: dict[int, str | None] = {}  # by id(): rule sets outlive the run

    def _cycle(self, team: Team) -> tuple[str, ...]:
        cycle = self._cycles.get(team.name)
        if cycle is None:
            active = tuple((u, w) for u, w in team.members if u.casefold() not in self.inactive)
            cycle = self._cycles[team.name] = tuple(f"team:{team.name}/{u}" for u in wrr_sequence(active)) \
                if active else ()
        return cycle

    def has_members(self, team: Team) -> bool:
        return bool(self._cycle(team))

    def next_label(self, team: Team) -> str | None:
        """The next member's owner label, `team:<team>/<member>`."""
        cycle = self._cycle(team)
        if not cycle:
            return None
        position = self.positions.get(team.name, 0)
        self.positions[team.name] = position + 1
        return cycle[position % len(cycle)]

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
    """Whether `resolve` would give an owner, without taking a round-robin turn."""
    if assign.kind is AssignKind.TEAM:
        return rr.has_members(teams[assign.target])
    if assign.kind is not AssignKind.FIELD:
        return rr.fixed(assign) is not None
    value = raw(record, assign.target)
    return not (value is None or str(value).strip() == "" or str(value).strip().casefold() in rr.inactive)


def resolve(assign: Assignment, teams: dict[str, Team], rr: RoundRobin, record: dict[str, Any],
            raw: RawReader) -> str | None:
    """The symbolic owner an assignment gives, or None when it names nobody who can take it
    (an empty field, an inactive user, a team whose members are all inactive)."""
    kind = assign.kind
    if kind is AssignKind.TEAM:
        return rr.next_label(teams[assign.target])
    if kind is not AssignKind.FIELD:
        return rr.fixed(assign)
    value = raw(record, assign.target)
    if value is None or str(value).strip() == "" or str(value).strip().casefold() in rr.inactive:
        return None
    return f"field:{str(value).strip()}"
