"""A smoke test against a real org: runs only when SF_* credentials are in the environment.

It reads (never writes) and checks what the sync relies on: `SF_* ... pytest -m external tests/external`.
The dry run reads every Lead once, as a first sync would. `revsync doctor --org salesforce` lists
what the org still lacks; this test checks that such a list is complete.
"""
import os

import pytest

from connector.orgs.salesforce import Credentials, SalesforceOrg
from connector.sync.journal import State
from connector.sync.preflight import preflight
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace
from rules.templates import example_rules_dir

pytestmark = [pytest.mark.external,
              pytest.mark.skipif(not any(k.startswith("SF_") for k in os.environ),
                                 reason="no SF_* credentials in the environment")]

# Standard Lead fields the sync cannot work without, with the types Salesforce describes them as.
STANDARD = {"Id": "id", "OwnerId": "reference", "IsConverted": "boolean", "SystemModstamp": "datetime"}

# Rules that name no user or queue: the dry run then depends on the org's records alone, not on
# the example rules' users (acme.example) existing in it.
NO_ROUTING = """\
object: Lead
score:
  rules:
    - {name: Has email, when: {email: {exists: true}}, points: 10}
qualify:
  - {name: Reachable, when: {score: {gte: 10}}, stage: Reachable}
  - {name: Rest, stage: Unknown}
"""


def test_login_describe_and_read_a_page():
    # Without Bulk: a page read is then exactly two calls, whatever the org's size.
    org = SalesforceOrg(Credentials.from_env(), bulk_query_threshold=0)
    assert org.instance_url.startswith("https://") and org.calls == 0, org.instance_url

    lead = org.describe("Lead")
    assert {name: lead[name].type for name in STANDARD if name in lead} == STANDARD
    assert org.calls == 1
    # The daily budget the sync stops at (api_floor) is only known from this response header.
    assert org.api_max is not None and 0 < org.api_used <= org.api_max, (org.api_used, org.api_max)
    org.describe("Lead")
    assert org.calls == 1  # a describe is read once per connection

    page = next(org.changed_since("Lead", ["Id", "Email"], None, page_size=10), [])
    assert org.calls == 2  # one query: the fields it selects were checked against the cached describe
    assert len(page) <= 10
    assert all(r["Id"].startswith("00Q") and {"Email", "SystemModstamp"} <= r.keys() for r in page), page
    stamps = [r["SystemModstamp"] for r in page]
    assert stamps == sorted(stamps)  # the watermark is only safe if pages come oldest first


def test_preflight_names_every_mapped_field_the_org_lacks():
    org = SalesforceOrg(Credentials.from_env())
    ws = load_workspace(example_rules_dir(), None, "Lead")
    fields = org.describe("Lead")
    problems = preflight(org, ws.mapping, ws.ruleset)

    reads = {spec.crm for spec in ws.mapping.fields if spec.crm}
    writes = {out.crm for out in ws.mapping.outputs}
    expected = ({("D002", f"Lead.{crm}") for crm in reads - fields.keys()}
                | {("D003", f"Lead.{crm}") for crm in writes - fields.keys()}
                | {("D004", f"Lead.{crm}") for crm in writes & fields.keys() if not fields[crm].updateable})
    # Each of these messages starts with the field it is about.
    reported = {(p.code, p.message.split()[0]) for p in problems if p.code in ("D002", "D003", "D004")}
    assert reported == expected, "\n".join(map(str, problems))
    assert all(p.code.startswith("D") and p.fix for p in problems), "\n".join(map(str, problems))


def test_dry_run_sync_reads_and_decides_without_writing(tmp_path):
    org = SalesforceOrg(Credentials.from_env())
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "lead.yaml").write_text(NO_ROUTING)
    ws = load_workspace(rules, None, "Lead")
    state_path = tmp_path / "state.db"

    report = SyncRun(org, ws, State.for_reading(state_path), SyncOptions(dry_run=True)).run()

    assert report.status == "ok" and report.skipped == [], str(report)
    assert report.dry_run and report.run_id is None and report.written == 0 and report.failed == 0
    assert 0 <= report.evaluated <= report.read  # converted leads are read, never decided
    assert report.changed == report.would_write <= report.evaluated
    assert report.api_calls == org.calls > 0  # the summary's count is the connection's own
    assert org.api_max is not None and org.api_used <= org.api_max
    assert not state_path.exists()  # a dry run leaves no state behind
