"""`funnel: {qualified: [...]}`: the stages that count as qualified in reports (pinned)."""
from tests.rulekit import problems, ruleset

BASE = """
object: Lead
{funnel}
qualify:
  - name: Hot
    when: {{score: {{gte: 60}}}}
    stage: SQL
  - name: Rest
    stage: Nurture
"""


def test_qualified_stages_are_read_in_order_without_repeats():
    rs = ruleset(BASE.format(funnel="funnel: {qualified: [MQL, SQL, MQL]}"))
    assert rs.qualified_stages == ("MQL", "SQL")


def test_one_stage_may_be_written_without_a_list():
    assert ruleset(BASE.format(funnel="funnel: {qualified: SQL}")).qualified_stages == ("SQL",)


def test_without_the_key_no_stages_are_named():
    assert ruleset(BASE.format(funnel="")).qualified_stages == ()


def test_bad_funnel_is_located_with_a_fix():
    found = problems(BASE.format(funnel="funnel: {qualified: [], stages: [MQL]}"))
    codes = sorted((p.code, p.loc.line) for p in found)
    assert codes == [("E101", 3), ("E102", 3)]
    assert any("qualified: [MQL, SQL]" in p.fix for p in found)
