"""Sync through the fake Salesforce: `python -m tests.bench.salesforce_bench --leads 10000 --path rest`.

Prints API calls (and write calls), wall time and peak RSS for a first sync and an idle
incremental one.
"""
from __future__ import annotations

import argparse
import json
import logging
import resource
import tempfile
import time
from datetime import datetime
from pathlib import Path

import responses
import structlog

from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace
from rules.templates import example_rules_dir
from tests.fake_salesforce import FakeSalesforce, connect

NOW = datetime.fromisoformat("2026-11-24T15:00:00+00:00")


def _serve(org_path: str, cert_dir: str, queue) -> None:
    from tests.fake_salesforce_server import FakeSalesforceServer
    server = FakeSalesforceServer(Path(org_path), Path(cert_dir))
    queue.put((server.url, server.fake.token, str(server.cert)))
    server.thread.join()


def separate_process(args) -> None:
    """The fake served from a child process, so this process's peak RSS is the connector's own."""
    import multiprocessing
    import os
    from connector.orgs.salesforce import Credentials, SalesforceOrg
    with tempfile.TemporaryDirectory() as tmp:
        # Made in a child too: building the demo org is not the connector's memory.
        maker = multiprocessing.get_context("fork").Process(target=create_demo_org,
                                                            args=(Path(tmp) / "org.db", args.leads))
        maker.start()
        maker.join()
        queue = multiprocessing.get_context("fork").Queue()
        child = multiprocessing.get_context("fork").Process(target=_serve, args=(str(Path(tmp) / "org.db"), tmp, queue),
                                                            daemon=True)
        child.start()
        url, token, cert = queue.get(timeout=60)
        os.environ["REQUESTS_CA_BUNDLE"] = cert
        ws = load_workspace(example_rules_dir(), None, "Lead")
        state = State(Path(tmp) / "state.db")
        # Read through REST either way; written through REST, or (bulk) as the settings leave it:
        # the run's changes reach bulk_write_threshold, so they wait in the state for one ingest job.
        org = SalesforceOrg(Credentials("session", instance_url=url, access_token=token), api_floor=0,
                            lag_seconds=0, bulk_query_threshold=0,
                            bulk_write_threshold=0 if args.path == "rest" else 2_000)
        t = time.perf_counter()
        report = SyncRun(org, ws, state, SyncOptions(now=NOW)).run()
        print(json.dumps({"path": f"{args.path} (fake in another process)", "leads": args.leads, "run": "first",
                          "written": report.written, "api_calls": org.calls, "wall_s": round(time.perf_counter() - t, 2),
                          "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
        child.terminate()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--leads", type=int, default=10_000)
    ap.add_argument("--path", choices=["rest", "bulk"], default="rest")
    ap.add_argument("--separate", action="store_true", help="serve the fake from another process")
    args = ap.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.separate:
        return separate_process(args)
    with tempfile.TemporaryDirectory() as tmp, responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        create_demo_org(Path(tmp) / "org.db", leads=args.leads)
        fake = FakeSalesforce(LocalOrg(Path(tmp) / "org.db"), rsps)
        ws = load_workspace(example_rules_dir(), None, "Lead")
        state = State(Path(tmp) / "state.db")
        bulk = args.path == "bulk"
        kw = dict(bulk_query_threshold=1, bulk_write_threshold=1, bulk_poll=0) if bulk else \
            dict(bulk_query_threshold=0, bulk_write_threshold=0)
        for label in ("first", "idle incremental"):
            if label != "first":
                state.db.execute("UPDATE watermark SET modstamp = '2999-01-01T00:00:00.000+0000'")
            calls, writes = len(fake.calls), fake.writes
            t = time.perf_counter()
            opts = SyncOptions(now=NOW, page_size=10_000 if bulk else 200)
            report = SyncRun(connect(fake, api_floor=0, **kw), ws, state, opts).run()
            print(json.dumps({"path": args.path, "leads": args.leads, "run": label, "written": report.written,
                              "api_calls": len(fake.calls) - calls, "write_calls": fake.writes - writes,
                              "wall_s": round(time.perf_counter() - t, 2),
                              "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
