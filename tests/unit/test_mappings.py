"""Mappings: the shipped defaults, reading CRM records, derived domains, loading from a directory."""
import time
from collections import OrderedDict
from pathlib import Path

import pytest

import mappings
from mappings import domain_of
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
    "converted_opportunity_id": ("ConvertedOpportunityId", F.ID), "converted_at": ("ConvertedDate", F.DATE),
}
PINNED_OPPORTUNITY = {
    "id": ("Id", F.ID), "name": ("Name", F.STRING), "amount": ("Amount", F.NUMBER),
    "stage_name": ("StageName", F.PICKLIST), "probability": ("Probability", F.NUMBER),
    "close_date": ("CloseDate", F.DATE), "next_step": ("NextStep", F.STRING),
    "stage_changed_at": ("LastStageChangeDate", F.DATETIME), "is_closed": ("IsClosed", F.BOOLEAN),
    "is_won": ("IsWon", F.BOOLEAN), "account_id": ("AccountId", F.ID), "owner_id": ("OwnerId", F.ID),
    "type": ("Type", F.PICKLIST), "lead_source": ("LeadSource", F.PICKLIST),
    "forecast_category": ("ForecastCategoryName", F.PICKLIST), "created_at": ("CreatedDate", F.DATETIME),
    "modified_at": ("SystemModstamp", F.DATETIME), "last_activity_at": ("LastActivityDate", F.DATE),
}
ACCOUNT = {
    "id": ("Id", F.ID), "name": ("Name", F.STRING), "website": ("Website", F.STRING),
    "industry": ("Industry", F.PICKLIST), "employees": ("NumberOfEmployees", F.NUMBER),
    "annual_revenue": ("AnnualRevenue", F.NUMBER), "owner_id": ("OwnerId", F.ID), "type": ("Type", F.PICKLIST),
    "share_of_wallet": ("Share_of_Wallet__c", F.NUMBER), "potential_revenue": ("Potential_Revenue__c", F.NUMBER),
    "country": ("BillingCountry", F.STRING), "state": ("BillingState", F.STRING),
}
OWNER = {"id": ("Id", F.ID), "username": ("Username", F.STRING), "email": ("Email", F.STRING),
         "name": ("Name", F.STRING), "is_active": ("IsActive", F.BOOLEAN), "manager_id": ("ManagerId", F.ID)}
OUTPUTS = {"score": "Revsync_Score__c", "grade": "Revsync_Grade__c", "stage": "Revsync_Stage__c",
           "segment": "Revsync_Segment__c", "owner": "OwnerId", "routed_at": "Revsync_Routed_At__c",
           "sla_due": "Revsync_SLA_Due__c", "sla_status": "Revsync_SLA_Status__c", "reason": "Revsync_Reason__c",
           "previous_stage": "Revsync_Previous_Stage__c", "stage_entered_at": "Revsync_Stage_Entered_At__c",
           "sla_started_at": "Revsync_SLA_Started_At__c", "sla_met_at": "Revsync_SLA_Met_At__c",
           "lifecycle": "Revsync_Lifecycle__c"}


def specs(fields):
    return {f.name: (f.crm, f.type) for f in fields}


@pytest.fixture(scope="module")
def lead():
    return mappings.load("Lead")


@pytest.fixture(scope="module")
def opportunity():
    return mappings.load("Opportunity")


# -- the shipped defaults ---------------------------------------------------------------------------

def test_default_lead_mapping_has_every_pinned_field(lead):
    assert lead.object == "Lead"
    own = specs(lead.fields)
    for name, pinned in PINNED_LEAD.items():
        assert own[name] == pinned, name
    for name, source in (("email_domain", "email"), ("website_domain", "website")):
        spec = lead.field(name)
        assert (spec.crm, spec.derive, spec.source, spec.type) == (None, "domain", source, F.STRING)
    account, owner = lead.relation("account"), lead.relation("owner")
    assert (account.object, account.relationship, account.lookup) == ("Account", "Account", None)
    assert (account.match.by, account.match.on, account.match.against) == \
        ("domain", ("email_domain", "website_domain"), "domain")
    assert specs(account.fields).items() >= ACCOUNT.items()
    assert account.field("domain").derive == "domain" and account.field("domain").source == "website"
    assert (owner.object, owner.relationship, owner.lookup, owner.match) == ("User", "Owner", "owner_id", None)
    assert specs(owner.fields) == OWNER


