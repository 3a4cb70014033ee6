"""Decisions -> the CRM values they mean, and only the fields whose value changes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from rules.lifecycle import memory_of
from rules.model import Decision, RuleSet, Section
from rules.values import id18, parse_bool, parse_instant, to_utc

# Which section produces which output: an absent section writes nothing.
OUTPUT_SECTION = {
    "segment": Section.SEGMENT, "score": Section.SCORE, "grade": Section.SCORE,
    "stage": Section.QUALIFY, "previous_stage": Section.QUALIFY, "stage_entered_at": Section.QUALIFY,
    "owner": Section.ROUTE, "routed_at": Section.ROUTE,
    "sla_due": Section.SLA, "sla_status": Section.SLA, "sla_started_at": Section.SLA, "sla_met_at": Section.SLA,
}


class UnknownOwner(ValueError):
    """A decision names an owner the org does not have (or who is inactive)."""


@dataclass(frozen=True)
class Principal:
    id: str
    kind: str  # "user" | "queue"
    active: bool = True


class Directory:
    """Users and queues by every name an admin may write: Id (15 or 18), username, email, name."""

    def __init__(self, users: Iterable[dict[str, Any]] = (), queues: Iterable[dict[str, Any]] = ()):
        self.users: dict[str, Principal] = {}
        self.queues: dict[str, Principal] = {}
        for u in users:
            # Only a user known to be inactive is taken out of routing: a missing flag is no evidence.
            p = Principal(u["Id"], "user", parse_bool(u.get("IsActive")) is not False)
            for key in ("Id", "Username", "Email", "Name"):
                if u.get(key):
                    self.users.setdefault(str(u[key]).strip().casefold(), p)
            self.users[u["Id"][:15].casefold()] = p
        for q in queues:
            p = Principal(q["Id"], "queue")
            for key in ("Id", "Name", "DeveloperName"):
                if q.get(key):
                    self.queues.setdefault(str(q[key]).strip().casefold(), p)
            self.queues[q["Id"][:15].casefold()] = p

    def inactive(self) -> frozenset[str]:
        """Every name of every inactive user, folded, for round robin and stickiness."""
        return frozenset(k for k, p in self.users.items() if not p.active)

    def resolve(self, owner: str) -> Principal:
        kind, _, name = owner.partition(":")
        key = name.strip().casefold()
        if kind == "team":
            key = key.split("/", 1)[1] if "/" in key else key
            kind = "user"
        if kind == "field":
            found = self.users.get(key) or self.queues.get(key)
        elif kind == "queue":
            found = self.queues.get(key)
        else:
            found = self.users.get(key)
        if found is None:
            raise UnknownOwner(f"{owner}: no such {'user or queue' if kind == 'field' else kind} in the org")
        if not found.active:
            raise UnknownOwner(f"{owner}: user is inactive")
        return found


def reason_text(decision: Decision, limit: int | None = 255) -> str:
    """A short citation of the deciding rules that fits the field."""
    m = decision.matched
    parts = []
    if m.get("segment"):
        parts.append(f"segment: {m['segment']}")
    if decision.score is not None:  # a score section ran
        parts.append(f"score {_num(decision.score)}: " + (", ".join(m["score"]) or "no rule"))
    if m.get("qualify"):
        parts.append(f"stage: {m['qualify']}")
    if decision.escalated:
        parts.append(f"owner: escalated by SLA {m['sla']}")
    elif m.get("route"):
        parts.append(f"owner: {m['route']}" + (" (handoff)" if decision.handoff_from else ""))
    elif decision.kept_owner:
        parts.append("owner: kept")
    if m.get("sla"):
        parts.append(f"SLA: {m['sla']}" + (" (escalated)" if decision.clock_escalated else ""))
    text = "revsync | " + " | ".join(parts)
    if limit and len(text) > limit:
        text = text[:limit - 1] + "…"
    return text


def _num(value: float | None) -> Any:
    if value is None:
        return None
    return int(value) if float(value).is_integer() else round(value, 6)


class Outbound:
    """Decision -> CRM field values, planned once per run: which outputs the mapping writes
    and which sections the rules have are known before the first record."""

    def __init__(self, ruleset: RuleSet, outputs: dict[str, tuple[str, int | None]],
                 directory: Directory | None):
        self.plain = [(name, outputs[name][0]) for name in _DECIDED
                      if name in outputs and ruleset.has(OUTPUT_SECTION[name])]
        self.owner = outputs["owner"][0] if "owner" in outputs and directory is not None else None
        self.reason = (outputs["reason"][0], outputs["reason"][1] or 255) if "reason" in outputs else None
        # revsync's memory of what it gave, where the rules route or run clocks.
        self.memory = (outputs["lifecycle"][0], outputs["lifecycle"][1] or 1000) \
            if "lifecycle" in outputs and (ruleset.has(Section.ROUTE) or ruleset.has(Section.SLA)) else None
        self.directory = directory
        self._owners: dict[str, str | UnknownOwner] = {}  # owner label -> Id, or why not
        self._reasons: dict[tuple[object, ...], str] = {}
        self._memories: dict[tuple[object, ...], str] = {}
        self.sla_names = [r.name for r in ruleset.rules(Section.SLA)]

    def values(self, decision: Decision) -> dict[str, Any]:
        """CRM field -> value. Raises UnknownOwner when the owner cannot be resolved (the
        record is then skipped)."""
        values = self._decided(decision)
        if self.reason is not None:
            values[self.reason[0]] = self._reason(decision, self.reason[1])
        return values

    def _decided(self, decision: Decision) -> dict[str, Any]:
        """The values the rules decided, without the reason text."""
        values = {crm: (_num(decision.score) if name == "score" else getattr(decision, name))
                  for name, crm in self.plain}
        owner = decision.owner
        if self.owner is not None and owner is not None:
            found = self._lookup(owner)
            if isinstance(found, UnknownOwner):
                raise UnknownOwner(str(found))  # a fresh one: re-raising would grow its traceback
            values[self.owner] = found
        if self.memory is not None:
            values[self.memory[0]] = self._memory(decision, self.memory[1])
        return values

    def _memory(self, d: Decision, limit: int) -> str:
        # Records that went the same way share their text: it is made once per combination.
        sla = self.sla_names[d.sla_rule] if d.sla_rule >= 0 else None
        key = (d.owner_by, d.owner_given, sla, d.clock_escalated, d.owners)
        text = self._memories.get(key)
        if text is None:
            if len(self._memories) > 4096:
                self._memories.clear()
            text = self._memories[key] = memory_of(
                d, sla, self.written_id if self.directory is not None else None).text(limit)
        return text

    def written_id(self, owner: str) -> str | None:
        """The Id an owner label is written as, or None when the org has no such owner."""
        found = self._lookup(owner)
        return None if isinstance(found, UnknownOwner) else found

    def _lookup(self, owner: str) -> str | UnknownOwner:
        found = self._owners.get(owner)
        if found is None:
            assert self.directory is not None  # owners are looked up only where the org's users are known
            try:
                found = self.directory.resolve(owner).id
            except UnknownOwner as exc:
                found = exc
            if len(self._owners) > 10_000:
                self._owners.clear()
            self._owners[owner] = found
        return found

    def _reason(self, d: Decision, limit: int) -> str:
        # Records decided by the same rules share their text: it is made once per combination.
        key = (d.seg_rule, tuple(d.score_rules), d.score, d.stage_rule, d.route_rule, d.kept_owner,
               d.sla_rule, d.escalated, d.handoff_from is not None, d.clock_escalated)
        text = self._reasons.get(key)
        if text is None:
            if len(self._reasons) > 4096:
                self._reasons.clear()
            text = self._reasons[key] = reason_text(d, limit)
        return text

    def changes(self, decision: Decision, current: dict[str, Any]) -> dict[str, Any]:
        """The CRM fields whose value changes, as they are written (datetimes in the CRM's
        format). The reason is written with a change, never alone: it explains the values
        as they were last written, and a sticky owner ("kept") or a renamed rule changes its
        text without changing what was decided. Raises UnknownOwner as `values` does."""
        out = {}
        for crm, v in self._decided(decision).items():
            c = current.get(crm)
            if c == v:  # equal values are the same value however the CRM means them
                continue
            w = v
            if v.__class__ is datetime:
                w = crm_format(v)
                if c == w:  # as the CRM gives back what was written: no need to parse it
                    continue
            if c is None and v is not None and v != "" or not same_value(c, v):
                out[crm] = w
        if out and self.reason is not None:
            text = self._reason(decision, self.reason[1])
            if current.get(self.reason[0]) != text:
                out[self.reason[0]] = text
        return out


_DECIDED = ("segment", "score", "grade", "stage", "previous_stage", "stage_entered_at", "routed_at", "sla_due",
            "sla_status", "sla_started_at", "sla_met_at")


def same_value(current: Any, desired: Any) -> bool:
    """Whether the CRM already holds `desired`, comparing as the CRM means the values."""
    if current in (None, "") and desired in (None, ""):
        return True
    if current is None or desired is None:
        return False
    if isinstance(desired, datetime) or isinstance(current, datetime):
        a, b = parse_instant(current), parse_instant(desired)
        return a is not None and b is not None and abs((a - b).total_seconds()) < 1
    if isinstance(desired, (int, float)) and not isinstance(desired, bool):
        try:
            return math.isclose(float(current), float(desired), rel_tol=0, abs_tol=1e-6)
        except (TypeError, ValueError):
            return False
    if isinstance(desired, bool):
        return parse_bool(current) == desired
    if isinstance(desired, str) and isinstance(current, str) and {len(desired), len(current)} == {15, 18}:
        short, long = (desired, current) if len(desired) == 15 else (current, desired)
        # The 18-character form is safe to compare ignoring case: its suffix encodes the case.
        return short.isalnum() and id18(short).casefold() == long.casefold()
    return str(current) == str(desired)


def crm_format(value: Any) -> Any:
    """Values as Salesforce expects them in a REST body."""
    if isinstance(value, datetime):
        return to_utc(value).isoformat(timespec="seconds")[:19] + ".000+0000"
    return value
