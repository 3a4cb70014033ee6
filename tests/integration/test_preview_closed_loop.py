"""The preview's closed loop is a point-in-time backtest: a lead is decided as of when it was
decided, so activity logged after it converted cannot make it look like an MQL (look-ahead)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from connector.workspace.scaffold import scaffold
from tests.integration.test_preview import revsync

NOW = "2026-11-24T15:00:00Z"
RULES = """object: Lead
qualify:
  - name: Active
    when: {{last_activity_at: {{newer_than: {window}}}}}
    stage: MQL
  - name: Rest
    stage: Nurture
"""


def test_activity_after_conversion_does_not_leak_into_the_closed_loop(tmp_path: Path):
    scaffold(tmp_path)
    for name in os.listdir(tmp_path / "rules"):
        (tmp_path / "rules" / name).unlink()
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "lead.yaml").write_text(RULES.format(window="1d"))
    (tmp_path / "rules" / "lead.yaml").write_text(RULES.format(window="7d"))
    # Each entered its current stage (was decided) on 27 September, 10:00.
    rows = [
        # Converted 30 September, touched yesterday (long after it converted): today it looks active.
        ["00Q000000000001AAA", "Late", "Acme", "2026-09-25T10:00:00Z", "true", "2026-09-30", "2026-11-23"],
        # Touched on the 26th, the day before it was decided; converted a month later.
        ["00Q000000000002AAA", "Early", "Acme", "2026-09-25T10:00:00Z", "true", "2026-10-25", "2026-09-26"],
        # Touched on the 26th too, never converted.
        ["00Q000000000003AAA", "Open", "Acme", "2026-09-25T10:00:00Z", "false", "", "2026-09-26"],
    ]
    with (tmp_path / "leads.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Id", "LastName", "Company", "CreatedDate", "IsConverted", "ConvertedDate", "LastActivityDate",
                    "Revsync_Stage__c", "Revsync_Stage_Entered_At__c"])
        w.writerows(r + ["Nurture", "2026-09-27T10:00:00Z"] for r in rows)
    proc = revsync(tmp_path, "preview", "--baseline", "baseline", "--input", "leads.csv", "--now", NOW,
                   "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    loop = json.loads(proc.stdout)["closed_loop"]
    assert loop["point_in_time"] and loop["population"] == 3 and loop["converted"] == 2
    assert loop["decided_at"] == {"stage_entered_at": 3}
    # As of the 27th, the 7-day window sees the touches of the 26th (leads 2 and 3) and not the
    # one of 23 November: 2 MQLs, 1 of them converted. Judged as of today it would have been
    # lead 1 alone, converted: a perfect score the past could not have seen.
    cand = loop["candidate"]
    assert (cand["mql"], cand["mql_converted"], cand["precision"]["rate"], cand["recall"]["rate"]) == (2, 1, 0.5, 0.5)
    assert loop["baseline"]["mql"] == 0  # a day's window: the 26th's touch (a date) is older than that
    text = revsync(tmp_path, "preview", "--baseline", "baseline", "--input", "leads.csv", "--now", NOW).stdout
    assert "closed loop, point in time (3 leads decided as of their decision time" in text