def test_default_outputs_and_read_back(lead, opportunity):
    for m in (lead, opportunity):
        assert {o.name: o.crm for o in m.outputs} == OUTPUTS
        assert m.output("reason").max_length == 255 and m.output("score").max_length is None
        assert m.output("nonsense") is None
        fields = m.rule_fields()
        assert fields["routed_at"] is F.DATETIME
        assert fields["previous.sla_status"] is F.PICKLIST and fields["previous.sla_due"] is F.DATETIME
        assert fields["previous.stage_entered_at"] is F.DATETIME and fields["previous.lifecycle"] is F.STRING
        crm = m.crm_fields()
        assert crm[0] == "Id" and len(crm) == len(set(crm))
        # output fields are read back, so routing stays sticky and escalation happens once
        assert {"Revsync_Routed_At__c", "Revsync_SLA_Due__c", "Revsync_SLA_Status__c", "OwnerId"} <= set(crm)
        assert not any("." in c for c in crm)  # related records are read separately


def test_default_opportunity_mapping(opportunity):
    assert opportunity.object == "Opportunity"
    assert specs(opportunity.fields).items() >= PINNED_OPPORTUNITY.items()
    account = opportunity.relation("account")
    assert (account.lookup, account.relationship, account.match) == ("account_id", "Account", None)
    assert specs(account.fields).items() >= ACCOUNT.items()
    assert opportunity.relation("owner").lookup == "owner_id"
    fields = opportunity.rule_fields()
    assert fields["account.share_of_wallet"] is F.NUMBER and fields["owner.is_active"] is F.BOOLEAN
    assert fields["stage_changed_at"] is F.DATETIME


def test_rule_fields_cover_fields_related_and_read_back(lead):
    fields = lead.rule_fields()
    assert fields["employees"] is F.NUMBER and fields["email_domain"] is F.STRING
    assert fields["account.share_of_wallet"] is F.NUMBER and fields["account.owner_id"] is F.ID
    assert fields["account.domain"] is F.STRING and fields["owner.manager_id"] is F.ID
    assert "Revsync_Score__c" not in fields and "score" not in fields  # outputs are not inputs


def test_every_shipped_mapping_loads_and_has_an_id():
    shipped = sorted(mappings.default_dir().glob("*.yaml"))
    assert [p.name for p in shipped] == ["lead.yaml", "opportunity.yaml"]
    for path in shipped:
        m = mappings.load_file(path)
        assert m.field("id").crm == "Id" and m.fingerprint


# -- inbound ------------------------------------------------------------------------------------------

def test_inbound_from_csv_text_row(lead):
    row = {"Id": "00Q1", "FirstName": "Ann", "Email": "Ann@Sub.Acme.com", "NumberOfEmployees": "1200",
           "AnnualRevenue": "", "Title": "", "City": "   ", "IsConverted": "false",
           "CreatedDate": "2026-07-08T08:14:00.000+0000", "Website": "https://www.Acme.com/x",
           "Revsync_Routed_At__c": "2026-07-09T10:00:00Z", "Revsync_SLA_Status__c": "breached",
           "Revsync_SLA_Due__c": "", "Unmapped__c": "ignored"}
    rec = lead.inbound(row)
    assert rec["id"] == "00Q1" and rec["first_name"] == "Ann"
    assert rec["employees"] == "1200"  # passed through: the engine reads it as a number
    assert rec["converted"] == "false" and rec["created_at"] == "2026-07-08T08:14:00.000+0000"
    assert rec["title"] is None and rec["annual_revenue"] is None and rec["city"] is None  # empty cells
    assert rec["phone"] is None  # a column the export does not have
    assert rec["email_domain"] == "sub.acme.com" and rec["website_domain"] == "acme.com"
    assert rec["routed_at"] == "2026-07-09T10:00:00Z"
    assert rec["previous.sla_status"] == "breached" and rec["previous.sla_due"] is None
    assert "Unmapped__c" not in rec and "Email" not in rec
    # every rule field is a key, related ones too (None when there is no related record)
    assert set(lead.rule_fields()) <= set(rec)
    assert rec["account.share_of_wallet"] is None and rec["owner.is_active"] is None


