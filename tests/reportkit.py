"""Tiny embedded orgs whose report numbers are counted by hand (tests/unit/test_report_*.py and
tests/integration/test_report_cli.py). Every lead is described where it is made, with what it
counts for."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from connector.orgs.base import Patch
from connector.orgs.local import LocalOrg
from connector.sync.journal import State

NOW = datetime(2026, 11, 30, 15, tzinfo=timezone.utc)  # Monday 10:00 in New York

RULES = """
object: Lead
calendars:
  ny: {timezone: America/New_York, days: [mon, tue, wed, thu, fri], hours: ["09:00", "17:00"]}
teams:
  sdr:
    members: [ann@x.example, {user: bo@x.example, weight: 3}]
score:
  rules:
    - {name: Demo, when: {lead_source: Demo Request}, points: 50}
    - {name: Webinar, when: {lead_source: Webinar}, points: 30}
    - {name: Active, when: {last_activity_at: {newer_than: 7d}}, points: 30}
qualify:
  - {name: Customer, when: {converted: true}, stage: Customer}   # decided today, every converted lead
  - {name: Hot, when: {score: {gte: 50}}, stage: MQL}
  - {name: Rest, stage: Nurture}
route:
  - {name: SDR, when: {stage: MQL}, assign: {team: sdr}}
  - {name: Nurture, assign: {queue: Nurture}}
sla:
  - name: MQL
    when: {stage: MQL}
    within: 1d
    calendar: ny
    met_when: {status: [Working]}
    escalate: {queue: Managers}
