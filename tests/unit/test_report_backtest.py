"""The point-in-time backtest over a hand-counted org (tests/reportkit.py, backtest_org)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from connector.orgs.local import LocalOrg
from connector.report.backtest import BacktestOptions, backtest, decision_time
from connector.report.source import read_population
from connector.workspace.workspace import load_workspace
from tests.reportkit import CANDIDATE, NOW, backtest_org, write_rules

pytest.importorskip("statsmodels")


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    directory = tmp_path_factory.mktemp("backtest")
    backtest_org(directory)
    baseline = load_workspace(write_rules(directory / "baseline"), None, "Lead")
    candidate = load_workspace(write_rules(directory / "candidate", CANDIDATE), None, "Lead")
    org = LocalOrg(directory / "org.db")
    population = read_population(org, candidate, None)
    org.close()
    return backtest(population, baseline, candidate, NOW, BacktestOptions(maturity=timedelta(days=30)))


def test_population_maturity_outcomes_and_flags(result):
    assert (result["population"], result["immature"], result["undated"]) == (6, 1, 0)  # B6 is 10 days old
    assert result["decided_at"] == {"created": 6}
    assert (result["converted"], result["won"], result["won_amount"]) == (3, 2, 4000.0)
    assert result["approximations"] == {"last_activity_at": 1}  # B3's activity came later
    assert result["approximate_records"] == 1


def test_precision_recall_and_revenue_per_version(result):
    base, cand = result["versions"]["baseline"], result["versions"]["candidate"]
    assert (base["mql"], base["mql_converted"], cand["mql"], cand["mql_converted"]) == (2, 1, 5, 2)
    assert (base["precision"]["count"], base["precision"]["of"], base["precision"]["rate"]) == (1, 2, 0.5)
    assert (base["recall"]["count"], base["recall"]["of"]) == (1, 3)
    assert (cand["precision"]["rate"], cand["recall"]["rate"]) == (0.4, 0.6667)
    # Wilson 95% for 1 of 2, by hand: (0.5 + z²/4) / (1 + z²/2) ± z·sqrt(1/8 + z²/16) / (1 + z²/2), z = 1.96
    assert base["precision"]["low"] == pytest.approx(0.0945, abs=1e-4)
    assert base["precision"]["high"] == pytest.approx(0.9055, abs=1e-4)
    assert base["revenue_captured"]["amount"] == 1000.0 and base["revenue_captured"]["share"] == 0.25
    assert cand["revenue_captured"]["share"] == 1.0
    assert 0 <= base["revenue_captured"]["low"] <= 0.25 <= base["revenue_captured"]["high"] <= 1


def test_lift_per_score_band(result):
    bands = {b["band"]: (b["records"], b["converted"], b["rate"], b["lift"])
             for b in result["versions"]["baseline"]["bands"]}
    # 3 of 6 converted: a base rate of 0.5
    assert bands == {"0-19": (1, 1, 1.0, 2.0), "20-39": (3, 1, 0.3333, 0.667), "40-59": (2, 1, 0.5, 1.0)}


def test_agreement_of_the_versions(result):
    assert result["agreement"] == {"both": 2, "baseline_only": 0, "candidate_only": 3, "neither": 1}


def test_decided_as_of_creation_the_activity_that_came_later_is_not_seen(tmp_path):
    """Evaluated as of today B3 would be active this week (score 60, an MQL for both versions):
    the leak the point-in-time decision removes."""
    ids = backtest_org(tmp_path)
    ws = load_workspace(write_rules(tmp_path / "rules"), None, "Lead")
    org = LocalOrg(tmp_path / "org.db")
    population = read_population(org, ws, None)
    org.close()
    from rules.evaluate import Context, Evaluator
    b3 = next(r for r in population.records if r["id"] == ids["B3"])
    assert Evaluator(ws.ruleset).evaluate_batch([b3], Context(now=NOW))[0].stage == "MQL"  # the leak
    out = backtest(population, ws, ws, NOW, BacktestOptions())
    assert out["versions"]["baseline"]["mql"] == 2  # B1 and B5 only


def test_decision_time_never_after_the_conversion():
    rec = {"created_at": "2026-09-01T10:00:00Z", "converted": True, "converted_at": "2026-09-10"}
    at, how = decision_time(rec, BacktestOptions(delay=timedelta(days=30), decided_at="created"))
    assert (at, how) == (datetime(2026, 9, 10, tzinfo=timezone.utc), "created")
    entered = {**rec, "previous.stage_entered_at": "2026-09-02T08:00:00Z"}
    assert decision_time(entered, BacktestOptions())[0] == datetime(2026, 9, 2, 8, tzinfo=timezone.utc)
    assert decision_time(entered, BacktestOptions(decided_at="created"))[0] == datetime(2026, 9, 1, 10, tzinfo=timezone.utc)
    assert decision_time({}, BacktestOptions()) == (None, "undated")


def test_as_of_forgets_what_revsync_and_the_conversion_wrote_later():
    from connector.report.backtest import as_of
    rec = {"id": "00Q1", "previous.stage": "MQL", "previous.sla_status": "met", "routed_at": "2026-09-02T00:00:00Z",
           "converted": True, "converted_at": "2026-10-01", "converted_opportunity_id": "006A", "status": "Qualified",
           "last_activity_at": "2026-09-01", "account.id": "001A", "account.modified_at": "2026-10-01T00:00:00Z"}
    at = datetime(2026, 9, 1, 10, tzinfo=timezone.utc)
    out, flags = as_of(rec, at, {"status", "account.share_of_wallet", "previous.stage", "title"})
    assert {k: out[k] for k in ("previous.stage", "previous.sla_status", "routed_at", "converted", "converted_at",
                                "converted_opportunity_id")} == {
        "previous.stage": None, "previous.sla_status": None, "routed_at": None, "converted": False,
        "converted_at": None, "converted_opportunity_id": None}
    assert out["last_activity_at"] == "2026-09-01" and out["status"] == "Qualified"  # kept: known then / unknowable
    assert sorted(flags) == ["account.share_of_wallet", "previous.stage", "status"]
