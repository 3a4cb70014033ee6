"""Whatever `validate` accepts, `evaluate` runs: one code path decides both.

Hypothesis writes rule files that look like an admin's (sections, conditions with every
operator, durations, points, nesting, aliases, names with odd characters) but with random,
often wrong, values. A file either fails validation with coded, located problems (and
nothing else: no traceback), or every engine evaluates records with it and each decision
is plain JSON (no NaN or Infinity, which `json.dumps` would otherwise print).
"""
from __future__ import annotations

import importlib.util
import json
import math
import re
from datetime import timedelta

from hypothesis import HealthCheck, given, settings, strategies as st

from rules.evaluate import Context, Evaluator
from rules.loader import parse_rules
from rules.model import ConfigError, Op
from tests.rulekit import FIELDS, NOW

ENGINES = ["default", "durable"] if importlib.util.find_spec("durable") else ["default"]
PRODUCED = ["segment", "score", "grade", "stage", "owner", "scores.fit", "scores.other", "previous_stage",
            "stage_entered_at"]
FIELD_NAMES = sorted(FIELDS) + PRODUCED + ["titel", "account"]
TEXTS = ["CEO", " vp sales ", " ", "NO", "on", "Straße", "東京", "2026-01-31", "2026-01-31T09:00:00Z",
         "=HYPERLINK()", "[/bold]", "a" * 300]
ODD_TEXTS = TEXTS + ["", "MQL \ud800"]
PATTERNS = [r"^(\w+\s?)+$", r"\b(vp|chief)\b", r"(?=x)", r"(a)\1", r"\pL+", "[", r"x{1001}", r"sales\Z",
            r"(?i)ceo", ""]
DURATIONS = ["30m", "4h", "2d", "1w", "1d 4h", "156w", "157w", "9999999w", "0m", "4x", "9" * 40 + "d"]
CHARS = st.characters(blacklist_categories=("Cs", "Cc"))  # YAML files cannot hold these as written
NUMBERS = [0, 1, -3, 0.1, 40, 1e9, -1e9, 1e308, -1e308, 10 ** 30, math.inf, -math.inf, math.nan, 2.5e-7]


def rarely(odd: st.SearchStrategy, usual: st.SearchStrategy, one_in: int = 20) -> st.SearchStrategy:
    """Mostly what an admin would write, sometimes a slip: enough files validate to evaluate.
    (The slip is in the middle of the range: Hypothesis favours the ends.)"""
    return st.integers(0, one_in - 1).flatmap(lambda i: odd if i == one_in // 2 else usual)


def scalar() -> st.SearchStrategy:
    return st.one_of(st.sampled_from(ODD_TEXTS), st.sampled_from(NUMBERS), st.sampled_from(DURATIONS),
                     st.booleans(), st.none(), st.text(CHARS, max_size=6))


def operand(op: str) -> st.SearchStrategy:
    if op == "matches":
        return st.one_of(st.sampled_from(PATTERNS), scalar())
    if op in ("older_than", "newer_than"):
        return st.one_of(st.sampled_from(DURATIONS), scalar())
    if op in ("in", "not_in", "between"):
        return st.one_of(st.lists(scalar(), max_size=3), scalar())
    if op == "exists":
        return st.one_of(st.booleans(), scalar())
    return scalar()


def any_test() -> st.SearchStrategy:
    """Any field, operator and value: mostly wrong."""
    ops = st.sampled_from([op.value for op in Op] + ["sounds_like"])
    tests = ops.flatmap(lambda op: operand(op).map(lambda value: {op: value}))
    value = st.one_of(scalar(), st.lists(scalar(), min_size=1, max_size=3),
                      st.lists(tests, min_size=1, max_size=2).map(lambda ts: {k: v for t in ts for k, v in t.items()}))
    return st.tuples(st.sampled_from(FIELD_NAMES), value).map(lambda fv: {fv[0]: fv[1]})


TYPED = {  # field kind -> (fields, {operator: values})
    "text": (["title", "industry", "state", "email_domain", "account.name", "status"],
             {"eq": st.sampled_from(TEXTS[:-1]), "ne": st.sampled_from(TEXTS), "in": st.lists(
                 st.sampled_from(TEXTS), min_size=1, max_size=3), "not_in": st.lists(st.sampled_from(TEXTS), min_size=1),
              "contains": st.sampled_from(TEXTS), "starts_with": st.text(CHARS, max_size=3),
              "ends_with": st.sampled_from(TEXTS), "matches": st.sampled_from(PATTERNS[:3] + PATTERNS[4:5]),
              "exists": st.booleans()}),
    "number": (["employees", "annual_revenue", "account.share_of_wallet"],
               {op: st.sampled_from(NUMBERS) for op in ("eq", "ne", "gt", "gte", "lt", "lte")}
               | {"between": st.lists(st.sampled_from([-1e308, -5, 0, 5, 1e9, 1e308]), min_size=2, max_size=2).map(sorted),
                  "in": st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3)}),
    "boolean": (["converted", "owner.is_active"], {"eq": st.booleans(), "ne": st.booleans(), "exists": st.booleans()}),
    "time": (["created_at", "last_activity_at", "stage_changed_at"],
             {"older_than": st.sampled_from(DURATIONS[:6]), "newer_than": st.sampled_from(DURATIONS[:6]),
              "gt": st.sampled_from(["2026-01-31", "2026-11-20T10:00:00Z", "1970-01-01", "9999-12-31"]),
              "lte": st.sampled_from(["2026-01-31", "0001-01-01"])}),
}


