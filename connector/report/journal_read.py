"""What the journal of sync runs adds to a record's own fields, read without writing a byte.

A record carries only its latest stage, previous stage and SLA clock; the journal keeps every
value revsync wrote. Reports read two things from it: every stage a record entered (and when),
so a lead that was an MQL and went back to Nurture still counts as having been qualified, and
every SLA met time revsync wrote, so a follow-up whose clock was later replaced still counts.
Changes of dry runs, failed writes, revert runs and the runs they undid are left out: they
never stood on the record, or no longer do.
"""
from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from mappings import Mapping
from rules.values import id18, parse_instant

from connector.sync.state_schema import check_file


@dataclass
class RecordPast:
    entries: list[tuple[str, datetime | None]] = field(default_factory=list)  # (stage, entered at)
    met_at: list[datetime] = field(default_factory=list)


@dataclass
class JournalPast:
    path: Path | None = None
    runs: int = 0  # runs read (dry runs and reverts excluded)
    records: dict[str, RecordPast] = field(default_factory=dict)  # by 18-character Id

    def of(self, record_id: str) -> RecordPast | None:
        return self.records.get(id18(str(record_id)))


def read_journal(path: Path | None, mapping: Mapping) -> JournalPast:
    """Stage entries and SLA met times per record of the mapping's object; an empty past when
    there is no journal at `path` (a state file that is not revsync's is refused, exit 2)."""
    if path is None or not path.exists():
        return JournalPast()
    check_file(path, writable=False)
    outputs = {name: mapping.output(name) for name in ("stage", "stage_entered_at", "sla_met_at")}
    crm = {name: out.crm if out is not None else None for name, out in outputs.items()}
    past = JournalPast(path)
    if crm["stage"] is None and crm["sla_met_at"] is None:
        return past
    wal = Path(f"{path}-wal").exists()
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro{'' if wal else '&immutable=1'}", uri=True)
    try:
        # A run's evaluation time has its own column from state schema 7 on; before, it is in the counts.
        has_column = any(row[1] == "evaluated_at" for row in db.execute("PRAGMA table_info(runs)"))
        evaluated = "coalesce(evaluated_at, counts)" if has_column else "counts"
        runs = db.execute(f"SELECT run_id, status, dry_run, rules_fingerprint, {evaluated}, reverts FROM runs "
                          "WHERE object = ? COLLATE NOCASE", (mapping.object,)).fetchall()
        undone = {r[5] for r in runs if r[5] is not None}
        undone |= {int(r[3][7:]) for r in runs if (r[3] or "").startswith("revert:") and r[3][7:].isdigit()}
        kept = {r[0]: _evaluated_at(r[4]) for r in runs
                if not r[2] and r[0] not in undone and r[5] is None and not (r[3] or "").startswith("revert:")}
        past.runs = len(kept)
        rows = db.execute(
            "SELECT c.run_id, c.record_id, c.fields FROM changes c JOIN pages p "
            "ON p.run_id = c.run_id AND p.page = c.page WHERE p.status = 'done' AND c.status != 'failed' "
            "ORDER BY c.run_id")
        wanted = {v.casefold(): k for k, v in crm.items() if v}
        for run_id, record_id, fields_text in rows:
            if run_id not in kept:
                continue
            changed = {wanted[k.casefold()]: new for k, (_, new) in json.loads(fields_text).items()
                       if k.casefold() in wanted}
            if not changed:
                continue
            mine = past.records.setdefault(id18(str(record_id)), RecordPast())
            stage = changed.get("stage")
            if stage is not None and str(stage).strip():
                entered = parse_instant(changed.get("stage_entered_at")) or kept[run_id]
                mine.entries.append((str(stage).strip(), entered))
            met = parse_instant(changed.get("sla_met_at"))
            if met is not None:
                mine.met_at.append(met)
    finally:
        db.close()
    return past


def _evaluated_at(value: str | None) -> datetime | None:
    """A run's evaluation time (its --now), which its journal rows were decided at: an instant,
    or the run's counts holding one."""
    instant = parse_instant(value)
    if instant is not None:
        return instant
    try:
        return parse_instant((json.loads(value or "{}") or {}).get("evaluated_at"))
    except (ValueError, AttributeError):
        return None
