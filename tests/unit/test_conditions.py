"""RULES.md, "Conditions (pinned)": one test per line of the semantics."""
from datetime import timedelta

import pytest

from tests.rulekit import NOW, decide, matches


# -- forms ---------------------------------------------------------------------------
def test_scalar_is_equals_shorthand():
    assert matches("{title: CEO}", {"title": "CEO"})
    assert not matches("{title: CEO}", {"title": "CTO"})


def test_list_is_in_shorthand():
    assert matches("{state: [CA, OR, WA]}", {"state": "OR"})
    assert not matches("{state: [CA, OR, WA]}", {"state": "NY"})


def test_several_operators_must_all_hold():
    when = "{employees: {gte: 1000, lt: 5000}}"
    assert matches(when, {"employees": 1000})
    assert matches(when, {"employees": 4999})
    assert not matches(when, {"employees": 5000})
    assert not matches(when, {"employees": 999})


def test_several_keys_must_all_hold():
    when = "{state: CA, employees: {gte: 1000}}"
    assert matches(when, {"state": "CA", "employees": 2000})
    assert not matches(when, {"state": "CA", "employees": 10})


def test_any_and_not():
    any_ = "{any: [{lead_source: Webinar}, {lead_source: Demo Request}]}"
    assert matches(any_, {"lead_source": "Demo Request"})
    assert not matches(any_, {"lead_source": "Web"})
    not_ = "{not: {email_domain: [gmail.com, yahoo.com]}}"
    assert matches(not_, {"email_domain": "acme.com"})
    assert not matches(not_, {"email_domain": "GMAIL.com"})


def test_all_combinator():
    when = "{all: [{state: CA}, {employees: {gt: 5}}]}"
    assert matches(when, {"state": "ca", "employees": 6})
    assert not matches(when, {"state": "ca", "employees": 5})


# -- every operator ---------------------------------------------------------------------
@pytest.mark.parametrize("when,record,expected", [
    ("{title: {eq: CEO}}", {"title": "ceo"}, True),
    ("{title: {ne: CEO}}", {"title": "CTO"}, True),
    ("{title: {ne: CEO}}", {"title": " Ceo "}, False),
    ("{state: {in: [CA, WA]}}", {"state": "wa"}, True),
    ("{state: {not_in: [CA, WA]}}", {"state": "NY"}, True),
    ("{state: {not_in: [CA, WA]}}", {"state": "ca"}, False),
    ("{employees: {gt: 10}}", {"employees": 11}, True),
    ("{employees: {gt: 10}}", {"employees": 10}, False),
    ("{employees: {gte: 10}}", {"employees": 10}, True),
    ("{employees: {lt: 10}}", {"employees": 9.5}, True),
    ("{employees: {lte: 10}}", {"employees": 10}, True),
    ("{employees: {lte: 10}}", {"employees": 10.01}, False),
    ("{employees: {between: [10, 20]}}", {"employees": 10}, True),
    ("{employees: {between: [10, 20]}}", {"employees": 20}, True),
    ("{employees: {between: [10, 20]}}", {"employees": 21}, False),
    ("{title: {contains: sales}}", {"title": "VP SALES EMEA"}, True),
    ("{title: {starts_with: vp}}", {"title": "  VP Sales"}, True),
    ("{title: {starts_with: sales}}", {"title": "VP Sales"}, False),
    ("{email: {ends_with: '@acme.com'}}", {"email": "Bob@ACME.com "}, True),
    ("{title: {matches: 'head of'}}", {"title": "Head of Growth"}, True),
    ("{title: {exists: true}}", {"title": "x"}, True),
    ("{title: {exists: true}}", {}, False),
    ("{title: {exists: false}}", {}, True),
    ("{title: {exists: false}}", {"title": "x"}, False),
    ("{converted: true}", {"converted": "TRUE"}, True),
    ("{converted: false}", {"converted": "false"}, True),
    ("{converted: {ne: true}}", {"converted": False}, True),
])
def test_operator(when, record, expected):
    assert matches(when, record) is expected


def test_older_than_and_newer_than_against_evaluation_time():
    old = (NOW - timedelta(days=31)).isoformat()
    new = (NOW - timedelta(days=29)).isoformat()
    assert matches("{created_at: {older_than: 30d}}", {"created_at": old})
    assert not matches("{created_at: {older_than: 30d}}", {"created_at": new})
    assert matches("{created_at: {newer_than: 30d}}", {"created_at": new})
    assert not matches("{created_at: {newer_than: 30d}}", {"created_at": old})


@pytest.mark.parametrize("duration,delta", [("30m", timedelta(minutes=30)), ("4h", timedelta(hours=4)),
                                            ("2d", timedelta(days=2)), ("1w", timedelta(weeks=1))])
def test_duration_units(duration, delta):
    when = f"{{created_at: {{older_than: {duration}}}}}"
    assert matches(when, {"created_at": NOW - delta - timedelta(seconds=1)})
    assert not matches(when, {"created_at": NOW - delta + timedelta(seconds=1)})


def test_older_than_on_a_date_field_uses_midnight_utc():
    # last_activity_at is a date: 2026-10-24 is midnight, 30 days and 15 hours before NOW.
    assert matches("{last_activity_at: {older_than: 30d}}", {"last_activity_at": "2026-10-24"})
    assert not matches("{last_activity_at: {older_than: 30d}}", {"last_activity_at": "2026-10-25"})


def test_evaluation_time_is_what_the_caller_passes():
    record = {"created_at": "2026-11-01T00:00:00Z"}
    assert not matches("{created_at: {older_than: 30d}}", record, now=NOW)
    assert matches("{created_at: {older_than: 30d}}", record, now=NOW + timedelta(days=10))


