"""The optional second engine: the same compiled conditions matched by durable_rules.

durable_rules was measured before use (docs/engines.md); this module is where each of its
hazards is handled, and the only module that imports it:

- facts hold only what rules test, as ranks among the rule constants of each field: order and
  equality are kept exactly, and it never sees text (it folds ASCII only and compares text
  with numbers) or floats (it loses facts holding 1e-05 or 1e16);
- what it gets wrong is computed here and handed over as 0/1 flags: regular expressions (its
  own full-match dialect), contains/starts/ends, ages against the evaluation time, and every
  null-aware test (`ne`, `not_in`, `exists: false`, anything under `not`);
- every rule carries the guard `t == "r"` (a rule testing only absence loops on its own state
  record), every ruleset has a catch-all (a batch runs no actions if one fact matches nothing),
  and conditions too wide for it (hundreds of siblings never finish compiling) become flags;
- a fact holding too many fields is dropped without a word, so each ruleset reads at most
  MAX_KEYS of them and its facts hold only those;
- rulesets are at most CHUNK rules (more than 64 matches at one level fails), are built once
  per rule fingerprint and cached (they cannot be deleted and leak memory);
- actions only append to a list, and each batch is checked against the catch-all's count
  (it swallows exceptions in actions); one lock, since threads sharing a ruleset lose actions;
- no durable timers: deadlines are computed in Python, and the host's background threads that
  poll rulesets for queued actions and timers are turned off for ours (they raced the main
  thread: lost actions, and crashes).
"""
from __future__ import annotations

import itertools
import threading
from bisect import bisect_left
from typing import Any, Callable

from .compile import Program, tests_of
from .model import All, Condition, Not, Op, Section, Test

# durable_rules ships no types: its fact reference (`lang.m`) and the condition expressions built
# on it are Any. A condition here is built by a function of that reference.
_Build = Callable[[Any], Any]
# (fact key, function(v, T) -> the fact's value, or None to leave it out)
_Extractor = tuple[str, Callable[[list[Any], list[float]], Any]]

CHUNK = 30
MAX_KEYS = 24  # fields per fact besides t, i, b: durable drops facts with too many, silently
MAX_LEAVES = 24  # wider conditions are computed in Python and handed over as one flag
NATIVE_OPS = {Op.EQ, Op.IN, Op.GT, Op.GTE, Op.LT, Op.LTE, Op.BETWEEN}

_lock = threading.RLock()
_cache: dict[tuple[str, str, int, str, int], "_Ruleset"] = {}
_names = itertools.count(1)


def _durable() -> Any:  # the durable.lang module
    try:
        from durable import lang
    except ImportError as exc:  # e.g. Python 3.13, or no C compiler at install time
        raise RuntimeError("the durable engine needs durable_rules: pip install 'revsync[durable]' "
                           f"(it did not import: {exc})") from exc
    return lang


def _rank(value: Any, constants: list[Any]) -> int | None:
    """Numbers, instants and text as their rank among the rule constants of their field:
    order and equality survive exactly, and durable only ever sees small integers (it loses
    facts holding floats such as 1e-05 or 1e16, and compares text with numbers)."""
    if value is None:
        return None
    position = bisect_left(constants, value)
    if position < len(constants) and constants[position] == value:
        return 2 * position + 1
    return 2 * position


def _idle() -> None:
    return None


def _recorder(hits: list[tuple[int, int]], index: int) -> Callable[[Any], None]:
    def action(c: Any) -> None:
        hits.append((c.m.i, index))
    return action


class _Ruleset:
    """One durable ruleset: up to CHUNK rules of one section, plus the catch-all."""

    def __init__(self, name: str, entries: list[tuple[int, _Build]], keys: tuple[str, ...] = ()):
        lang = _durable()
        self.name = name
        self.keys = keys  # the fact fields its rules read
        self.hits: list[tuple[int, int]] = []
        self.seen: list[int] = []
        hits, seen = self.hits, self.seen
        with lang.ruleset(name):
            for index, expr in entries:
                # One parameter only: durable treats a two-parameter action as asynchronous.
                lang.when_all((lang.m.t == "r") & expr(lang.m))(_recorder(hits, index))

            def catch_all(c: Any) -> None:
                seen.append(c.m.i)
            lang.when_all(lang.m.t == "r")(catch_all)
        # durable's host polls every ruleset from two background threads (queued actions and
        # timers): they raced our assert_facts, took its actions away ("lost actions") and at
        # times crashed the process. Every action here runs inside assert_facts; none is queued.
        registered = lang.get_host().get_ruleset(name)
        registered.dispatch = registered.dispatch_timers = _idle

    def run(self, facts: list[dict[str, Any]]) -> list[tuple[int, int]]:
        lang = _durable()
        self.hits.clear()
        self.seen.clear()
        if not facts:
            return []
        lang.assert_facts(self.name, facts)
        lang.retract_facts(self.name, facts)
        lang.delete_state(self.name, facts[0]["sid"])
        if len(self.seen) != len(facts):
            raise RuntimeError(f"durable_rules lost actions in {self.name}: "
                               f"{len(self.seen)} of {len(facts)} facts acknowledged")
        return list(self.hits)


