"""Decisions -> CRM values: `Outbound.changes` writes exactly the fields whose value the CRM
does not already hold, however the CRM spells the value it holds."""
import json
from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from mappings import load
from mappings.outbound import Directory, Outbound, crm_format, id18, reason_text, same_value
from rules.evaluate import Context, Evaluator
from tests.rulekit import NOW, ruleset

RULES = ruleset("""
object: Lead
segment:
  - {name: big, when: {employees: {gte: 500}}, segment: enterprise}
  - {name: rest, segment: smb}
score:
  rules:
    - {name: vp, when: {title: {contains: vp}}, points: 20}
    - {name: ca, when: {state: CA}, points: 7.5}
    - {name: many, when: {employees: {gte: 100}}, points: 10}
  grade: {bands: {A: 25, B: 10, C: 0}}
qualify:
  - {name: mql, when: {score: {gte: 20}}, stage: MQL}
  - {name: open, stage: Open}
route:
  - {name: ann, when: {stage: MQL}, assign: {user: ann@acme.example}}
  - {name: queue, assign: {queue: Inbound}}
sla:
  - {name: mql, when: {stage: MQL}, within: 4h}
""")

DIRECTORY = Directory([{"Id": "005000000000001AAA", "Username": "ann@acme.example", "IsActive": True}],
                      [{"Id": "00G000000000001AAA", "Name": "Inbound", "DeveloperName": "Inbound"}])
OUTPUTS = {o.name: (o.crm, o.max_length) for o in load("Lead").outputs}


def decisions(records):
    return Evaluator(RULES).evaluate_batch(records, Context(now=NOW))


RECORDS = st.lists(st.fixed_dictionaries({
    "id": st.sampled_from(["00Q000000000001AAA", "00Q000000000002AAA"]),
    "title": st.sampled_from([None, "VP Sales", "Engineer", "svp"]),
    "state": st.sampled_from([None, "CA", "NY"]),
    "employees": st.sampled_from([None, 5, 100, 800]),
}), min_size=1, max_size=8)


def spellings(value):
    """What a CRM may hold for a desired value: the same value spelt differently, or another."""
    if value is None:
        return st.sampled_from([None, "", "x"])
    if isinstance(value, (int, float)):
        return st.sampled_from([value, float(value), str(value), value + 1, None, ""])
    if hasattr(value, "tzinfo"):
        return st.sampled_from([crm_format(value), value.isoformat(), crm_format(value + timedelta(minutes=1)),
                                crm_format(value).replace(".000+0000", "Z"), None])
    if len(value) == 18:
        return st.sampled_from([value, value[:15], "005000000000009AAA", None])
    return st.sampled_from([value, value + " ", "other", None, ""])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(RECORDS, st.data())
def test_changes_are_the_fields_the_crm_does_not_already_hold(records, data):
    outbound = Outbound(RULES, OUTPUTS, DIRECTORY)
    for d in decisions(records):
        desired = outbound.values(d)
        current = {crm: data.draw(spellings(v)) for crm, v in desired.items()}
        reason = desired.pop("Revsync_Reason__c")
        expected = {crm: crm_format(v) for crm, v in desired.items() if not same_value(current[crm], v)}
        # The reason goes with a change, never alone (it explains the values last written).
        for held in (reason, reason[:40], None):
            with_reason = expected if not expected or held == reason else {**expected, "Revsync_Reason__c": reason}
            assert outbound.changes(d, {**current, "Revsync_Reason__c": held}) == with_reason
        assert outbound.changes(d, {**current, **expected}) == {}


def test_text_that_begins_alike_is_not_taken_for_one_id():
    assert same_value("005000000000001", "005000000000001AAA")
    assert same_value("005000000000001aaa", "005000000000001")
    assert not same_value("revsync | segment: Acquire | score 40", "revsync | segment: Acquire | score 35")
    assert not same_value("005000000000001 and more", "005000000000001AAA")
    assert not same_value("RegionalAccounts01", "RegionalAccounts02")  # 18 letters, not an Id's two forms
    assert same_value("0015e00000AbCdE", "0015e00000AbCdEAAV") and not same_value("0015e00000AbCdE", "0015e00000AbCdEAAA")
    assert id18("0015e00000AbCdE") == "0015e00000AbCdEAAV" and id18("not an id") == "not an id"


def test_the_reason_is_the_same_text_however_often_it_is_asked_for():
    outbound = Outbound(RULES, OUTPUTS, DIRECTORY)
    records = [{"id": f"00Q00000000000{i}AAA", "title": t, "state": s, "employees": e}
               for i, (t, s, e) in enumerate([("VP Sales", "CA", 800), ("Engineer", None, 5),
                                              ("VP Sales", "CA", 800), ("svp", "NY", 100)])]
    first = [outbound.values(d)["Revsync_Reason__c"] for d in decisions(records)]
    again = [outbound.values(d)["Revsync_Reason__c"] for d in decisions(records)]
    assert first == again == [reason_text(d) for d in decisions(records)]
    assert first[0] == first[2] != first[1] != first[3]
    assert "score 37.5: vp, ca, many" in first[0]


ESCALATING = ruleset("""
object: Lead
qualify:
  - {name: mql, when: {employees: {gte: 100}}, stage: MQL}
  - {name: open, stage: Open}
route:
  - {name: ann, when: {stage: MQL}, assign: {user: ann@acme.example}}
  - {name: queue, assign: {queue: Inbound}}
sla:
  - {name: mql, when: {stage: MQL}, within: 4h, escalate: {queue: Inbound}}
""")


def test_the_reason_says_handoff_and_escalation_and_the_memory_names_written_owners():
    moved = {"employees": 500, "owner_id": "00G000000000001AAA", "routed_at": "2026-11-01T10:00:00Z",
             "previous.stage": "Open", "previous.lifecycle": '{"v":1,"by":"route/queue","owner":"00G000000000001AAA"}'}
    late = {"employees": 500, "owner_id": "005000000000001AAA", "routed_at": "2026-11-01T10:00:00Z",
            "previous.stage": "MQL", "previous.sla_started_at": "2026-11-01T10:00:00Z",
            "previous.sla_due": "2026-11-01T14:00:00Z",
            "previous.lifecycle": '{"v":1,"by":"route/ann","owner":"005000000000001AAA","sla":"mql"}'}
    handed, escalated = Evaluator(ESCALATING).evaluate_batch([moved, late], Context(now=NOW))
    assert reason_text(handed) == "revsync | stage: mql | owner: ann (handoff) | SLA: mql"
    assert reason_text(escalated) == "revsync | stage: mql | owner: escalated by SLA mql | SLA: mql (escalated)"
    outbound = Outbound(ESCALATING, OUTPUTS, DIRECTORY)
    memory = json.loads(outbound.values(escalated)["Revsync_Lifecycle__c"])
    assert memory == {"v": 1, "by": "sla/mql", "owner": "00G000000000001AAA", "sla": "mql", "esc": 1,
                      "owners": ["005000000000001AAA", "00G000000000001AAA"]}
    memory = json.loads(outbound.values(handed)["Revsync_Lifecycle__c"])
    assert memory["by"] == "route/ann" and memory["owner"] == "005000000000001AAA"
    assert memory["owners"] == ["00G000000000001AAA", "005000000000001AAA"]
