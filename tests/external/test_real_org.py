"""A smoke test against a real org: runs only when SF_* credentials are in the environment.

It reads (never writes) and checks the org is ready: `SF_* ... pytest -m external tests/external`.
"""
import os

import pytest

from connector.sync.preflight import preflight
from connector.orgs.salesforce import Credentials, SalesforceOrg
from connector.workspace.workspace import load_workspace
from rules.templates import example_rules_dir

pytestmark = [pytest.mark.external,
              pytest.mark.skipif(not any(k.startswith("SF_") for k in os.environ),
                                 reason="no SF_* credentials in the environment")]


def test_login_describe_and_read_a_page():
    org = SalesforceOrg(Credentials.from_env())
    assert "Id" in org.describe("Lead")
    page = next(org.changed_since("Lead", ["Id", "Email"], None, page_size=10), [])
    assert all(r["Id"].startswith("00Q") for r in page)
    assert org.api_max is None or org.api_used <= org.api_max


def test_preflight_reports_what_the_org_needs():
    org = SalesforceOrg(Credentials.from_env())
    ws = load_workspace(example_rules_dir(), None, "Lead")
    for problem in preflight(org, ws.mapping, ws.ruleset):
        print(problem)
