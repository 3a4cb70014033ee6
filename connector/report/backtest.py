"""Point-in-time backtest: how well two rule versions would have picked the leads that converted,
each lead decided as of the moment it was decided (not as of today, which would let later
activity, status and decay leak into the score).

A lead's decision time is when revsync entered its current stage (`stage_entered_at`), or its
creation plus a delay (`decided_at="created"`, or when no stage entry is known), never after it
converted. Leads decided less than the maturity window ago have not had their chance to convert
and are left out (and counted). The rest are evaluated by both versions with `now` set to their
decision time, with what could not have been known then removed: conversion, revsync's own
outputs (the decision is a first one), activity dated after the decision. Fields the rules test
whose value then is unknown (status, rating, owner, a later-modified account) are taken as they
are now and the records flagged as approximations, per field.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rules.compile import tests_of
from rules.evaluate import Context, Evaluator
from rules.model import RuleSet, Section
from rules.values import id18, parse_bool, parse_instant

from connector.report.facts import qualified_stages
from connector.report.source import Population
from connector.report.stats import Share, bootstrap_ratio, wilson
from connector.workspace.workspace import Workspace

DECIDED_AT = ("entered", "created")
BANDS = ((0, "0-19"), (20, "20-39"), (40, "40-59"), (60, "60-79"), (80, "80-99"), (100, "100+"))
# Rule fields a person or an activity changes after a lead arrives, whose value at decision time
# no record keeps (revsync does not write them, so the journal has no old value either).
VOLATILE = ("status", "rating", "owner_id")
VOLATILE_PREFIX = ("owner.",)
KNOWN_LATER = ("converted", "converted_at", "converted_opportunity_id")


@dataclass(frozen=True)
class BacktestOptions:
    maturity: timedelta = timedelta(days=30)
    delay: timedelta = timedelta(0)
    decided_at: str = "entered"  # entered: stage_entered_at where known; created: always created + delay


def band(score: float | None) -> str:
    if score is None:
        return "none"
    return next(label for low, label in reversed(BANDS) if score >= low) if score >= 0 else BANDS[0][1]


def tested_fields(ruleset: RuleSet) -> set[str]:
    """Fields the sections that decide the stage test (segment, score, qualify)."""
    return {t.field for section in (Section.SEGMENT, Section.SCORE, Section.QUALIFY)
            for rule in ruleset.rules(section) for t in tests_of(rule.when)}


def decision_time(rec: dict[str, Any], options: BacktestOptions) -> tuple[datetime | None, str]:
    created = parse_instant(rec.get("created_at"))
    entered = parse_instant(rec.get("previous.stage_entered_at"))
    if entered is not None and options.decided_at == "entered":
        return entered, "stage_entered_at"
    if created is None:
        return None, "undated"
    at = created + options.delay
    converted = parse_instant(rec.get("converted_at"))  # a date: the start of that day (UTC)
    if parse_bool(rec.get("converted")) is True and converted is not None and converted < at:
        at = max(created, converted)  # decided before the outcome it is judged on
    return at, "created"


def as_of(rec: dict[str, Any], at: datetime, tested: set[str]) -> tuple[dict[str, Any], list[str]]:
    """The record as it could be known at `at`, and the tested fields taken as they are now."""
    out = dict(rec)
    for name in KNOWN_LATER:
        out[name] = False if name == "converted" else None
    for name in rec:
        if name.startswith("previous.") or name == "routed_at":
            out[name] = None
    flags = []
    activity = parse_instant(rec.get("last_activity_at"))
    if activity is not None and activity.date() > at.date():
        out["last_activity_at"] = None
        if "last_activity_at" in tested:
            flags.append("last_activity_at")
    flags += [f for f in sorted(tested) if f in VOLATILE or f.startswith(VOLATILE_PREFIX)
              or (f.startswith("previous.") and f != "previous.stage_entered_at")]
    modified = parse_instant(rec.get("account.modified_at"))
    if rec.get("account.id") is not None and (modified is None or modified > at):
        flags += [f for f in sorted(tested) if f.startswith("account.")]
    return out, flags


class Backtest:
    """The backtest over records given batch by batch (a preview streams an org through it): each
    record is decided by both versions as of its decision time and kept as (stage, score) and
    its outcome only, so memory grows by a few dozen bytes per record, not by the record."""

    def __init__(self, baseline: Workspace, candidate: Workspace, now: datetime, options: BacktestOptions,
                 opportunities: dict[str, dict] | None = None):
        self.versions = {"baseline": baseline.ruleset, "candidate": candidate.ruleset}
        self.evaluators = {name: Evaluator(rs) for name, rs in self.versions.items()}
        self.qualified = {name: {s.strip().casefold() for s in qualified_stages(rs)}
                          for name, rs in self.versions.items()}
        self.tested = tested_fields(baseline.ruleset) | tested_fields(candidate.ruleset)
        self.options, self.cutoff = options, now - options.maturity
        self.opportunities = opportunities or {}
        self.basis: Counter = Counter()
        self.flags: Counter = Counter()
        self.approximate = self.immature = 0
        self.outcomes: dict[str, tuple[bool, float | None]] = {}  # id -> (converted, won amount)
        self.decided: dict[str, dict[str, tuple[str | None, float | None]]] = {n: {} for n in self.versions}

    def add(self, records: list[dict[str, Any]]) -> None:
        by_time: dict[datetime, list[dict]] = defaultdict(list)
        for rec in records:
            at, how = decision_time(rec, self.options)
            if at is None:
                self.basis[how] += 1
                continue
            if at > self.cutoff:
                self.immature += 1
                continue
            self.basis[how] += 1
            record, why = as_of(rec, at, self.tested)
            if why:
                self.approximate += 1
                self.flags.update(why)
            by_time[at].append(record)
            self.outcomes[str(rec.get("id"))] = (parse_bool(rec.get("converted")) is True, self._won(rec))
        for name, evaluator in self.evaluators.items():
            self.decided[name].update(_decide(evaluator, by_time))

    def _won(self, rec: dict[str, Any]) -> float | None:
        """The won amount of the opportunity a converted lead became, from the org's opportunities
        or from the record itself (a preview's records carry `converted_opportunity.*`)."""
        if parse_bool(rec.get("converted")) is not True:
            return None
        opp = self.opportunities.get(id18(str(rec.get("converted_opportunity_id") or "")))
        won, amount = (opp.get("IsWon"), opp.get("Amount")) if opp is not None else \
            (rec.get("converted_opportunity.is_won"), rec.get("converted_opportunity.amount"))
        if parse_bool(won) is not True or amount in (None, ""):
            return None
        try:
            return float(amount)
        except (TypeError, ValueError):
            return None

    def result(self) -> dict:
        outcomes, basis = self.outcomes, Counter(self.basis)
        converted_ids = {rid for rid, (c, _) in outcomes.items() if c}
        won = {rid: amount for rid, (_, amount) in outcomes.items() if amount is not None}
        options = self.options
        result = {
            "population": len(outcomes), "immature": self.immature, "undated": basis.pop("undated", 0),
            "maturity_days": options.maturity / timedelta(days=1),
            "decision_delay_hours": options.delay / timedelta(hours=1),
            "decided_at": dict(basis), "converted": len(converted_ids), "won": len(won),
            "won_amount": round(sum(won.values()), 2), "approximate_records": self.approximate,
            "approximations": dict(sorted(self.flags.items())),
            "versions": {name: _metrics(self.decided[name], self.qualified[name], converted_ids, won, len(outcomes))
                         for name in self.versions},
        }
        mql = {name: {rid for rid, (stage, _) in self.decided[name].items() if _in(stage, self.qualified[name])}
               for name in self.versions}
        result["agreement"] = {"both": len(mql["baseline"] & mql["candidate"]),
                               "baseline_only": len(mql["baseline"] - mql["candidate"]),
                               "candidate_only": len(mql["candidate"] - mql["baseline"]),
                               "neither": len(outcomes) - len(mql["baseline"] | mql["candidate"])}
        return result


def backtest(population: Population, baseline: Workspace, candidate: Workspace, now: datetime,
             options: BacktestOptions) -> dict:
    run = Backtest(baseline, candidate, now, options, population.opportunities)
    run.add(population.records)
    return run.result()


def _in(stage: str | None, qualified: set[str]) -> bool:
    return stage is not None and stage.strip().casefold() in qualified


def _decide(evaluator: Evaluator, by_time: dict[datetime, list[dict]]) -> dict[str, tuple[str | None, float | None]]:
    """Id -> (stage, score), each record decided with `now` at its decision time."""
    out = {}
    for at in sorted(by_time):
        records = by_time[at]
        for rec, d in zip(records, evaluator.evaluate_batch(records, Context(now=at))):
            out[str(rec.get("id"))] = (d.stage, d.score)
    return out


def _metrics(decided: dict[str, tuple[str | None, float | None]], qualified: set[str], converted: set[str],
             won: dict[str, float], population: int) -> dict:
    mql = {rid for rid, (stage, _) in decided.items() if _in(stage, qualified)}
    hits = len(mql & converted)
    base = len(converted) / population if population else 0.0
    bands: dict[str, list[int]] = {}
    for rid, (_, score) in decided.items():
        counts = bands.setdefault(band(score), [0, 0])
        counts[0] += 1
        counts[1] += rid in converted
    rows = []
    for label, (n, k) in sorted(bands.items(), key=lambda kv: _band_order(kv[0])):
        share = wilson(k, n)
        rows.append({"band": label, "records": n, "converted": k, **_rate(share),
                     "lift": _lift(share.value, base), "lift_low": _lift(share.low, base),
                     "lift_high": _lift(share.high, base)})
    amounts = list(won.values())
    picked = [rid in mql for rid in won]
    captured = sum(a for a, p in zip(amounts, picked) if p)
    low, high = bootstrap_ratio(amounts, picked)
    return {"mql": len(mql), "mql_converted": hits,
            "precision": wilson(hits, len(mql)).asdict(), "recall": wilson(hits, len(converted)).asdict(),
            "bands": rows,
            "revenue_captured": {"amount": round(captured, 2), "share": round(captured / sum(amounts), 4)
                                 if sum(amounts) else None, "low": low, "high": high}}


def _rate(share: Share) -> dict:
    return {"rate": share.value, "low": share.low, "high": share.high}


def _lift(value: float | None, base: float) -> float | None:
    return round(value / base, 3) if value is not None and base else None


def _band_order(label: str) -> int:
    return next((i for i, (_, name) in enumerate(BANDS) if name == label), len(BANDS))
