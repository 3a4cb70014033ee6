"""Preview versus one evaluate over the same export: `python -m tests.bench.preview_bench --n 100000`."""
from __future__ import annotations

import argparse
import csv
import json
import resource
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

from connector.offline import evaluate_file
from connector.preview.compare import Preview, file_records, run_preview
from connector.demo.synthetic import leads
from connector.workspace.workspace import load_workspace
from rules.templates import example_rules_dir

NOW = datetime.fromisoformat("2026-11-24T15:00:00+00:00")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "leads.csv"
        with export.open("w", newline="") as fh:
            writer = None
            for rec in leads(args.n, seed=42, now=NOW):
                rec.pop("attributes")
                if writer is None:
                    writer = csv.DictWriter(fh, fieldnames=list(rec))
                    writer.writeheader()
                writer.writerow({k: "" if v is None else v for k, v in rec.items()})
        candidate_dir = Path(tmp) / "candidate"
        shutil.copytree(example_rules_dir(), candidate_dir)
        lead = candidate_dir / "lead.yaml"
        lead.write_text(lead.read_text().replace("when: {score: {gte: 60}, grade: [A, B]}",
                                                 "when: {score: {gte: 45}, grade: [A, B, C]}"))
        baseline = load_workspace(example_rules_dir(), None, "Lead")
        candidate = load_workspace(candidate_dir, None, "Lead")
        t = time.perf_counter()
        count = sum(1 for _ in evaluate_file(candidate, export, NOW).decisions)
        evaluate_s = time.perf_counter() - t
        t = time.perf_counter()
        result = Preview(baseline, candidate, NOW)
        run_preview(result, file_records(candidate, export, result.bad_rows))
        preview_s = time.perf_counter() - t
        data = result.asdict()
    print(json.dumps({"records": count, "evaluate_s": round(evaluate_s, 2), "preview_s": round(preview_s, 2),
                      "ratio": round(preview_s / evaluate_s, 2), "changed_records": data["changed_records"],
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