class DurableMatcher:
    name = "durable"

    def __init__(self, program: Program):
        _durable()
        self.program = program
        self.rs = program.ruleset
        self.flags: dict[int, Any] = {}  # id(cond) -> flag key, for conditions computed in Python
        self.native: dict[int, str] = {}  # id(Test) -> fact key
        self._batch = itertools.count(1)
        self.layout = hash(tuple(sorted(program.slots.items())))
        self.constants = self._collect_constants()
        self.sections: dict[str, list[_Ruleset]] = {}
        self.extractors: list[_Extractor] = []
        self._reading: set[str] = set()
        for section, rules in self.rs.sections:
            self.sections[section.value] = self._build(section.value, [(r.index, r.when) for r in rules])
            if section is Section.SLA:
                self.sections["met"] = self._build("met", [(r.index, r.met_when) for r in rules
                                                           if r.met_when is not None])

    # -- compiling conditions ------------------------------------------------------------------
    def _build(self, key: str, entries: list[tuple[int, Condition | None]]) -> list[_Ruleset]:
        compiled: list[tuple[int, _Build, frozenset[str]]] = []
        for index, cond in entries:
            self._reading = set()
            expr = self._expr(cond)
            compiled.append((index, expr, frozenset(self._reading)))
        # A fact may hold at most MAX_KEYS fields (durable drops facts with more, silently):
        # rules are grouped so that each ruleset reads few enough of them.
        chunks: list[list[tuple[int, _Build, frozenset[str]]]] = [[]]
        keys: set[str] = set()
        for item in compiled:
            if chunks[-1] and (len(chunks[-1]) >= CHUNK or len(keys | item[2]) > MAX_KEYS):
                chunks.append([])
                keys = set()
            chunks[-1].append(item)
            keys |= item[2]
        out = []
        for n, chunk in enumerate(chunks):
            chunk_keys = tuple(sorted(set().union(*(k for _, _, k in chunk)))) if chunk else ()
            cache_key = (self.rs.fingerprint, self.rs.file, self.layout, key, n)
            with _lock:
                if cache_key not in _cache:
                    name = f"revsync_{self.rs.fingerprint}_{key}_{n}_{next(_names)}"
                    _cache[cache_key] = _Ruleset(name, [(i, e) for i, e, _ in chunk], chunk_keys)
                out.append(_cache[cache_key])
        return out

    def _expr(self, cond: Condition | None) -> _Build:
        if cond is None:
            return lambda m: m.t == "r"
        if len(tests_of(cond)) > MAX_LEAVES:
            return self._flag(cond)
        return self._tree(cond)

    def _flag(self, cond: Condition) -> _Build:
        """Compute `cond` in Python and hand durable a 0/1 field."""
        key = f"p{len(self.extractors)}"
        source = self._python(cond)
        f: Callable[[list[Any], list[float]], int] = eval(f"lambda v, T: 1 if {source} else 0",
                                                         dict(self.program.consts))
        self.extractors.append((key, f))
        self._reading.add(key)

        def flag(m: Any, key: str = key) -> Any:
            return getattr(m, key) == 1
        return flag

    def _python(self, cond: Condition) -> str:
        if isinstance(cond, Test):
            return self.program.test_exprs[id(cond)]
        if isinstance(cond, Not):
            return f"(not {self._python(cond.item)})"
        joiner = " and " if isinstance(cond, All) else " or "
        return "(" + joiner.join(self._python(c) for c in cond.items) + ")"

    def _tree(self, cond: Condition) -> _Build:
        if isinstance(cond, Not):
            return self._flag(cond)
        if isinstance(cond, Test):
            return self._leaf(cond)
        parts = [self._tree(c) for c in cond.items]
        if isinstance(cond, All):
            def both(m: Any, parts: list[_Build] = parts) -> Any:
                expr = parts[0](m)
                for p in parts[1:]:
                    expr = expr & p(m)
                return expr
            return both

        def either(m: Any, parts: list[_Build] = parts) -> Any:
            expr = parts[0](m)
            for p in parts[1:]:
                expr = expr | p(m)
            return expr
        return either

    def _leaf(self, test: Test) -> _Build:
        ftype = self.program.types[test.field]
        if test.op not in NATIVE_OPS or ftype.value == "boolean":
            return self._flag(test)
        s = self.program.slots[test.field]
        key = f"f{s}"
        slot = s + 1 if ftype.is_text else s
        consts = self.constants[test.field]
        if key not in {k for k, _ in self.extractors}:
            def rank(v: list[Any], T: list[float], slot: int = slot, c: list[Any] = consts) -> int | None:
                return _rank(v[slot], c)
            self.extractors.append((key, rank))
        self._reading.add(key)
        op = test.op

        def code(value: Any) -> int:
            return 2 * bisect_left(consts, value) + 1

        if op is Op.EQ:
            k = code(test.value)
            return lambda m: getattr(m, key) == k
        if op is Op.IN:
            codes = sorted(code(item) for item in test.value)

            def any_of(m: Any) -> Any:
                expr = getattr(m, key) == codes[0]
                for item in codes[1:]:
                    expr = expr | (getattr(m, key) == item)
                return expr
            return any_of
        if op is Op.BETWEEN:
            low, high = (code(b) for b in test.value)
            return lambda m: (getattr(m, key) >= low) & (getattr(m, key) <= high)
        k = code(test.value)
        compare = {Op.GT: "__gt__", Op.GTE: "__ge__", Op.LT: "__lt__", Op.LTE: "__le__"}[op]
        return lambda m: getattr(getattr(m, key), compare)(k)

    def _collect_constants(self) -> dict[str, list[Any]]:
        out: dict[str, set[Any]] = {}
        for rule in self.rs.all_rules():
            for test in tests_of(rule.when) + tests_of(rule.met_when):
                if test.op in NATIVE_OPS:
                    values = test.value if test.op in (Op.IN, Op.BETWEEN) else (test.value,)
                    out.setdefault(test.field, set()).update(values)
        return {f: sorted(v) for f, v in out.items()}

    # -- matching ----------------------------------------------------------------------------------
    def _values(self, rows: list[list[Any]], T: list[float], keys: set[str]) -> list[dict[str, Any]]:
        extract = [(k, f) for k, f in self.extractors if k in keys]
        out = []
        for v in rows:
            values: dict[str, Any] = {}
            for key, f in extract:
                value = f(v, T)
                if value is not None:  # missing values are left out: every native test fails
                    values[key] = value
            out.append(values)
        return out

    def _run(self, key: str, rows: list[list[Any]], T: list[float]) -> list[list[int]]:
        out: list[list[int]] = [[] for _ in rows]
        rulesets = self.sections.get(key, [])
        with _lock:
            batch = next(self._batch)
            values = self._values(rows, T, set().union(*(rs.keys for rs in rulesets)) if rulesets else set())
            for rs in rulesets:
                # Each batch runs in a session of its own, deleted afterwards, taken from a
                # few session ids in turn: retracted facts otherwise fill a session's store
                # until it silently stops matching, and it keeps at most 1,024 sessions.
                sid = str(batch % 4)
                facts = [{"t": "r", "i": i, "sid": sid, **{k: val[k] for k in rs.keys if k in val}}
                         for i, val in enumerate(values)]
                for i, index in rs.run(facts):
                    out[i].append(index)
        # An `or` whose alternatives both hold fires its rule once per alternative.
        return [sorted(set(hits)) for hits in out]

    def first(self, section: Section, rows: list[list[Any]], T: list[float]) -> list[int]:
        return [hits[0] if hits else -1 for hits in self._run(section.value, rows, T)]

    def all(self, section: Section, rows: list[list[Any]], T: list[float]) -> list[list[int]]:
        return self._run(section.value, rows, T)

    def met(self, rows: list[list[Any]], T: list[float], rule_indexes: list[int]) -> list[bool]:
        hits = self._run("met", rows, T)
        return [index in h for h, index in zip(hits, rule_indexes)]

