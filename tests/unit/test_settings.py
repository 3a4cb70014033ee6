"""revsync.toml: every key typed, every problem reported at once with file:line:col, a code and a
fix, and a good file read into the values the commands use."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.orgs.spec import OrgSpec, SalesforceOptions
from connector.workspace.settings import KEYS, Settings, SettingsError, key_positions, load_settings

BROKEN = """\
# several mistakes at once
[revsync]
rules = 5
objekt = "Lead"
  lag_seconds = "soon"
page_size = 0
timeout = true
org = "foo:bar"
engine = "fast"
api_floor = 10.5
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "revsync.toml"
    path.write_text(text)
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    assert raised.value.exit_code == 2
    return [str(p) for p in raised.value.problems]


def test_every_problem_is_reported_at_once_with_line_col_code_and_fix(tmp_path):
    found = problems(tmp_path, BROKEN)
    file = str(tmp_path / "revsync.toml")
    assert found == [
        f'{file}:3:1: S003 rules = 5: expected text in quotes (e.g. rules = "rules")',
        f"{file}:4:1: S002 unknown setting 'objekt' (did you mean 'object'?)",
        f"{file}:5:3: S003 lag_seconds = 'soon': expected a number (e.g. lag_seconds = 30)",
        f"{file}:6:1: S004 page_size = 0: expected a whole number from 1 to 10000 (e.g. page_size = 200)",
        f"{file}:7:1: S003 timeout = true: expected a number (e.g. timeout = 60)",
        f'{file}:8:1: S005 org = \'foo:bar\': expected "local:PATH" or "salesforce" '
        f'(e.g. org = "local:revsync-demo.db")',
        f"{file}:9:1: S005 engine = 'fast': expected one of 'default', 'durable' (e.g. engine = \"default\")",
        f"{file}:10:1: S003 api_floor = 10.5: expected a whole number (e.g. api_floor = 1000)",
    ]


def test_a_good_file_gives_typed_settings(tmp_path):
    path = tmp_path / "revsync.toml"
    path.write_text('[revsync]\nrules = "my-rules"\norg = "salesforce"\nstate = "s.db"\nmax_change_share = 1\n'
                    "page_size = 500\ntimeout = 30\napi_floor = 0\nlag_seconds = 0\nbulk_write_threshold = 0\n"
                    "attempts = 2\n")
    settings = load_settings(path)
    assert settings.rules == Path("my-rules") and settings.state == Path("s.db")
    assert settings.org == OrgSpec("salesforce", None, "salesforce")
    assert settings.max_change_share == 1.0 and isinstance(settings.max_change_share, float)
    assert settings.page_size == 500 and settings.object == "Lead" and settings.mappings is None
    assert settings.salesforce == SalesforceOptions(timeout=30.0, api_floor=0, lag_seconds=0.0,
                                                    bulk_query_threshold=50_000, bulk_write_threshold=0, attempts=2)


@pytest.mark.parametrize("written, share", [('"5%"', 0.05), ("0.05", 0.05), ('"100%"', 1.0), ("0", 0.0)])
def test_max_change_share_takes_a_percentage_as_the_command_line_does(tmp_path, written, share):
    path = tmp_path / "revsync.toml"
    path.write_text(f"[revsync]\nmax_change_share = {written}\n")
    assert load_settings(path).max_change_share == share


@pytest.mark.parametrize("written, code", [('"150%"', "S004"), ('"five%"', "S003"), ("-0.1", "S004")])
def test_a_wrong_share_is_located_with_its_code(tmp_path, written, code):
    path = tmp_path / "revsync.toml"
    path.write_text(f"[revsync]\nmax_change_share = {written}\n")
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    assert [(p.code, p.loc.line) for p in raised.value.problems] == [(code, 2)]


def test_a_flat_file_and_no_file_are_read_as_before(tmp_path):
    path = tmp_path / "revsync.toml"
    assert load_settings(path) == Settings()
    path.write_text('object = "Opportunity"\nengine = "durable"\n')
    assert load_settings(path) == Settings(object="Opportunity", engine="durable")


def test_a_misspelt_table_or_a_table_inside_is_placed_at_its_header(tmp_path):
    file = str(tmp_path / "revsync.toml")
    assert problems(tmp_path, '[revsynk]\norg = "x"\n') == [
        f"{file}:1:2: S002 unknown setting 'revsynk' (did you mean [revsync]?)"]
    [nested] = problems(tmp_path, '[revsync]\norg = "salesforce"\n\n[revsync.salesforce]\ntimeout = 5\n')
    assert nested.startswith(f"{file}:4:2: S002 unknown setting 'salesforce' (known settings")
    assert problems(tmp_path, "revsync = 5\n") == [
        f"{file}:1:1: S003 `revsync` must be a table (write the settings under a [revsync] line)"]


def test_text_that_is_not_toml_or_not_utf8_is_placed_where_it_breaks(tmp_path):
    file = str(tmp_path / "revsync.toml")
    [found] = problems(tmp_path, '[revsync]\nobject = "Lead"\nrules = [broken\n')
    # tomllib's own words and column vary between Python versions; the line does not.
    assert found.startswith(f"{file}:3:") and " S001 not valid TOML: " in found
    assert found.endswith("(fix the line it names, or move the file aside)") and "(at line" not in found
    (tmp_path / "revsync.toml").write_bytes(b'[revsync]\nobject = "L\xffad"\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(tmp_path / "revsync.toml")
    assert [str(p) for p in raised.value.problems] == [f"{file}:2:12: S001 not UTF-8 text (save the file as UTF-8)"]


def test_key_positions_follow_tables_dotted_keys_and_skip_multiline_strings():
    text = ('top = 1\n[revsync]\n  org = "a"\n"page_size" = 2\nnote = """\nrules = 3\n"""\n'
            'state.x = 1\n[[other.list]]  # comment\nrules = 4\n')
    found = key_positions(text)
    assert found[("top",)] == (1, 1)
    assert found[("revsync",)] == (2, 2)
    assert found[("revsync", "org")] == (3, 3)
    assert found[("revsync", "page_size")] == (4, 1)
    assert ("revsync", "rules") not in found  # inside the multi-line string
    assert found[("revsync", "state")] == found[("revsync", "state", "x")] == (8, 1)
    assert found[("other", "list", "rules")] == (10, 1)


WRONG = st.one_of(st.booleans(), st.lists(st.integers(), max_size=2), st.just("x" * 80), st.floats(-1e9, -1))


def toml_value(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f'"{value}"' if isinstance(value, str) else repr(value)


@given(key=st.sampled_from(sorted(KEYS)), value=WRONG)
def test_any_key_with_a_wrong_value_is_one_problem_at_its_line(tmp_path_factory, key, value):
    if isinstance(value, str) and key in ("rules", "mappings", "object", "state", "state_dir"):
        return  # any text is a path or an object name
    path = tmp_path_factory.mktemp("s") / "revsync.toml"
    path.write_text(f"[revsync]\n# one wrong value\n{key} = {toml_value(value)}\n")
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    [problem] = raised.value.problems
    assert (problem.loc.line, problem.loc.col) == (3, 1) and problem.code in ("S003", "S004", "S005")
    assert problem.fix.startswith(f"e.g. {key} = ")
