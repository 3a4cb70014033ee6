"""One page of a sync planned: CRM records -> rule records -> decisions -> the patches to write,
with each record's next re-check time and what is skipped and why. Nothing is written here."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from mappings.outbound import Outbound, UnknownOwner, same_value
from rules.evaluate import Context, Evaluator
from rules.values import format_instant

from connector.context import OrgContext, is_closed_crm
from connector.orgs.base import Patch
from connector.sync.journal import Retry
from connector.sync.options import SyncReport
from connector.sync.pilots import SyncPilots
from connector.workspace.workspace import Workspace


@dataclass
class Planned:
    patches: list[Patch] = field(default_factory=list)
    rechecks: dict[str, str | None] = field(default_factory=dict)
    moved: int = 0  # already-decided records whose stage or routed owner changes
    decided_before: int = 0
    skipped: list[str] = field(default_factory=list)  # Ids skipped on this page (reported)


class Planner:
    def __init__(self, ws: Workspace, org: OrgContext, evaluator: Evaluator, report: SyncReport,
                 object_name: str, now, retries: dict[str, Retry] | None = None, pilots: SyncPilots | None = None):
        self.org, self.evaluator, self.report, self.object, self.now = org, evaluator, report, object_name, now
        self.outputs = {o.name: (o.crm, o.max_length) for o in ws.mapping.outputs}
        self.outbound = Outbound(ws.ruleset, self.outputs, org.directory)
        self.stage_field = self.outputs.get("stage", (None,))[0]
        self.owner_field = self.outputs.get("owner", (None,))[0]
        self.retries = retries if retries is not None else {}
        self.pilots = pilots
        # The candidate rules of a pilot write the outputs their own sections produce.
        self._outbounds = {id(evaluator): self.outbound}

    def context(self, positions: dict[str, int], reroute: bool,
                given_since: Callable[[str, datetime], int] | None = None) -> Context:
        return self.org.context(self.now, positions, reroute, owner_id=self.outbound.written_id,
                                ruleset=self.evaluator.ruleset, given_since=given_since)

    def plan(self, page: list[dict], ctx: Context) -> Planned:
        report = self.report
        t = time.perf_counter()
        planned = Planned()
        records, crms = [], []
        for crm in page:
            if is_closed_crm(self.object, crm):
                continue
            if self._resend(planned, crm):
                continue
            try:
                records.append(self.org.rule_record(crm))
                crms.append(crm)
            except Exception as exc:  # noqa: BLE001 - one record the mapping cannot read is skipped
                self._skip(planned, crm.get("Id", "?"), f"cannot map record: {_why(exc)}")
        report.read += len(page)
        report.seconds["map"] += time.perf_counter() - t
        t = time.perf_counter()
        # A record whose evaluation raises comes back undecided, with the reason as its problem.
        if self.pilots:
            decisions, rows, arms, deciders = self.pilots.decide(self.evaluator, records,
                                                                 [c["Id"] for c in crms], ctx)
        else:
            decisions, rows = self.evaluator.evaluate_with_facts(records, ctx)
            arms, deciders = [(None, None)] * len(decisions), [self.evaluator] * len(decisions)
        report.evaluated += len(decisions)
        report.seconds["evaluate"] += time.perf_counter() - t
        t = time.perf_counter()
        for crm, d, v, (pilot, arm), decider in zip(crms, decisions, rows, arms, deciders):
            rid = crm["Id"]
            if d.problems:
                self._skip(planned, rid, "; ".join(d.problems))
                continue
            unknown = self.org.unknown_owner(crm)
            if unknown:
                self._skip(planned, rid, unknown)
                continue
            try:
                changes = self._outbound(decider).changes(d, crm)
                if pilot is not None and arm is not None and crm.get(pilot.pilot.arm_field) != arm:
                    changes[pilot.pilot.arm_field] = arm
                due = decider.next_change_at(d, v, self.now)
                citation = d.citation()[:2000] if changes else ""
                if changes and pilot is not None:
                    citation = f"pilot {pilot.pilot.name} ({arm}): {citation}"[:2000]
            except UnknownOwner as exc:
                self._skip(planned, rid, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a record that cannot be diffed is skipped, not its page
                self._skip(planned, rid, f"cannot plan its changes: {_why(exc)}")
                continue
            planned.rechecks[rid] = format_instant(due) if due is not None else None
            if d.held:
                report.held += 1
            if crm.get(self.stage_field) not in (None, ""):
                planned.decided_before += 1
                if (self.stage_field in changes) or (self.owner_field in changes and d.matched.get("route")):
                    planned.moved += 1
            if not changes:
                continue
            old = {k: crm.get(k) for k in changes}
            for key, crm_field in (("owner", self.owner_field), ("stage", self.stage_field)):
                if crm_field in changes:
                    report.flows[key][(old[crm_field], changes[crm_field])] += 1
            report.lifecycle.update(k for k, hit in (("handoffs", d.handoff_from), ("SLA_clocks_started",
                                    d.clock_started), ("escalated", d.escalated)) if hit)
            planned.patches.append(Patch(self.object, rid, changes, old, citation))
            report.fields.update(changes.keys())
        report.changed += len(planned.patches)
        report.seconds["diff"] += time.perf_counter() - t
        return planned

    def _outbound(self, evaluator: Evaluator) -> Outbound:
        found = self._outbounds.get(id(evaluator))
        if found is None:
            found = self._outbounds[id(evaluator)] = Outbound(evaluator.ruleset, self.outputs, self.org.directory)
        return found

    def _resend(self, planned: Planned, crm: dict) -> bool:
        """A failed write whose record still holds what it held when decided goes out again as
        decided; a record changed since is decided again."""
        retry = self.retries.pop(crm["Id"], None)
        if retry is None:
            return False
        if not all(same_value(crm.get(f), old) for f, old in retry.old.items()):
            return False
        todo = {f: v for f, v in retry.values.items() if not same_value(crm.get(f), v)}
        planned.rechecks[crm["Id"]] = format_instant(self.now)  # decided earlier: look again next run
        if todo:
            planned.patches.append(Patch(self.object, crm["Id"], todo, {f: crm.get(f) for f in todo}, retry.reason))
            self.report.fields.update(todo.keys())
        return True

    def _skip(self, planned: Planned, rid: str, why: str) -> None:
        """Report a record and leave it until it changes: its re-check time is cleared and it
        leaves the retry queue, so a record that cannot be decided is read again when someone
        edits it, not on every run."""
        self.report.skipped.append((rid, why))
        planned.rechecks[rid] = None
        planned.skipped.append(rid)


def _why(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text if len(text) <= 200 else text[:200] + '...'}"