def test_inbound_from_nested_json_record(lead):
    rec = lead.inbound({"Id": "00Q2", "NumberOfEmployees": 1200, "IsConverted": False, "AnnualRevenue": None,
                        "Email": "bob@initech.example",
                        "Account": {"Id": "001A", "Website": "initech.example", "Share_of_Wallet__c": 0.6,
                                    "OwnerId": "005A"},
                        "Owner": {"IsActive": True, "Username": "amy@acme.example", "ManagerId": None}})
    assert rec["employees"] == 1200 and rec["converted"] is False and rec["annual_revenue"] is None
    assert rec["account.id"] == "001A" and rec["account.share_of_wallet"] == 0.6
    assert rec["account.owner_id"] == "005A" and rec["account.domain"] == "initech.example"
    assert rec["owner.is_active"] is True and rec["owner.username"] == "amy@acme.example"
    assert rec["owner.manager_id"] is None


def test_inbound_from_rest_record_with_attributes(opportunity):
    rest = OrderedDict([
        ("attributes", {"type": "Opportunity", "url": "/services/data/v60.0/sobjects/Opportunity/006A"}),
        ("Id", "006A"), ("Amount", 5000.0), ("StageName", "Prospecting"), ("IsWon", False),
        ("AccountId", "001B"), ("CloseDate", "2026-12-31"), ("NextStep", ""),
        ("Account", OrderedDict([("attributes", {"type": "Account"}), ("OwnerId", "005B"),
                                 ("Website", "https://www.acme.com"), ("Share_of_Wallet__c", None)])),
        ("Owner", None),  # REST gives null for an empty relationship
    ])
    rec = opportunity.inbound(rest)
    assert rec["id"] == "006A" and rec["amount"] == 5000.0 and rec["stage_name"] == "Prospecting"
    assert rec["is_won"] is False and rec["account_id"] == "001B" and rec["close_date"] == "2026-12-31"
    assert rec["next_step"] is None
    assert rec["account.owner_id"] == "005B" and rec["account.domain"] == "acme.com"
    assert rec["account.share_of_wallet"] is None
    assert rec["owner.is_active"] is None
    assert "attributes" not in rec and not any(k.startswith("attributes") for k in rec)


def test_inbound_related_from_dotted_columns(lead):
    rec = lead.inbound({"Id": "00Q1", "Account.Share_of_Wallet__c": "0.6", "Account.OwnerId": "005A",
                        "Account.Website": "", "Owner.IsActive": "false", "Owner.Username": "amy@acme.example"})
    assert rec["account.share_of_wallet"] == "0.6" and rec["account.owner_id"] == "005A"
    assert rec["account.website"] is None and rec["account.domain"] is None
    assert rec["owner.is_active"] == "false" and rec["owner.username"] == "amy@acme.example"


def test_inbound_dotted_column_wins_over_nested(lead):
    rec = lead.inbound({"Id": "00Q1", "Account.OwnerId": "005DOT", "Account": {"OwnerId": "005NEST", "Name": "N"}})
    assert rec["account.owner_id"] == "005DOT" and rec["account.name"] == "N"


def test_inbound_with_explicit_related_records(lead):
    crm = {"Id": "00Q1", "Account.OwnerId": "005COLUMN", "Owner.IsActive": "true"}
    rec = lead.inbound(crm, related={"account": {"Id": "001A", "Share_of_Wallet__c": 0.7,
                                                 "Website": "acme.com", "OwnerId": "005X"}})
    assert rec["account.id"] == "001A" and rec["account.share_of_wallet"] == 0.7
    assert rec["account.owner_id"] == "005X"  # the explicit record wins over columns
    assert rec["account.domain"] == "acme.com"
    assert rec["owner.is_active"] == "true"  # not passed explicitly: still read from columns
    assert lead.inbound(crm, related={})["account.owner_id"] == "005COLUMN"


@pytest.mark.parametrize("crm", [
    {"Id": "00Q1", "Email": "a@b.example", "Account.OwnerId": "005COLUMN", "Owner.IsActive": "true"},
    {"ID": "00Q1", "EMAIL": "a@b.example", "OWNER.ISACTIVE": "false"},
])
def test_related_part_alone_completes_a_record_mapped_without_it(lead, crm):
    related = {"account": {"Id": "001A", "Website": "https://www.acme.example", "OwnerId": "005X"},
               "owner": {"Id": "005X", "IsActive": False}}
    assert {**lead.inbound(crm), **lead.inbound_related(crm, related)} == lead.inbound(crm, related=related)
    assert set(lead.inbound_related(crm, related)) == {k for k in lead.inbound(crm) if "." in k
                                                       and k.split(".")[0] in ("account", "owner")}


