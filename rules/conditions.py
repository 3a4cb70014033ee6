"""`when:` mappings -> typed Condition trees, with every problem reported."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timezone
from typing import Any, Callable, Protocol

import re2

from .model import All, AnyOf, Condition, FieldType, Location, Not, Op, Problem, Test
from .source import Node
from .suggest import did_you_mean
from .values import bad_duration, norm_text, parse_duration, parse_instant

COMBINATORS = ("all", "any", "not")
OPERATORS = tuple(op.value for op in Op)
TEXT_OPS = {Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH, Op.MATCHES}
ORDER_OPS = {Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN}
AGE_OPS = {Op.OLDER_THAN, Op.NEWER_THAN}


@dataclass
class FieldScope:
    """The fields a condition may test at one point of the rule file."""

    types: dict[str, FieldType]
    later: dict[str, str]  # field -> the section that produces it (too late to test here)
    section: str

    def check(self, name: str, loc: Location, problems: list[Problem]) -> FieldType | None:
        if name in self.types:
            return self.types[name]
        if name in self.later:
            problems.append(Problem(
                "E121", f"'{name}' is produced by section '{self.later[name]}', which runs after "
                f"'{self.section}'", loc,
                "sections run segment -> score -> qualify -> route -> sla; test it in a later section"))
            return None
        if "." not in name and any(k.startswith(name + ".") for k in self.types):
            hint = f"related fields are written with a dot, e.g. '{name}.<field>'"
        elif ":" in name and name.split(":", 1)[0].strip() in self.types:  # `{score:60}` is one word to YAML
            key, value = name.split(":", 1)
            hint = f"a colon needs a space after it: write '{key.strip()}: {value.strip()}'"
        else:
            hint = did_you_mean(name, self.types)
        problems.append(Problem("E110", f"unknown field '{name}'", loc,
                                hint or "fields come from the mapping; see `revsync rules fields`"))
        return None


# Operators written out in words, as other tools name them: the closest spelling is no guide
# (`greater_than` is nearer to `newer_than` than to `gt`).
SPELLED_OUT = {
    "equals": "eq", "equal": "eq", "equal_to": "eq", "is": "eq", "not_equals": "ne", "not_equal": "ne",
    "not_equal_to": "ne", "is_not": "ne", "greater_than": "gt", "greater": "gt", "more_than": "gt",
    "greater_than_or_equal": "gte", "greater_or_equal": "gte", "greater_than_or_equal_to": "gte", "at_least": "gte",
    "less_than": "lt", "less": "lt", "fewer_than": "lt", "less_than_or_equal": "lte", "less_or_equal": "lte",
    "less_than_or_equal_to": "lte", "at_most": "lte", "one_of": "in", "any_of": "in", "not_one_of": "not_in",
    "none_of": "not_in", "regex": "matches", "match": "matches", "startswith": "starts_with",
    "endswith": "ends_with", "includes": "contains", "range": "between", "present": "exists",
}


class ConditionParser:
    def __init__(self, scope: FieldScope, problems: list[Problem]):
        self.scope = scope
        self.problems = problems

    def parse(self, node: Node) -> Condition | None:
        if not node.is_map:
            self._bad(node.loc, "E104", "a condition must be a mapping of field: test",
                      "e.g. when: {industry: Software}")
            return None
        if not node.value:  # `when: {}` itself is a catch-all; an empty one inside all/any/not is a slip
            self._bad(node.loc, "E104", "an empty condition inside all, any or not",
                      "write a test such as {industry: Software}, or remove it")
            return None
        parts: list[Condition] = []
        for key, value in node.items():
            kloc = node.key_loc(key)
            cond = self._combinator(key, value, kloc) if key in COMBINATORS else self._field(key, value, kloc)
            if cond is not None:
                parts.append(cond)
        if len(parts) == 1:
            return parts[0]
        return All(tuple(parts), node.loc)

    def _bad(self, loc: Location, code: str, message: str, fix: str = "") -> None:
        self.problems.append(Problem(code, message, loc, fix))

    def _combinator(self, key: str, value: Node, loc: Location) -> Condition | None:
        if key == "not":
            inner = self.parse(value)
            return Not(inner, loc) if inner is not None else None
        if not value.is_seq or not value.value:
            self._bad(value.loc, "E104", f"'{key}' takes a non-empty list of conditions",
                      f"e.g. {key}: [{{lead_source: Webinar}}, {{lead_source: Demo Request}}]")
            return None
        items = [c for c in (self.parse(item) for item in value.value) if c is not None]
        if len(items) != len(value.value):
            return None
        return All(tuple(items), loc) if key == "all" else AnyOf(tuple(items), loc)

    def _field(self, name: str, value: Node, loc: Location) -> Condition | None:
        ftype = self.scope.check(name, loc, self.problems)
        if value.is_map:
            tests = []
            if not value.value:
                self._bad(value.loc, "E104", f"no test given for '{name}'", "e.g. {gte: 1000}")
                return None
            for op_name, arg in value.items():
                oloc = value.key_loc(op_name)
                if op_name not in OPERATORS:
                    spelled = SPELLED_OUT.get(op_name.strip().casefold().replace(" ", "_").replace("-", "_"))
                    hint = f"did you mean '{spelled}'?" if spelled else did_you_mean(op_name, OPERATORS)
                    if not hint and f"{name}.{op_name}" in self.scope.types:
                        hint = f"write the field as '{name}.{op_name}'"
                    self._bad(oloc, "E111", f"unknown operator '{op_name}'",
                              hint or "operators: " + ", ".join(OPERATORS))
                    continue
                if ftype is not None:
                    test = self._test(name, ftype, Op(op_name), arg, oloc)
                    if test is not None:
                        tests.append(test)
            if ftype is None or len(tests) != len(value.value):
                return None
            return tests[0] if len(tests) == 1 else All(tuple(tests), loc)
        if ftype is None:
            return None
        op = Op.IN if value.is_seq else Op.EQ
        return self._test(name, ftype, op, value, loc)

    def _test(self, name: str, ftype: FieldType, op: Op, arg: Node, loc: Location) -> Test | None:
        typed = self._typed_arg(name, ftype, op, arg)
        if typed is _FAIL:
            return None
        written = [item.value for item in arg.value] if arg.is_seq else arg.value
        return Test(name, op, typed, loc, written if isinstance(written, (str, list)) else None)

    def _wrong(self, arg: Node, name: str, ftype: FieldType, op: Op, want: str, fix: str = "") -> Any:
        self._bad(arg.loc, "E112", f"'{name}' ({ftype.value}) {op.value}: expected {want}, "
                  f"got {_show(arg.plain())}", fix)
        return _FAIL

    def _typed_arg(self, name: str, ftype: FieldType, op: Op, arg: Node) -> Any:
        if op is Op.EXISTS:
            if not isinstance(arg.value, bool):
                return self._wrong(arg, name, ftype, op, "true or false")
            return arg.value
        if op in AGE_OPS:
            if not ftype.is_temporal:
                return self._wrong(arg, name, ftype, op, "a date or datetime field",
                                   "older_than/newer_than apply to dates and datetimes")
            duration = parse_duration(arg.value) if arg.is_scalar else None
            if duration is None:
                self._bad(arg.loc, "E114", *bad_duration(arg.plain()))
                return _FAIL
            return duration
        if op in TEXT_OPS and not ftype.is_text:
            return self._wrong(arg, name, ftype, op, "a text field",
                               f"'{op.value}' works on text; use eq/gt/lt/between for {ftype.value}")
        if op is Op.MATCHES:
            if not isinstance(arg.value, str):
                return self._wrong(arg, name, ftype, op, "a regular expression in quotes")
            regex, why, fix = compile_regex(arg.value)
            if regex is None:
                self._bad(arg.loc, "E113", f"regular expression {_show(arg.value)} cannot run: {why}", fix)
                return _FAIL
            return regex
        if op in ORDER_OPS and ftype is FieldType.BOOLEAN:
            return self._wrong(arg, name, ftype, op, "eq/ne/in for a true/false field")
        if op in (Op.IN, Op.NOT_IN):
            if not arg.is_seq or not arg.value:
                return self._wrong(arg, name, ftype, op, "a non-empty list")
            items = [self._scalar(name, ftype, op, item) for item in arg.value]
            return _FAIL if _FAIL in items else frozenset(items)
        if op is Op.BETWEEN:
            if not arg.is_seq or len(arg.value) != 2:
                return self._wrong(arg, name, ftype, op, "[low, high]")
            low, high = (self._scalar(name, ftype, op, item) for item in arg.value)
            if _FAIL in (low, high):
                return _FAIL
            if low > high:
                self._bad(arg.loc, "E112", f"between [{low}, {high}]: low is above high",
                          "write the lower bound first")
                return _FAIL
            return (low, high)
        if not arg.is_scalar:
            return self._wrong(arg, name, ftype, op, "a single value")
        return self._scalar(name, ftype, op, arg)

    def _scalar(self, name: str, ftype: FieldType, op: Op, arg: Node) -> Any:
        value = arg.value
        if not arg.is_scalar or value is None:
            return self._wrong(arg, name, ftype, op, "a value", "to test for a missing value use exists: false")
        if ftype.is_text:
            if isinstance(value, (dict, list)):
                return self._wrong(arg, name, ftype, op, "text")
            text = value if isinstance(value, str) else _yaml_text(value)
            return norm_text(text)
        if ftype is FieldType.NUMBER:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                return self._wrong(arg, name, ftype, op, "a number", "write numbers without quotes")
            try:
                return float(value)
            except OverflowError:  # an integer of hundreds of digits
                return self._wrong(arg, name, ftype, op, "a number below 1e308")
        if ftype is FieldType.BOOLEAN:
            if not isinstance(value, bool):
                return self._wrong(arg, name, ftype, op, "true or false")
            return value
        instant = parse_instant(value)
        if instant is None:
            return self._wrong(arg, name, ftype, op, "an ISO 8601 date or datetime",
                               "e.g. 2026-01-31 or 2026-01-31T09:00:00Z")
        if ftype is FieldType.DATE:
            instant = datetime.combine(instant.date(), time(0), timezone.utc)  # a date is its midnight UTC
        return instant.timestamp()


_FAIL = object()

# RE2 matches in time linear in the text, whatever the pattern, so no pattern an admin
# writes can hang a run; the price is the constructs that need backtracking. Its error
# names the construct; each gets the reason and a rewrite.
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.case_sensitive = False
_RE2_OPTIONS.log_errors = False  # it would print every refused pattern on stderr
_UNSUPPORTED = (  # (what RE2's error or the pattern shows, what it is, how to rewrite it)
    (re.compile(r"invalid escape sequence: \\[1-9]|\(\?P="), "a backreference",
     "RE2 has no backreferences: spell out the repeated text, or test the field twice with `all`"),
    (re.compile(r"invalid perl operator: \(\?<?[=!]"), "lookaround",
     "RE2 has no lookaround: split into two tests with all/not, e.g. all: [{title: {matches: 'vp'}}, "
     "{not: {title: {matches: 'assistant'}}}]"),
    (re.compile(r"invalid perl operator: \(\?>"), "an atomic group",
     "RE2 never backtracks: a plain group (?:...) means the same"),
    (re.compile(r"bad repetition operator: .\+"), "a possessive quantifier",
     "RE2 never backtracks: drop the second +"),
    (re.compile(r"invalid escape sequence: \\Z"), "\\Z", "use $ instead of \\Z (or \\z)"),
    (re.compile(r"pattern too large|invalid repetition size"),
     "too large to match in linear time (a count is at most 1000, and nested counts multiply)",
     "use smaller repetition counts such as {1,50}, or split it into several tests"),
)


class Regex(Protocol):
    """What rules use of a compiled RE2 pattern (google-re2 ships no types)."""

    @property
    def pattern(self) -> str: ...

    def search(self, text: str) -> object | None: ...


def compile_regex(pattern: str) -> tuple[Regex | None, str, str]:
    """(regex, "", "") for a pattern RE2 can run, case-insensitive; (None, why, fix) otherwise."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS), "", ""
    except re2.error as exc:
        detail = exc.args[0] if exc.args else ""
        detail = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
    except (TypeError, UnicodeEncodeError) as exc:  # e.g. a lone surrogate that reached here
        return None, str(exc), "write the pattern as plain text"
    fragment = detail.partition(": ")[2]
    if fragment == "(?P" and "(?P=" in pattern:  # RE2 names only the start of (?P=name)
        fragment = "(?P="
    at = pattern.find(fragment) if fragment and fragment != pattern else -1
    where = f" at character {at + 1}" if at >= 0 else ""
    for found, what, fix in _UNSUPPORTED:
        if found.search(detail) or (what == "a backreference" and found.search(fragment)):
            return None, f"{what}{where} ({detail})", fix
    return None, f"{detail}{where}", ("RE2 syntax is Python's, less backreferences and lookaround; "
                                       "quote the pattern with single quotes in YAML")


def _yaml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _show(value: Any) -> str:
    shown = repr(value) if not isinstance(value, str) else f"'{value}'"
    return shown if len(shown) <= 60 else shown[:57] + "..."  # a message, not a copy of the file


def fields_of(cond: Condition | None) -> set[str]:
    """Every field a condition tests."""
    out: set[str] = set()
    walk(cond, lambda t: out.add(t.field))
    return out


def walk(cond: Condition | None, visit: Callable[[Test], None]) -> None:
    if cond is None:
        return
    if isinstance(cond, Test):
        visit(cond)
    elif isinstance(cond, Not):
        walk(cond.item, visit)
    else:
        for item in cond.items:
            walk(item, visit)
