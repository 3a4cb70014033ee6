"""Lead-to-account matching: exact domain, parent domain, free mail, and the tie-break."""
import pytest

import mappings
from mappings import AccountMatcher


@pytest.fixture(scope="module")
def lead():
    return mappings.load("Lead")


ACCOUNTS = [
    {"Id": "001B", "Website": "https://acme.com", "OwnerId": "005OLD", "SystemModstamp": "2026-01-01T00:00:00Z"},
    {"Id": "001C", "Website": "www.acme.com", "OwnerId": "005NEW", "SystemModstamp": "2026-06-01T00:00:00.000+0000"},
    {"Id": "001A", "Website": "acme.com/", "OwnerId": "005NEW", "SystemModstamp": "2026-06-01T02:00:00+02:00"},
    {"Id": "001E", "Website": "eu.acme.com", "OwnerId": "005EU", "SystemModstamp": "2025-01-01T00:00:00Z"},
    {"Id": "001G", "Website": "gmail.com", "OwnerId": "005X"},
    {"Id": "001H", "Website": "github.io", "OwnerId": "005GH"},
    {"Id": "001U", "Website": "co.uk", "OwnerId": "005UK"},
    {"Id": "001N", "Website": "", "OwnerId": "005N"},
    {"Id": "001I", "Website": "initech.example", "OwnerId": "005I"},
]


def match_id(matcher, lead, **crm):
    found = matcher.match(lead.inbound({"Id": "00Q1", **crm}))
    return found["Id"] if found else None


def test_exact_domain_then_newest_then_lowest_id(lead):
    matcher = AccountMatcher(lead, ACCOUNTS)
    # 001C and 001A were modified at the same instant (written in two forms), both after 001B
    assert match_id(matcher, lead, Email="x@acme.com") == "001A"
    assert [a["Id"] for a in matcher.candidates("acme.com")] == ["001A", "001C", "001B"]
    assert match_id(matcher, lead, Email="x@Initech.example") == "001I"


def test_returns_the_crm_named_account_record(lead):
    found = AccountMatcher(lead, ACCOUNTS).match(lead.inbound({"Id": "1", "Email": "x@initech.example"}))
    assert found is ACCOUNTS[-1]
    rec = lead.inbound({"Id": "1"}, related={"account": found})
    assert rec["account.owner_id"] == "005I" and rec["account.domain"] == "initech.example"


def test_inactive_owner_loses_the_tie_break(lead):
    by_set = AccountMatcher(lead, ACCOUNTS, inactive_owners=frozenset({"005new"}))
    assert match_id(by_set, lead, Email="x@acme.com") == "001B"
    # 18-character inactive Ids also catch the 15-character form
    accounts = [{"Id": "001X", "Website": "x.example", "OwnerId": "005000000000001", "SystemModstamp": "2026-02-01"},
                {"Id": "001Y", "Website": "x.example", "OwnerId": "005000000000002", "SystemModstamp": "2026-01-01"}]
    assert match_id(AccountMatcher(lead, accounts, inactive_owners={"005000000000001AAA"}), lead,
                    Email="a@x.example") == "001Y"
    # or the account record says so itself (dotted column or nested Owner)
    accounts = [{"Id": "001P", "Website": "p.example", "Owner.IsActive": "false", "SystemModstamp": "2026-02-01"},
                {"Id": "001Q", "Website": "p.example", "Owner": {"IsActive": True}, "SystemModstamp": "2026-01-01"}]
    assert match_id(AccountMatcher(lead, accounts), lead, Email="a@p.example") == "001Q"


def test_missing_modified_date_counts_as_oldest(lead):
    accounts = [{"Id": "001A", "Website": "z.example"},
                {"Id": "001B", "Website": "z.example", "SystemModstamp": "2020-01-01T00:00:00Z"},
                {"Id": "001C", "Website": "z.example", "LastModifiedDate": "2021-01-01T00:00:00Z"}]
    assert [a["Id"] for a in AccountMatcher(lead, accounts).candidates("z.example")] == ["001C", "001B", "001A"]


def test_free_mail_never_matches(lead):
    matcher = AccountMatcher(lead, ACCOUNTS)
    assert "gmail.com" not in matcher.by_domain
    for email in ("x@gmail.com", "x@yahoo.com", "x@outlook.com", "x@hotmail.com", "x@icloud.com"):
        assert match_id(matcher, lead, Email=email) is None, email
    # a free-mail address falls through to the lead's website
    assert match_id(matcher, lead, Email="x@gmail.com", Website="https://www.initech.example/") == "001I"


def test_email_domain_is_tried_before_website_domain(lead):
    matcher = AccountMatcher(lead, ACCOUNTS)
    assert match_id(matcher, lead, Email="x@initech.example", Website="acme.com") == "001I"
    assert match_id(matcher, lead, Email="x@unknown.example", Website="acme.com") == "001A"


def test_subdomains_match_exactly_first_then_their_parent(lead):
    matcher = AccountMatcher(lead, ACCOUNTS)
    assert match_id(matcher, lead, Email="x@eu.acme.com") == "001E"  # its own account
    assert match_id(matcher, lead, Email="x@mail.us.acme.com") == "001A"  # parent acme.com
    found = matcher.lookup(lead.inbound({"Id": "1", "Email": "x@us.acme.com"}))
    assert (found.account["Id"], found.field, found.domain, found.exact) == ("001A", "email_domain", "acme.com", False)
    # an exact match on the website beats a parent match on the email
    assert match_id(matcher, lead, Email="x@us.acme.com", Website="initech.example") == "001I"
    # never through shared hosting or a bare public suffix
    assert match_id(matcher, lead, Website="https://acme-labs.github.io") is None
    assert match_id(matcher, lead, Email="x@acme.co.uk") is None


def test_no_domain_no_match(lead):
    matcher = AccountMatcher(lead, ACCOUNTS)
    assert match_id(matcher, lead) is None
    assert match_id(matcher, lead, Email="not an email") is None
    assert matcher.match({}) is None


def test_opportunity_mapping_has_no_matching(lead):
    with pytest.raises(ValueError, match="match"):
        AccountMatcher(mappings.load("Opportunity"), ACCOUNTS)


def test_match_against_a_custom_domain_field():
    m = mappings.parse_text("""\
object: Lead
fields:
  id: {crm: Id, type: id}
  email: {crm: Email}
  email_domain: {derive: domain, from: email}
related:
  account:
    object: Account
    match: {by: domain, on: email_domain, against: domain}
    fields:
      id: {crm: Id, type: id}
      domain: {crm: Email_Domain__c}
""")
    matcher = AccountMatcher(m, [{"Id": "001A", "Email_Domain__c": "ACME.com", "Website": "other.example"}])
    assert matcher.match(m.inbound({"Id": "1", "Email": "a@acme.com"}))["Id"] == "001A"
    assert matcher.match(m.inbound({"Id": "1", "Email": "a@other.example"})) is None