def test_inbound_reads_upper_case_export_headers(lead):
    # Data Loader writes headers in upper case
    rec = lead.inbound({"ID": "00Q1", "EMAIL": "x@acme.com", "NUMBEROFEMPLOYEES": "50",
                        "ACCOUNT.OWNERID": "005A", "REVSYNC_ROUTED_AT__C": "2026-01-01T00:00:00Z"})
    assert rec["id"] == "00Q1" and rec["employees"] == "50" and rec["email_domain"] == "acme.com"
    assert rec["account.owner_id"] == "005A" and rec["routed_at"] == "2026-01-01T00:00:00Z"
    explicit = lead.inbound({"Id": "00Q1"}, related={"account": {"ID": "001A", "OWNERID": "005B"}})
    assert explicit["account.id"] == "001A" and explicit["account.owner_id"] == "005B"


def test_inbound_does_not_change_its_input(lead):
    row = {"Id": "00Q1", "Title": "", "Account.OwnerId": "005A"}
    lead.inbound(row)
    assert row == {"Id": "00Q1", "Title": "", "Account.OwnerId": "005A"}


def test_inbound_is_fast(lead):
    row = {"Id": "00Q000000000001EAA", "FirstName": "Olga", "LastName": "Ivanova", "Title": "Data Analyst",
           "Email": "olga@wayne.example", "Company": "Wayne", "Website": "https://www.wayne.example",
           "NumberOfEmployees": "888", "AnnualRevenue": "", "Industry": "Government", "Country": "US",
           "State": "IL", "City": "Chicago", "LeadSource": "Web", "Status": "Open", "Rating": "",
           "OwnerId": "005000000000001AAA", "CreatedDate": "2026-07-08T08:14:00.000+0000",
           "LastActivityDate": "2026-08-24", "SystemModstamp": "2026-08-24T08:14:00.000+0000",
           "IsConverted": "false", "Account.OwnerId": ""}
    rows = [dict(row) for _ in range(20000)]
    inbound = lead.inbound
    start = time.perf_counter()
    for r in rows:
        inbound(r)
    rate = len(rows) / (time.perf_counter() - start)
    assert rate > 25000, f"{rate:.0f} records/s"  # about 200k/s on a laptop; generous for busy CI


# -- derived domains -----------------------------------------------------------------------------

@pytest.mark.parametrize("value,domain", [
    ("bob@acme.com", "acme.com"),
    ("Bob@ACME.com ", "acme.com"),
    ("bob@sub.acme.com", "sub.acme.com"),  # subdomains are kept
    ("Ann Lee <ann@acme.com>", "acme.com"),
    ("mailto:ann@acme.com", "acme.com"),
    ("https://www.Acme.com/about?x=1", "acme.com"),
    ("http://shop.acme.com:8080/cart", "shop.acme.com"),
    ("https://user:pw@www.acme.com/", "acme.com"),
    ("www.acme.co.uk", "acme.co.uk"),
    ("acme.com", "acme.com"),
    ("acme.com.", "acme.com"),
    ("//cdn.acme.com/x", "cdn.acme.com"),
    ("https://acme.com#top", "acme.com"),
    ("münchen.example", "münchen.example"),
    ("not a domain", None), ("foo bar.com", None), ("", None), ("   ", None), (None, None),
    ("bob@localhost", None), ("http://10.0.0.1/admin", None), ("-acme.com", None), (42, None),
])
def test_domain_of(value, domain):
    assert domain_of(value) == domain


def test_derived_domain_is_none_when_the_source_is_missing(lead):
    rec = lead.inbound({"Id": "00Q1"})
    assert rec["email_domain"] is None and rec["website_domain"] is None and rec["account.domain"] is None


# -- loading ----------------------------------------------------------------------------------------

