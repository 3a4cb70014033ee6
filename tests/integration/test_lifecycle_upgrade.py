"""Upgrading: an org synced by a revsync that had no lifecycle fields (its mapping wrote stage,
owner, routed_at and the SLA due only) runs on without instant breaches or reshuffles: running
clocks keep their due, queues the rules still assign keep their records, unknown stage entries
start now, and a nurtured lead that qualifies gets a full window from now."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from connector.orgs.base import Patch
from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.workspace.scaffold import scaffold
from tests.integration.test_sync import revsync, summary

T0 = "2026-11-02T15:00:00Z"  # Monday 10:00 in New York: the earlier version's sync
T1 = "2026-11-03T14:00:00Z"  # Tuesday 09:00: the first sync of this version
LIFECYCLE = ("previous_stage", "stage_entered_at", "sla_started_at", "sla_met_at", "lifecycle")
COLS = ["Id", "OwnerId", "Revsync_Stage__c", "Revsync_Routed_At__c", "Revsync_SLA_Due__c", "Revsync_SLA_Status__c",
        "Revsync_SLA_Started_At__c", "Revsync_Stage_Entered_At__c", "Revsync_Lifecycle__c", "IsConverted"]


def leads(path: Path) -> dict[str, dict]:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    rows = {r["Id"]: dict(r) for r in db.execute(f"SELECT {', '.join(COLS)} FROM Lead") if not r["IsConverted"]}
    db.close()
    return rows


def stamp(text: str) -> str:
    return text.replace("Z", ".000+0000")


def test_an_org_synced_without_lifecycle_fields_upgrades_in_place(tmp_path):
    scaffold(tmp_path)
    create_demo_org(tmp_path / "org.db", leads=600, seed=11)
    old = tmp_path / "old-mappings"
    old.mkdir()
    text = (tmp_path / "mappings" / "lead.yaml").read_text()
    (old / "lead.yaml").write_text("\n".join(line for line in text.splitlines()
                                             if not line.strip().startswith(tuple(f"{o}:" for o in LIFECYCLE))))
    proc = revsync(tmp_path, "sync", "--org", "local:org.db", "--now", T0, "--mappings", str(old))
    assert proc.returncode == 0, proc.stderr
    before = leads(tmp_path / "org.db")
    assert before and not any(r["Revsync_Lifecycle__c"] or r["Revsync_SLA_Started_At__c"] for r in before.values())
    names = {g["Name"]: g["Id"] for g in LocalOrg(tmp_path / "org.db").read_all("Group", ["Name"])}
    nurture = names["Inbound Nurture"]
    mqls = {rid for rid, r in before.items() if r["Revsync_Stage__c"] == "MQL" and r["Revsync_SLA_Status__c"] == "pending"
            and r["Revsync_SLA_Due__c"] > stamp(T1)}
    queued = {rid for rid, r in before.items() if r["OwnerId"] == nurture}
    heated = sorted(queued)[:60]
    org = LocalOrg(tmp_path / "org.db")
    assert all(r.ok for r in org.write([Patch("Lead", rid, {"LeadSource": "Demo Request", "Title": "VP Sales",
                                                            "Industry": "Software"}) for rid in heated]))
    org.close()

    proc = revsync(tmp_path, "sync", "--org", "local:org.db", "--now", T1, "--accept-changes")
    assert proc.returncode == 0, proc.stderr
    after = leads(tmp_path / "org.db")
    assert mqls and queued and heated
    # Running clocks keep their start (routed_at) and their due as written (records whose score
    # decayed out of MQL overnight have no clock any more).
    running = [rid for rid in mqls if after[rid]["Revsync_Stage__c"] == "MQL"]
    assert running
    for rid in running:
        assert after[rid]["Revsync_SLA_Due__c"] == before[rid]["Revsync_SLA_Due__c"]
        assert after[rid]["Revsync_SLA_Started_At__c"] == before[rid]["Revsync_Routed_At__c"]
        assert after[rid]["OwnerId"] == before[rid]["OwnerId"]
    # Leads that qualified now are handed from the queue, with a window from now.
    qualified = [rid for rid in heated if after[rid]["Revsync_Stage__c"] == "MQL"]
    assert len(qualified) >= 20
    for rid in qualified:
        r = after[rid]
        assert r["Revsync_SLA_Started_At__c"] == stamp(T1) and r["Revsync_SLA_Due__c"] > stamp(T1)
        assert r["Revsync_SLA_Status__c"] in ("pending", "met") and r["OwnerId"] != nurture
    # Nobody else moves: records in a queue their rule still assigns stay, people keep theirs.
    moved = {rid for rid in after if after[rid]["OwnerId"] != before[rid]["OwnerId"]}
    escalated = {rid for rid in moved if after[rid]["Revsync_SLA_Status__c"] == "breached"}
    assert moved - escalated == set(qualified)
    assert all(before[rid]["Revsync_SLA_Due__c"] < stamp(T1) for rid in escalated)  # due before T1: real breaches
    # Stage entries nobody recorded start now; every record now carries revsync's memory.
    stayed = [rid for rid in queued if rid not in heated]
    assert {after[rid]["Revsync_Stage_Entered_At__c"] for rid in stayed} == {stamp(T1)}
    assert all(after[rid]["Revsync_Routed_At__c"] == before[rid]["Revsync_Routed_At__c"] for rid in stayed)
    assert all(after[rid]["Revsync_Lifecycle__c"] for rid in after)
    again = revsync(tmp_path, "sync", "-v", "--org", "local:org.db", "--now", T1)
    assert summary(again)["written"] == 0
