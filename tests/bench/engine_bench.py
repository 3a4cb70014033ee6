"""Engine throughput on synthetic leads: `python -m tests.bench.engine_bench --engine default --n 100000`.

Prints one JSON line: records/s of the engine alone (evaluate_batch), end to end (generate,
map, evaluate), and the process's peak RSS. Records are streamed in batches, so memory must
not grow with --n.
"""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import mappings
from connector.demo.synthetic import leads
from rules.evaluate import Context, Evaluator, make_matcher
from rules.loader import load

RULES = Path(__file__).parent / "rules"
NOW_ISO = "2026-11-23T15:00:00+00:00"


class NaiveDurable:
    """The baseline: durable_rules with one assert and one retract per record, no batching."""

    name = "naive-durable"

    def __init__(self, program):
        self.inner = make_matcher("durable", program)

    def _one(self, key, rows, T):
        out = []
        for v in rows:
            out.append(self.inner._run(key, [v], T)[0])
        return out

    def first(self, section, rows, T):
        return [h[0] if h else -1 for h in self._one(section.value, rows, T)]

    def all(self, section, rows, T):
        return self._one(section.value, rows, T)

    def met(self, rows, T, idx):
        return [i in h for h, i in zip(self._one("met", rows, T), idx)]


class _Stage:
    __slots__ = ("stage",)

    def __init__(self, stage):
        self.stage = stage


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["default", "durable", "naive-durable", "closure-sketch"], default="default")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=1000)
    args = ap.parse_args()
    from datetime import datetime
    now = datetime.fromisoformat(NOW_ISO)
    mapping = mappings.load("Lead")
    ruleset = load(RULES, "Lead", mapping.rule_fields()).ruleset
    evaluator = Evaluator(ruleset, "durable" if args.engine == "durable" else "default")
    if args.engine == "naive-durable":
        evaluator.matcher = NaiveDurable(evaluator.program)
    ctx = Context(now=now)
    if args.engine == "closure-sketch":
        from tests.bench.closure_sketch import build
        sketch = build(ruleset, now)
        evaluator.evaluate_batch = lambda batch, ctx: [_Stage(sketch(r)["stage"]) for r in batch]
    inbound = mapping.inbound
    engine_seconds = 0.0
    count = 0
    stages: dict[str, int] = {}
    start = time.perf_counter()
    batch: list[dict] = []
    error = None

    def run(batch: list[dict]) -> None:
        nonlocal engine_seconds, count
        t = time.perf_counter()
        decisions = evaluator.evaluate_batch(batch, ctx)
        engine_seconds += time.perf_counter() - t
        for d in decisions:
            stages[d.stage] = stages.get(d.stage, 0) + 1
        count += len(batch)

    try:
        for crm in leads(args.n, seed=42, now=now):
            batch.append(inbound(crm))
            if len(batch) == args.batch:
                run(batch)
                batch = []
        if batch:
            run(batch)
    except RuntimeError as exc:  # durable_rules' known limit: reported with how far it got
        if args.engine == "default":
            raise
        error = str(exc).splitlines()[0]
    total = time.perf_counter() - start
    print(json.dumps({
        "engine": args.engine, "records": count, "rules": len(ruleset.all_rules()),
        "engine_records_per_s": round(count / engine_seconds), "end_to_end_records_per_s": round(count / total),
        "engine_seconds": round(engine_seconds, 2), "total_seconds": round(total, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "stages": stages, **({"stopped": error} if error else {}),
    }))


if __name__ == "__main__":
    main()
