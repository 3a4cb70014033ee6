"""What a run changed, summed up from its journal: the fields, the owner moves by owner, the
stage flows and the rules behind the changes (`revsync runs show`, and the summary a sync
prints), and its changes one row per field (`runs show --records`).

The sums are SQL over the journal's JSON: a first sync journals every record of the org, and a
summary must not read them all into memory. Owner Ids become names only where people read
them (`RunDigest.name`); the journal keeps the Ids.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

from rules.values import id18

from connector.sync.history import cited
from connector.sync.journal import Run, State
from connector.sync.options import SyncReport

NAMES_KEY = "owner-names"  # the state's cache entry: owner Id -> name, as the last sync read them

# The rule section that decides each output, for the rule column of `--records`; the lifecycle
# memory and the reason follow from all of them and cite none.
SECTION_OF = {"segment": "segment", "score": "score", "grade": "score", "stage": "qualify",
              "previous_stage": "qualify", "stage_entered_at": "qualify", "owner": "route", "routed_at": "route",
              "sla_due": "sla", "sla_status": "sla", "sla_started_at": "sla", "sla_met_at": "sla"}


@dataclass(frozen=True)
class Flow:
    old: Any
    new: Any
    count: int


@dataclass(frozen=True)
class Row:
    """One changed field of one record, as `runs show --records` lists it."""
    record: str
    field: str
    old: Any
    new: Any
    status: str
    rule: str  # the rule that decided this field, or "" where no single rule did
    rules: tuple[str, ...]  # every rule the record's decision cites

    def asdict(self) -> dict:
        return {"record": self.record, "field": self.field, "old": self.old, "new": self.new,
                "status": self.status, "rule": self.rule or None, "rules": list(self.rules)}


@dataclass(frozen=True)
class RunDigest:
    run: Run
    records: int  # records with a journalled change
    fields: tuple[tuple[str, int], ...]  # CRM field -> records, most first
    owners: tuple[Flow, ...]  # owner Id moves, most first
    stages: tuple[Flow, ...]
    rules: tuple[tuple[str, int], ...]  # citation (no location) -> records it decided, most first
    names: dict[str, str] = field(default_factory=dict)  # owner Id (18) -> name
    owner_field: str | None = None  # the CRM field that holds the owner

    def name(self, owner: Any) -> str:
        if owner is None or owner == "":
            return "nobody"
        return self.names.get(id18(str(owner)), str(owner))

    def by_new_owner(self) -> list[tuple[Any, int, list[Flow]]]:
        """Owner moves grouped by the owner records moved to, most records first."""
        groups: dict[Any, list[Flow]] = {}
        for flow in self.owners:
            groups.setdefault(flow.new, []).append(flow)
        return sorted(((new, sum(f.count for f in flows), flows) for new, flows in groups.items()),
                      key=lambda g: (-g[1], self.name(g[0])))

    def asdict(self) -> dict:
        return {"run": self.run.asdict(), "records": self.records, "fields": dict(self.fields),
                "owners": [{"from": f.old, "to": f.new, "from_name": self.name(f.old), "to_name": self.name(f.new),
                            "count": f.count} for f in self.owners],
                "stages": [{"from": f.old, "to": f.new, "count": f.count} for f in self.stages],
                "rules": dict(self.rules)}

    def owner_line(self, top: int = 4) -> str | None:
        """`owners: 420 to queue Inbound Nurture, 120 to alice@..., and 3 more`, or None."""
        groups = self.by_new_owner()
        if not groups:
            return None
        parts = [f"{count:,} to {self.name(new)}" for new, count, _ in groups[:top]]
        more = f", and {len(groups) - top} more" if len(groups) > top else ""
        return "owners: " + ", ".join(parts) + more

    def stage_line(self, top: int = 4) -> str | None:
        into: Counter = Counter()
        for flow in self.stages:
            into[flow.new] += flow.count
        if not into:
            return None
        parts = [f"{count:,} to {_stage(stage)}" for stage, count in into.most_common(top)]
        more = f", and {len(into) - top} more" if len(into) > top else ""
        return "stages: " + ", ".join(parts) + more

    def lines(self, top: int = 10) -> list[str]:
        """The summary `runs show` prints: what changed, who gained records, stage flows, rules."""
        run, c = self.run, self.run.counts or {}
        when = (c.get("evaluated_at") or run.started_at)[:19].replace("T", " ")
        out = [f"run {run.run_id}  {run.object}  {run.status}  {when} UTC  ({run.org})"]
        counted = [f"{k} {c[k]:,}" for k in ("read", "evaluated", "changed", "written", "restored", "kept",
                                              "failed", "skipped") if isinstance(c.get(k), int)]
        if counted:
            out.append("  " + ", ".join(counted))
        if not self.records:
            return out + ["  no record changed"]
        out += ["", f"fields changed ({self.records:,} records):"]
        out += _wrap([f"{name} {count:,}" for name, count in self.fields])
        groups = self.by_new_owner()
        if groups:
            width = max(len(self.name(new)) for new, _, _ in groups[:top])
            out += ["", f"owner moves ({sum(f.count for f in self.owners):,} records), by new owner:"]
            for new, count, flows in groups[:top]:
                sources = [f"{self.name(f.old)} {f.count:,}" for f in flows[:3]]
                rest = sum(f.count for f in flows[3:])
                if rest:
                    sources.append(f"{len(flows) - 3} others {rest:,}")
                out.append(f"  {self.name(new):{width}}  {count:6,}  from " + ", ".join(sources))
            if len(groups) > top:
                out.append(f"  ... {len(groups) - top} more owners (--format json lists them all)")
        if self.stages:
            out += ["", "stage flows:"]
            moves = [(f"{_stage(f.old)} -> {_stage(f.new)}", f.count) for f in self.stages[:top]]
            width = max(len(text) for text, _ in moves)
            out += [f"  {text:{width}}  {count:6,}" for text, count in moves]
            if len(self.stages) > top:
                out.append(f"  ... {len(self.stages) - top} more flows")
        decided = [(r, n) for r, n in self.rules if not r.startswith("score/")]
        scores = len(self.rules) - len(decided)
        if decided:
            out += ["", "rules that decided most (records):"]
            width = max(len(r) for r, _ in decided[:top])
            out += [f"  {r:{width}}  {n:6,}" for r, n in decided[:top]]
            if scores:
                out.append(f"  and {scores} score rules (--format json lists them)")
        return out


def _stage(value: Any) -> str:
    return "(none)" if value is None or value == "" else str(value)


def _wrap(parts: list[str], width: int = 100) -> list[str]:
    lines, line = [], ""
    for part in parts:
        if line and len(line) + len(part) + 2 > width:
            lines.append(line.rstrip(", "))
            line = ""
        line += f"{part}, "
    return [f"  {text}" for text in lines + [line.rstrip(", ")] if text]


def digest(state: State, run_id: int, outputs: dict[str, str], names: dict[str, str] | None = None
           ) -> RunDigest | None:
    """The run's digest; None when the state has no run `run_id`. `outputs`: the mapping's
    output name -> CRM field (which field holds the owner, which the stage)."""
    run = state.run(run_id)
    if run is None:
        return None
    db = state.db
    records = db.execute("SELECT count(*) FROM changes WHERE run_id=?", (run_id,)).fetchone()[0]
    fields = db.execute("SELECT j.key, count(*) FROM changes c, json_each(c.fields) j WHERE c.run_id=? "
                        "GROUP BY j.key ORDER BY 2 DESC, 1", (run_id,)).fetchall()
    rules: Counter = Counter()
    for text, count in db.execute("SELECT rules, count(*) FROM changes WHERE run_id=? GROUP BY rules", (run_id,)):
        for cite in dict.fromkeys(cited(text)):
            if not cite.startswith("revert of run"):
                rules[cite] += count
    owned = {id18(str(k)): v for k, v in (names or {}).items()}
    return RunDigest(run, records, tuple((k, n) for k, n in fields), _flows(state, run_id, outputs.get("owner")),
                     _flows(state, run_id, outputs.get("stage")),
                     tuple(sorted(rules.items(), key=lambda kv: (-kv[1], kv[0]))), owned, outputs.get("owner"))


def planned_digest(report: SyncReport, outputs: dict[str, str], names: dict[str, str]) -> RunDigest:
    """A dry run's digest, from what its planner counted: nothing was journalled."""
    run = Run(0, report.object, "", report.evaluated_at or "", None, "dry run", True, "", report.asdict(), None)

    def flows(key: str) -> tuple[Flow, ...]:
        return tuple(Flow(old, new, n) for (old, new), n in report.flows[key].most_common())
    return RunDigest(run, report.changed, tuple(report.fields.most_common()), flows("owner"), flows("stage"), (),
                     {id18(str(k)): v for k, v in names.items()}, outputs.get("owner"))