def typed_test() -> st.SearchStrategy:
    def one(kind):
        fields, ops = TYPED[kind]
        op = st.sampled_from(sorted(ops)).flatmap(lambda o: ops[o].map(lambda v: {o: v}))
        return st.tuples(st.sampled_from(fields), op).map(lambda fv: {fv[0]: fv[1]})
    return st.sampled_from(sorted(TYPED)).flatmap(one)


def condition() -> st.SearchStrategy:
    return st.recursive(rarely(any_test(), typed_test(), 25), lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda items: {"all": items}),
        st.lists(inner, min_size=1, max_size=3).map(lambda items: {"any": items}),
        inner.map(lambda item: {"not": item}),
        st.lists(inner, min_size=2, max_size=2).map(lambda two: {**two[0], **two[1]})), max_leaves=10)


NAMES = rarely(st.sampled_from(["A", "\ud800", " ", "", 5]),
               st.text(CHARS, min_size=1, max_size=6), 12)


def entry(**outcome) -> st.SearchStrategy:
    # `when: {}` and no `when` are both catch-alls; an entry after one is an error (E119).
    when = rarely(st.sampled_from([{}, None]), condition())
    return st.fixed_dictionaries({"name": NAMES, "when": when, **outcome},
                                 optional={"description": st.text(CHARS, max_size=5)}).map(
        lambda e: {k: v for k, v in e.items() if not (k == "when" and v is None)})


ASSIGN = st.sampled_from([{"user": "ann"}, {"queue": "Inbound"}, {"team": "t1"}, {"team": "nope"},
                          {"field": "account.owner_id"}, {"field": "title"}, {"user": ""}, {"queue": 5}])


def entries(strategy: st.SearchStrategy, **kwargs) -> st.SearchStrategy:
    return st.lists(strategy, unique_by=lambda e: str(e.get("name")).strip(), **kwargs)


