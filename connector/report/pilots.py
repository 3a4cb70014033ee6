"""Pilots: candidate rules tried on a share of a micro-segment, against the current rules on the
rest of it, and the comparison of the two arms.

A record's arm is a pure function of its Id and the pilot's name: the same record lands in the
same arm on every run and every machine, without any state, and two pilots split independently.
The sync writes the arm to a CRM field; the report reads it from there and, where the org has
no such field yet, recomputes it the same way (and says so).
"""
from __future__ import annotations

import statistics
from datetime import datetime
from typing import Any

from connector.report.facts import LeadFacts
from connector.report.source import Population
from connector.report.stats import bootstrap_mean, compare, mann_whitney, wilson
from connector.workspace.pilots import CONTROL, PILOT, arm_of, segment_filter
from connector.workspace.settings import Pilot
from connector.workspace.workspace import Workspace

def arms(population: Population, ws: Workspace, pilot: Pilot, now: datetime) -> tuple[dict[str, str], str]:
    """Id -> arm for the records in the pilot, and where the arms came from."""
    key = f"crm:{pilot.arm_field}"
    found = {}
    for r in population.records:
        value = str(r.get(key) or "").strip().casefold()
        if value in (PILOT, CONTROL):
            found[str(r["id"])] = value
    if found:  # written by the syncs that decided the pilot
        return found, f"the CRM field {pilot.arm_field}"
    inside = segment_filter(ws, pilot, now)(population.records)
    found = {str(r["id"]): arm_of(str(r["id"]), pilot.name, pilot.share)
             for r, keep in zip(population.records, inside) if keep}
    why = "holds no arm yet" if any(key in r for r in population.records) else "does not exist"
    return found, (f"recomputed from the assignment (the org's field {pilot.arm_field} {why}; "
                   f"segment as of {now:%Y-%m-%d %H:%M} UTC)")


def pilot_report(population: Population, facts: list[LeadFacts], ws: Workspace, pilot: Pilot,
                 now: datetime) -> dict:
    assigned, source = arms(population, ws, pilot, now)
    sides: dict[str, list[LeadFacts]] = {PILOT: [], CONTROL: []}
    for f in facts:
        arm = assigned.get(f.id)
        if arm is not None:
            sides[arm].append(f)
    per_arm = {name: _arm(side) for name, side in sides.items()}
    p, c = per_arm[PILOT], per_arm[CONTROL]
    comparisons = {}
    for metric in ("mql_rate", "follow_up_rate", "conversion_rate"):
        a, b = p["shares"][metric], c["shares"][metric]
        # The follow-up rate is a share of MQLs: more records means more MQLs there.
        comparisons[metric] = {**compare(a, b).asdict(a, b), "counted": "MQLs" if metric == "follow_up_rate" else "leads"}
    comparisons["minutes_to_first_touch"] = {
        "difference": _diff(p["median_minutes_to_first_touch"], c["median_minutes_to_first_touch"]),
        "p_value": mann_whitney(p["minutes"], c["minutes"])}
    comparisons["won_amount_per_lead"] = {
        "difference": _diff(p["won_amount_per_lead"]["mean"], c["won_amount_per_lead"]["mean"])}
    return {"name": pilot.name, "rules": str(pilot.rules), "when": pilot.when, "share": pilot.share,
            "arms_from": source,
            "arms": {name: {k: v for k, v in arm.items() if k not in ("shares", "minutes")}
                     | {k: s.asdict() for k, s in arm["shares"].items()} for name, arm in per_arm.items()},
            "comparison": comparisons}


def _arm(side: list[LeadFacts]) -> dict[str, Any]:
    n = len(side)
    mql = sum(f.qualified for f in side)
    amounts = [f.amount if f.won and f.amount else 0.0 for f in side]
    minutes = [f.minutes_to_first_touch for f in side if f.minutes_to_first_touch is not None]
    low, high = bootstrap_mean(amounts)
    return {"records": n,
            "shares": {"mql_rate": wilson(mql, n),
                       "follow_up_rate": wilson(sum(f.followed_up for f in side), mql),
                       "conversion_rate": wilson(sum(f.converted for f in side), n)},
            "minutes": minutes,
            "median_minutes_to_first_touch": round(statistics.median(minutes), 1) if minutes else None,
            "won_amount": round(sum(amounts), 2),
            "won_amount_per_lead": {"mean": round(sum(amounts) / n, 2) if n else None, "low": low, "high": high}}


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)
