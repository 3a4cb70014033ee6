"""A preview of a capacity change shows, per member, what each received against the share the
weights promise, who was passed over and why, and how many records were held (hand-counted)."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

from connector.workspace.scaffold import scaffold
from tests.integration.test_preview import revsync

NOW = "2026-11-24T15:00:00Z"  # Tuesday
RULES = """object: Lead
teams:
  sdr:
    {caps}
    members: [alice@acme.example, {{user: bob@acme.example, weight: 2}}, carol@acme.example]
{availability}
route:
  - name: SDR
    assign: {{team: sdr}}
"""


def test_preview_counts_members_skips_and_holds(tmp_path: Path):
    scaffold(tmp_path)
    for name in os.listdir(tmp_path / "rules"):
        (tmp_path / "rules" / name).unlink()
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "lead.yaml").write_text(RULES.format(caps="", availability=""))
    (tmp_path / "rules" / "lead.yaml").write_text(RULES.format(
        caps="max_open: 3\n    when_full: hold", availability="availability: {out_of_office: ooo.csv}"))
    (tmp_path / "rules" / "ooo.csv").write_text("user,from,to\ncarol@acme.example,2026-11-23,2026-11-27\n")
    with (tmp_path / "leads.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Id", "LastName", "Company"])
        w.writerows([f"00Q{k:015d}", f"L{k}", "Acme"] for k in range(10))
    proc = revsync(tmp_path, "preview", "--baseline", "baseline", "--input", "leads.csv", "--now", NOW,
                   "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    teams = json.loads(proc.stdout)["teams"]
    base = {m["member"]: m["received"] for m in teams["baseline"]["teams"]["sdr"]["members"]}
    # The cycle bob alice carol bob, 10 leads: bob 5, alice 3 (rounded down), carol 2.
    assert base == {"alice@acme.example": 3, "bob@acme.example": 5, "carol@acme.example": 2}
    cand = teams["candidate"]
    members = {m["member"]: m for m in cand["teams"]["sdr"]["members"]}
    # carol is out; alice and bob take 3 each (max_open), the other 4 are held.
    assert {k: m["received"] for k, m in members.items()} == \
        {"alice@acme.example": 3, "bob@acme.example": 3, "carol@acme.example": 0}
    assert cand["held"] == 4
    assert members["bob@acme.example"]["promised_share"] == 0.5 and members["bob@acme.example"]["share"] == 0.5
    assert members["carol@acme.example"]["skipped"]["out of office"] >= 1
    assert members["alice@acme.example"]["skipped"]["max_open"] >= 1
    text = revsync(tmp_path, "preview", "--baseline", "baseline", "--input", "leads.csv", "--now", NOW).stdout
    assert "held: 4 record(s) no member could take" in text
    assert "bob@acme.example 3 (50%, promised 50%)" in text
