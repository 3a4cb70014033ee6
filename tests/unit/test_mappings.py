"""Mappings: the shipped defaults, reading CRM records, validation, lead-to-account matching."""
from pathlib import Path

import pytest

import mappings
from mappings import AccountMatcher, domain_of
from rules.model import ConfigError, FieldType as F

PINNED_LEAD = {
    "id": ("Id", F.ID), "first_name": ("FirstName", F.STRING), "last_name": ("LastName", F.STRING),
    "title": ("Title", F.STRING), "email": ("Email", F.STRING), "company": ("Company", F.STRING),
    "website": ("Website", F.STRING), "employees": ("NumberOfEmployees", F.NUMBER),
    "annual_revenue": ("AnnualRevenue", F.NUMBER), "industry": ("Industry", F.PICKLIST),
    "country": ("Country", F.STRING), "state": ("State", F.STRING), "city": ("City", F.STRING),
    "lead_source": ("LeadSource", F.PICKLIST), "status": ("Status", F.PICKLIST),
    "rating": ("Rating", F.PICKLIST), "owner_id": ("OwnerId", F.ID),
    "created_at": ("CreatedDate", F.DATETIME), "last_activity_at": ("LastActivityDate", F.DATE),
    "modified_at": ("SystemModstamp", F.DATETIME), "converted": ("IsConverted", F.BOOLEAN),
}
OUTPUTS = {"score": "Revsync_Score__c", "grade": "Revsync_Grade__c", "stage": "Revsync_Stage__c",
           "segment": "Revsync_Segment__c", "owner": "OwnerId", "routed_at": "Revsync_Routed_At__c",
           "sla_due": "Revsync_SLA_Due__c", "sla_status": "Revsync_SLA_Status__c", "reason": "Revsync_Reason__c"}


def test_default_lead_mapping_has_every_pinned_field():
    m = mappings.load("Lead")
    specs = {f.name: f for f in m.fields}
    for name, (crm, ftype) in PINNED_LEAD.items():
        assert (specs[name].crm, specs[name].type) == (crm, ftype), name
    assert specs["email_domain"].derive == "domain" and specs["email_domain"].source == "email"
    assert {o.name: o.crm for o in m.outputs} == OUTPUTS
    fields = m.rule_fields()
    assert fields["routed_at"] is F.DATETIME and fields["account.share_of_wallet"] is F.NUMBER
    assert fields["owner.is_active"] is F.BOOLEAN
    assert "Revsync_Routed_At__c" in m.crm_fields()  # read back: routing stays sticky


def test_default_opportunity_mapping():
    m = mappings.load("Opportunity")
    specs = {f.name: (f.crm, f.type) for f in m.fields}
    assert specs["amount"] == ("Amount", F.NUMBER)
    assert specs["stage_changed_at"] == ("LastStageChangeDate", F.DATETIME)
    assert specs["close_date"] == ("CloseDate", F.DATE)
    assert specs["is_won"] == ("IsWon", F.BOOLEAN)
    account = next(r for r in m.related if r.name == "account")
    assert account.lookup == "account_id"


def test_inbound_from_csv_text_row_with_related_columns():
    m = mappings.load("Lead")
    rec = m.inbound({"Id": "00Q1", "Email": "Ann@Sub.Acme.com", "NumberOfEmployees": "1200",
                     "Title": "", "Account.Share_of_Wallet__c": "0.6", "Owner.IsActive": "false"})
    assert rec["employees"] == "1200"  # typed later, by the engine
    assert rec["title"] is None  # an empty cell is null
    assert rec["email_domain"] == "sub.acme.com"
    assert rec["account.share_of_wallet"] == "0.6" and rec["owner.is_active"] == "false"


def test_inbound_from_rest_record_with_nested_relationship():
    m = mappings.load("Opportunity")
    rec = m.inbound({"attributes": {"type": "Opportunity"}, "Id": "006A", "Amount": 5000.0,
                     "Account": {"attributes": {"type": "Account"}, "OwnerId": "005B", "Website": "acme.com"}})
    assert rec["amount"] == 5000.0 and rec["account.owner_id"] == "005B"
    assert rec["account.domain"] == "acme.com"


