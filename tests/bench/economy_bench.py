"""What scheduled syncs cost in API calls: `python -m tests.bench.economy_bench --leads 2000`.

Runs as the CLI does given an access token (the org behind it remembered, preflight and the run
sharing one context, describes kept in the state) against the in-process fake org, with the
default lag and overlap, the fake's clock moved on 15 minutes before each run as a scheduler
would start them. Prints calls by kind and records read for a first sync, the run after it,
two quiet runs, a run after one change and the run after that. The HTTPS bench over the real
CLI is tests/bench/https_bench.py.
"""
from __future__ import annotations

import argparse
import json
import logging
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import responses
import structlog

from connector.context import OrgContext
from connector.demo.org import create_demo_org
from connector.orgs.base import Patch
from connector.orgs.local import LocalOrg
from connector.orgs.salesforce import Credentials, SalesforceOrg
from connector.orgs.salesforce_identity import KnownOrgs
from connector.sync.journal import State, StateCache
from connector.sync.preflight import preflight
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace
from rules.templates import example_rules_dir
from tests.fake_salesforce import INSTANCE, FakeSalesforce

NOW = datetime(2026, 11, 24, 15, tzinfo=timezone.utc)


def one_run(fake, ws, state, known) -> dict:
    fake.advance(timedelta(minutes=15))
    org = SalesforceOrg(Credentials("session", instance_url=INSTANCE, access_token=fake.token), api_floor=0,
                        bulk_query_threshold=0, bulk_write_threshold=0)
    org.known_orgs = known
    org.metadata_cache = StateCache(state)
    context = OrgContext(org, ws.mapping)
    preflight(org, ws.mapping, ws.ruleset, context)
    report = SyncRun(org, ws, state, SyncOptions(now=NOW), context=context).run()
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
        state, known = State(Path(tmp) / "state.db"), KnownOrgs(Path(tmp) / "salesforce-orgs.json")
        for label in ("first sync", "the run after it", "quiet run", "quiet run again"):
            print(json.dumps({"leads": args.leads, "run": label, **one_run(fake, ws, state, known)}))
        lead = next(r["Id"] for r in local.read_all("Lead", ["IsConverted"]) if not r["IsConverted"])
        local.write([Patch("Lead", lead, {"Title": "VP Sales"})])
        for label in ("1 change", "the run after it"):
            print(json.dumps({"leads": args.leads, "run": label, **one_run(fake, ws, state, known)}))


if __name__ == "__main__":
    main()
