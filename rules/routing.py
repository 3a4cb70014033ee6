"""Owners: symbolic assignment targets and weighted round robin over teams."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from .model import Assignment, AssignKind, Team


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
    """Team positions persist between runs through `positions`, which the caller stores."""

    def __init__(self, positions: dict[str, int], inactive: frozenset[str]):
        self.positions = positions
        self.inactive = inactive

    def next(self, team: Team) -> str | None:
        active = tuple((u, w) for u, w in team.members if u.casefold() not in self.inactive)
        if not active:
            return None
        cycle = wrr_sequence(active)
        position = self.positions.get(team.name, 0)
        self.positions[team.name] = position + 1
        return cycle[position % len(cycle)]


def resolve(assign: Assignment, teams: dict[str, Team], rr: RoundRobin, record: dict, raw) -> str | None:
    """The symbolic owner an assignment gives, or None when it names nobody who can take it
    (an empty field, an inactive user, a team whose members are all inactive)."""
    if assign.kind is AssignKind.USER:
        return None if assign.target.casefold() in rr.inactive else f"user:{assign.target}"
    if assign.kind is AssignKind.QUEUE:
        return f"queue:{assign.target}"
    if assign.kind is AssignKind.TEAM:
        member = rr.next(teams[assign.target])
        return f"team:{assign.target}/{member}" if member else None
    value = raw(record, assign.target)
    if value is None or str(value).strip() == "" or str(value).strip().casefold() in rr.inactive:
        return None
    return f"field:{str(value).strip()}"
