"""What `rules validate` says about slips a person makes by hand: a value no rule produces
(W204, with the value meant), and the common YAML mistakes in plain words at file:line:col,
still E001 (not the parser's `expected <block end>, but found '<block mapping start>'`)."""
from __future__ import annotations

import pytest

import mappings
from rules.loader import parse_rules
from rules.model import ConfigError, Problem

FIELDS = mappings.load("Lead").rule_fields()
RULES = """object: Lead
segment:
  - {{name: Big, when: {{employees: {{gte: 1000}}}}, segment: Enterprise}}
  - {{name: Rest, segment: SMB}}
score:
  grade: {{category: fit, bands: {{A: 45, B: 30, C: 15, D: 0}}}}
  rules:
    - {{name: CEO, category: fit, when: {{title: CEO}}, points: 50}}
qualify:
  - {{name: Hot, when: {{grade: {grade}}}, stage: MQL}}
  - {{name: Rest, stage: Nurture}}
route:
  - {{name: Sales, when: {{stage: {stage}, segment: {segment}}}, assign: {{queue: Sales}}}}
  - {{name: Rest, assign: {{queue: Inbound}}}}
"""


def warnings(**values: str) -> list[Problem]:
    text = RULES.format(**{"grade": "[A, B]", "stage": "MQL", "segment": "Enterprise", **values})
    return [p for p in parse_rules(text, "lead.yaml", FIELDS).warnings if p.code == "W204"]


def test_values_the_rules_produce_raise_no_warning():
    assert warnings() == []
    assert warnings(stage="{in: [mql, ' Nurture ']}", grade="{ne: d}") == []  # compared as the engine compares


def test_a_stage_no_rule_produces_is_named_with_the_one_meant():
    (p,) = warnings(stage="MQLL")
    assert (p.loc.line, p.loc.col) == (13, 26) and p.severity.value == "warning"
    assert "stage 'MQLL' is a value no rule produces, so this test never holds: qualify produces MQL, Nurture" \
        in p.message
    assert p.fix.startswith("did you mean MQL?")


def test_a_grade_outside_the_bands_and_a_segment_nobody_makes():
    found = warnings(grade="[A, E]", segment="{not_in: [Enterprize]}")
    assert [(p.loc.line, p.message.split(" is ")[0]) for p in found] == [(10, "grade 'E'"), (13, "segment 'Enterprize'")]
    grade, segment = found
    assert "the grade bands are A, B, C, D" in grade.message and "add the band E" in grade.fix
    assert "this test always holds" in segment.message and "did you mean Enterprise?" in segment.fix


def errors(text: str) -> Problem:
    with pytest.raises(ConfigError) as exc:
        parse_rules(text, "lead.yaml", FIELDS)
    (p,) = exc.value.problems
    assert p.code == "E001"
    assert "expected" not in p.message and "<block" not in p.message and "token" not in p.message, p.message
    return p


@pytest.mark.parametrize("text, where, words, fix", [
    ("object: Lead\nqualify:\n\t- name: A\n\t  stage: MQL\n", (3, 1), "a tab character", "spaces"),
    ("object: Lead\nqualify:\n  - name: \"Hot MQL\n    stage: MQL\n", (3, 11), 'the quote " that starts here is never closed',
     'end the text with "'),
    ("object: Lead\nqualify:\n  - name: 'Hot\n    stage: MQL\n  - name: B\n    stage: X\n", (3, 11),
     "the quote ' that starts here", "'"),
    ("object: Lead\nqualify:\n  - name:A\n    stage: MQL\n", (3, 5), "'name:A' has no space after the colon",
     "write 'name: A'"),
    ("object: Lead\nqualify:\n  - name: A\n    stage:MQL\n  - name: B\n    stage: X\n", (4, 5),
     "'stage:MQL' has no space after the colon", "write 'stage: MQL'"),
    ("object: Lead\nqualify:\n  - name: A\n    stage: MQL\n   - name: B\n    stage: X\n", (5, 4),
     "starts in column 4, which lines up with no line above it", "column 3 or column 5"),
    ("object: Lead\nqualify:\n  - name: A\n     stage: MQL\n", (4, 6), "indented more than line 3",
     "start it in column 5"),
    ("object: Lead\nsegment:\n  - name: A\n    when: {title: VP: Sales}\n    segment: X\n", (4, 21),
     "a second ':' inside the { }", "quote a value"),
    ("object: Lead\nsegment:\n  - name: A\n    when: {title: [VP, CEO}\n    segment: X\n", (4, 27),
     "the '[' opened at line 4, column 19 is closed with '}'", "close it with ']'"),
])
def test_common_yaml_mistakes_in_plain_words(text, where, words, fix):
    p = errors(text)
    assert (p.loc.line, p.loc.col) == where and words in p.message and fix in p.fix, (p.loc, str(p))


def test_other_yaml_errors_keep_the_parser_words_and_the_code():
    with pytest.raises(ConfigError) as exc:
        parse_rules("object: Lead\nqualify: [\n", "lead.yaml", FIELDS)
    (p,) = exc.value.problems
    assert p.code == "E001" and p.loc.line == 3


def test_a_flow_key_without_a_space_is_pointed_out():
    with pytest.raises(ConfigError) as exc:
        parse_rules("object: Lead\nqualify:\n  - {name: A, when: {score:60}, stage: MQL}\n", "lead.yaml", FIELDS)
    (p,) = exc.value.problems
    assert p.code == "E110" and "write 'score: 60'" in p.fix


def test_operators_written_out_in_words_suggest_the_operator_meant():
    from tests.rulekit import problems
    found = problems("""
        object: Lead
        qualify:
          - name: Big
            when: {employees: {greater_than: 100}, title: {starts_with: VP}, state: {one_of: [CA]}}
            stage: MQL
        """)
    fixes = sorted(p.fix for p in found if p.code == "E111")
    assert fixes == ["did you mean 'gt'?", "did you mean 'in'?"]