def sections(huge: bool) -> dict:
    """The five sections. `huge`: well-formed points and durations beyond revsync's bounds,
    which only the bounds keep out of an evaluation (two points of 1e308 sum to inf, which
    JSON cannot print; 9999999w is past the year 9999)."""
    points = [1e308, 1e308, 10 ** 30, 5] if huge else NUMBERS[:7]
    durations = ["9999999w", "157w", "4h"] if huge else DURATIONS[:6]
    return {
        "segment": entries(entry(segment=rarely(st.sampled_from(["", 5, None]), st.sampled_from(["Big", " small"]))),
                            max_size=4),
        "qualify": entries(entry(stage=st.sampled_from(["MQL", "Nurture", "mql "])), max_size=4),
        "route": entries(entry(assign=rarely(ASSIGN, st.sampled_from([{"queue": "Inbound"}, {"team": "t1"}]))),
                          max_size=3),
        "sla": entries(st.fixed_dictionaries(
            {"name": NAMES, "within": rarely(st.one_of(st.sampled_from(DURATIONS), scalar()), st.sampled_from(durations))},
            optional={"when": condition(), "calendar": rarely(st.just("mars"), st.just("us")),
                      "met_when": condition(), "escalate": ASSIGN, "warn_before": st.sampled_from(durations),
                      "from": rarely(st.just("title"), st.just("created_at")),
                      "met_at": rarely(st.just("title"), st.just("last_activity_at"))}).map(
            lambda e: {**e, "met_when": e.get("met_when", {"status": "X"})} if "met_at" in e else e), max_size=2),
        "score": st.fixed_dictionaries(
            {"rules": entries(entry(points=rarely(st.one_of(scalar(), st.sampled_from(NUMBERS)),
                                                   st.sampled_from(points))).flatmap(
                lambda e: rarely(st.just("Bad Cat"), st.sampled_from([None, "fit", "eng"])).map(
                    lambda c: {**e, "category": c} if c else e)), min_size=2, max_size=5)},
            optional={"caps": st.dictionaries(st.sampled_from(["fit", "eng"]), rarely(
                          st.sampled_from(NUMBERS), st.sampled_from(NUMBERS[:7])), max_size=2),
                      "min": rarely(st.sampled_from(NUMBERS), st.sampled_from(NUMBERS[:4])),
                      "max": rarely(st.sampled_from(NUMBERS), st.sampled_from(NUMBERS[4:7])),
                      "grade": st.fixed_dictionaries({"bands": st.dictionaries(st.sampled_from("ABC"), rarely(
                          st.sampled_from(NUMBERS), st.sampled_from(NUMBERS[:7])), min_size=1, max_size=3)})}),
    }


RULE_FILE = st.booleans().flatmap(lambda huge: st.fixed_dictionaries({
    "object": rarely(st.sampled_from([["Lead"], 5]), st.just("Lead")),
    "calendars": st.just({"us": {"timezone": "America/New_York", "days": ["mon", "tue", "wed", "thu", "fri"],
                                 "hours": ["09:00", "17:00"], "holidays": "US"}}),
    "teams": st.just({"t1": {"members": ["alice", {"user": "bob", "weight": 2}]}}), **sections(huge)}))

_PLAIN = re.compile(r"^[A-Za-z][A-Za-z0-9 _.]*[A-Za-z0-9]$")


def render(value, plain: bool) -> str:
    """YAML flow text: plain scalars where YAML would read them back as written, JSON quoting
    otherwise."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{render(k, plain)}: {render(v, plain)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render(v, plain) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float) and not math.isfinite(value):
        return ".nan" if value != value else (".inf" if value > 0 else "-.inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if plain and _PLAIN.match(value):
        return value
    # JSON's \u escapes are YAML's too; YAML has no surrogate pairs, so only lone surrogates are escaped
    return json.dumps(value, ensure_ascii=bool(re.search("[\ud800-\udfff]", value)))


def records(rnd_titles) -> list[dict]:
    return [{"id": f"L{i}", "title": title, "employees": [None, 5, "1e3", "x", 10 ** 20][i % 5],
             "state": ["CA", " ca", None][i % 3], "created_at": ["2026-11-20T10:00:00Z", "bad", None][i % 3],
             "last_activity_at": "2026-10-01", "industry": "Software", "status": "Working - Contacted",
             "account.owner_id": ["005A", None][i % 2], "converted": [True, "maybe"][i % 2]}
            for i, title in enumerate(rnd_titles)]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(RULE_FILE, st.booleans(), st.lists(st.sampled_from(ODD_TEXTS + ["VP Sales", "a" * 59 + "!"]), min_size=1, max_size=4),
       st.sampled_from([0, 5, 30, 24 * 400]))
def test_whatever_validate_accepts_evaluate_runs_and_prints_as_json(doc, plain, titles, hours):
    text = render(doc, plain) + "\n"
    try:
        loaded = parse_rules(text, "lead.yaml", FIELDS)
    except ConfigError as exc:
        assert exc.problems
        for p in exc.problems:
            assert re.fullmatch(r"[EW]\d{3}", p.code) and p.loc.line >= 1 and p.loc.col >= 1, p
        return
    for engine in ENGINES:
        decisions = Evaluator(loaded.ruleset, engine).evaluate_batch(
            records(titles), Context(now=NOW + timedelta(hours=hours)))
        for d in decisions:  # what `evaluate --format jsonl` prints, as UTF-8
            json.dumps(d.asdict(), allow_nan=False, ensure_ascii=False).encode("utf-8")
