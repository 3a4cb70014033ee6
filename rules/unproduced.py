"""Conditions on values no rule produces (W204): `when: {stage: MQLL}` where qualify produces
MQL and Nurture, `grade: [A, E]` where the bands are A to D. Such a test can never hold (or,
negated, always holds), which is a typo far more often than an intent, and nothing else would
say so: the file is valid and the cases may never reach that rule.
"""
from __future__ import annotations

from typing import Any

from .conditions import walk
from .model import Op, Problem, RuleSet, Section, Severity, Test
from .suggest import suggest
from .values import norm_text

CHECKED_OPS = (Op.EQ, Op.NE, Op.IN, Op.NOT_IN)


def produced(ruleset: RuleSet) -> dict[str, tuple[str, ...]]:
    """The values each produced field can take, as the rule file spells them; a field whose
    section is absent is left out (nothing to compare with)."""
    out: dict[str, tuple[str, ...]] = {}
    for field, section in (("segment", Section.SEGMENT), ("stage", Section.QUALIFY)):
        values = tuple(dict.fromkeys(r.value for r in ruleset.rules(section) if r.value))
        if values:
            out[field] = values
    grade = ruleset.score_config.grade if ruleset.score_config else None
    if grade is not None and grade.bands:
        out["grade"] = tuple(label for label, _ in grade.bands)
    return out


def unproduced_values(ruleset: RuleSet) -> list[Problem]:
    """A warning for every value a condition compares a produced field with that no rule
    produces, with the closest value that is produced, if one is close."""
    known = produced(ruleset)
    problems: list[Problem] = []

    def visit(test: Test) -> None:
        values = known.get(test.field)
        if values is None or test.op not in CHECKED_OPS:
            return
        folded = {norm_text(v): v for v in values}
        for shown in _written(test):
            if norm_text(shown) in folded:
                continue
            near = suggest(norm_text(shown), folded)
            hint = f"did you mean {folded[near]}? Otherwise " if near is not None else ""
            problems.append(Problem(
                "W204", f"{test.field} '{shown}' is a value no rule produces, so this test "
                f"{'always' if test.op in (Op.NE, Op.NOT_IN) else 'never'} holds: "
                f"{_kind(test.field)} {', '.join(values)}", test.loc,
                f"{hint}test one of those, or {_add(test.field, shown)}", Severity.WARNING))

    for rule in ruleset.all_rules():
        walk(rule.when, visit)
        walk(rule.met_when, visit)
    return problems


def _add(field: str, value: str) -> str:
    if field == "grade":
        return f"add the band {value} to `grade: bands`"
    section = "qualify" if field == "stage" else "segment"
    return f"add a {section} entry with `{field}: {value}`"


def _kind(field: str) -> str:
    return {"segment": "segment produces", "stage": "qualify produces", "grade": "the grade bands are"}[field]


def _written(test: Test) -> list[str]:
    """The values a test compares with, as the file spells them."""
    raw: Any = test.written if test.written is not None else test.value
    items = raw if isinstance(raw, (list, tuple, set, frozenset)) else [raw]
    return [str(v) for v in items if v is not None]
