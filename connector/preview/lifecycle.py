"""What a rule change does to the lifecycle (RULES.md, Routing, Lifecycle and SLA): per version,
the stages records enter, the handoffs they get, the SLA clocks that start and escalate, and
across versions the clocks whose due would differ.

Each open record is counted once per version, from the decision each version makes *now*
given what revsync wrote on the record last (read back from the org or an export).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from rules.model import Decision, RuleSet, Section


@dataclass
class SideLifecycle:
    """One version's lifecycle counts over the open records."""

    entries: Counter = field(default_factory=Counter)  # (stage written last, stage) -> records
    handoffs: Counter = field(default_factory=Counter)  # (from owner, to owner or team) -> records
    clocks: Counter = field(default_factory=Counter)  # SLA entry -> clocks started
    escalations: Counter = field(default_factory=Counter)  # SLA entry -> clocks escalated

    def add(self, ds: list[Decision], written: list, sla: tuple[str, ...], name: Callable[[str], str]) -> None:
        for d, before in zip(ds, written):
            if before is not None and d.stage is not None and \
                    str(before).strip().casefold() != d.stage.strip().casefold():
                self.entries[(str(before).strip(), d.stage)] += 1
            if d.handoff_from is not None:
                # To the owner the route rule gave: an escalation in the same run is counted apart.
                self.handoffs[(name(d.handoff_from), owner_group(d.routed_owner or d.owner, name))] += 1
            if d.sla_rule >= 0:
                if d.clock_started:
                    self.clocks[sla[d.sla_rule]] += 1
                if d.escalated:
                    self.escalations[sla[d.sla_rule]] += 1

    def asdict(self, again: Callable[[Counter], dict] = dict) -> dict:
        """`again`: owners named once more (see `Preview.asdict`)."""
        handoffs = Counter(again(self.handoffs))
        return {"stage_entries": [{"from": f, "to": t, "count": n} for (f, t), n in self.entries.most_common()],
                "handoffs": [{"from": f, "to": t, "count": n} for (f, t), n in handoffs.most_common()],
                "clocks_started": dict(self.clocks.most_common()),
                "escalations": dict(self.escalations.most_common())}


class LifecycleTally:
    """Both versions' lifecycle counts, and what compares them record by record."""

    def __init__(self, baseline: RuleSet, candidate: RuleSet):
        self.before, self.after = SideLifecycle(), SideLifecycle()
        self.sla0 = tuple(r.name for r in baseline.rules(Section.SLA))
        self.sla1 = tuple(r.name for r in candidate.rules(Section.SLA))
        t0, t1 = timings(baseline), timings(candidate)
        # Entries the candidate times differently: its running clocks keep the due they have.
        self.retimed = frozenset(k for k, v in t1.items() if k in t0 and t0[k] != v)
        self.due_changed: Counter = Counter()  # same entry on both sides, different due
        self.kept_due: Counter = Counter()  # running candidate clocks of a retimed entry

    def add(self, open0: list[Decision], open1: list[Decision], written: list,
            name: Callable[[str], str]) -> None:
        """The open records of one batch, each once, in the same order on both sides."""
        self.before.add(open0, written, self.sla0, name)
        self.after.add(open1, written, self.sla1, name)
        sla0, sla1, retimed = self.sla0, self.sla1, self.retimed
        for d0, d1 in zip(open0, open1):
            if d1.sla_rule < 0:
                continue
            entry = sla1[d1.sla_rule]
            if d0.sla_rule >= 0 and sla0[d0.sla_rule] == entry and d0.sla_due != d1.sla_due:
                self.due_changed[entry] += 1
            if entry in retimed and not d1.clock_started:
                self.kept_due[entry] += 1

    def asdict(self, again: Callable[[Counter], dict] = dict) -> dict:
        return {"baseline": self.before.asdict(again), "candidate": self.after.asdict(again),
                "due_changed": dict(self.due_changed.most_common()),
                "running_clocks_keep_due": dict(self.kept_due.most_common())}


def owner_group(owner: str | None, name: Callable[[str], str]) -> str:
    """Where a handoff sends a record: the team for a round robin (`team:sdr` for
    `team:sdr/frank@...`), else the owner under the preview's one name for it."""
    if owner is None:
        return "(unassigned)"
    return owner.split("/", 1)[0] if owner.startswith("team:") else name(owner)


def timings(ruleset: RuleSet) -> dict[str, tuple]:
    """Per SLA entry, what its due is computed from: `within`, and the calendar's hours."""
    def key(rule) -> tuple:
        w = rule.within
        cal = ruleset.calendar(rule.calendar) if rule.calendar else None
        if cal is None:
            return (w and w.seconds,)
        return (w and (w.weeks, w.days, w.minutes), cal.timezone, cal.days, cal.opens, cal.closes, cal.holidays)
    return {r.name: key(r) for r in ruleset.rules(Section.SLA)}
