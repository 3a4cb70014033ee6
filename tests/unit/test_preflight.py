"""Preflight: the org's fields against what the mapping reads and writes."""
from dataclasses import replace

from connector.orgs.base import FieldInfo
from connector.sync.preflight import preflight
from connector.orgs.local_schema import OBJECTS
from connector.workspace.workspace import load_workspace
from rules.templates import example_rules_dir


import pytest

from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    path = tmp_path_factory.mktemp("org") / "org.db"
    create_demo_org(path, leads=50)
    return LocalOrg(path)


class Described:
    """The demo org's users and queues, with the Lead fields a test gives."""
    name = "stub"

    def __init__(self, fields, org):
        self.fields, self.org = fields, org

    def describe(self, object):
        return self.fields

    def read_all(self, object, fields):
        return self.org.read_all(object, fields)


def test_a_complete_org_is_ready(demo):
    ws = load_workspace(example_rules_dir(), None, "Lead")
    assert [p for p in preflight(Described(OBJECTS["Lead"], demo), ws.mapping, ws.ruleset)
            if p.severity.value == "error"] == []


INACTIVE = "left.company@acme.example"  # an inactive user of the demo org


def test_owners_the_rules_name_must_be_in_the_org(demo, tmp_path):
    from connector.orgs.base import Patch
    from tests.rulekit import ruleset
    rules = ruleset("""
object: Lead
teams:
  west: {members: [alice@acme.example, nobody@acme.example]}
  unused: {members: [typo@acme.example]}
route:
  - {name: Ghost, when: {state: CA}, assign: {user: ghost@acme.example}}
  - {name: Nowhere, when: {state: NY}, assign: {queue: No Such Queue}}
  - {name: West, when: {state: WA}, assign: {team: west}}
  - {name: Gone, when: {state: TX}, assign: {user: INACTIVE}}
  - {name: Inbound, assign: {queue: Inbound SDR}}
""".replace("INACTIVE", INACTIVE))
    ws = load_workspace(example_rules_dir(), None, "Lead")
    found = [(p.code, p.loc.line) for p in preflight(Described(OBJECTS["Lead"], demo), ws.mapping, rules)]
    # nobody@ (in a team a rule uses), ghost@, No Such Queue; the inactive user is passed over
    # by routing (a warning); a team no rule uses is not checked.
    assert sorted(found) == [("D008", 4), ("D008", 7), ("D008", 8), ("D009", 10)]
    alice = next(u["Id"] for u in demo.read_all("User", ["Username"]) if u["Username"] == "alice@acme.example")
    demo.write([Patch("User", alice, {"IsActive": False})])
    found = {(p.code, p.severity.value) for p in preflight(Described(OBJECTS["Lead"], demo), ws.mapping, rules)}
    assert ("D009", "warning") in found
    demo.write([Patch("User", alice, {"IsActive": True})])


def test_every_gap_is_reported_with_what_to_do(demo):
    ws = load_workspace(example_rules_dir(), None, "Lead")
    fields = dict(OBJECTS["Lead"])
    del fields["Revsync_Score__c"]
    fields["Revsync_Routed_At__c"] = replace(fields["Revsync_Routed_At__c"], type="date")
    fields["Revsync_Grade__c"] = replace(fields["Revsync_Grade__c"], updateable=False)
    fields["Revsync_SLA_Status__c"] = FieldInfo("Revsync_SLA_Status__c", "picklist", True, 20, ("pending", "met"))
    fields["Revsync_Stage__c"] = replace(fields["Revsync_Stage__c"], length=5)
    del fields["Rating"]
    found = {p.code: p for p in preflight(Described(fields, demo), ws.mapping, ws.ruleset)}
    assert set(found) == {"D002", "D003", "D004", "D005", "D006", "D007"}
    assert "Number" in found["D003"].fix and "Revsync_Score__c" in found["D003"].message
    assert "breached" in found["D006"].message
    assert "Disqualified" not in found["D007"].message and "12" in found["D007"].fix  # longest stage: Disqualified
    assert found["D002"].severity.value == "warning"
