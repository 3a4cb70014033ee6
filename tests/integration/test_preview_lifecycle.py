"""revsync preview counts what a rule change does to the lifecycle: handoffs and SLA clocks.

An embedded demo org is synced once with the shipped rules (so every open lead carries what
revsync wrote: stage, owner, routed_at, the lifecycle memory), then previewed later against a
candidate whose MQL threshold is lower. The expectations come from the org's rows and the
per-record before/after values, not from the lifecycle counts under test.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.workspace.scaffold import scaffold
from tests.integration.test_preview import revsync

SYNCED = "2026-11-24T15:00:00Z"
LATER = "2026-11-25T14:00:00Z"  # 23 hours on: the 4h clocks have breached, the 1-day ones not yet
LOWER_MQL = ("score: {gte: 60}", "score: {gte: 40}")
LONGER_MQL = ("  - name: MQL\n    when: {stage: MQL}\n    within: 1d", "  - name: MQL\n    when: {stage: MQL}\n    within: 2d")
QUEUE = "Inbound Nurture"


def candidate(ws: Path, name: str, edit: tuple[str, str]) -> Path:
    shutil.copytree(ws / "baseline", ws / name)
    lead = ws / name / "lead.yaml"
    text = lead.read_text()
    assert text.count(edit[0]) == 1, edit[0]
    lead.write_text(text.replace(*edit))
    return ws / name


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    ws = tmp_path_factory.mktemp("preview-lifecycle")
    scaffold(ws)
    shutil.move(ws / "rules", ws / "baseline")  # the shipped rules
    candidate(ws, "lower", LOWER_MQL)
    candidate(ws, "longer", LONGER_MQL)
    create_demo_org(ws / "org.db", leads=600, seed=3)
    proc = revsync(ws, "sync", "--rules", "baseline", "--org", "local:org.db", "--now", SYNCED)
    assert proc.returncode == 0, proc.stderr
    return ws


def preview(ws: Path, rules: str, *extra: str) -> subprocess.CompletedProcess:
    proc = revsync(ws, "preview", "--baseline", "baseline", "--rules", rules, "--org", "local:org.db",
                   "--now", LATER, *extra)
    assert proc.returncode == 0, proc.stderr
    return proc


def org_rows(ws: Path) -> tuple[dict[str, dict], str]:
    db = sqlite3.connect(ws / "org.db")
    db.row_factory = sqlite3.Row
    rows = {r["Id"]: dict(r) for r in db.execute("SELECT * FROM Lead WHERE IsConverted = 0")}
    queue = db.execute("SELECT Id FROM \"Group\" WHERE Name = ?", (QUEUE,)).fetchone()[0]
    return rows, queue


def test_every_open_lead_carries_what_the_sync_wrote(ws):
    rows, _ = org_rows(ws)
    assert len(rows) == 540
    assert all(r["Revsync_Stage__c"] and r["Revsync_Routed_At__c"] and r["Revsync_Lifecycle__c"] for r in rows.values())


def test_handoffs_and_clocks_a_lower_mql_threshold_brings(ws):
    data = json.loads(preview(ws, "lower", "--format", "json", "--limit", "100000").stdout)
    rows, queue = org_rows(ws)
    changed = data["records"]
    assert len(changed) == data["changed_records"] > 0  # every changed record is listed
    life = data["lifecycle"]
    base, cand = life["baseline"], life["candidate"]

    # Independently: new MQLs (the candidate says MQL, revsync last wrote something else) and,
    # of those, the ones parked in the nurture queue, which the candidate hands off.
    new_mqls = [r for r in changed if r["after"].get("stage") == "MQL"
                and rows[r["id"]]["Revsync_Stage__c"] != "MQL"]
    from_queue = [r for r in new_mqls if r["before"]["stage"] in ("Nurture", "Recycled")
                  and rows[r["id"]]["OwnerId"] == queue]
    assert new_mqls and from_queue
    assert all(r["after"].get("sla_due") for r in new_mqls)  # every MQL runs an SLA entry

    handed = {h["to"]: h["count"] for h in cand["handoffs"] if h["from"] == f"queue:{QUEUE}"}
    assert sum(handed.values()) == len(from_queue)
    assert sum(h["count"] for h in cand["handoffs"]) == len(from_queue)  # and no other handoff
    # Round robins are counted per team, named as the preview names owners.
    teams = Counter(f"team:{r['teams']['after']}" for r in from_queue)
    assert handed == dict(teams) and "team:sdr" in handed

    assert sum(cand["clocks_started"].values()) == len(new_mqls)
    assert set(cand["clocks_started"]) <= {"Hot MQL", "MQL in EMEA", "MQL"}
    assert sum(e["count"] for e in cand["stage_entries"] if e["to"] == "MQL") == len(new_mqls)

    # The baseline is what the org already has: no handoff out of the queue, no clock starts.
    assert not [h for h in base["handoffs"] if h["from"] == f"queue:{QUEUE}"]
    assert base["clocks_started"] == {} and base["stage_entries"] == []
    # Running clocks keep their due in both versions.
    assert life["due_changed"] == {} and life["running_clocks_keep_due"] == {}
    # The 4-hour clocks the sync started have breached by now, in both versions alike.
    assert base["escalations"] == cand["escalations"] and base["escalations"].get("Hot MQL", 0) > 0

    table = preview(ws, "lower").stdout
    n, sdr, mql = len(new_mqls), handed["team:sdr"], cand["clocks_started"]["MQL"]
    assert f"{n} leads become MQL (baseline 0): {sdr} handoffs from queue {QUEUE} to team sdr (baseline 0)" in table
    assert f"; {mql} MQL clocks start (baseline 0)" in table


def test_a_longer_window_keeps_the_running_clocks_due(ws):
    """RULES.md, SLA: changing `within` applies to clocks that start after the change."""
    data = json.loads(preview(ws, "longer", "--format", "json").stdout)
    rows, _ = org_rows(ws)
    running = sum(json.loads(r["Revsync_Lifecycle__c"]).get("sla") == "MQL" for r in rows.values())
    life = data["lifecycle"]
    assert running > 0 and data["changed"]["sla_due"] == 0
    assert life["running_clocks_keep_due"] == {"MQL": running}
    assert life["due_changed"] == {} and life["candidate"]["clocks_started"] == {}
    table = preview(ws, "longer").stdout
    assert f"{running} running MQL clocks keep their due" in table


def test_open_records_are_counted_once(ws):
    # Without closed records in a batch, the open count once took the batch twice.
    data = json.loads(preview(ws, "lower", "--format", "json", "--where", "{converted: false}").stdout)
    assert data["evaluated"] == data["open"] == 540
    assert sum(data["stages"]["candidate"].values()) == 540
