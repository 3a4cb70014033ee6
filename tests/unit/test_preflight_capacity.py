"""Preflight (doctor and every sync) checks what capacity rules name in the org: the pause
checkbox on User and the overflow queue of `when_full`."""
from __future__ import annotations

from textwrap import dedent

from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.sync.preflight import preflight
from mappings import load as load_mapping
from rules.loader import parse_rules

RULES = """
object: Lead
teams:
  sdr:
    when_full: {queue: %s}
    members: [frank@acme.example]
availability:
  paused_field: %s
route:
  - {name: SDR, assign: {team: sdr}}
"""


def problems(tmp_path, queue, field):
    create_demo_org(tmp_path / "org.db", leads=20, seed=1)
    org = LocalOrg(tmp_path / "org.db")
    mapping = load_mapping("Lead", None)
    rs = parse_rules(dedent(RULES % (queue, field)), "lead.yaml", mapping.rule_fields()).ruleset
    try:
        return [(p.code, p.message) for p in preflight(org, mapping, rs) if p.code in ("D008", "D011")]
    finally:
        org.close()


def test_a_known_queue_and_checkbox_pass(tmp_path):
    assert problems(tmp_path, "SDR Managers", "Revsync_Paused__c") == []


def test_a_missing_overflow_queue_and_checkbox_are_refused(tmp_path):
    found = problems(tmp_path, "Overflow", "Paused__c")
    assert ("D011", "User.Paused__c (availability.paused_field) does not exist") in found
    assert any(code == "D008" and "Overflow" in message for code, message in found)
