"""Rule test cases: data files beside the rule files, one runner for the CLI and pytest.

    # lead.cases.yaml
    object: Lead
    now: 2026-11-23T15:00:00Z        # evaluation time for every case (a case may override it)
    cases:
      - name: VP asking for a demo is a hot MQL
        record: {title: VP Sales, lead_source: Demo Request, industry: Software}
        expect: {stage: MQL, score: 65, matched: {qualify: Marketing qualified}}

`record` uses rule field names (`account.share_of_wallet` or nested `account: {...}`);
`crm` instead gives CRM field names and goes through the mapping. What revsync wrote on the
record last is given as it reads it back: `routed_at`, `owner_id`, `previous.stage`,
`previous.stage_entered_at`, `previous.sla_started_at`, `previous.sla_due`, and
`previous.lifecycle: {by: route/<rule>, owner: <owner it gave>, sla: <entry>, esc: 1}`. `expect` lists only
what the case is about: every key given must match, nothing else is checked.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from .evaluate import Context, Evaluator
from .model import ConfigError, Decision, Location, Problem, RuleSet
from .source import Node, load_file
from .values import parse_instant

EXPECT_KEYS = ("segment", "score", "scores", "grade", "stage", "previous_stage", "stage_entered_at", "owner",
               "routed_at", "sla_due", "sla_status", "sla_started_at", "sla_met_at", "matched")
INSTANTS = ("stage_entered_at", "routed_at", "sla_due", "sla_started_at", "sla_met_at")


@dataclass(frozen=True)
class Case:
    name: str
    loc: Location
    now: datetime
    record: dict[str, Any] | None  # exactly one of record and crm
    crm: dict[str, Any] | None
    expect: dict[str, Any]
    positions: dict[str, Any]


@dataclass
class CaseResult:
    case: Case
    decision: Decision | None
    mismatches: list[tuple[str, Any, Any]] = field(default_factory=list)
    engine: str = "default"

    @property
    def passed(self) -> bool:
        return not self.mismatches

    def render(self) -> str:
        head = f"{'PASS' if self.passed else 'FAIL'} {self.case.loc.short} {self.case.name}"
        if self.passed:
            return head
        lines = [head]
        for key, want, got in self.mismatches:
            lines.append(f"    {key}:")
            lines.append(f"      - expected: {_shown(want)}")
            lines.append(f"      + actual:   {_shown(got)}")
        if self.decision is not None:
            cited = ", ".join(f"{h.section.value}/{h.rule} ({h.loc.short})" for h in self.decision.trace)
            lines.append(f"    rules that matched: {cited or 'none'}")
            for problem in self.decision.problems:
                lines.append(f"    unreadable value: {problem}")
        return "\n".join(lines)


def _shown(value: Any) -> str:
    """As the case file would spell it: instants in ISO 8601 (YAML gives its own timestamp type)."""
    from datetime import date, datetime
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value[:4].isdigit() and value[4:5] == "-" and "T" in value:
        return value  # an instant, already ISO 8601: unquoted, like the expected side
    return repr(value)


def load_cases(path: Path) -> tuple[str | None, list[Case]]:
    """The object and cases of one cases file; ConfigError with every problem."""
    root, problems = load_file(path)
    cases: list[Case] = []
    obj = None
    if root is not None:
        obj_node = root.get("object")
        obj = str(obj_node.value) if obj_node is not None else None
        default_now = _now(root.get("now"), problems)
        items = root.get("cases")
        if items is None or not items.is_seq:
            problems.append(Problem("C001", "a cases file needs `cases:` as a list", root.loc,
                                    "see `revsync init` for an example"))
        for item in (items.value if items is not None and items.is_seq else []):
            case = _case(item, default_now, problems)
            if case is not None:
                cases.append(case)
    if problems:
        raise ConfigError(problems)
    return obj, cases


def _now(node: Node | None, problems: list[Problem]) -> datetime | None:
    if node is None:
        return None
    instant = parse_instant(node.value)
    if instant is None:
        problems.append(Problem("C002", f"`now` is not ISO 8601: {node.value!r}", node.loc,
                                "e.g. now: 2026-11-23T15:00:00Z"))
    return instant


def _case(node: Node, default_now: datetime | None, problems: list[Problem]) -> Case | None:
    if not node.is_map:
        problems.append(Problem("C001", "each case must be a mapping", node.loc))
        return None
    for key, _ in node.items():
        if key not in ("name", "now", "record", "crm", "expect", "positions"):
            problems.append(Problem("C003", f"unknown key '{key}' in a case", node.key_loc(key),
                                    "a case takes name, now, record or crm, expect, positions"))
    name = node.get("name")
    expect = node.get("expect")
    now = _now(node.get("now"), problems) or default_now
    record, crm = node.get("record"), node.get("crm")
    ok = True
    if name is None:
        problems.append(Problem("C004", "case without `name:`", node.loc, "name what the case checks"))
        ok = False
    if (record is None) == (crm is None):
        problems.append(Problem("C004", "a case needs exactly one of `record:` or `crm:`", node.loc))
        ok = False
    if expect is None or not expect.is_map or not expect.value:
        problems.append(Problem("C004", "case without `expect:`", node.loc,
                                "list the outputs this case checks, e.g. expect: {stage: MQL}"))
        ok = False
    else:
        for key, _ in expect.items():
            if key not in EXPECT_KEYS:
                problems.append(Problem("C003", f"cannot expect '{key}'", expect.key_loc(key),
                                        "expect takes: " + ", ".join(EXPECT_KEYS)))
                ok = False
    if now is None:
        problems.append(Problem("C002", "no evaluation time: set `now:` on the file or the case",
                                node.loc, "cases need a fixed time to be reproducible"))
        ok = False
    if not ok or name is None or expect is None or now is None:  # each None made `ok` false
        return None
    positions = node.get("positions")
    return Case(str(name.value), node.loc, now,
                record.plain() if record is not None else None,
                crm.plain() if crm is not None else None, expect.plain(),
                positions.plain() if positions is not None else {})


def _normal(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    return value


def compare(expect: dict[str, Any], decision: Decision) -> list[tuple[str, Any, Any]]:
    actual = {**decision.outputs(), "matched": decision.matched}
    out = []
    for key, want in expect.items():
        got = actual.get(key)
        if key in ("matched", "scores") and isinstance(want, dict) and isinstance(got, dict):
            for sub, sub_want in want.items():
                if _normal(sub_want) != _normal(got.get(sub)):
                    out.append((f"{key}.{sub}", sub_want, got.get(sub)))
            continue
        want_n = _normal(parse_instant(want)) if key in INSTANTS and want else _normal(want)
        if want_n != _normal(got):
            out.append((key, want, got))
    return out


def run_cases(ruleset: RuleSet, cases: list[Case], engine: str = "default",
              inbound: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> list[CaseResult]:
    evaluator = Evaluator(ruleset, engine)
    results = []
    for case in cases:
        if case.record is not None:
            record = case.record
        else:
            assert case.crm is not None  # a case gives exactly one of them
            record = (inbound or dict)(case.crm)
        ctx = Context(now=case.now, positions=dict(case.positions))
        decision = evaluator.evaluate_batch([record], ctx)[0]
        results.append(CaseResult(case, decision, compare(case.expect, decision), evaluator.engine))
    return results
