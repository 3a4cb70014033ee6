"""Benchmarks (make bench): numbers printed, not asserted against the clock.

Each measurement runs in its own process so that peak RSS belongs to it alone.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.bench


def run_module(module: str, *args: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def show(title: str, rows: list[dict], keys: list[str]) -> None:
    print(f"\n{title}")
    print("  " + "  ".join(f"{k:>24}" for k in keys))
    for row in rows:
        print("  " + "  ".join(f"{str(row.get(k)):>24}" for k in keys))


def test_engine_throughput_and_memory():
    rows = [
        run_module("tests.bench.engine_bench", "--engine", "default", "--n", "100000"),
        run_module("tests.bench.engine_bench", "--engine", "default", "--n", "1000000"),
        run_module("tests.bench.engine_bench", "--engine", "durable", "--n", "20000"),
        run_module("tests.bench.engine_bench", "--engine", "naive-durable", "--n", "10000"),
    ]
    show("engines on tests/bench/rules/lead.yaml (62 rules, every section)", rows,
         ["engine", "records", "engine_records_per_s", "end_to_end_records_per_s", "peak_rss_mb"])
    # The same rules must decide the same way whatever the size of the run.
    assert rows[0]["stages"]["MQL"] > 0
    assert rows[1]["peak_rss_mb"] < 2 * rows[0]["peak_rss_mb"], "memory grew with the input"
