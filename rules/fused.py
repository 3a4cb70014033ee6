"""The default engine's per-record function: reading, segment, score, qualify and route
matching fused into one generated function per rule file.

The section-by-section path (evaluate.py) keeps facts in a list and calls one function per
section; here every slot is a local variable from the moment the field is read until the
record's Decision is made, and score sums, caps, bounds and grade bands are straight-line
code. What happens after route matching (stickiness, round robin, SLA clocks) needs the
run's state and stays in evaluate.py, shared with the other path. The differential tests
run both paths and the durable engine on the same records and require the same decisions.
"""
from __future__ import annotations

import math
import re
from dataclasses import fields
from typing import Any, Protocol

from .compile import Program
from .model import Decision, Rule, RuleSet, Section
from .lifecycle import stage_facts
from .prepare import read_field
from .trace import Tracer
from .values import COERCE, Unreadable

_SLOT = re.compile(r"\b([vT])\[(\d+)\]")


def _locals(code: str) -> str:
    return _SLOT.sub(lambda m: f"{m.group(1).lower()}{m.group(2)}", code)


def _num(src: "_Source", value: float) -> str:
    """A number in generated code: a literal when Python can read it back (not inf or nan)."""
    return repr(value) if math.isfinite(value) else src.const(value)


def _problems(found: list[tuple[str, Unreadable]]) -> tuple[str, ...]:
    return tuple(bad.note(name) for name, bad in found)


