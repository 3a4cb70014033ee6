"""Broken mapping files: every problem at once, each with its code and file:line:col."""
from pathlib import Path

import pytest

import mappings
from rules.model import ConfigError

BROKEN = """\
object: Lead
fields:
  email: {crm: Email}
  title: {crm: Title, type: strng}
  employees: {type: number}
  email_domain: {derive: domain, from: emial}
  odd: {crm: X, colour: red}
  JobTitle: {crm: Title}
  score: {crm: Score__c, type: number}
related:
  account:
    object: Account
    lookup: account_ref
    fields: {owner_id: {crm: OwnerId, type: id}}
outputs:
  scor: {crm: Revsync_Score__c}
  grade: {crm: X__c}
  stage: {crm: X__c}
  reason: {crm: Revsync_Reason__c, max_length: lots}
"""


def problems(text: str, tmp_path: Path) -> list:
    path = tmp_path / "lead.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        mappings.load_file(path)
    return exc.value.problems


def codes_at(found) -> list[tuple[str, int, int]]:
    return [(p.code, p.loc.line, p.loc.col) for p in found]


def test_broken_mapping_reports_every_problem_with_line_and_column(tmp_path: Path):
    found = problems(BROKEN, tmp_path)
    assert codes_at(found) == [
        ("M002", 2, 1),    # no `id` field
        ("M003", 4, 29),   # strng
        ("M002", 5, 14),   # employees has no crm
        ("M004", 6, 40),   # from: emial
        ("M001", 7, 17),   # colour
        ("M011", 8, 3),    # JobTitle is not snake_case
        ("M011", 9, 3),    # score is produced by the rules
        ("M007", 13, 13),  # lookup: account_ref
        ("M006", 16, 3),   # scor
        ("M005", 18, 16),  # stage writes grade's X__c
        ("M013", 19, 48),  # max_length: lots
    ]
    assert all(p.loc.file.endswith("lead.yaml") for p in found)
    text = {p.code + str(p.loc.line): str(p) for p in found}
    assert "did you mean 'string'?" in text["M0034"]
    assert "did you mean 'email'?" in text["M0046"]
    assert "did you mean 'score'?" in text["M00616"]
    assert "did you mean 'crm'?" not in text["M0017"] and "crm, type, derive, from" in text["M0017"]
    assert "job_title" in text["M0118"]
    assert "add id: {crm: Id, type: id}" in text["M0022"]


def test_derived_field_problems(tmp_path: Path):
    found = problems("""\
object: Lead
fields:
  id: {crm: Id, type: id}
  email: {crm: Email}
  a: {derive: domian, from: email}
  b: {derive: domain}
  c: {derive: domain, from: email, crm: C__c}
  d: {derive: domain, from: email, type: number}
  e: {crm: E__c, from: email}
  f: {derive: domain, from: g}
  g: {derive: domain, from: email}
""", tmp_path)
    assert codes_at(found) == [("M004", 5, 15), ("M004", 6, 6), ("M004", 7, 36), ("M004", 8, 42),
                               ("M004", 9, 18), ("M004", 10, 29)]
    assert "did you mean 'domain'?" in str(found[0])
    assert "itself derived" in str(found[5])


def test_related_problems(tmp_path: Path):
    found = problems("""\
object: Lead
fields:
  id: {crm: Id, type: id}
  email_domain: {derive: domain, from: email}
  email: Email
  employees: {crm: NumberOfEmployees, type: number}
related:
  account:
    relationship: Account
    match: {by: name, on: [email_domian], against: dom}
    fields: {domain: {derive: domain, from: website}, website: Website}
  owner:
    object: User
    lookup: employees
    match: {by: domain, on: [email_domain], against: id}
    fields: {id: {crm: Id, type: id}}
  email:
    object: Contact
    fields: {id: Id}
  Manager:
    object: User
    fields: {id: Owner.Id}
""", tmp_path)
    assert codes_at(found) == [
        ("M002", 9, 5),    # account has no `object`
        ("M008", 10, 17),  # by: name
        ("M007", 10, 28),  # on: email_domian
        ("M007", 10, 52),  # against: dom
        ("M007", 14, 13),  # lookup names a number field
        ("M008", 15, 5),   # both lookup and match
        ("M011", 17, 3),   # related `email` clashes with the field
        ("M011", 20, 3),   # Manager is not snake_case
        ("M002", 22, 18),  # Owner.Id: a dotted CRM name
    ]
    assert "did you mean 'email_domain'?" in str(found[2])
    assert "did you mean 'domain'?" in str(found[3])


def test_shape_problems(tmp_path: Path):
    found = problems("""\
object: [Lead]
colour: blue
fields:
  - id
related: account
outputs: score
""", tmp_path)
    assert codes_at(found) == [("M002", 1, 9), ("M001", 2, 1), ("M002", 4, 3), ("M002", 5, 10),
                               ("M002", 6, 10)]


def test_missing_object_and_fields(tmp_path: Path):
    found = problems("description: nothing here\n", tmp_path)
    assert [p.code for p in found] == ["M002", "M002"]
    assert "object" in found[0].message and "fields" in found[1].message


def test_read_back_name_clashes_with_a_field(tmp_path: Path):
    found = problems("""\
object: Lead
fields:
  id: Id
  routed_at: {crm: Routed__c, type: datetime}
outputs:
  routed_at: {crm: Revsync_Routed_At__c}
  reason: {crm: Revsync_Reason__c, max_length: 0}
  owner: {}
""", tmp_path)
    assert codes_at(found) == [("M011", 4, 3), ("M013", 7, 48), ("M002", 8, 10)]


def test_yaml_syntax_error_is_reported_with_its_position(tmp_path: Path):
    found = problems("object: Lead\nfields:\n  id: {crm: Id\n  title: Title\n", tmp_path)
    assert len(found) == 1 and found[0].code == "E001" and found[0].loc.line >= 3


def test_duplicate_keys_are_reported(tmp_path: Path):
    found = problems("object: Lead\nfields:\n  id: Id\n  id: Id\n", tmp_path)
    assert [p.code for p in found] == ["E002"]


def test_config_error_counts_and_sorts(tmp_path: Path):
    path = tmp_path / "lead.yaml"
    path.write_text(BROKEN)
    with pytest.raises(ConfigError) as exc:
        mappings.load("Lead", tmp_path)
    assert str(exc.value) == "11 problem(s) in rule or mapping files"
    locs = [p.loc for p in exc.value.problems]
    assert locs == sorted(locs)
    assert all(p.fix for p in exc.value.problems)  # every problem says what to do
