"""`revsync history ID`: one lead's timeline read back from the journal, through the CLI as a
subprocess, after real syncs of a demo org in which the lead turns from Nurture into an MQL."""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connector.orgs.base import Patch
from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.workspace.scaffold import scaffold

from .test_sync import revsync

FIRST, SECOND = "2026-11-24T15:00:00Z", "2026-11-25T15:00:00Z"


def sync(ws: Path, now: str) -> None:
    proc = revsync(ws, "sync", "--org", "local:org.db", "--now", now)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> tuple[Path, str, str]:
    """A workspace synced twice; between the syncs a nurtured lead became a demo-requesting VP."""
    ws = tmp_path_factory.mktemp("history")
    scaffold(ws)
    create_demo_org(ws / "org.db", leads=300, seed=7)
    sync(ws, FIRST)
    org = LocalOrg(ws / "org.db")
    nurture = next(g["Id"] for g in org.read_all("Group", ["Name"]) if g["Name"] == "Inbound Nurture")
    lead = next(r["Id"] for r in org.read_all("Lead", ["OwnerId", "Revsync_Stage__c", "IsConverted"])
                if r["Revsync_Stage__c"] == "Nurture" and r["OwnerId"] == nurture and not r["IsConverted"])
    assert org.write([Patch("Lead", lead, {"LeadSource": "Demo Request", "Title": "VP Sales",
                                           "Industry": "Software", "NumberOfEmployees": 500})])[0].ok
    org.close()
    sync(ws, SECOND)
    org = LocalOrg(ws / "org.db")
    assert org.read_ids("Lead", ["Revsync_Stage__c"], [lead])[0]["Revsync_Stage__c"] == "MQL"  # the premise
    org.close()
    return ws, lead, nurture


def history(ws: Path, record: str, *extra: str) -> dict:
    proc = revsync(ws, "history", record, "--org", "local:org.db", "--format", "json", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def kinds(events: list[dict], run: int) -> list[str]:
    return [e["kind"] for e in events if e["run"] == run]


def test_json_tells_the_first_routing_then_the_mql_handoff_from_the_nurture_queue(synced):
    ws, lead, nurture = synced
    out = history(ws, lead)
    assert out["record"] == lead
    events = out["events"]
    assert [e["run"] for e in events] == sorted(e["run"] for e in events) and {e["run"] for e in events} == {1, 2}
    first = [e for e in events if e["run"] == 1 and e["kind"] == "owner"]
    assert len(first) == 1 and first[0]["new"] == nurture and first[0]["by"] == "route/Nurture"
    assert first[0]["text"].startswith("first routing") and first[0]["change"] == "written"
    assert next(e["text"] for e in events if e["kind"] == "stage") == "stage Nurture (first decision)"
    assert kinds(events, 2)[:2] == ["stage", "handoff"]
    stage, handoff = [e for e in events if e["run"] == 2][:2]
    assert (stage["old"], stage["new"], stage["text"]) == ("Nurture", "MQL", "stage MQL (was Nurture)")
    assert stage["by"] == "qualify/Marketing qualified"
    assert handoff["field"] == "OwnerId" and handoff["old"] == nurture and handoff["new"].startswith("005")
    assert handoff["by"].startswith("route/") and handoff["by"] in handoff["rules"]
    assert "lead.yaml:" in handoff["rules"]  # the JSON keeps the full citations
    assert out["names"][nurture] == "queue Inbound Nurture"
    started = [e for e in events if e["kind"] == "sla_started"]
    assert [e["run"] for e in started] == [2] and started[0]["by"].startswith("sla/")
    assert started[0]["new"].startswith(SECOND[:10])  # the MQL clock starts at the second run
    assert all(e["at"] and e["status"] == "ok" for e in events)


def test_table_lists_each_run_and_a_15_character_id_finds_the_record(synced):
    ws, lead, _ = synced
    proc = revsync(ws, "history", lead[:15], "--org", "local:org.db")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[:2] for line in lines if line.startswith("run ")] == [["run", "1"], ["run", "2"]]
    assert "  stage MQL (was Nurture)" in lines
    handoff = next(line for line in lines if line.startswith("  handoff:"))
    assert "queue Inbound Nurture ->" in handoff and "@acme.example by route/" in handoff
    rules = [line for line in lines if line.startswith("  rules: ")]
    assert len(rules) == 2 and "qualify/Marketing qualified" in rules[1] and "lead.yaml:" not in rules[1]
    assert history(ws, lead[:15]) == history(ws, lead)


def test_a_revert_shows_on_the_reverted_run_and_on_the_revert(synced, tmp_path):
    ws, lead, nurture = synced
    ws = Path(shutil.copytree(ws, tmp_path / "ws"))
    proc = revsync(ws, "revert", "--org", "local:org.db", "2", "--yes")
    assert proc.returncode == 0, proc.stderr
    events = history(ws, lead)["events"]
    assert [e["by"] for e in events if e["kind"] == "revert"] == ["reverted by run 3", "revert of run 2"]
    assert [e["run"] for e in events if e["kind"] == "revert"] == [2, 3]
    back = [e for e in events if e["run"] == 3 and e["field"] == "OwnerId"]
    assert len(back) == 1 and back[0]["kind"] == "owner" and back[0]["new"] == nurture
    assert back[0]["by"] == "revert of run 2"
    # Reverting the revert restores the MQL clock's start: a restored field, not a clock starting.
    assert revsync(ws, "revert", "--org", "local:org.db", "3", "--yes").returncode == 0
    events = history(ws, lead)["events"]
    assert [e["by"] for e in events if e["kind"] == "revert"] == [
        "reverted by run 3", "revert of run 2", "reverted by run 4", "revert of run 3"]
    restored = [e for e in events if e["run"] == 4 and e["field"] == "Revsync_SLA_Started_At__c"]
    assert len(restored) == 1 and restored[0]["new"] and restored[0]["kind"] == "other"


def test_a_missed_deadline_shows_the_breach_and_the_escalation(synced, tmp_path):
    ws, lead, _ = synced
    ws = Path(shutil.copytree(ws, tmp_path / "ws"))
    org = LocalOrg(ws / "org.db")
    due = org.read_ids("Lead", ["Revsync_SLA_Due__c"], [lead])[0]["Revsync_SLA_Due__c"]
    org.close()
    sync(ws, (datetime.fromisoformat(due) + timedelta(hours=1)).isoformat())
    events = history(ws, lead)["events"]
    assert kinds(events, 3)[:2] == ["escalated", "sla_breached"]
    escalated = events[[e["run"] for e in events].index(3)]
    assert escalated["field"] == "OwnerId" and escalated["by"].startswith("sla/")


def test_an_unknown_record_or_a_missing_state_file_says_so_and_exits_0(synced):
    ws, _, _ = synced
    proc = revsync(ws, "history", "00Q00000000zzzz", "--org", "local:org.db")
    assert proc.returncode == 0 and proc.stdout == ""
    assert "no runs changed 00Q00000000zzzz" in proc.stderr
    out = history(ws, "00Q00000000zzzz")
    assert out["events"] == [] and out["record"].startswith("00Q00000000zzzz")
    proc = revsync(ws, "history", "00Q00000000zzzz", "--org", "local:other.db")
    assert proc.returncode == 0 and "no runs recorded in .revsync/other_db.state.db" in proc.stderr
