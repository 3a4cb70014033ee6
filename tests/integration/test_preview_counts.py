"""The preview's counts and its CI gates on exports whose answer is counted by hand.

Two rule files differ in one title, so exactly the leads with that title change stage. A gate
(`--max-stage-changes`) must trip at a share just below the true one and pass at it or above:
open records counted once (a batch without closed records was counted twice, halving every
share) and shares compared exactly (0.7% as a float is a hair below 7 of 1,000).
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest

from connector.workspace.scaffold import scaffold
from tests.integration.test_preview import revsync

NOW = "2026-11-24T15:00:00Z"
RULES = """object: Lead
qualify:
  - name: Hot
    when: {{title: [{titles}]}}
    stage: MQL
  - name: Everyone else
    stage: Nurture
"""


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    """Baseline: CEOs are MQLs. Candidate: CEOs and CTOs. Only CTOs change stage."""
    scaffold(tmp_path)
    for name in os.listdir(tmp_path / "rules"):
        (tmp_path / "rules" / name).unlink()
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "lead.yaml").write_text(RULES.format(titles="CEO"))
    (tmp_path / "rules" / "lead.yaml").write_text(RULES.format(titles="CEO, CTO"))
    return tmp_path


def export(path: Path, titles: list[str], converted: list[str] = ()) -> Path:
    """Open leads with these titles, then converted (closed) ones: Ids 00Q...1, 2, ..."""
    rows = [(t, "false") for t in titles] + [(t, "true") for t in converted]
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Id", "LastName", "Company", "Title", "IsConverted"])
        for i, (title, closed) in enumerate(rows, 1):
            writer.writerow([f"00Q{i:012d}AAA", f"Lead {i}", "Acme", title, closed])
    return path


def preview(ws: Path, data: Path, *gate: str) -> subprocess.CompletedProcess:
    return revsync(ws, "preview", "--baseline", "baseline", "--input", str(data), "--now", NOW, *gate)


def test_one_of_eight_open_leads_is_12_5_percent_with_or_without_closed_ones(ws):
    # 8 open leads, one CTO among them; 2 converted CTOs that a sync never touches.
    with_closed = export(ws / "with_closed.csv", ["CEO", "CTO"] + ["Intern"] * 6, converted=["CTO", "CTO"])
    only_open = export(ws / "only_open.csv", ["CEO", "CTO"] + ["Intern"] * 6)
    for data, evaluated in ((with_closed, 10), (only_open, 8)):
        proc = preview(ws, data, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        counts = json.loads(proc.stdout)
        assert (counts["evaluated"], counts["open"]) == (evaluated, 8)
        assert counts["changed"]["stage"] == 1 and counts["changed_records"] == 1
        assert counts["stage_moves"] == [{"from": "Nurture", "to": "MQL", "count": 1}]
        table = preview(ws, data)
        assert "1 of 8 open change" in table.stdout, table.stdout
        tripped = preview(ws, data, "--max-stage-changes", "12%")
        assert tripped.returncode == 1, tripped.stderr
        assert "stage changes for 1 of 8 open records (12.5%), above the 12% limit" in tripped.stderr
        for passing in ("13%", "12.5%", "0.125", "1/8"):
            proc = preview(ws, data, "--max-stage-changes", passing)
            assert proc.returncode == 0, (passing, proc.stderr)


def test_a_share_equal_to_the_limit_passes_exactly(ws):
    # 7 of 1,000: at `0.7%` the gate passes (float division put 0.7% below 7/1000 and tripped).
    titles = ["CTO"] * 7 + ["Intern"] * 993
    data = export(ws / "thousand.csv", titles)
    assert preview(ws, data, "--max-stage-changes", "0.7%").returncode == 0
    assert preview(ws, data, "--max-stage-changes", "0.007").returncode == 0
    tripped = preview(ws, data, "--max-stage-changes", "0.69%")
    assert tripped.returncode == 1 and "7 of 1000 open records" in tripped.stderr
