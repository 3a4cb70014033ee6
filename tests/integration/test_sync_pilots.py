"""A pilot through a real sync of the embedded org: records in the segment carry their arm in
the CRM field, the pilot arm is decided by the candidate rules and only it, the journal cites the
pilot, and starting or ending a pilot re-decides the records (a change of the rules)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.pilots import arm_of
from connector.workspace.scaffold import scaffold
from connector.workspace.settings import Pilot
from connector.workspace.workspace import load_workspace
from rules.model import RevsyncError
from tests.integration.test_sync_edits import NOW

FIELDS = ["Revsync_Stage__c", "Revsync_Pilot_Arm__c", "LeadSource", "IsConverted"]


@pytest.fixture()
def where(tmp_path: Path) -> Path:
    scaffold(tmp_path)
    create_demo_org(tmp_path / "org.db", leads=300, seed=7)
    shutil.copytree(tmp_path / "rules", tmp_path / "candidate")
    text = (tmp_path / "candidate" / "lead.yaml").read_text()
    assert "    stage: Nurture\n" in text
    (tmp_path / "candidate" / "lead.yaml").write_text(text.replace("    stage: Nurture\n", "    stage: Nurture-pilot\n"))
    return tmp_path


def sync(where: Path, pilots, **opts):
    state = State(where / "state.db")
    org = LocalOrg(where / "org.db")
    try:
        ws = load_workspace(where / "rules", where / "mappings", "Lead")
        return SyncRun(org, ws, state, SyncOptions(**{"now": NOW, "page_size": 100, **opts}), pilots=pilots).run()
    finally:
        state.close()
        org.close()


def leads(where: Path) -> list[dict]:
    org = LocalOrg(where / "org.db")
    try:
        return [r for r in org.read_all("Lead", FIELDS) if not r["IsConverted"]]
    finally:
        org.close()


def test_the_pilot_arm_is_decided_by_the_candidate_rules_and_written(where):
    pilot = Pilot("trial", where / "candidate", 0.5, "{lead_source: [Webinar, Web]}")
    report = sync(where, (pilot,))
    assert report.status == "ok"
    rows = leads(where)
    segment = [r for r in rows if r["LeadSource"] in ("Webinar", "Web")]
    outside = [r for r in rows if r["LeadSource"] not in ("Webinar", "Web")]
    assert len(segment) > 20 and outside
    assert all(r["Revsync_Pilot_Arm__c"] == arm_of(r["Id"], "trial", 0.5) for r in segment)
    assert all(r["Revsync_Pilot_Arm__c"] is None for r in outside)
    piloted = [r for r in segment if r["Revsync_Pilot_Arm__c"] == "pilot"]
    assert any(r["Revsync_Stage__c"] == "Nurture-pilot" for r in piloted)
    assert all(r["Revsync_Stage__c"] != "Nurture" for r in piloted)
    assert all(r["Revsync_Stage__c"] != "Nurture-pilot" for r in rows if r not in piloted)
    state = State(where / "state.db")
    try:
        cited = {c.record_id: c.rules for c in state.changes(report.run_id)}
    finally:
        state.close()
    assert all(cited[r["Id"]].startswith("pilot trial (pilot): ") for r in piloted)
    assert not any(cited[r["Id"]].startswith("pilot") for r in outside if r["Id"] in cited)


def test_ending_a_pilot_re_decides_its_arm_by_the_current_rules(where):
    pilot = Pilot("trial", where / "candidate", 1.0)
    sync(where, (pilot,))
    assert {r["Revsync_Stage__c"] for r in leads(where)} & {"Nurture-pilot"}
    ended = Pilot("trial", where / "candidate", 1.0, ended="rolled back 2026-11-25")
    sync(where, (ended,), accept_changes=True)
    stages = {r["Revsync_Stage__c"] for r in leads(where)}
    assert "Nurture-pilot" not in stages and "Nurture" in stages
    # The arm stays on the records: the report compares the arms after the pilot ended.
    assert {r["Revsync_Pilot_Arm__c"] for r in leads(where)} == {"pilot"}


def test_an_org_without_the_arm_field_is_refused_before_anything_is_written(where):
    pilot = Pilot("trial", where / "candidate", 0.5, arm_field="Pilot_Arm_Missing__c")
    with pytest.raises(RevsyncError, match="Pilot_Arm_Missing__c"):
        sync(where, (pilot,))
    assert all(r["Revsync_Stage__c"] is None for r in leads(where))