def test_directory_overrides_the_default(tmp_path: Path):
    text = (mappings.default_dir() / "lead.yaml").read_text().replace(
        "{crm: Title, type: string}", "{crm: Job_Title__c, type: string}")
    (tmp_path / "lead.yaml").write_text(text)
    m = mappings.load("Lead", tmp_path)
    assert m.field("title").crm == "Job_Title__c" and m.file.endswith("lead.yaml")
    assert m.inbound({"Id": "1", "Job_Title__c": "CFO", "Title": "ignored"})["title"] == "CFO"
    assert "Job_Title__c" in m.crm_fields() and "Title" not in m.crm_fields()
    assert m.fingerprint != mappings.load("Lead").fingerprint
    # an object without a file in the directory falls back to the shipped default
    opp = mappings.load("Opportunity", tmp_path)
    assert Path(opp.file).resolve() == (mappings.default_dir() / "opportunity.yaml").resolve()


def test_load_finds_yml_and_any_case_file_names(tmp_path: Path):
    (tmp_path / "Lead.yml").write_text((mappings.default_dir() / "lead.yaml").read_text())
    assert mappings.load("lead", tmp_path).file.endswith("Lead.yml")


def test_fingerprint_ignores_comments(tmp_path: Path):
    text = (mappings.default_dir() / "lead.yaml").read_text()
    (tmp_path / "lead.yaml").write_text("# my org's copy\n" + text.replace("# a fraction", "# share"))
    assert mappings.load("Lead", tmp_path).fingerprint == mappings.load("Lead").fingerprint


def test_load_reports_a_missing_directory_and_an_unknown_object(tmp_path: Path):
    with pytest.raises(ConfigError) as exc:
        mappings.load("Lead", tmp_path / "nope")
    assert [p.code for p in exc.value.problems] == ["M009"]
    with pytest.raises(ConfigError) as exc:
        mappings.load("Contract", tmp_path)
    assert [p.code for p in exc.value.problems] == ["M010"]
    assert "contract.yaml" in exc.value.problems[0].fix and "Lead" in exc.value.problems[0].fix


def test_load_rejects_a_file_for_another_object(tmp_path: Path):
    (tmp_path / "lead.yaml").write_text((mappings.default_dir() / "opportunity.yaml").read_text())
    with pytest.raises(ConfigError) as exc:
        mappings.load("Lead", tmp_path)
    [problem] = exc.value.problems
    assert problem.code == "M012" and (problem.loc.line, problem.loc.col) == (5, 9)
    assert "object: Lead" in problem.fix


def test_load_rejects_two_files_for_one_object(tmp_path: Path):
    text = (mappings.default_dir() / "lead.yaml").read_text()
    (tmp_path / "lead.yaml").write_text(text)
    (tmp_path / "lead.yml").write_text(text)
    with pytest.raises(ConfigError) as exc:
        mappings.load("Lead", tmp_path)
    assert [p.code for p in exc.value.problems] == ["M012"]


def test_an_invalid_override_never_falls_back_to_the_default(tmp_path: Path):
    (tmp_path / "lead.yaml").write_text("object: Lead\nfields: {id: {crm: Id, type: identifier}}\n")
    with pytest.raises(ConfigError) as exc:
        mappings.load("Lead", tmp_path)
    assert [(p.code, p.loc.line) for p in exc.value.problems] == [("M003", 2)]


def test_a_minimal_mapping_with_shorthand_fields():
    m = mappings.parse_text("object: Lead\nfields:\n  id: Id\n  title: Title\n  employees: {crm: NumberOfEmployees, type: Number}\n")
    assert specs(m.fields) == {"id": ("Id", F.STRING), "title": ("Title", F.STRING),
                               "employees": ("NumberOfEmployees", F.NUMBER)}
    assert m.related == () and m.outputs == ()
    assert m.inbound({"Id": "1", "Title": "CEO"}) == {"id": "1", "title": "CEO", "employees": None}
    assert m.crm_fields() == ["Id", "Title", "NumberOfEmployees", "SystemModstamp"]


def test_the_documented_example_is_a_valid_mapping():
    import re
    text = (Path(__file__).resolve().parents[2] / "docs" / "mappings.md").read_text()
    example = re.search(r"```yaml\n(.*?)```", text, re.S).group(1)
    m = mappings.parse_text(example, "docs/mappings.md")
    assert m.rule_fields()["account.share_of_wallet"] is F.NUMBER and m.field("company").crm == "Company"
    rec = m.inbound({"Id": "00Q1", "Email": "a@acme.com", "Owner": {"IsActive": False}})
    assert rec["email_domain"] == "acme.com" and rec["owner.is_active"] is False