def _record_id(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip() and value
    return None if value is None or value == "" else str(value)


_DECISION_ORDER = ("id", "segment", "score", "scores", "grade", "stage", "owner", "routed_at", "sla_due",
                   "sla_status", "problems", "escalated", "sla_started_at", "tracer", "seg_rule", "score_rules",
                   "capped", "grade_basis", "stage_rule")


class _Source:
    def __init__(self, program: Program):
        self.program = program
        self.lines: list[str] = []
        self.names: dict[str, Any] = dict(program.consts)
        self._by_id = {id(value): name for name, value in self.names.items()}

    def const(self, value: Any) -> str:
        """The name a value is passed in as; the same object always gets the same name."""
        name = self._by_id.get(id(value))
        if name is None:
            name = self._by_id[id(value)] = f"c{len(self.names)}"
            self.names[name] = value
        return name

    def add(self, line: str, depth: int = 1) -> None:
        self.lines.append("    " * depth + _locals(line))

    def slot(self, field: str) -> int | None:
        return self.program.slots.get(field)

    def set_text(self, field: str, value: str, folded: str, depth: int) -> None:
        s = self.slot(field)
        if s is not None:
            self.add(f"v[{s}] = {value}; v[{s + 1}] = {folded}; v[{s + 2}] = False", depth)


class Decider(Protocol):
    """The generated function: decide(rec, T, tracer) -> (Decision, facts, route hits); the
    route hits are None when the rules have no route section."""

    source: str  # its Python source, for debugging

    def __call__(self, rec: dict[str, Any], T: list[float], tracer: Tracer, /
                 ) -> tuple[Decision, list[Any], list[int] | None]: ...


def build(program: Program) -> Decider:
    """decide(rec, T, tracer) -> (Decision, facts, route hits)."""
    ruleset = program.ruleset
    src = _Source(program)
    sections = dict(ruleset.sections)
    src.lines += [f"    t{j} = T[{j}]" for j in range(len(program.durations))]
    src.add("g = rec.get")
    src.add("P = []")
    for name, s in program.slots.items():
        if name not in program.inputs:  # outputs start missing
            src.add(f"v[{s}] = None; v[{s + 1}] = None; v[{s + 2}] = True")
    used = {int(n) for source in program.sources.values() for n in re.findall(r"\bv\[(\d+)\]", source)}
    for name in program.inputs:
        s = program.slots[name]
        for line in read_field(name, program.types[name], s, s + 1 in used):
            src.lines.append(_locals(line))
    src.add("rid = g('id')")
    src.add("if rid is not None and (rid.__class__ is not str or not rid.strip()): rid = RID(rid)")

    _first(src, sections.get(Section.SEGMENT), "segment", "si")
    _score(src, sections.get(Section.SCORE), ruleset)
    _first(src, sections.get(Section.QUALIFY), "stage", "qi")
    _stage_facts(src, used, Section.QUALIFY in sections)
    route = sections.get(Section.ROUTE)
    if route is not None:
        src.add("rh = []")
        src.add("ap = rh.append")
        for rule in route:
            src.add(f"if {program.rule_exprs[(Section.ROUTE, rule.index)]}: ap({rule.index})")
    else:
        src.add("rh = None")
    # Positional: Decision's fields in order (keywords cost more per record).
    assert tuple(f.name for f in fields(Decision))[:len(_DECISION_ORDER)] == _DECISION_ORDER
    src.add("d = D(rid, segment, total, sums, grade, stage, None, None, None, None, PR(P) if P else (), "
            "False, None, tracer, si, h, cp, basis, qi)")
    src.add("return d, [" + ", ".join(f"v{i}" for i in range(program.width)) + "], rh")

    src.names.update({"LS": stage_facts, "D": Decision, "PR": _problems, "RID": _record_id, "C": {t.value: f for t, f in COERCE.items()},
                      "U": Unreadable, "DC": {}, "TC": {}})
    consts = [n for n in src.names if n not in ("DC", "TC")]
    head = "def decide(rec, T, tracer, " + ", ".join(f"{n}={n}" for n in consts) + "):"
    source = head + "\n" + "\n".join(src.lines)
    namespace = dict(src.names)
    exec(compile(source, f"<revsync decide {ruleset.file}>", "exec"), namespace)
    decide: Decider = namespace["decide"]
    decide.source = source
    return decide


def _first(src: _Source, rules: tuple[Rule, ...] | None, output: str, index: str) -> None:
    """An ordered section: the first matching entry's value becomes the output (a local of
    the same name: `segment` or `stage`)."""
    src.add(f"{output} = None; {index} = -1")
    if not rules:
        return
    section = rules[0].section
    # A flat run of `if ...: break` inside one loop, not an if/elif chain: a chain nests, and
    # Python's compiler gives up on a few thousand entries.
    src.add("while True:")
    for rule in rules:
        assert rule.value is not None  # the parser gives every segment and qualify entry its value
        value = src.const(rule.value)
        folded = src.const(rule.value.strip().casefold())
        src.add(f"if {src.program.rule_exprs[(section, rule.index)]}:", 2)
        src.add(f"{index} = {rule.index}; {output} = {value}", 3)
        src.set_text(output, value, folded, 3)
        src.add("break", 3)
    src.add("break", 2)


def _stage_facts(src: _Source, used: set[int], has_qualify: bool) -> None:
    """previous_stage and stage_entered_at, for route and SLA tests that read them."""
    ps, se = src.slot("previous_stage"), src.slot("stage_entered_at")
    if ps is None or se is None or not has_qualify or not ({ps, se} & used):  # outputs always have slots
        return
    src.add(f"ps, se, _ = LS(rec, stage, T[{src.program.now_index}])")
    src.add(f"v[{ps}] = ps; v[{ps + 1}] = ps.strip().casefold() if ps is not None else None; v[{ps + 2}] = ps is None")
    src.add(f"v[{se}] = se; v[{se + 1}] = None; v[{se + 2}] = se is None")


def _score(src: _Source, rules: tuple[Rule, ...] | None, ruleset: RuleSet) -> None:
    src.add("total = None; sums = {}; h = (); cp = (); grade = None; basis = None")
    if rules is None:
        return
    cfg = ruleset.score_config
    categories = list(dict.fromkeys(r.category for r in rules))
    var = {cat: f"s{i}" for i, cat in enumerate(categories)}
    src.add("h = []")
    src.add("ap = h.append")
    for cat in categories:
        src.add(f"{var[cat]} = None")
    for rule in rules:
        x = var[rule.category]
        src.add(f"if {src.program.rule_exprs[(Section.SCORE, rule.index)]}:")
        first, points = _num(src, 0.0 + rule.points), _num(src, rule.points)
        src.add(f"ap({rule.index}); {x} = {first} if {x} is None else {x} + {points}", 2)
    for cat, cap in (cfg.caps if cfg else ()):
        if cat in var:
            x = var[cat]
            src.add(f"if {x} is not None and {x} > {_num(src, cap)}: cp += (({src.const(cat)}, {x}),); "
                    f"{x} = {_num(src, cap)}")
    src.add("total = 0")
    for cat in categories:
        x = var[cat]
        src.add(f"if {x} is not None: total += {x}; sums[{src.const(cat)}] = {x}")
    if cfg is not None and cfg.min is not None:
        src.add(f"if total < {_num(src, cfg.min)}: total = {_num(src, cfg.min)}")
    if cfg is not None and cfg.max is not None:
        src.add(f"if total > {_num(src, cfg.max)}: total = {_num(src, cfg.max)}")
    s = src.slot("score")
    if s is not None:
        src.add(f"v[{s}] = total; v[{s + 2}] = False")
    for name, s in src.program.slots.items():
        if name.startswith("scores."):
            found = var.get(name[len("scores."):])
            value = "0.0" if found is None else f"({found} if {found} is not None else 0.0)"
            src.add(f"v[{s}] = {value}; v[{s + 2}] = False")
    grade = cfg.grade if cfg else None
    if grade is None:
        return
    if grade.category is None:
        src.add("basis = total")
    else:
        found = var.get(grade.category)
        src.add("basis = 0.0" if found is None else f"basis = {found} if {found} is not None else 0.0")
    keyword = "if"
    for label, low in grade.bands:
        src.add(f"{keyword} basis >= {_num(src, low)}:")
        src.add(f"grade = {src.const(label)}", 2)
        src.set_text("grade", src.const(label), src.const(label.casefold()), 2)
        keyword = "elif"
