"""Rule files written to hurt: nothing an admin writes can hang or exhaust a run, and what
`validate` refuses is reported with a code, file:line:col and a fix.

Each time bound is a hang detector, not a benchmark: the unbounded code takes minutes (or
forever) where these take milliseconds. A SIGALRM guard turns a regression into a failure
instead of a stuck test run.
"""
from __future__ import annotations

import importlib.util
import os
import signal
import time
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import pytest

from connector.workspace.workspace import validate_all
from rules import source
from rules.loader import find_rule_file, load
from rules.model import ConfigError, Test as RuleTest
from rules.source import load_file, parse_text
from tests.rulekit import FIELDS, decide, problems, ruleset

HAVE_DURABLE = importlib.util.find_spec("durable") is not None
ENGINES = ["default", "durable"] if HAVE_DURABLE else ["default"]


@contextmanager
def within(seconds: float):
    """Fails (rather than hangs) if the block runs past `seconds` * 3, and asserts `seconds`."""
    def stop(signum, frame):
        raise TimeoutError(f"still running after {seconds * 3:.0f} s")
    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds * 3)
    start = time.perf_counter()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    elapsed = time.perf_counter() - start
    assert elapsed < seconds, f"took {elapsed:.2f} s"


def codes(text: str) -> list[tuple[str, int, int]]:
    return [(p.code, p.loc.line, p.loc.col) for p in problems(text)]


def segment_when(when: str) -> str:
    return f"object: Lead\nsegment:\n  - name: hit\n    when: {when}\n    segment: 'yes'\n"


# -- A. regular expressions run on RE2, in linear time --------------------------------------

@pytest.mark.parametrize("engine", ENGINES)
def test_a_backtracking_pattern_finishes_at_once(engine):
    # With Python's `re`, this pattern on this title backtracks 2^59 times: a sync held its
    # lock forever. RE2 answers in time linear in the title.
    rs = ruleset(segment_when(r"{title: {matches: '^(\w+\s?)+$'}}"))
    with within(2):
        (d,) = decide(rs, [{"id": "1", "title": "a" * 59 + "!"}], engine=engine)
    assert d.segment is None


REGEX_CASES = [  # (pattern, title, matches?)
    (r"\bvp\b", "SVP of Sales", False),
    (r"\bvp\b", "VP, Sales", True),  # ignores case, searches (not anchored)
    (r"^vp$", "the vp", False),
    (r"^\pL+$", "Ünïcödé", True),  # \pL: a letter in any script
    (r"^\pL+$", "東京", True),
    (r"^\w+$", "Ünïcödé", False),  # \w is ASCII, as in RE2
    (r"^\w+$", "Unicode_1", True),
    (r"\d", "٣", False),  # \d is ASCII too
    (r"\s", "a\u00a0b", False),  # \s as well: no-break space is not ASCII space
    (r"straße", "STRASSE", False),  # simple case folding, not full folding
    (r"ü", "MÜLLER", True),
    (r"sales", "sales\ud800", True),  # a lone surrogate in a record's text is no crash
    (r"^(a|aa)+$", "a" * 40 + "b", False),
]


@pytest.mark.parametrize("pattern, title, expected", REGEX_CASES)
def test_re2_semantics_on_both_engines(pattern, title, expected):
    rs = ruleset(segment_when("{title: {matches: '%s'}}" % pattern))
    for engine in ENGINES:
        (d,) = decide(rs, [{"id": "1", "title": title}], engine=engine)
        assert (d.segment == "yes") is expected, (engine, pattern, title)


UNSUPPORTED = [  # (pattern, what the message says, what the fix says, character)
    (r"(vp)\s\1", "a backreference", "no backreferences", 7),
    (r"(?P<t>vp)(?P=t)", "a backreference", "no backreferences", 10),
    (r"vp(?!.*assistant)", "lookaround", "split into two tests with all/not", 3),
    (r"(?<=head of )sales", "lookaround", "split into two tests with all/not", 1),
    (r"(?>vp|svp)", "an atomic group", "(?:...)", 1),
    (r"vp.*+", "a possessive quantifier", "drop the second +", 4),
    (r"sales\Z", r"\Z", r"use $ instead of \Z", 6),
    (r"x{1001}", "too large", "smaller repetition counts", 2),
]


@pytest.mark.parametrize("pattern, what, fix, at", UNSUPPORTED)
def test_patterns_re2_cannot_run_are_coded_errors_with_a_rewrite(pattern, what, fix, at):
    (p,) = problems(segment_when("{title: {matches: '%s'}}" % pattern))
    assert (p.code, p.loc.line, p.loc.col) == ("E113", 4, 29)
    assert what in p.message and f"at character {at}" in p.message, p.message
    assert fix in p.fix, p.fix


