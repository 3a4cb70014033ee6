"""Preflight: the org's fields against what the mapping reads and writes."""
from dataclasses import replace

import mappings
from connector.base import FieldInfo
from connector.preflight import preflight
from connector.schema import OBJECTS
from connector.workspace import load_workspace
from rules.templates import example_rules_dir


class Described:
    name = "stub"

    def __init__(self, fields):
        self.fields = fields

    def describe(self, object):
        return self.fields


def test_a_complete_org_is_ready():
    ws = load_workspace(example_rules_dir(), None, "Lead")
    assert [p for p in preflight(Described(OBJECTS["Lead"]), ws.mapping, ws.ruleset)
            if p.severity.value == "error"] == []


def test_every_gap_is_reported_with_what_to_do():
    ws = load_workspace(example_rules_dir(), None, "Lead")
    fields = dict(OBJECTS["Lead"])
    del fields["Revsync_Score__c"]
    fields["Revsync_Routed_At__c"] = replace(fields["Revsync_Routed_At__c"], type="date")
    fields["Revsync_Grade__c"] = replace(fields["Revsync_Grade__c"], updateable=False)
    fields["Revsync_SLA_Status__c"] = FieldInfo("Revsync_SLA_Status__c", "picklist", True, 20, ("pending", "met"))
    fields["Revsync_Stage__c"] = replace(fields["Revsync_Stage__c"], length=5)
    del fields["Rating"]
    found = {p.code: p for p in preflight(Described(fields), ws.mapping, ws.ruleset)}
    assert set(found) == {"D002", "D003", "D004", "D005", "D006", "D007"}
    assert "Number" in found["D003"].fix and "Revsync_Score__c" in found["D003"].message
    assert "breached" in found["D006"].message
    assert "Disqualified" not in found["D007"].message and "12" in found["D007"].fix  # longest stage: Disqualified
    assert found["D002"].severity.value == "warning"