"""
# The candidate of the backtest: a lower bar for MQL.
CANDIDATE = RULES.replace("{score: {gte: 50}}", "{score: {gte: 30}}")


def write_rules(directory: Path, text: str = RULES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "lead.yaml").write_text(text)
    return directory


def memory(by: str, owner: str, sla: str | None = "MQL", esc: bool = False) -> str:
    data = {"v": 1, "by": by, "owner": owner, **({"sla": sla} if sla else {}), **({"esc": 1} if esc else {})}
    return json.dumps(data, separators=(",", ":"))


@dataclass
class FunnelOrg:
    path: Path
    state: Path
    ids: dict[str, str]  # L1..L9 -> Lead Id
    users: dict[str, str]  # name -> Id


def funnel_org(directory: Path) -> FunnelOrg:
    """Nine leads; with the journal, at NOW (2026-11-30 15:00 UTC):

    | lead | counts for |
    |---|---|
    | L1 | MQL, clock met on time after 120 business minutes, converted, opportunity O1 won 1,000; sdr gave it to ann |
    | L2 | MQL, clock met late after 540 business minutes (Mon 09:00-17:00 and Tue 09:00-10:00 NY); sdr gave it to bo |
    | L3 | MQL, clock breached and escalated to queue Managers (by sla/MQL: no team) |
    | L4 | MQL, clock pending (due tomorrow); sdr gave it to bo |
    | L5 | Nurture now, was MQL: the journal has it entering MQL 11-10 15:00 and met 11-10 16:00 (followed up) |
    | L6 | Nurture, converted, O2 lost 500; a dry run that made it MQL does not count |
    | L7 | created 10-01 (before --since 2026-11-01), converted, O3 won 700 |
    | L8 | never decided (no revsync fields) |
    | L9 | MQL, clock breached, not escalated, activity logged the day after it qualified (followed up); sdr gave it to ann |
    """
    org = LocalOrg(directory / "org.db", create=True)
    ann, bo, mkt = org.insert("User", [{"Username": u, "Email": u, "Name": u, "IsActive": True}
                                       for u in ("ann@x.example", "bo@x.example", "mkt@x.example")])
    nurture, managers = org.insert("Group", [{"Name": q, "DeveloperName": q, "Type": "Queue"} for q in ("Nurture", "Managers")])
    o1, o2, o3 = org.insert("Opportunity", [
        {"Name": "O1", "Amount": 1000, "IsWon": True, "IsClosed": True, "StageName": "Closed Won"},
        {"Name": "O2", "Amount": 500, "IsWon": False, "IsClosed": True, "StageName": "Closed Lost"},
        {"Name": "O3", "Amount": 700, "IsWon": True, "IsClosed": True, "StageName": "Closed Won"}])
    started, due = "2026-11-16T14:00:00Z", "2026-11-16T22:00:00Z"  # Monday 09:00 NY, one working day
    mql = {"Revsync_Stage__c": "MQL", "Revsync_Stage_Entered_At__c": started, "Revsync_SLA_Started_At__c": started,
           "Revsync_SLA_Due__c": due, "LeadSource": "Demo Request"}
    leads = {
        "L1": {**mql, "CreatedDate": "2026-11-16T13:00:00.000+0000", "OwnerId": ann, "Status": "Working",
               "Revsync_SLA_Met_At__c": "2026-11-16T16:00:00Z", "Revsync_SLA_Status__c": "met",
               "Revsync_Lifecycle__c": memory("route/SDR", ann), "IsConverted": True, "ConvertedOpportunityId": o1},
        "L2": {**mql, "CreatedDate": "2026-11-16T13:00:00.000+0000", "OwnerId": bo, "Status": "Working",
               "Revsync_SLA_Met_At__c": "2026-11-17T15:00:00Z", "Revsync_SLA_Status__c": "met",
               "Revsync_Lifecycle__c": memory("route/SDR", bo)},
        "L3": {**mql, "CreatedDate": "2026-11-16T13:00:00.000+0000", "OwnerId": managers,
               "Revsync_SLA_Status__c": "breached", "Revsync_Lifecycle__c": memory("sla/MQL", managers, esc=True)},
        "L4": {**mql, "CreatedDate": "2026-11-30T14:00:00.000+0000", "OwnerId": bo,
               "Revsync_Stage_Entered_At__c": "2026-11-30T14:30:00Z", "Revsync_SLA_Started_At__c": "2026-11-30T14:30:00Z",
               "Revsync_SLA_Due__c": "2026-12-01T14:30:00Z", "Revsync_SLA_Status__c": "pending",
               "Revsync_Lifecycle__c": memory("route/SDR", bo)},
        "L5": {"CreatedDate": "2026-11-09T13:00:00.000+0000", "LeadSource": "Webinar", "OwnerId": nurture,
               "Revsync_Stage__c": "Nurture", "Revsync_Previous_Stage__c": "MQL",
               "Revsync_Stage_Entered_At__c": "2026-11-20T15:00:00Z",
               "Revsync_Lifecycle__c": memory("route/Nurture", nurture, sla=None)},
        "L6": {"CreatedDate": "2026-11-20T13:00:00.000+0000", "LeadSource": "Web", "OwnerId": nurture,
               "Revsync_Stage__c": "Nurture", "Revsync_Stage_Entered_At__c": "2026-11-20T15:00:00Z",
               "IsConverted": True, "ConvertedOpportunityId": o2},
        "L7": {"CreatedDate": "2026-10-01T13:00:00.000+0000", "LeadSource": "Trade Show", "OwnerId": ann,
               "Revsync_Stage__c": "Nurture", "IsConverted": True, "ConvertedOpportunityId": o3},
        "L8": {"CreatedDate": "2026-11-25T13:00:00.000+0000", "LeadSource": "Web", "OwnerId": mkt},
        "L9": {**mql, "CreatedDate": "2026-11-23T13:00:00.000+0000", "OwnerId": ann,
               "Revsync_Stage_Entered_At__c": "2026-11-23T14:00:00Z", "Revsync_SLA_Started_At__c": "2026-11-23T14:00:00Z",
               "Revsync_SLA_Due__c": "2026-11-23T22:00:00Z", "Revsync_SLA_Status__c": "breached",
               "LastActivityDate": "2026-11-24", "Revsync_Lifecycle__c": memory("route/SDR", ann)},
    }
    ids = dict(zip(leads, org.insert("Lead", [{"LastName": name, "Company": "X", **rec} for name, rec in leads.items()])))
    org.close()
    state = directory / "state.db"
    _journal(state, ids)
    return FunnelOrg(directory / "org.db", state, ids, {"ann": ann, "bo": bo, "mkt": mkt})


def _journal(path: Path, ids: dict[str, str]) -> None:
    """Runs as the sync journals them: L5 enters MQL, is met, then goes back to Nurture; a dry
    run makes L6 an MQL (nothing written); a failed write would have made L8 one; a run that
    made L6 an MQL was reverted."""
    state = State(path)
    runs = [("2026-11-10T15:00:00Z", False, [("L5", {"Revsync_Stage__c": "MQL",
                                                     "Revsync_Stage_Entered_At__c": "2026-11-10T15:00:00Z"})]),
            ("2026-11-10T16:00:00Z", False, [("L5", {"Revsync_SLA_Met_At__c": "2026-11-10T16:00:00Z"})]),
            ("2026-11-20T15:00:00Z", False, [("L5", {"Revsync_Stage__c": "Nurture", "Revsync_Previous_Stage__c": "MQL"})]),
            ("2026-11-21T15:00:00Z", True, [("L6", {"Revsync_Stage__c": "MQL"})]),
            ("2026-11-22T15:00:00Z", False, [("L8", {"Revsync_Stage__c": "MQL"})])]
    for at, dry, changes in runs:
        run = state.start_run("Lead", "local", dry, "fingerprint")
        patches = [Patch("Lead", ids[name], values) for name, values in changes]
        state.begin_page(run, 1, patches, {}, None)
        failed = {ids["L8"]: ("ENTITY_IS_DELETED", "deleted")} if changes[0][0] == "L8" else {}
        written = [p.id for p in patches if p.id not in failed]
        state.finish_page("Lead", run, 1, written, failed, {}, None, {}, queue_failed=False)
        state.finish_run(run, "ok", {"evaluated_at": at})
    undone = state.start_run("Lead", "local", False, "fingerprint")
    state.begin_page(undone, 1, [Patch("Lead", ids["L6"], {"Revsync_Stage__c": "MQL"})], {}, None)
    state.finish_page("Lead", undone, 1, [ids["L6"]], {}, {}, None, {})
    state.finish_run(undone, "ok", {"evaluated_at": "2026-11-23T15:00:00Z"})
    revert = state.start_run("Lead", "local", False, f"revert:{undone}")
    state.begin_page(revert, 1, [Patch("Lead", ids["L6"], {"Revsync_Stage__c": "Nurture"})], {}, None)
    state.finish_page("Lead", revert, 1, [ids["L6"]], {}, {}, None, {})
    state.finish_run(revert, "ok", {})
    state.mark_reverted(undone, revert)
    state.close()


def backtest_org(directory: Path) -> dict[str, str]:
    """Closed-loop leads for a backtest at NOW, decided as of their creation (10:00 UTC):

    | lead | source | activity | score then | baseline (>= 50) | candidate (>= 30) | outcome |
    |---|---|---|---|---|---|---|
    | B1 | Demo Request | | 50 | MQL | MQL | converted, won 1,000 |
    | B2 | Webinar | | 30 | | MQL | converted, won 3,000 |
    | B3 | Webinar | 11-28, after its decision: dropped, flagged | 30 | | MQL | open |
    | B4 | Web | 5 days before it came (newer than 7d then, not 7 days later) | 30 | | MQL | open |
    | B5 | Demo Request | | 50 | MQL | MQL | open |
    | B6 | Demo Request | | 50 | | | 10 days old: immature, left out |
    | B7 | Web | | 0 | | | converted, lost 500 |
    """
    org = LocalOrg(directory / "org.db", create=True)
    org.insert("User", [{"Username": "ann@x.example", "Email": "ann@x.example", "IsActive": True},
                        {"Username": "bo@x.example", "Email": "bo@x.example", "IsActive": True}])
    org.insert("Group", [{"Name": q, "DeveloperName": q, "Type": "Queue"} for q in ("Nurture", "Managers")])
    w1, w2, lost, w6 = org.insert("Opportunity", [
        {"Name": "W1", "Amount": 1000, "IsWon": True, "IsClosed": True},
        {"Name": "W2", "Amount": 3000, "IsWon": True, "IsClosed": True},
        {"Name": "L", "Amount": 500, "IsWon": False, "IsClosed": True},
        {"Name": "W6", "Amount": 9000, "IsWon": True, "IsClosed": True}])
    rows = {
        "B1": ("2026-09-01", "Demo Request", None, w1, "2026-10-01"),
        "B2": ("2026-09-02", "Webinar", None, w2, "2026-10-02"),
        "B3": ("2026-09-03", "Webinar", "2026-11-28", None, None),
        "B4": ("2026-09-04", "Web", "2026-08-30", None, None),
        "B5": ("2026-09-05", "Demo Request", None, None, None),
        "B6": ("2026-11-20", "Demo Request", None, w6, "2026-11-25"),
        "B7": ("2026-09-06", "Web", None, lost, "2026-10-06"),
    }
    records = [{"LastName": name, "Company": "X", "CreatedDate": f"{day}T10:00:00.000+0000", "LeadSource": source,
                "LastActivityDate": activity, "IsConverted": opp is not None, "ConvertedOpportunityId": opp,
                "ConvertedDate": converted} for name, (day, source, activity, opp, converted) in rows.items()]
    ids = dict(zip(rows, org.insert("Lead", records)))
    org.close()
    return ids
