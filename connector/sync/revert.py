"""Undo a run: restore old values where the record still holds what the run wrote."""
from __future__ import annotations

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
    restored: int = 0  # records
    kept: list[tuple[str, str, object, object]] = field(default_factory=list)  # (id, field, wrote, now)
    failed: list[tuple[str, str]] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"run {self.run_id}: restored {self.restored} record(s)"
                 + (f" (journalled as run {self.reverted_by})" if self.reverted_by else "")]
        if self.kept:
            lines.append(f"{len(self.kept)} field(s) were changed by people since and were left alone:")
            lines += [f"  {rid} {f}: run wrote {wrote!r}, now {now!r}" for rid, f, wrote, now in self.kept[:50]]
            if len(self.kept) > 50:
                lines.append(f"  ... {len(self.kept) - 50} more (`revsync runs show {self.reverted_by}` lists the run)")
        lines += [f"  failed {rid}: {why}" for rid, why in self.failed]
        return "\n".join(lines)


def revert(backend: Backend, state: State, run_id: int, page_size: int = 200) -> RevertReport:
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
    report = RevertReport(run_id)
    by_id: dict[str, list] = {}
    for c in changes:
        by_id.setdefault(c.record_id, []).append(c)
    fields = sorted({c.field for c in changes})
    new_run = state.start_run(run.object, backend.name, False, f"revert:{run_id}")
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
        # Failures are not queued for the sync, which would decide those records again rather
        # than restore them: reverting the run again finishes the revert.
        written, failed = commit_page(state, backend, run.object, new_run, page_no, patches,
                                      state.positions(run.object), retry=False)
        report.restored += len(written)
        report.failed += [(rid, f"{code}: {msg}") for rid, (code, msg) in failed.items()]
    state.finish_run(new_run, "ok" if not report.failed else "partial",
                     {"restored": report.restored, "kept": len(report.kept), "failed": len(report.failed)})
    if not report.failed:  # after a partial revert, reverting the run again finishes it
        state.mark_reverted(run_id, new_run)
    log.info("run_reverted", run=run_id, by=new_run, restored=report.restored, kept=len(report.kept))
    return report
