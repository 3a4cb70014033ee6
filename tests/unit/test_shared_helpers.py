"""The helpers every layer reads through: one reading of true/false, one list of case files,
one way of suggesting a name for a mistyped one."""
import pytest

from connector.orgs.transfer import _typed
from mappings.matching import _owner_active
from mappings.outbound import Directory, same_value
from rules.loader import case_files, rule_files
from rules.model import FieldType
from rules.suggest import did_you_mean, suggest
from rules.values import Unreadable, coerce, parse_bool


# -- parse_bool ----------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [True, 1, 1.0, "true", "TRUE", " True ", "1", "yes", "Yes", "y", "t"])
def test_parse_bool_reads_true(value):
    assert parse_bool(value) is True


@pytest.mark.parametrize("value", [False, 0, 0.0, "false", "FALSE", " no ", "0", "No", "n", "f"])
def test_parse_bool_reads_false(value):
    assert parse_bool(value) is False


@pytest.mark.parametrize("value", [None, "", "  ", "maybe", "1.0", "on", 2, -1, 0.5, float("nan"), [], {}])
def test_parse_bool_reads_nothing_else(value):
    assert parse_bool(value) is None


@pytest.mark.parametrize("value", [True, 0, 1.0, "Yes", " f ", "", "  ", None, "maybe", 2, 0.5, [1]])
def test_rules_read_boolean_fields_as_parse_bool_does(value):
    coerced = coerce(value, FieldType.BOOLEAN)
    if parse_bool(value) is not None:
        assert coerced is parse_bool(value)
    elif value is None or isinstance(value, str) and not value.strip():
        assert coerced is None  # missing, not unreadable
    else:
        assert isinstance(coerced, Unreadable) and coerced.reason == "not true or false"


def test_every_layer_reads_booleans_the_same_way():
    assert _owner_active({"Owner.IsActive": "No"}) is False
    assert _owner_active({"Owner": {"IsActive": "Y"}}) is True
    assert _owner_active({"Owner.IsActive": "unknown"}) is None
    assert same_value("TRUE", True) and same_value("0", False) and not same_value("0", True)
    assert _typed("Yes", "boolean") is True and _typed("f", "boolean") is False
    with pytest.raises(ValueError, match="'maybe' is not true or false"):
        _typed("maybe", "boolean")


def test_a_user_is_inactive_only_when_known_to_be():
    directory = Directory([{"Id": "005000000000001AAA", "Username": "a@x.example", "IsActive": "FALSE"},
                           {"Id": "005000000000002AAA", "Username": "b@x.example", "IsActive": 0},
                           {"Id": "005000000000003AAA", "Username": "c@x.example"},
                           {"Id": "005000000000004AAA", "Username": "d@x.example", "IsActive": "n/a"}])
    assert {"a@x.example", "b@x.example"} <= directory.inactive()
    assert not {"c@x.example", "d@x.example"} & directory.inactive()


# -- case files ----------------------------------------------------------------------------------
def test_case_files_are_the_cases_yaml_files_and_rule_files_the_others(tmp_path):
    for name in ("b.cases.yml", "a.cases.yaml", "lead.yaml", "opp.yml", "old.cases.yaml.bak", "notes.txt"):
        (tmp_path / name).write_text("")
    assert [p.name for p in case_files(tmp_path)] == ["a.cases.yaml", "b.cases.yml"]
    assert [p.name for p in rule_files(tmp_path)] == ["lead.yaml", "opp.yml"]


# -- suggestions ---------------------------------------------------------------------------------
def test_suggest_gives_the_closest_choice():
    assert suggest("segmnet", ["score", "segment", "sla"]) == "segment"
    assert suggest("owner", ["segment", "score"]) is None
    assert did_you_mean("strnig", ["string", "number"]) == "did you mean 'string'?"
    assert did_you_mean("owner", ["segment", "score"]) == ""


def test_suggest_as_a_typo_is_a_slip_of_the_keyboard_only():
    assert suggest("titel", ["name", "title"], typo=True) == "title"  # a swap is one edit
    assert suggest("share_of_walet__c", ["share_of_wallet__c"], typo=True) == "share_of_wallet__c"
    # Close by likeness, yet another column: an export's columns are often neither.
    assert suggest("phone", ["mobilephone"]) == "mobilephone"
    assert suggest("phone", ["mobilephone"], typo=True) is None
    assert suggest("naem", ["name"], typo=True) == "name"
    assert suggest("nmae2", ["name"], typo=True) is None  # short names: one edit at most
    assert suggest("emial", ["email", "emails"], typo=True) == "email"  # the first close one, in order