def _flows(state: State, run_id: int, crm: str | None) -> tuple[Flow, ...]:
    if not crm or '"' in crm:
        return ()
    path = f'$."{crm}"'
    rows = state.db.execute(
        "SELECT json_extract(fields, ?), json_extract(fields, ?), count(*) FROM changes "
        "WHERE run_id=? AND json_type(fields, ?) = 'array' GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
        (path + "[0]", path + "[1]", run_id, path)).fetchall()
    return tuple(Flow(old, new, n) for old, new, n in rows)


def rows(state: State, run_id: int, outputs: dict[str, str], record: str | None = None,
         field_name: str | None = None) -> Iterator[Row]:
    """The run's changes one field at a time, in journal order (only one record's, or one
    field's, when asked); each with the rule of its section."""
    section = {crm.casefold(): SECTION_OF.get(name) for name, crm in outputs.items()}
    for c in state.changes(run_id):
        if (record and c.record_id[:15] != record.strip()[:15]) or \
                (field_name and c.field.casefold() != field_name.casefold()):
            continue
        cites = tuple(cited(c.rules))
        part = section.get(c.field.casefold())
        if part == "score":
            scored = [x for x in cites if x.startswith("score/")]
            rule = scored[0] if len(scored) == 1 else f"{len(scored)} score rules" if scored else ""
        else:
            rule = next((x for x in cites if part and x.startswith(part + "/")), "")
        if not rule and cites and cites[0].startswith("revert of run"):
            rule = cites[0]
        yield Row(c.record_id, c.field, c.old, c.new, c.status, rule, cites)


def cached_names(state: State) -> dict[str, str]:
    """Owner names the last sync saved in the state (no org call needed to read them)."""
    found = state.cache_get(NAMES_KEY)
    return dict(found[0]) if found and isinstance(found[0], dict) else {}


def save_names(state: State, names: dict[str, str]) -> None:
    state.cache_put(NAMES_KEY, names)

