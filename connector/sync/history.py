"""One record's timeline across sync runs, read from the journal (`revsync history`).

The journal keeps, per run and record, every field revsync changed, its old and new value and
the rules that decided it. Read run by run, the output fields tell the record's story: the
stage field its stage entries, the owner field with the lifecycle text ("by": which rule gave
the owner) its routings, handoffs and escalations, the SLA fields its clocks, and revert runs
which runs they undid. Nothing here reads the CRM; owner names are passed in.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import groupby
from typing import Any

from mappings import Mapping
from rules.memory import Memory, is_queue, read_memory
from rules.values import id18, parse_instant, same_id

from connector.sync.journal import Change, Run, State

# Event kinds, in the order a run's events come ("reverted by run N" last); `other` is every
# changed field no other event explains.
KINDS = ("revert", "stage", "owner", "handoff", "escalated", "sla_started", "sla_met", "sla_breached", "other")


@dataclass(frozen=True)
class Event:
    run: int
    at: str  # the run's evaluation time (its --now), or when it started for runs that did not say
    status: str  # the run's status
    kind: str  # one of KINDS
    field: str | None  # the CRM field it was read from
    old: Any
    new: Any
    by: str | None  # "route/<rule>", "sla/<entry>", "qualify/<rule>", "revert of run N", "reverted by run N"
    rules: str | None  # the journal row's citations
    change: str | None  # written | failed | pending: whether the change reached the record
    text: str  # one line for people, owners by name where known

    def asdict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class History:
    record: str
    object: str
    events: tuple[Event, ...]
    names: dict[str, str]  # owner Id -> user name or "queue <Name>", for the owners in events
    elsewhere: tuple[str, ...] = ()  # other objects whose runs changed this Id (wrong --object)

    def asdict(self) -> dict:
        return {"record": self.record, "events": [e.asdict() for e in self.events], "names": self.names}

    def __str__(self) -> str:
        """A few lines per run: its events, then what else changed and the rules that decided."""
        lines: list[str] = []
        for run_id, group in groupby(self.events, key=lambda e: e.run):
            events = list(group)
            lines.append(f"run {run_id}  {events[0].at[:19].replace('T', ' ')}  {events[0].status}")
            lines += [f"  {e.text}" + ("" if e.change in (None, "written") else f" [{e.change}]")
                      for e in events if e.kind != "other"]
            others = [f"{e.field}" + ("" if e.change == "written" else f" [{e.change}]")
                      for e in events if e.kind == "other"]
            if others:
                lines.append(_clip(f"  also changed: {', '.join(others)}"))
            cites = cited(next((e.rules for e in events if e.rules), None))
            scores = sum(c.startswith("score/") for c in cites)  # the long part; the JSON has them all
            if cites:
                lines.append(_clip("  rules: " + ", ".join(c for c in cites if not c.startswith("score/"))
                                   + (f" (and {scores} score rules)" if scores else "")))
        return "\n".join(lines)


def _when(value: Any) -> str:
    """An instant as people read it; whatever cannot be read is shown as it is."""
    instant = parse_instant(value)
    return instant.strftime("%Y-%m-%d %H:%M UTC") if instant is not None else str(value)


def _clip(text: str, width: int = 140) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def owner_names(org) -> dict[str, str]:
    """Users' Usernames and queues' names, from an org that can list them (the embedded org)."""
    names = {u["Id"]: u["Username"] for u in org.read_all("User", ["Username"])}
    names.update({g["Id"]: f"queue {g['Name']}" for g in org.read_all("Group", ["Name"])})
    return names


def cited(rules: str | None) -> list[str]:
    """A journal row's citations without their locations: `route/EMEA (rules/lead.yaml:143)`
    -> `route/EMEA`."""
    out = []
    for part in (rules or "").split("; "):
        name, sep, loc = part.rpartition(" (")
        out.append(name if sep and loc.endswith(")") else part)
    return [c for c in out if c]


def _cite(rules: str | None, section: str) -> str | None:
    return next((c for c in cited(rules) if c.startswith(section + "/")), None)


def _memory(value: Any) -> Memory | None:
    try:
        return read_memory(value)
    except ValueError:  # not revsync's text (edited by hand): tells nothing
        return None


def reverted_run(run: Run) -> int | None:
    """The run a revert run undid (set on partial reverts too, unlike `runs.reverts`)."""
    if run.reverts is not None:
        return run.reverts
    tail = run.rules_fingerprint.removeprefix("revert:")
    return int(tail) if tail != run.rules_fingerprint and tail.isdigit() else None


def _journal(state: State, record_id: str) -> list[tuple[Run, list[Change]]]:
    """Every run that journalled a change to the record, oldest first, with its rows for it.
    Only the pages holding the record are read (a first sync journals every record)."""
    rows = state.db.execute("SELECT run_id, page, record_id FROM changes WHERE substr(record_id, 1, 15) = ? "
                            "COLLATE NOCASE ORDER BY run_id, page", (record_id[:15],)).fetchall()
    out: dict[int, tuple[Run, list[Change]]] = {}
    for run_id, page, stored in rows:
        run = state.run(run_id)
        if run is None or not same_id(stored, record_id):
            continue
        entry = out.setdefault(run_id, (run, []))
        entry[1].extend(c for c in state.changes(run_id, page) if c.record_id == stored)
    return list(out.values())


def record_history(state: State, mapping: Mapping, record_id: str, names: dict[str, str] | None = None) -> History:
    record_id = record_id.strip()
    names = {id18(k): v for k, v in (names or {}).items()}
    journal = _journal(state, record_id)
    mine = [(run, rows) for run, rows in journal if run.object.casefold() == mapping.object.casefold()]
    elsewhere = tuple(sorted({run.object for run, _ in journal} - {run.object for run, _ in mine}))
    reverted_by: dict[int, int] = {}  # run -> the revert run that restored some of this record's fields
    for run, rows in mine:
        undone = reverted_run(run)
        if undone is not None and any(c.status == "written" for c in rows):
            reverted_by.setdefault(undone, run.run_id)
    output = {o.crm.casefold(): o.name for o in mapping.outputs}
    events: list[Event] = []
    known: dict[str, Any] = {}  # each output's value after the runs read so far
    owners: set[str] = set()
    for run, rows in mine:
        by_output = {output.get(c.field.casefold(), "field:" + c.field): c for c in rows}
        events += _run_events(run, dict(by_output), known, names, reverted_by.get(run.run_id))
        known.update({name: c.new for name, c in by_output.items()})
        if "owner" in by_output:
            owners |= {id18(str(v)) for v in (by_output["owner"].old, by_output["owner"].new) if v}
    stored = journal[0][1][0].record_id if journal and journal[0][1] else id18(record_id)
    return History(stored, mapping.object, tuple(events), {k: v for k, v in names.items() if k in owners}, elsewhere)


def _run_events(run: Run, rows: dict[str, Change], known: dict[str, Any], names: dict[str, str],
                reverted_by: int | None) -> list[Event]:
    """The events of one run's changes to the record; `rows` (by output name) is consumed."""
    rules = next(iter(rows.values())).rules
    undone = reverted_run(run)
    revert = f"revert of run {undone}" if undone is not None else None
    out: list[Event] = []

    def add(kind: str, c: Change | None, by: str | None, text: str, cites: str | None = None) -> None:
        out.append(Event(run.run_id, (run.counts or {}).get("evaluated_at") or run.started_at, run.status, kind, c.field if c else None,
                         c.old if c else None, c.new if c else None, by, c.rules if c else cites,
                         c.status if c else None, text))

    def name(owner: Any) -> str:
        return "nobody" if owner is None else names.get(id18(str(owner)), str(owner))

    if revert:
        add("revert", None, revert, revert, rules)
    life = rows.pop("lifecycle", None)
    before = _memory(life.old if life else known.get("lifecycle"))
    after = _memory(life.new) if life else before
    stage = rows.pop("stage", None)
    if stage is not None:
        for consumed in ("previous_stage", "stage_entered_at"):
            rows.pop(consumed, None)
        was = f" (was {stage.old})" if stage.old is not None else " (first decision)"
        add("stage", stage, revert or _cite(rules, "qualify"), f"stage {stage.new or '(none)'}{was}")
    owner = rows.pop("owner", None)
    escalated = False
    if owner is not None:
        rows.pop("routed_at", None)
        by = revert or (after.by if after else None) or _cite(rules, "route")
        moved = f"owner {name(owner.old)} -> {name(owner.new)}"
        first = "owner" not in known and not (before and before.by)
        if revert:
            kind, text = "owner", moved
        elif by and by.startswith("sla/"):
            kind, text, escalated = "escalated", f"escalated: {moved}", True
        elif by and by.startswith("route/") and first:
            kind, text = "owner", f"first routing: {moved}"
        elif by and by.startswith("route/") and (is_queue(owner.old) or name(owner.old).startswith("queue ")):
            kind, text = "handoff", f"handoff: {moved}"
        else:
            kind, text = "owner", moved
        add(kind, owner, by, text + (f" by {by}" if by and not revert else ""))
    if life and not (revert or escalated) and after and after.escalated and not (before and before.escalated):
        add("escalated", life, after.by, f"escalated by {after.by or 'sla/' + str(after.sla)}; owner kept")
    entry = (after.sla if after else None) or (_cite(rules, "sla") or "sla/?").removeprefix("sla/")
    started, status = rows.get("sla_started_at"), rows.get("sla_status")
    if not revert and started is not None and started.new is not None:
        rows.pop("sla_started_at")
        due = rows.pop("sla_due", None)
        if status is not None and status.new in ("pending", "at_risk", None):
            rows.pop("sla_status")
        add("sla_started", started, f"sla/{entry}",
            f"SLA {entry}: clock started {_when(started.new)}, due {_when(due.new if due else known.get('sla_due'))}")
    if not revert and status is not None and status.new in ("met", "breached"):
        rows.pop("sla_status")
        if status.new == "met":
            met = rows.pop("sla_met_at", None)
            met_at = parse_instant(met.new if met else known.get("sla_met_at"))
            due_at = parse_instant(rows["sla_due"].new if "sla_due" in rows else known.get("sla_due"))
            late = " late" if status.old == "breached" or (met_at and due_at and met_at > due_at) else ""
            add("sla_met", status, f"sla/{entry}", f"SLA {entry}: met{late} at {_when(met_at)}")
        else:
            due_at = rows["sla_due"].new if "sla_due" in rows else known.get("sla_due")
            add("sla_breached", status, f"sla/{entry}", f"SLA {entry}: breached, was due {_when(due_at)}")
    for c in rows.values():
        add("other", c, revert, f"{c.field}: {c.old!r} -> {c.new!r}")
    if reverted_by is not None:
        add("revert", None, f"reverted by run {reverted_by}", f"reverted by run {reverted_by}")
    return out