# -- strings ------------------------------------------------------------------------------
@pytest.mark.parametrize("when", [
    "{industry: software}", "{industry: {eq: SOFTWARE}}", "{industry: [Retail, software]}",
    "{industry: {contains: FTW}}", "{industry: {starts_with: soft}}", "{industry: {ends_with: WARE}}",
])
def test_string_comparisons_ignore_case_and_outer_spaces(when):
    assert matches(when, {"industry": "  Software  "})


def test_ne_and_not_in_ignore_case():
    assert not matches("{industry: {ne: software}}", {"industry": " SOFTWARE"})
    assert not matches("{industry: {not_in: [software]}}", {"industry": "Software "})


def test_case_folding_is_unicode_aware():
    assert matches("{title: {eq: 'Geschäftsführer'}}", {"title": "GESCHÄFTSFÜHRER"})
    assert matches("{title: {contains: 'strasse'}}", {"title": "Hauptstraße"})


# -- regular expressions -----------------------------------------------------------------------
def test_matches_searches_ignores_case_and_is_python_syntax():
    senior = r"{title: {matches: '\b(vp|vice president|chief|head of)\b'}}"
    assert matches(senior, {"title": "Head of Growth"})
    assert matches(senior, {"title": "Senior VP, Sales"})
    assert matches(senior, {"title": "CHIEF Revenue Officer"})
    assert not matches(senior, {"title": "Vpn engineer"})
    many = "{title: {matches: '(a1|b2|c3|d4|e5|f6|g7|h8|i9|j10|k11)'}}"
    assert matches(many, {"title": "xx k11 yy"})


def test_matches_is_anchored_only_when_written():
    assert matches("{title: {matches: 'sales'}}", {"title": "VP Sales EMEA"})
    assert not matches("{title: {matches: '^sales$'}}", {"title": "VP Sales EMEA"})
    assert matches("{title: {matches: '^sales$'}}", {"title": "Sales"})


# -- nulls ----------------------------------------------------------------------------------
@pytest.mark.parametrize("when", [
    "{title: CEO}", "{title: [CEO]}", "{employees: {gt: 0}}", "{employees: {lt: 0}}",
    "{employees: {between: [0, 10]}}", "{title: {contains: a}}", "{title: {starts_with: a}}",
    "{title: {ends_with: a}}", "{title: {matches: '.*'}}", "{title: {exists: true}}",
    "{created_at: {older_than: 1d}}", "{created_at: {newer_than: 1d}}", "{converted: false}",
])
def test_missing_or_null_fails_every_test(when):
    field = when[1:].split(":")[0]
    assert not matches(when, {})
    assert not matches(when, {field: None})
    assert not matches(when, {field: ""}), "an empty CSV cell is null"
    assert not matches(when, {field: "   "})


@pytest.mark.parametrize("when", ["{title: {exists: false}}", "{title: {ne: CEO}}", "{title: {not_in: [CEO]}}",
                                  "{employees: {ne: 5}}", "{employees: {not_in: [5]}}"])
def test_missing_passes_exists_false_ne_and_not_in(when):
    assert matches(when, {})
    assert matches(when, {"title": "", "employees": ""})


def test_not_negates_its_whole_condition():
    assert matches("{not: {employees: {gte: 1000}}}", {})
    assert matches("{not: {employees: {gte: 1000}}}", {"employees": "many"})
    assert not matches("{not: {employees: {ne: 5}}}", {})


# -- types ----------------------------------------------------------------------------------
def test_numbers_compare_as_numbers_whatever_the_source():
    assert not matches("{employees: {gte: 1000}}", {"employees": "999"})
    assert matches("{employees: {gte: 1000}}", {"employees": "1000.0"})
    assert matches("{employees: {gte: 1000}}", {"employees": " 25000 "})
    assert matches("{employees: 1000}", {"employees": 1000.0})
    assert matches("{employees: {in: [10, 20]}}", {"employees": "20"})


def test_datetimes_compare_as_instants_whatever_the_format():
    when = "{created_at: {gte: '2026-11-23T15:00:00Z'}}"
    assert matches(when, {"created_at": "2026-11-23T10:00:00-05:00"})
    assert matches(when, {"created_at": "2026-11-23T15:00:00.000+0000"})
    assert not matches(when, {"created_at": "2026-11-23T14:59:59Z"})
    assert matches("{created_at: {lt: 2026-11-24}}", {"created_at": "2026-11-23T23:00:00Z"})


def test_unreadable_value_fails_and_is_reported_not_raised():
    rs = """
        object: Lead
        segment:
          - {name: big, when: {employees: {gte: 10}}, segment: big}
          - {name: not small, when: {employees: {ne: 1}}, segment: not-small}
          - {name: rest, segment: rest}
        """
    (d,) = decide(rs, [{"id": "00Q1", "employees": "lots"}])
    assert d.segment == "rest"
    assert any("employees" in p and "lots" in p for p in d.problems)
    (d,) = decide(rs, [{"id": "00Q2", "created_at": "not a date", "employees": "7"}])
    assert d.segment == "not-small" and not d.problems  # created_at is not tested: not read


def test_unreadable_dates_and_booleans_are_reported():
    rs = """
        object: Lead
        segment:
          - {name: old, when: {created_at: {older_than: 1d}}, segment: old}
          - {name: conv, when: {converted: true}, segment: conv}
          - {name: rest, segment: rest}
        """
    (d,) = decide(rs, [{"created_at": "31/12/2025", "converted": "maybe"}])
    assert d.segment == "rest"
    assert len(d.problems) == 2
