"""Sync throughput on the embedded org: `python -m tests.bench.sync_bench --leads 100000`.

A first sync from scratch, then 1% of the leads touched and an incremental sync. Prints one
JSON line per run: wall time, records/s, peak RSS, and how the time splits between phases.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from connector.base import Patch
from connector.demo import create_demo_org
from connector.local import LocalOrg
from connector.state import State
from connector.sync import SyncOptions, SyncRun
from connector.workspace import load_workspace
from rules.templates import example_rules_dir

NOW = datetime.fromisoformat("2026-11-24T15:00:00+00:00")


def one(org, ws, state, label: str, overlap: timedelta = timedelta(minutes=5)) -> dict:
    t = time.perf_counter()
    report = SyncRun(org, ws, state, SyncOptions(object="Lead", now=NOW, overlap=overlap)).run()
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
    import structlog, logging
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "org.db"
        create_demo_org(path, leads=args.leads)
        ws = load_workspace(example_rules_dir(), None, "Lead")
        org, state = LocalOrg(path), State(Path(tmp) / "state.db")
        print(json.dumps(one(org, ws, state, "first")))
        ids = [r["Id"] for r in org.read_all("Lead", ["IsConverted"]) if not r["IsConverted"]]
        touched = random.Random(1).sample(ids, int(len(ids) * args.touch))
        org.write([Patch("Lead", i, {"Status": "Working - Contacted"}) for i in touched])
        state.db.execute("UPDATE watermark SET modstamp = ?", (_stamp(org, touched),))
        # On a real schedule the first run's own writes are older than the overlap window by the
        # next run; here they are seconds old, so the incremental run is given no overlap.
        print(json.dumps(one(org, ws, state, f"incremental ({len(touched)} touched)", timedelta(0))))


def _stamp(org: LocalOrg, ids: list[str]) -> str:
    rows = org.read_ids("Lead", ["SystemModstamp"], ids)
    return min(r["SystemModstamp"] for r in rows)


if __name__ == "__main__":
    main()
