"""Sync throughput on the embedded org: `python -m tests.bench.sync_bench --leads 100000`.

A first sync from scratch, the run after it, then 1% of the leads touched and an incremental sync. Prints one
JSON line per run: wall time, records/s, peak RSS, and how the time splits between phases.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import time
from datetime import datetime
from pathlib import Path

from connector.orgs.base import Patch
from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace
from rules.templates import example_rules_dir

NOW = datetime.fromisoformat("2026-11-24T15:00:00+00:00")


def one(org, ws, state, label: str) -> dict:
    t = time.perf_counter()
    report = SyncRun(org, ws, state, SyncOptions(object="Lead", now=NOW)).run()
    wall = time.perf_counter() - t
    return {"run": label, "read": report.read, "evaluated": report.evaluated, "written": report.written,
            "wall_s": round(wall, 2), "records_per_s": round(report.evaluated / wall) if wall else None,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "seconds": {k: round(v, 2) for k, v in report.seconds.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=100_000)
    ap.add_argument("--touch", type=float, default=0.01)
    args = ap.parse_args()
    import structlog
    import logging
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "org.db"
        # In a child process, so that peak RSS below is the sync's own, not the generator's.
        child = multiprocessing.get_context("fork").Process(target=create_demo_org, args=(path,),
                                                            kwargs={"leads": args.leads})
        child.start()
        child.join()
        assert child.exitcode == 0, "the demo org could not be created"
        ws = load_workspace(example_rules_dir(), None, "Lead")
        org, state = LocalOrg(path), State(Path(tmp) / "state.db")
        print(json.dumps(one(org, ws, state, "first")))
        # The next run reads back what the first wrote (their stamps are newer than anything it
        # read) and finds nothing to change; it is shown, not hidden.
        print(json.dumps(one(org, ws, state, "second (reads back the first's writes)")))
        touched = [r[0] for r in org.db.execute(
            "SELECT Id FROM Lead WHERE IsConverted = 0 AND CAST(substr(Id, 4, 12) AS INTEGER) % ? = 7", (round(1 / args.touch),))]
        org.write([Patch("Lead", i, {"Status": "Working - Contacted"}) for i in touched])
        print(json.dumps(one(org, ws, state, f"incremental ({len(touched)} touched)")))


if __name__ == "__main__":
    main()
