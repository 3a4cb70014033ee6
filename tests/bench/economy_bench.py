"""What scheduled syncs cost in API calls: `python -m tests.bench.economy_bench --leads 2000`.

Runs as the CLI does (preflight and the run sharing one context, describes kept in the state)
against the in-process fake org, and prints calls by kind and records read for a first sync,
the run after it, a quiet run, and a run after one change. The overlap window is set to 0 here,
as for runs scheduled further apart than it (5 minutes on Salesforce): with a shorter schedule
the run after a burst of writes reads it once more.
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

import responses
import structlog

from connector.context import OrgContext
from connector.demo.org import create_demo_org
from connector.orgs.base import Patch
from connector.orgs.local import LocalOrg
from connector.sync.journal import State, StateCache
from connector.sync.preflight import preflight
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace
from rules.templates import example_rules_dir
from tests.fake_salesforce import FakeSalesforce, connect

NOW = datetime.fromisoformat("2026-11-24T15:00:00+00:00")


def one_run(fake, ws, state) -> dict:
    org = connect(fake, api_floor=0, bulk_query_threshold=0, bulk_write_threshold=0)
    org.metadata_cache = StateCache(state)
    context = OrgContext(org, ws.mapping)
    preflight(org, ws.mapping, ws.ruleset, context)
    report = SyncRun(org, ws, state, SyncOptions(now=NOW, overlap=timedelta(0)), context=context).run()
    kinds = {k: v for k, v in org.calls_by_kind.items() if v}
    return {"calls": org.calls, "by_kind": kinds, "read": report.read, "written": report.written}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=2000)
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    with tempfile.TemporaryDirectory() as tmp, responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        create_demo_org(Path(tmp) / "org.db", leads=args.leads)
        local = LocalOrg(Path(tmp) / "org.db")
        fake = FakeSalesforce(local, rsps)
        ws = load_workspace(example_rules_dir(), None, "Lead")
        state = State(Path(tmp) / "state.db")
        for label in ("first sync", "the run after it", "quiet run", "quiet run again"):
            print(json.dumps({"leads": args.leads, "run": label, **one_run(fake, ws, state)}))
        lead = next(r["Id"] for r in local.read_all("Lead", ["IsConverted"]) if not r["IsConverted"])
        local.write([Patch("Lead", lead, {"Title": "VP Sales"})])
        print(json.dumps({"leads": args.leads, "run": "1 change", **one_run(fake, ws, state)}))


if __name__ == "__main__":
    main()
