"""What scheduled syncs cost, through the real CLI and the fake Salesforce over HTTPS:
`python -m tests.bench.https_bench [--leads 12000] [--changes 10000] [--kill-leads 2000]`.

The fake org (tests/fake_salesforce_server.py) is served on loopback with a throwaway
certificate, trusted through REQUESTS_CA_BUNDLE; every run is `revsync sync --org salesforce`
in a subprocess, given an access token (SF_INSTANCE_URL, SF_ACCESS_TOKEN), with the default lag
(30 s) and overlap (5 minutes). The fake's clock moves on 15 minutes before each run, as a
scheduler would start them. One JSON line per run: API calls by kind as the org counted them,
records read and written, wall time; 10,000 changes are written once through sObject
Collections (`bulk_write_threshold = 0`) and once as the settings leave it, through Bulk API
2.0 chosen by the run's size. Then a kill -9 at each of the six kill points (tests/killpoints.py)
and the run after it, on each write path, against an uninterrupted run of the same org: owners
and decisions that differ, records lost (written by the uninterrupted run, never by the killed
one and its resume) and records written twice.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Iterator

import structlog

from connector.demo.org import create_demo_org
from connector.orgs.base import Patch
from connector.orgs.local import LocalOrg
from connector.orgs.salesforce_http import call_kind
from connector.workspace.scaffold import scaffold
from tests.fake_salesforce_server import FakeSalesforceServer
from tests.killpoints import POINTS

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-24T15:00:00Z"  # the evaluation time of every run: SLA clocks do not run out mid-bench
SCHEDULE = timedelta(minutes=15)
KILL_PAGE = 3
# The kills' org (2,000 leads, 1,800 open) on each write path: spooled and written through REST
# below the default `bulk_write_threshold` (2,000), one ingest job at 1,000.
KILL_PATHS = {"rest": "", "bulk": "bulk_write_threshold = 1000\n"}
DECIDED = ["OwnerId", "Revsync_Stage__c", "Revsync_Score__c", "Revsync_Grade__c", "Revsync_Segment__c",
           "Revsync_Routed_At__c", "Revsync_SLA_Due__c"]


class Served:
    """A workspace and its org, served over HTTPS, with a connection of the bench's own for
    the changes people make between runs (stamped on the fake org's clock)."""

    def __init__(self, ws: Path, settings: str = ""):
        self.ws = ws
        self.server = FakeSalesforceServer(ws / "org.db", ws)
        self.fake = self.server.fake
        self.local = LocalOrg(ws / "org.db")
        self.local.clock = self.fake.org_clock
        if settings:
            self.set(settings)

    def set(self, settings: str) -> None:
        """Settings for the next runs, in place of the ones set before (TOML refuses a key
        written twice, so the file is rewritten from its scaffolded head)."""
        toml = self.ws / "revsync.toml"
        head = toml.read_text().split("# -- bench --\n")[0]
        toml.write_text(head + "# -- bench --\n" + settings)

    def run(self, label: str, kill: str | None = None) -> dict:
        self.fake.advance(SCHEDULE)
        start, started = len(self.fake.calls), time.perf_counter()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "REVSYNC_"))}
        env.update(self.server.env(), PYTHONPATH=str(ROOT))
        module = "cli"
        if kill:
            env["REVSYNC_KILL_AT"], module = kill, "tests.killpoints"
        proc = subprocess.run([sys.executable, "-m", module, "sync", "-v", "--org", "salesforce", "--now", NOW],
                              cwd=self.ws, env=env, capture_output=True, text=True, timeout=1800)
        seen = self.fake.calls[start:]
        kinds = Counter(call_kind(*call.split(" ", 1)) for call in seen)
        row = {"run": label, "exit": proc.returncode, "calls": len(seen), "by_kind": dict(sorted(kinds.items())),
               "wall_s": round(time.perf_counter() - started, 1)}
        if kill:
            if proc.returncode != -9:
                raise SystemExit(f"{label}: expected a kill -9, got exit {proc.returncode}: {proc.stderr[-2000:]}")
            return row
        done = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{") and '"run_done"' in line]
        if proc.returncode not in (0, 1) or not done:
            raise SystemExit(f"{label}: exit {proc.returncode}: {proc.stderr[-2000:]}")
        if done[-1]["api_calls"] != len(seen):  # what the connector counted is what the org answered
            raise SystemExit(f"{label}: the run counted {done[-1]['api_calls']} calls, the org {len(seen)}")
        return {**row, "read": done[-1]["read"], "written": done[-1]["written"]}

    def decided(self) -> dict[str, tuple]:
        return {r["Id"]: tuple(r[f] for f in DECIDED) for r in self.local.read_all("Lead", DECIDED)}

    def stop(self) -> None:
        self.local.close()
        self.server.stop()


@contextlib.contextmanager
def served(ws: Path, leads: int, seed: int, settings: str = "") -> Iterator[Served]:
    ws.mkdir()
    scaffold(ws)
    create_demo_org(ws / "org.db", leads=leads, seed=seed)
    org = Served(ws, settings)
    try:
        yield org
    finally:
        org.stop()


def open_leads(local: LocalOrg) -> list[dict]:
    return [r for r in local.read_all("Lead", ["IsConverted", "Title"]) if not r["IsConverted"]]


def economy(tmp: Path, leads: int, changes: int) -> Iterator[dict]:
    with served(tmp / "economy", leads, seed=7) as org:
        for label in ("first sync", "the run after it", "quiet run", "quiet run again"):
            yield org.run(label)
        one = open_leads(org.local)[0]["Id"]
        org.local.write([Patch("Lead", one, {"Title": "VP Sales"})])
        yield org.run("1 change")
        yield org.run("the run after it")
        # Many changes at once: students (disqualified, scored 0), then back to their titles.
        chosen = [r for r in open_leads(org.local) if r["Title"] != "Student"][:changes]
        org.local.write([Patch("Lead", r["Id"], {"Title": "Student"}) for r in chosen])
        org.set("bulk_write_threshold = 0\n")  # never Bulk: sObject Collections, 200 records a call
        yield {**org.run(f"{len(chosen)} changes, REST (bulk_write_threshold 0)"), "path": "rest"}
        yield org.run("the run after it")
        yield org.run("quiet run")
        # The settings as scaffolded: the run's changes reach bulk_write_threshold (2,000), so
        # its pages are spooled to the state and written by one ingest job.
        org.set("")
        jobs = len(org.fake.jobs)
        org.local.write([Patch("Lead", r["Id"], {"Title": r["Title"]}) for r in chosen])
        yield {**org.run(f"{len(chosen)} changes, Bulk by run size (bulk_write_threshold 2000)"), "path": "bulk",
               "ingest_jobs": sum(1 for c in list(org.fake.jobs.values())[jobs:] if c["operation"] == "update")}
        yield org.run("the run after it")


def kills(tmp: Path, leads: int) -> Iterator[dict]:
    """Every kill point on each write path, against the same org synced without interruption."""
    for path, settings in KILL_PATHS.items():
        yield from _kills(tmp / path, leads, path, settings)


def _kills(tmp: Path, leads: int, path: str, settings: str) -> Iterator[dict]:
    tmp.mkdir()
    with served(tmp / "straight", leads, seed=4, settings=settings) as org:
        org.run("uninterrupted")
        straight, straight_writes = org.decided(), Counter(org.fake.record_writes)
        straight_jobs = sum(1 for c in org.fake.jobs.values() if c["operation"] == "update")
    if straight_jobs != (path == "bulk"):
        raise SystemExit(f"the uninterrupted run on the {path} path made {straight_jobs} ingest job(s)")
    for point in POINTS:
        with served(tmp / point, leads, seed=4, settings=settings) as org:
            org.run(f"killed at {point}", kill=f"{point}:{KILL_PAGE}")
            resumed = org.run("the run after it")
            after = org.decided()
            writes = org.fake.record_writes
            yield {"kill": f"{point}:{KILL_PAGE}", "path": path, "resumed_exit": resumed["exit"],
                   "leads": len(after), "written_uninterrupted": sum(straight_writes.values()),
                   "written_killed_and_resumed": sum(writes.values()),
                   "owners_differ": sum(after[i][0] != straight[i][0] for i in straight),
                   "decisions_differ": sum(after[i] != straight[i] for i in straight),
                   "lost": sum(1 for i in straight_writes if not writes[i]),
                   "doubled": sum(1 for n in writes.values() if n > 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=12_000)
    ap.add_argument("--changes", type=int, default=10_000)
    ap.add_argument("--kill-leads", type=int, default=2_000)
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp:
        for row in economy(Path(tmp), args.leads, args.changes):
            print(json.dumps({"bench": "economy", "leads": args.leads, **row}), flush=True)
        for row in kills(Path(tmp), args.kill_leads):
            print(json.dumps({"bench": "kill", **row}), flush=True)


if __name__ == "__main__":
    main()
