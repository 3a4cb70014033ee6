"""RuleSet -> Program: a slot layout for normalised facts and Python source for every test.

The per-record path must do no parsing, regex compiling or dictionary walking, so each
section's conditions become one generated function over a flat list of slots:

    slot s     the typed value (None when missing or unreadable)
    slot s+1   the folded text (text fields only)
    slot s+2   True when the value is genuinely missing (null or empty), not unreadable

`ne`, `not_in` and `exists: false` pass on a missing value and fail on an unreadable one,
which is why "missing" needs its own slot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from .conditions import Regex, walk
from .model import All, Condition, FieldType, Not, Op, Rule, RuleSet, Section, Test
from .parse import used_fields

OUTPUT_FIELDS = ("segment", "score", "grade", "stage", "previous_stage", "stage_entered_at", "owner")


@dataclass
class Program:
    ruleset: RuleSet
    slots: dict[str, int]  # field -> first slot
    types: dict[str, FieldType]
    inputs: tuple[str, ...]  # record fields read from the input, in slot order
    width: int
    durations: list[int]  # seconds, indexed by the T list at evaluation time
    consts: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    # m_<section>(v, T) -> rule index (first match) or indexes (all match); m_met(v, T, i) -> bool
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    test_exprs: dict[int, str] = field(default_factory=dict)  # id(Test) -> expression
    rule_exprs: dict[tuple[Section, int], str] = field(default_factory=dict)  # a rule's `when`
    now_index: int = -1  # T[now_index] is the evaluation time itself

    def thresholds(self, now_ts: float) -> list[float]:
        return [now_ts - seconds for seconds in self.durations]

    def test_function(self, test: Test) -> Callable[[list[Any], list[float]], bool]:
        """One test alone, for explanations."""
        function: Callable[[list[Any], list[float]], bool] = eval(
            f"lambda v, T: bool({self.test_exprs[id(test)]})", dict(self.consts))
        return function


class _Searched(dict[str, bool]):
    """Whether a regex finds a match in a text, remembered per text: the same titles and
    domains come back record after record, and a dict lookup is cheaper than a search."""

    def __init__(self, regex: Regex):
        super().__init__()
        self.regex = regex
        self.pattern = regex.pattern

    def __missing__(self, text: str) -> bool:
        if len(self) >= 4096:
            self.clear()  # bounded: memory stays flat whatever the input
        try:
            found = self.regex.search(text) is not None
        except UnicodeEncodeError:  # RE2 reads UTF-8: a lone surrogate (JSON "\ud800") is U+FFFD to it
            found = self.regex.search(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")) is not None
        self[text] = found
        return found

    # typeshed declares dict unhashable (__hash__ = None), so mypy refuses any override of it.
    def __hash__(self) -> int:  # type: ignore[override]  # one per pattern: constants are shared by identity
        return id(self)


class _Gen:
    def __init__(self, program: Program):
        self.p = program
        self.const_ids: dict[Any, str] = {}

    def const(self, value: Any) -> str:
        key = (type(value).__name__, value if not hasattr(value, "pattern") else value.pattern)
        if key not in self.const_ids:
            name = f"k{len(self.const_ids)}"
            self.const_ids[key] = name
            self.p.consts[name] = value
        return self.const_ids[key]

    def duration(self, seconds: int) -> int:
        if seconds not in self.p.durations:
            self.p.durations.append(seconds)
        return self.p.durations.index(seconds)

    def expr(self, cond: Condition) -> str:
        if isinstance(cond, Test):
            text = self.test(cond)
            self.p.test_exprs[id(cond)] = text
            return text
        if isinstance(cond, Not):
            return f"(not {self.expr(cond.item)})"
        joiner = " and " if isinstance(cond, All) else " or "
        parts = [self.expr(c) for c in cond.items]
        if not parts:
            return "True" if isinstance(cond, All) else "False"
        return "(" + joiner.join(parts) + ")"

    def test(self, t: Test) -> str:
        s = self.p.slots[t.field]
        ftype = self.p.types[t.field]
        x, n, missing = f"v[{s}]", f"v[{s + 1}]", f"v[{s + 2}]"
        val = n if ftype.is_text else x
        op = t.op
        if op is Op.EXISTS:
            return f"({x} is not None)" if t.value else missing
        if op in (Op.OLDER_THAN, Op.NEWER_THAN):
            j = self.duration(t.value.seconds)
            cmp = "<" if op is Op.OLDER_THAN else ">"
            return f"({x} is not None and {x} {cmp} T[{j}])"
        if op is Op.MATCHES:
            return f"({x} is not None and {self.const(_Searched(t.value))}[{x}])"
        if op is Op.BETWEEN:
            lo, hi = (self.const(b) for b in t.value)
            return f"({val} is not None and {lo} <= {val} <= {hi})"
        k = self.const(t.value)
        simple = {Op.EQ: "==", Op.IN: "in"}
        if op in simple:
            return f"({val} {simple[op]} {k})"
        if op is Op.NE:
            return f"({val} != {k} if {val} is not None else {missing})"
        if op is Op.NOT_IN:
            return f"({val} not in {k} if {val} is not None else {missing})"
        order = {Op.GT: ">", Op.GTE: ">=", Op.LT: "<", Op.LTE: "<="}
        if op in order:
            return f"({val} is not None and {val} {order[op]} {k})"
        if op is Op.CONTAINS:
            return f"({n} is not None and {k} in {n})"
        if op is Op.STARTS_WITH:
            return f"({n} is not None and {n}.startswith({k}))"
        if op is Op.ENDS_WITH:
            return f"({n} is not None and {n}.endswith({k}))"
        raise AssertionError(f"no code for {op}")


def _when(gen: _Gen, rule: Rule) -> str:
    text = "True" if rule.when is None else gen.expr(rule.when)
    gen.p.rule_exprs[(rule.section, rule.index)] = text
    return text


def _first_match(gen: _Gen, name: str, rules: tuple[Rule, ...]) -> str:
    lines = [f"def {name}(v, T):"]
    for rule in rules:
        if rule.when is None:
            _when(gen, rule)
            lines.append(f"    return {rule.index}")
            break
        lines.append(f"    if {_when(gen, rule)}: return {rule.index}")
    else:
        lines.append("    return -1")
    return "\n".join(lines)


def _all_matches(gen: _Gen, name: str, rules: tuple[Rule, ...]) -> str:
    lines = [f"def {name}(v, T):", "    h = []"]
    for rule in rules:
        lines.append(f"    if {_when(gen, rule)}: h.append({rule.index})")
    lines.append("    return h")
    return "\n".join(lines)


def _met(gen: _Gen, name: str, rules: tuple[Rule, ...]) -> str:
    lines = [f"def {name}(v, T, i):"]
    for rule in rules:
        if rule.met_when is not None:
            lines.append(f"    if i == {rule.index}: return {gen.expr(rule.met_when)}")
    lines.append("    return False")
    return "\n".join(lines)


def compile_ruleset(ruleset: RuleSet) -> Program:
    types = dict(ruleset.fields)
    needed = used_fields(ruleset)
    inputs = tuple(sorted(f for f in needed if f not in OUTPUT_FIELDS and not f.startswith("scores.")))
    # Outputs always get slots: later sections test them, and the SLA may test the owner.
    outputs = list(OUTPUT_FIELDS) + sorted({f for f in types if f.startswith("scores.")})
    slots: dict[str, int] = {}
    for name in (*inputs, *outputs):
        slots[name] = 3 * len(slots)
    program = Program(ruleset, slots, types, inputs, 3 * len(slots), [])
    gen = _Gen(program)
    for section, rules in ruleset.sections:
        fname = f"m_{section.value}"
        if section in (Section.SCORE, Section.ROUTE):  # route falls through empty targets
            program.sources[fname] = _all_matches(gen, fname, rules)
        else:
            program.sources[fname] = _first_match(gen, fname, rules)
        if section is Section.SLA:
            program.sources["m_met"] = _met(gen, "m_met", rules)
    program.now_index = gen.duration(0)
    program.sources = {name: _localize(src) for name, src in program.sources.items()}
    namespace: dict[str, Any] = dict(program.consts)
    for fname, source in program.sources.items():
        exec(compile(source, f"<revsync {ruleset.file}:{fname}>", "exec"), namespace)
        program.functions[fname] = namespace[fname]
    return program


_SLOT = re.compile(r"\b([vT])\[(\d+)\]")
_CONST = re.compile(r"\bk\d+\b")


def _localize(source: str) -> str:
    """Read each slot into a local once and bind constants as default arguments: locals are
    the fastest names Python has, and the generated functions run for every record."""
    head, _, body = source.partition("\n")
    slots = sorted(set(_SLOT.findall(body)), key=lambda m: (m[0], int(m[1])))
    consts = sorted(set(_CONST.findall(body)), key=lambda k: int(k[1:]))
    body = _SLOT.sub(lambda m: f"{m.group(1).lower()}{m.group(2)}", body)
    body = body.replace("h.append(", "ap(")
    params = head[head.index("(") + 1:head.index(")")]
    extra = "".join(f", {k}={k}" for k in consts)
    prologue = "".join(f"    {kind.lower()}{n} = {kind}[{n}]\n" for kind, n in slots)
    if "h = []" in body:
        body = body.replace("    h = []\n", "    h = []\n    ap = h.append\n", 1)
    return f"{head[:head.index('(')]}({params}{extra}):\n{prologue}{body}"


def tests_of(cond: Condition | None) -> list[Test]:
    out: list[Test] = []
    walk(cond, out.append)
    return out
