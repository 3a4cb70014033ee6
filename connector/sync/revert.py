"""Undo a run: restore old values where the record still holds what the run wrote. Fields that
changed since are left alone, and said to be changed by a later revsync run when the journal
has that run writing the value the record holds now, by people otherwise."""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import structlog

from mappings.outbound import same_value

from rules.model import RevsyncError

from connector.orgs.base import Backend, Patch
from connector.sync.journal import State, commit_page

log = structlog.get_logger()


class RevertRefused(RevsyncError):
    """This run cannot be reverted as asked (exit 2: nothing was read or written)."""


@dataclass
class RevertReport:
    run_id: int
    reverted_by: int | None = None
    restored: int = 0  # records (a dry run's: records it would restore)
    kept: list[tuple[str, str, object, object]] = field(default_factory=list)  # (id, field, wrote, now)
    failed: list[tuple[str, str]] = field(default_factory=list)
    dry_run: bool = False
    fields: int = 0  # fields restored (or, in a dry run, to restore)
    later: dict[tuple[str, str], int] = field(default_factory=dict)  # (id, field) of `kept` -> the later run

    def __str__(self) -> str:
        verb = "would restore" if self.dry_run else "restored"
        lines = [f"run {self.run_id}: {verb} {self.restored} record(s), {self.fields} field(s)"
                 + (f" (journalled as run {self.reverted_by})" if self.reverted_by else "")]
        ours = [k for k in self.kept if (k[0], k[1]) in self.later]
        theirs = [k for k in self.kept if (k[0], k[1]) not in self.later]
        leave = "would be left alone" if self.dry_run else "left alone"
        by_run: dict[int, list[str]] = {}
        for rid, f, *_ in ours:
            by_run.setdefault(self.later[rid, f], []).append(rid)
        for later, rids in sorted(by_run.items()):
            records = list(dict.fromkeys(rids))
            shown = ", ".join(records[:10]) + (f" and {len(records) - 10} more" if len(records) > 10 else "")
            lines.append(f"{len(rids)} field(s) of {len(records)} record(s) were changed since by revsync run {later}, "
                         f"{leave} (revert run {later} first to go further back): {shown}")
        if theirs:
            lines.append(f"{len(theirs)} field(s) were changed by people since, {leave}:")
            lines += [f"  {rid} {f}: run {self.run_id} wrote {_clip(wrote)}, now {_clip(now)}"
                      for rid, f, wrote, now in theirs[:50]]
            if len(theirs) > 50:
                lines.append(f"  ... {len(theirs) - 50} more")
        lines += [f"  failed {rid}: {why}" for rid, why in self.failed]
        return "\n".join(lines)

    def asdict(self) -> dict:
        return {"run": self.run_id, "reverted_by": self.reverted_by, "dry_run": self.dry_run,
                "restored": self.restored, "fields": self.fields, "failed": [list(f) for f in self.failed],
                "kept": [{"record": rid, "field": f, "wrote": wrote, "now": now,
                          "changed_by_run": self.later.get((rid, f))} for rid, f, wrote, now in self.kept]}


def _clip(value: object, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 1] + "…"


def revertible(state: State, run_id: int) -> list:
    """The changes run `run_id` wrote, or RevertRefused (exit 2) when it cannot be reverted: no
    such run, reverted already, or nothing written."""
    run = state.run(run_id)
    if run is None:
        raise RevertRefused(f"no run {run_id}; `revsync runs` lists them")
    done = state.reverted_by(run_id)
    if done is not None:
        raise RevertRefused(f"run {run_id} was already reverted by run {done}; to bring back what run "
                            f"{run_id} wrote, revert run {done}")
    changes = [c for c in state.changes(run_id) if c.status == "written"]
    if not changes:
        raise RevertRefused(f"run {run_id} ({run.status}) wrote nothing; there is nothing to revert")
    return changes


def written_records(state: State, run_id: int) -> int:
    """Records run `run_id` wrote: what a revert would read and may restore (RevertRefused as
    `revertible`)."""
    return len({c.record_id for c in revertible(state, run_id)})


def _later_writes(state: State, run_id: int, kept: list[tuple[str, str, object, object]]) -> dict[tuple[str, str], int]:
    """For each kept field, the latest later sync run whose journalled write is the value the
    record holds now: it was revsync, not a person, that changed it since."""
    ids = sorted({rid for rid, *_ in kept})
    found: dict[tuple[str, str], tuple[int, object]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = state.db.execute(
            f"SELECT c.run_id, c.record_id, c.fields FROM changes c WHERE c.run_id > ? AND c.status != 'failed' "
            f"AND c.record_id IN ({','.join('?' * len(chunk))}) ORDER BY c.run_id", (run_id, *chunk))
        for later, rid, fields in rows:
            for name, (_, new) in json.loads(fields).items():
                found[rid, name] = (later, new)  # the latest run wins: ordered by run
    return {(rid, f): found[rid, f][0] for rid, f, _, now in kept
            if (rid, f) in found and same_value(now, found[rid, f][1])}


def revert(backend: Backend, state: State, run_id: int, page_size: int = 200, dry_run: bool = False) -> RevertReport:
    """Restore run `run_id`'s old values; a dry run reads the records, counts what it would
    restore and leave alone, and writes nothing, journal included."""
    changes = revertible(state, run_id)
    run = state.run(run_id)
    assert run is not None  # revertible() said so
    report = RevertReport(run_id, dry_run=dry_run)
    by_id: dict[str, list] = {}
    for c in changes:
        by_id.setdefault(c.record_id, []).append(c)
    fields = sorted({c.field for c in changes})
    new_run = None if dry_run else state.start_run(run.object, backend.name, False, f"revert:{run_id}")
    report.reverted_by = new_run
    ids = list(by_id)
    for page_no, start in enumerate(range(0, len(ids), page_size), 1):
        chunk = ids[start:start + page_size]
        current = {r["Id"]: r for r in backend.read_ids(run.object, fields, chunk)}
        patches = []
        for rid in chunk:
            values, old = {}, {}
            for c in by_id[rid]:
                now = current.get(rid, {}).get(c.field)
                if same_value(now, c.new):
                    values[c.field], old[c.field] = c.old, now
                elif not same_value(now, c.old):  # holding the old value already: restored before
                    report.kept.append((rid, c.field, c.new, now))
            if values:
                patches.append(Patch(run.object, rid, values, old, f"revert of run {run_id}"))
                report.fields += len(values)
        if new_run is None:
            report.restored += len(patches)
            continue
        # Failures are not queued for the sync, which would decide those records again rather
        # than restore them: reverting the run again finishes the revert.
        written, failed = commit_page(state, backend, run.object, new_run, page_no, patches,
                                      state.positions(run.object), retry=False)
        report.restored += len(written)
        report.failed += [(rid, f"{code}: {msg}") for rid, (code, msg) in failed.items()]
    report.later = _later_writes(state, run_id, report.kept)
    if new_run is None:
        return report
    state.finish_run(new_run, "ok" if not report.failed else "partial",
                     {"restored": report.restored, "kept": len(report.kept), "failed": len(report.failed)})
    if not report.failed:  # after a partial revert, reverting the run again finishes it
        state.mark_reverted(run_id, new_run)
    log.info("run_reverted", run=run_id, by=new_run, restored=report.restored, kept=len(report.kept))
    return report
