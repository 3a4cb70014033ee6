"""The lifecycle end to end, as RULES.md tells it: a nurtured lead that qualifies is handed to
the SDRs with a full window from that moment; a lead a person took keeps its owner with the same
deadline; a touched MQL stays met; an untouched one is breached and escalated once. Through the
CLI on an embedded org, every instant worked out by hand."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from connector.orgs.base import Patch
from connector.orgs.local import LocalOrg
from connector.workspace.scaffold import scaffold
from tests.integration.test_sync import revsync, summary

RULES = """\
object: Lead
calendars:
  ny: {timezone: America/New_York, days: [mon, tue, wed, thu, fri], hours: ["09:00", "17:00"]}
teams:
  sdr: {members: [frank@acme.example, gina@acme.example]}
qualify:
  - {name: Asked for a demo, when: {lead_source: Demo Request}, stage: MQL}
  - {name: Everyone else, stage: Nurture}
route:
  - {name: SDR round robin, when: {stage: MQL}, assign: {team: sdr}}
  - {name: Nurture, assign: {queue: Inbound Nurture}}
sla:
  - name: MQL
    when: {stage: MQL}
    within: 4h
    calendar: ny
    met_when: {status: Working - Contacted}
    escalate: {queue: SDR Managers}
"""
T0 = "2026-11-16T15:00:00Z"    # Monday 10:00 in New York: every lead is nurtured
T1 = "2026-11-17T14:00:00Z"    # Tuesday 09:00: they asked for a demo overnight; handoff, clocks start
DUE = "2026-11-17T18:00:00Z"   # Tuesday 13:00: four working hours later
T15 = "2026-11-17T16:00:00Z"   # Tuesday 11:00: Erin has called hers
T2 = "2026-11-17T19:00:00Z"    # Tuesday 14:00: past the due
FIELDS = ["OwnerId", "Revsync_Stage__c", "Revsync_Previous_Stage__c", "Revsync_Stage_Entered_At__c",
          "Revsync_Routed_At__c", "Revsync_SLA_Started_At__c", "Revsync_SLA_Due__c", "Revsync_SLA_Status__c",
          "Revsync_SLA_Met_At__c", "Revsync_Lifecycle__c"]


def stamp(text: str) -> str:
    return text.replace("Z", ".000+0000")


@pytest.fixture()
def org(tmp_path: Path):
    scaffold(tmp_path)
    (tmp_path / "rules" / "lead.cases.yaml").unlink()
    (tmp_path / "rules" / "lead.yaml").write_text(RULES)
    org = LocalOrg(tmp_path / "org.db", create=True)
    users = {name: f"005{n:012d}AAA" for n, name in enumerate(("frank", "gina", "erin", "mia"), 1)}
    org.insert("User", [{"Id": uid, "Username": f"{name}@acme.example", "Email": f"{name}@acme.example",
                         "Name": name.title(), "IsActive": True} for name, uid in users.items()])
    queues = {name: f"00G{n:012d}AAA" for n, name in enumerate(("Inbound Nurture", "SDR Managers"), 1)}
    org.insert("Group", [{"Id": gid, "Name": name, "DeveloperName": name.replace(" ", "_"), "Type": "Queue"}
                         for name, gid in queues.items()])
    leads = {name: f"00Q{n:012d}AAA" for n, name in enumerate("ABCD", 1)}
    org.insert("Lead", [{"Id": rid, "LastName": name, "Company": "Acme", "LeadSource": "Web", "Status": "Open",
                         "OwnerId": users["mia"], "IsConverted": False} for name, rid in leads.items()])
    org.close()
    return tmp_path, users, queues, leads


def sync(ws: Path, now: str) -> dict:
    proc = revsync(ws, "sync", "-v", "--org", "local:org.db", "--now", now)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return summary(proc)


def edit(ws: Path, rid: str, **values) -> None:
    org = LocalOrg(ws / "org.db")
    assert org.write([Patch("Lead", rid, values)])[0].ok
    org.close()


def read(ws: Path) -> dict[str, dict]:
    db = sqlite3.connect(ws / "org.db")
    db.row_factory = sqlite3.Row
    cols = ", ".join(f'"{c}"' for c in ["Id", *FIELDS])
    rows = {r["Id"]: dict(r) for r in db.execute(f"SELECT {cols} FROM Lead")}
    db.close()
    return rows


def test_handoffs_clocks_met_and_escalation_through_the_cli(org):
    ws, users, queues, leads = org
    A, B, C, D = (leads[n] for n in "ABCD")
    sync(ws, T0)
    first = read(ws)
    for rid in leads.values():
        r = first[rid]
        assert (r["OwnerId"], r["Revsync_Stage__c"], r["Revsync_Routed_At__c"]) == \
            (queues["Inbound Nurture"], "Nurture", stamp(T0))
        assert r["Revsync_SLA_Due__c"] is None and json.loads(r["Revsync_Lifecycle__c"])["by"] == "route/Nurture"

    # Erin takes B from the queue by hand; overnight all four ask for a demo; C is called at once.
    edit(ws, B, OwnerId=users["erin"])
    for rid in (A, B, C, D):
        edit(ws, rid, LeadSource="Demo Request")
    edit(ws, C, Status="Working - Contacted")
    explained = revsync(ws, "explain", "--org", "local:org.db", "--now", T1, A)
    assert "handoff from queue Inbound Nurture to team:sdr/frank@acme.example by rule 'SDR round robin'" \
        in explained.stdout, explained.stdout
    assert "stage MQL now (was Nurture)" in explained.stdout
    kept = revsync(ws, "explain", "--org", "local:org.db", "--now", T1, B).stdout
    assert "owner erin@acme.example kept" in kept and "a person set it after route/Nurture" in kept, kept

    sync(ws, T1)
    at_t1 = read(ws)
    for rid in (A, B, C, D):
        r = at_t1[rid]
        assert (r["Revsync_Stage__c"], r["Revsync_Previous_Stage__c"]) == ("MQL", "Nurture")
        assert r["Revsync_Stage_Entered_At__c"] == r["Revsync_SLA_Started_At__c"] == stamp(T1)
        assert r["Revsync_SLA_Due__c"] == stamp(DUE)  # a full window from T1, not from T0
    # Handed to the round robin in the order the sync read them (last edited last: A, D, C).
    assert [at_t1[r]["OwnerId"] for r in (A, D, C)] == [users["frank"], users["gina"], users["frank"]]
    assert {at_t1[r]["Revsync_Routed_At__c"] for r in (A, C, D)} == {stamp(T1)}
    # Erin's lead keeps Erin, and when it was routed.
    assert at_t1[B]["OwnerId"] == users["erin"] and at_t1[B]["Revsync_Routed_At__c"] == stamp(T0)
    assert at_t1[C]["Revsync_SLA_Status__c"] == "met" and at_t1[C]["Revsync_SLA_Met_At__c"] == stamp(T1)
    assert {at_t1[r]["Revsync_SLA_Status__c"] for r in (A, B, D)} == {"pending"}

    edit(ws, B, Status="Working - Contacted")  # Erin calls hers in time
    sync(ws, T15)
    at_t15 = read(ws)
    assert at_t15[B]["Revsync_SLA_Status__c"] == "met" and at_t15[B]["Revsync_SLA_Met_At__c"] == stamp(T15)

    edit(ws, C, Status="Open")  # a met clock stays met whatever the status does later
    edit(ws, A, Status="Working - Contacted")  # A is called, but after its due
    sync(ws, T2)
    at_t2 = read(ws)
    assert at_t2[C]["Revsync_SLA_Status__c"] == "met" and at_t2[C]["Revsync_SLA_Met_At__c"] == stamp(T1)
    assert at_t2[A]["Revsync_SLA_Status__c"] == "met" and at_t2[A]["Revsync_SLA_Met_At__c"] == stamp(T2)
    assert at_t2[A]["OwnerId"] == users["frank"]  # met late: never escalated
    # Nobody touched D: breached and escalated, once.
    assert at_t2[D]["Revsync_SLA_Status__c"] == "breached"
    assert at_t2[D]["OwnerId"] == queues["SDR Managers"] and at_t2[D]["Revsync_Routed_At__c"] == stamp(T2)
    memory = json.loads(at_t2[D]["Revsync_Lifecycle__c"])
    assert memory["by"] == "sla/MQL" and memory["esc"] == 1 and memory["sla"] == "MQL"
    assert memory["owners"] == [users["mia"], queues["Inbound Nurture"], users["gina"], queues["SDR Managers"]]
    # The others keep their deadlines.
    assert {at_t2[r]["Revsync_SLA_Due__c"] for r in (A, B, C, D)} == {stamp(DUE)}

    again = sync(ws, T2)  # nothing new: nothing written, nobody escalated twice
    assert again["written"] == 0 and read(ws) == at_t2
