"""Quiet runs: a scheduled sync (`--every 15m`, cron) mostly finds nothing to change, and a
journal with a row for each of those would bury the runs that did something. A run that changed
nothing, right after another run of the same object and rules that changed nothing, is folded
into that run: its row is removed and the earlier run counts it (`repeats`, `last_at`), so
`revsync runs` shows one line per quiet stretch, with when it last ran (docs/operations.md)."""
from __future__ import annotations

import json

from connector.sync.journal import State
from connector.sync.options import SyncReport

# Counts that make a run more than quiet: anything written, failed, skipped, finished or held.
NOT_QUIET = ("changed", "written", "failed", "skipped", "recovered", "held")


def is_quiet(counts: dict) -> bool:
    return counts.get("status") == "ok" and not counts.get("dry_run") and not counts.get("notes") \
        and not any(counts.get(k) for k in NOT_QUIET)


def fold(state: State, report: SyncReport) -> int | None:
    """Fold the quiet run `report` into the quiet run before it; the run it was folded into, or
    None when it stays a run of its own. The caller holds the lock."""
    run_id = report.run_id
    if run_id is None or not is_quiet(report.asdict()):
        return None
    run = state.run(run_id)
    before = state.db.execute("SELECT run_id FROM runs WHERE object=? AND run_id<? ORDER BY run_id DESC LIMIT 1",
                              (report.object, run_id)).fetchone()
    earlier = state.run(before[0]) if before else None
    if run is None or earlier is None or earlier.reverts is not None or earlier.status != "ok" \
            or earlier.rules_fingerprint != run.rules_fingerprint or not is_quiet(earlier.counts):
        return None
    counts = {**earlier.counts, "repeats": int(earlier.counts.get("repeats", 0)) + 1,
              "last_at": run.started_at}  # when it ran, as `revsync runs` lists runs: is the schedule alive?
    with state.transaction() as db:
        if db.execute("SELECT 1 FROM changes WHERE run_id=? LIMIT 1", (run_id,)).fetchone():
            return None  # journalled a change after all: a run of its own
        db.execute("DELETE FROM pages WHERE run_id=?", (run_id,))
        db.execute("DELETE FROM runs WHERE run_id=?", (run_id,))
        db.execute("UPDATE runs SET counts=?, finished_at=? WHERE run_id=?",
                   (json.dumps(counts, default=str), run.finished_at, earlier.run_id))
        # The number goes back when it was the last one given: run numbers stay consecutive.
        db.execute("UPDATE sqlite_sequence SET seq=(SELECT coalesce(max(run_id), 0) FROM runs) "
                   "WHERE name='runs' AND seq=?", (run_id,))
    return earlier.run_id