def test_inbound_with_explicit_related_records():
    m = mappings.load("Lead")
    rec = m.inbound({"Id": "00Q1"}, related={"account": {"Id": "001A", "Share_of_Wallet__c": 0.7}})
    assert rec["account.id"] == "001A" and rec["account.share_of_wallet"] == 0.7


@pytest.mark.parametrize("value,domain", [
    ("bob@acme.com", "acme.com"), ("https://www.Acme.com/about?x=1", "acme.com"),
    ("www.acme.co.uk", "acme.co.uk"), ("http://shop.acme.com:8080", "shop.acme.com"),
    ("acme.com", "acme.com"), ("not a domain", None), ("", None), (None, None), ("bob@localhost", None),
])
def test_domain_of(value, domain):
    assert domain_of(value) == domain


def test_broken_mapping_reports_every_problem(tmp_path: Path):
    path = tmp_path / "lead.yaml"
    path.write_text("""\
object: Lead
fields:
  title: {crm: Title, type: strng}
  employees: {type: number}
  email_domain: {derive: domain, from: emial}
  odd: {crm: X, colour: red}
related:
  account:
    object: Account
    lookup: account_ref
    fields: {owner_id: {crm: OwnerId, type: id}}
outputs:
  scor: {crm: Revsync_Score__c}
  grade: {crm: X__c}
  stage: {crm: X__c}
""")
    with pytest.raises(ConfigError) as exc:
        mappings.load_file(path)
    found = {(p.code, p.loc.line, p.loc.col) for p in exc.value.problems}
    assert {("M003", 3, 29), ("M002", 4, 14), ("M004", 5, 3), ("M001", 6, 17), ("M007", 10, 13),
            ("M006", 13, 3), ("M005", 15, 16)} <= found, sorted(found)
    messages = " ".join(str(p) for p in exc.value.problems)
    assert "did you mean 'string'" in messages
    assert "did you mean 'score'" in messages


def test_directory_overrides_the_default(tmp_path: Path):
    text = (mappings.default_dir() / "lead.yaml").read_text().replace("{crm: Title, type: string}",
                                                                       "{crm: Job_Title__c, type: string}")
    (tmp_path / "lead.yaml").write_text(text)
    m = mappings.load("Lead", tmp_path)
    assert next(f for f in m.fields if f.name == "title").crm == "Job_Title__c"
    assert mappings.load("Opportunity", tmp_path).file.endswith("opportunity.yaml")  # falls back


def test_unknown_object_has_a_clear_error():
    with pytest.raises(ConfigError) as exc:
        mappings.load("Contract")
    assert exc.value.problems[0].code == "M010"


def test_account_matching_tie_break_and_free_mail():
    m = mappings.load("Lead")
    accounts = [
        {"Id": "001B", "Website": "https://acme.com", "OwnerId": "005OLD", "SystemModstamp": "2026-01-01T00:00:00Z"},
        {"Id": "001C", "Website": "www.acme.com", "OwnerId": "005NEW", "SystemModstamp": "2026-06-01T00:00:00Z"},
        {"Id": "001A", "Website": "acme.com", "OwnerId": "005NEW", "SystemModstamp": "2026-06-01T00:00:00Z"},
        {"Id": "001G", "Website": "gmail.com", "OwnerId": "005X"},
    ]
    matcher = AccountMatcher(m, accounts)
    assert matcher.match(m.inbound({"Email": "x@acme.com"}))["Id"] == "001A"  # newest, then lowest Id
    assert matcher.match(m.inbound({"Email": "x@gmail.com"})) is None
    assert matcher.match(m.inbound({"Email": "x@gmail.com", "Website": "acme.com"}))["Id"] == "001A"
    inactive = AccountMatcher(m, accounts, inactive_owners=frozenset({"005new"}))
    assert inactive.match(m.inbound({"Email": "x@acme.com"}))["Id"] == "001B"