def test_explanations_show_the_pattern_as_written():
    rs = ruleset(segment_when(r"{title: {matches: '\b(vp|chief)\b'}}"))
    (rule,) = rs.all_rules()
    assert isinstance(rule.when, RuleTest)
    assert rule.when.describe() == r"title matches '\b(vp|chief)\b'"


# -- B. rule files cannot exhaust a run --------------------------------------------------------

def alias_bomb() -> str:
    # 9 levels of 10 aliases each: a billion values once expanded, 365 bytes as text.
    text = 'object: Lead\na: &a ["x","x","x","x","x","x","x","x","x","x"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi"):
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 10) + "]\n"
    return text


def test_an_alias_bomb_is_refused_fast_in_little_memory():
    text = alias_bomb()
    assert len(text) < 400
    tracemalloc.start()
    try:
        with within(1):
            root, found = parse_text(text, "lead.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert root is None and peak < 20e6, peak
    (p,) = found
    assert (p.code, p.loc.line, p.loc.col) == ("E008", 3, 8)  # the first alias
    assert "1,234,567,880" in p.message and "10,000" in p.message and p.fix


def test_aliases_are_fine_within_the_bound_and_merge_keys_work():
    text = """\
object: Lead
segment:
  - {name: a, when: &senior {title: {matches: 'vp|chief'}}, segment: A}
  - {name: b, when: {all: [*senior, {state: CA}]}, segment: B}
qualify:
  - &base {name: q, stage: MQL}
  - {<<: *base, name: r}
"""
    assert codes(text) == [("E119", 7, 5)]  # r comes after the catch-all q: the merge worked


def test_an_alias_inside_its_own_value_is_refused():
    assert codes("object: Lead\nsegment: &s [*s]\n") == [("E008", 2, 10)]


def test_a_file_over_the_size_bound_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "lead.yaml"
    line = "  - {name: r, when: {title: x}, segment: S}\n"
    big.write_text("object: Lead\nsegment:\n" + line * (5 * 2**20 // len(line)))
    text = big.read_text()

    def no_reading(*args, **kwargs):
        raise AssertionError("the file was opened")
    monkeypatch.setattr(Path, "open", no_reading)
    monkeypatch.setattr(Path, "read_text", no_reading)
    with within(1):
        with pytest.raises(ConfigError) as info:
            load(tmp_path, "Lead", FIELDS)
        _, found = validate_all(tmp_path, None)
    for p in (*info.value.problems, *found):
        assert p.code == "E007" and "the limit is 2 MB" in p.message and p.loc.line == 1, p
    assert parse_text(text, "lead.yaml")[1][0].code == "E007"  # text from git, not a file


def test_a_file_of_too_many_values_is_refused_early(monkeypatch):
    monkeypatch.setattr(source, "MAX_VALUES", 1000)
    root, found = parse_text("object: Lead\nx: [" + ", ".join(["1"] * 5000) + "]\n", "lead.yaml")
    assert root is None and [(p.code, p.loc.line) for p in found] == [("E007", 2)]
    assert "1,000 values" in found[0].message


def test_a_fifo_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "lead.yaml")  # opening it would wait for a writer forever
    with within(1):
        root, found = load_file(tmp_path / "lead.yaml")
    assert root is None and found[0].code == "E003" and "not a regular file" in found[0].message


def test_a_symlink_loop_is_a_file_that_cannot_be_read(tmp_path):
    (tmp_path / "lead.yaml").write_text("object: Lead\nqualify: [{name: A, stage: X}]\n")
    (tmp_path / "loop.yaml").symlink_to(tmp_path / "loop.yaml")
    lines, found = validate_all(tmp_path, None)
    assert len(lines) == 1 and [(p.code, Path(p.loc.file).name) for p in found] == [("E003", "loop.yaml")]
    assert find_rule_file(tmp_path, "Lead").name == "lead.yaml"


def test_deep_nesting_is_a_validation_error_and_the_deepest_accepted_file_evaluates():
    def nots(n: int) -> str:
        return segment_when("{not: " * n + "{title: x}" + "}" * n)
    assert [c for c, _, _ in codes(nots(200))] == ["E009"]
    with within(1):  # ruamel's scanner is quadratic in open brackets: stopped at the bound
        found = codes("object: Lead\nx: " + "[" * 50_000 + "]" * 50_000 + "\n")
    assert found == [("E009", 2, 4 + source.MAX_DEPTH)]
    block = "object: Lead\nx:\n" + "".join("  " * i + f"- k{i}:\n" for i in range(1, 100)) + "  " * 100 + "1\n"
    assert [(c, line) for c, line, _ in codes(block)] == [("E009", 2 + source.MAX_DEPTH // 2)]
    deepest = max(n for n in range(40, 80) if not problems(nots(n)))
    assert deepest >= 50  # a bound far beyond what people write
    for engine in ENGINES:  # and what validate accepts, evaluate runs (Python's parser has limits)
        (hit, miss) = decide(nots(deepest), [{"id": "1", "title": "y"}, {"id": "2", "title": "x"}], engine=engine)
        assert (hit.segment, miss.segment) == (("yes", None) if deepest % 2 else (None, "yes"))


def test_aliases_cannot_nest_deeper_than_the_text_shows():
    inner = "{k: " * 40 + "1" + "}" * 40
    outer = "{k: " * 40 + "*x" + "}" * 40
    assert [c for c, _, _ in codes(f"object: Lead\nx: &x {inner}\ny: {outer}\n")] == ["E009"]


def test_yaml_tags_are_refused_each_with_its_position():
    text = "object: !!str Lead\nsegment: !!python/object:os.system [x]\ndescription: !note hi\n"
    found = problems(text)
    assert [(p.code, p.loc.line) for p in found] == [("E010", 1), ("E010", 2), ("E010", 3)]
    assert "'!!python/object:os.system'" in found[1].message and "remove the tag" in found[1].fix


def test_every_duplicate_key_is_reported():
    text = """\
object: Lead
segment:
  - {name: a, when: {title: x, title: y}, segment: A, segment: B}
  - name: b
    segment: C
    name: c
object: Lead
"""
    found = problems(text)
    assert [(p.code, p.loc.line, p.loc.col) for p in found] == [
        ("E002", 3, 32), ("E002", 3, 55), ("E002", 6, 5), ("E002", 7, 1)]
    assert "duplicate key 'title' (first at line 3, column 22)" in found[0].message


# -- C. validate accepts only what evaluate runs ---------------------------------------------

def test_durations_longer_than_three_years_are_refused():
    text = """\
object: Lead
segment:
  - {name: old, when: {created_at: {older_than: 157w}}, segment: A}
sla:
  - {name: s, within: 9999999w, warn_before: 99999999999999999999999999999d}
  - {name: t, within: 156w}
"""
    found = problems(text)
    assert [(p.code, p.loc.line) for p in found] == [("E114", 3), ("E114", 5), ("E114", 5)]
    assert "longer than 156 weeks" in found[1].message and found[1].fix == "write at most 156w"


def test_score_numbers_are_bounded_so_sums_stay_finite():
    text = """\
object: Lead
score:
  caps: {fit: 1e300}
  max: 1e10
  grade: {bands: {A: -1e12}}
  rules:
    - {name: a, category: fit, points: 1e308}
    - {name: b, category: fit, points: 1e308}
    - {name: c, category: fit, points: 1000000000}
"""
    found = problems(text)
    assert [(p.code, p.loc.line) for p in found] == [("E125", 3), ("E125", 4), ("E125", 5), ("E125", 7), ("E125", 8)]
    assert found[3].message == "points: 1e+308 is beyond 1,000,000,000 either way"


def test_text_that_is_not_unicode_is_refused_with_its_position():
    found = codes('object: Lead\nqualify:\n  - {name: "MQL \\ud800", stage: MQL}\n')
    assert found == [("E011", 3, 12)]


def test_two_rule_files_for_one_object_are_both_reported(tmp_path):
    (tmp_path / "lead.yaml").write_text("object: Lead\nqualify: [{name: A, stage: X}]\n")
    (tmp_path / "leads-2.yaml").write_text("# copy\nobject: lead\nqualify: [{name: B, stage: Y}]\n")
    _, found = validate_all(tmp_path, None)
    assert sorted((p.code, Path(p.loc.file).name, p.loc.line) for p in found) == [
        ("E006", "lead.yaml", 1), ("E006", "leads-2.yaml", 2)]
    assert all("lead.yaml" in p.message and "leads-2.yaml" in p.message for p in found)
    with pytest.raises(ConfigError) as info:
        find_rule_file(tmp_path, "Lead")
    assert len(info.value.problems) == 2


def test_object_that_is_not_a_name_is_a_coded_error(tmp_path):
    (tmp_path / "lead.yaml").write_text("object: [Lead]\nqualify: [{name: A, stage: X}]\n")
    _, found = validate_all(tmp_path, None)
    assert [(p.code, p.loc.line, p.loc.col) for p in found] == [("E103", 1, 9)]
    assert "['Lead']" in found[0].message
