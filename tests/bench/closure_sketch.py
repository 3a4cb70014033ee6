"""The yardstick: rules as plain Python closures over the record, the first thing one would write.

Each test reads and converts its field from the record dict, each rule is a closure over its
tests, each section a loop over its rules; outputs are a dict. It keeps the same semantics for
the sections the benchmark's stages depend on (segment, score with caps and bounds, qualify) so
that its stage counts can be compared, and assigns owners and deadlines without round robin
or calendars. Its speed measures the machine, so the engine's speed can be read against it.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from rules.model import All, AnyOf, Not, Op, RuleSet, Section, Test
from rules.values import coerce


def _test(t: Test, types, now_ts: float):
    name, op, k = t.field, t.op, t.value
    ftype = types[name]
    text = ftype.is_text

    def get(rec):
        x = coerce(rec.get(name), ftype)
        if x is None or x.__class__.__name__ == "Unreadable":
            return None
        return x.strip().casefold() if text else x

    if op is Op.EXISTS:
        return (lambda rec: get(rec) is not None) if k else (lambda rec: rec.get(name) in (None, ""))
    if op in (Op.OLDER_THAN, Op.NEWER_THAN):
        limit = now_ts - k.seconds
        return (lambda rec: (x := get(rec)) is not None and (x < limit if op is Op.OLDER_THAN else x > limit))
    if op is Op.MATCHES:
        return lambda rec: (x := coerce(rec.get(name), ftype)) is not None and k.search(str(x)) is not None
    compare = {
        Op.EQ: lambda x: x == k, Op.NE: lambda x: x != k, Op.IN: lambda x: x in k,
        Op.NOT_IN: lambda x: x not in k, Op.GT: lambda x: x > k, Op.GTE: lambda x: x >= k,
        Op.LT: lambda x: x < k, Op.LTE: lambda x: x <= k, Op.BETWEEN: lambda x: k[0] <= x <= k[1],
        Op.CONTAINS: lambda x: k in x, Op.STARTS_WITH: lambda x: x.startswith(k),
        Op.ENDS_WITH: lambda x: x.endswith(k),
    }[op]
    passes_missing = op in (Op.NE, Op.NOT_IN)
    return lambda rec: passes_missing if (x := get(rec)) is None else compare(x)


def _cond(c, types, now_ts):
    if c is None:
        return lambda rec: True
    if isinstance(c, Test):
        return _test(c, types, now_ts)
    if isinstance(c, Not):
        inner = _cond(c.item, types, now_ts)
        return lambda rec: not inner(rec)
    parts = [_cond(x, types, now_ts) for x in c.items]
    if isinstance(c, All):
        return lambda rec: all(p(rec) for p in parts)
    assert isinstance(c, AnyOf)
    return lambda rec: any(p(rec) for p in parts)


def build(ruleset: RuleSet, now: datetime):
    """A function record -> outputs dict."""
    types, ts = dict(ruleset.fields), now.timestamp()
    sections = {sec: [(r, _cond(r.when, types, ts)) for r in rules] for sec, rules in ruleset.sections}
    cfg = ruleset.score_config

    def decide(rec: dict) -> dict:
        rec = dict(rec)
        for sec, out in ((Section.SEGMENT, "segment"),):
            rec[out] = next((r.value for r, f in sections.get(sec, ()) if f(rec)), None)
        sums: dict[str, float] = {}
        for r, f in sections.get(Section.SCORE, ()):
            if f(rec):
                sums[r.category] = sums.get(r.category, 0.0) + r.points
        for cat, cap in (cfg.caps if cfg else ()):
            if sums.get(cat, 0.0) > cap:
                sums[cat] = cap
        total = sum(sums.values())
        if cfg and cfg.min is not None:
            total = max(total, cfg.min)
        if cfg and cfg.max is not None:
            total = min(total, cfg.max)
        rec["score"] = total
        for cat, value in sums.items():
            rec["scores." + cat] = value
        if cfg and cfg.grade:
            basis = total if cfg.grade.category is None else sums.get(cfg.grade.category, 0.0)
            rec["grade"] = next((label for label, low in cfg.grade.bands if basis >= low), None)
        rec["stage"] = next((r.value for r, f in sections.get(Section.QUALIFY, ()) if f(rec)), None)
        route = next((r for r, f in sections.get(Section.ROUTE, ()) if f(rec)), None)
        rec["owner"] = f"{route.assign.kind.value}:{route.assign.target}" if route else None
        sla = next((r for r, f in sections.get(Section.SLA, ()) if f(rec)), None)
        rec["sla_due"] = now + timedelta(seconds=sla.within.seconds) if sla else None
        return {k: rec.get(k) for k in ("segment", "score", "grade", "stage", "owner", "sla_due")}

    return decide
