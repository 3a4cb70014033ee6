"""`revsync report` through the CLI as a subprocess: the hand-counted org of tests/reportkit.py,
bad input (exit 2 with a message that names the option), the formats, a backtest, a pilot, and
a report after real syncs checked against the org's own fields."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.workspace.scaffold import scaffold
from tests.reportkit import CANDIDATE, RULES, backtest_org, funnel_org, write_rules

from .test_sync import revsync

NOW = "2026-11-30T15:00:00Z"


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("report")
    funnel_org(directory)
    write_rules(directory / "rules")
    return directory


def report(ws: Path, *args: str) -> dict:
    proc = revsync(ws, "report", "--org", "local:org.db", "--state", "state.db", "--rules", "rules", "--now", NOW,
                   "--format", "json", *args)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_json_has_the_hand_counted_funnel_and_sla(ws):
    data = report(ws)
    assert {k: data["funnel"][k] for k in ("leads", "mql", "followed_up", "converted", "won", "won_amount")} == \
        {"leads": 9, "mql": 6, "followed_up": 4, "converted": 3, "won": 2, "won_amount": 1700.0}
    assert {k: data["sla"][k] for k in ("clocks", "met_on_time", "met_late", "breached", "escalated",
                                        "median_minutes_to_first_touch")} == \
        {"clocks": 5, "met_on_time": 1, "met_late": 1, "breached": 2, "escalated": 1,
         "median_minutes_to_first_touch": 330.0}
    assert data["groups"] == [] and data["journal"]["runs"] == 4  # not the dry run, the revert or the run it undid


def test_table_leads_with_the_headline(ws):
    proc = revsync(ws, "report", "--org", "local:org.db", "--state", "state.db", "--rules", "rules", "--now", NOW)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1] == ("66.7% of 6 MQLs followed up; SLA compliance 25.0% "
                                           "(1 of 4 decided clocks met on time, 1 escalated)")


def test_csv_is_one_tidy_row_per_metric(ws):
    proc = revsync(ws, "report", "--org", "local:org.db", "--state", "state.db", "--rules", "rules", "--now", NOW,
                   "--by", "source", "--format", "csv")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert rows[0].keys() == {"section", "group", "metric", "value", "low", "high"}
    found = {(r["section"], r["group"], r["metric"]): r["value"] for r in rows}
    assert found[("funnel", "(all)", "mql")] == "6"
    assert found[("funnel by source", "Demo Request", "followed_up")] == "3"
    assert found[("sla by week", "2026-W47", "compliance")] == "0.3333"


def test_html_is_one_file_with_nothing_from_the_network(ws):
    proc = revsync(ws, "report", "--org", "local:org.db", "--state", "state.db", "--rules", "rules", "--now", NOW,
                   "--format", "html", "--output", "report.html")
    assert proc.returncode == 0, proc.stderr
    html = (ws / "report.html").read_text()
    assert html.startswith("<!doctype html>") and html.count("<svg") >= 3  # funnel, weeks, team shares
    assert "66.7%" in html and "Team sdr" in html
    for remote in ("http://", "https://", "<script", "<link", "@import", "url("):
        assert remote not in html


@pytest.mark.parametrize("args, says", [
    (["--since", "last week"], "--since 'last week' is not a date"),
    (["--since", "2026-13-01"], "--since '2026-13-01' is not a date"),
    (["--by", "region"], "Invalid value for '--by'"),
    (["--maturity", "soon"], "--maturity 'soon' is not a duration"),
    (["--pilot", "west"], "--pilot 'west': no such pilot"),
])
def test_bad_input_exits_2_and_names_the_option(ws, args, says):
    proc = revsync(ws, "report", "--org", "local:org.db", "--rules", "rules", "--now", NOW, *args)
    assert proc.returncode == 2, proc.stderr
    assert says in proc.stderr and proc.stdout == ""


def test_rules_without_a_qualified_stage_ask_for_the_key(ws, tmp_path):
    write_rules(tmp_path / "hot", RULES.replace("stage: MQL", "stage: Hot"))
    proc = revsync(ws, "report", "--org", "local:org.db", "--rules", str(tmp_path / "hot"), "--now", NOW)
    assert proc.returncode == 2
    assert "add the key that says which count, e.g. `funnel: {qualified: [Customer, Hot]}`" in proc.stderr
    write_rules(tmp_path / "keyed", RULES.replace("stage: MQL", "stage: Hot").replace(
        "object: Lead\n", "object: Lead\nfunnel: {qualified: [Hot, Nurture]}\n"))
    proc = revsync(ws, "report", "--org", "local:org.db", "--rules", str(tmp_path / "keyed"), "--now", NOW,
                   "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["qualified_stages"] == ["Hot", "Nurture"] and data["funnel"]["mql"] == 3  # L5, L6, L7


def test_backtest_and_pilot_through_the_cli(tmp_path):
    pytest.importorskip("statsmodels")
    backtest_org(tmp_path)
    write_rules(tmp_path / "baseline")
    write_rules(tmp_path / "candidate", CANDIDATE)
    (tmp_path / "revsync.toml").write_text('[revsync]\nrules = "candidate"\n\n[pilots.webinars]\nrules = "candidate"\n'
                                           'share = "50%"\nwhen = "{lead_source: [Webinar, Demo Request]}"\n')
    proc = revsync(tmp_path, "report", "--org", "local:org.db", "--now", NOW, "--baseline", "baseline",
                   "--pilot", "webinars", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    b = data["backtest"]
    assert (b["population"], b["immature"], b["versions"]["candidate"]["mql"]) == (6, 1, 5)
    p = data["pilot"]
    assert p["arms_from"].startswith("recomputed")
    assert p["arms"]["pilot"]["records"] + p["arms"]["control"]["records"] == 5  # B1 B2 B3 B5 B6


def test_after_real_syncs_the_counts_match_the_org(tmp_path):
    scaffold(tmp_path)
    create_demo_org(tmp_path / "org.db", leads=400, seed=11)
    for now in ("2026-11-24T15:00:00Z", "2026-11-25T15:00:00Z"):
        assert revsync(tmp_path, "sync", "--org", "local:org.db", "--now", now).returncode == 0
    proc = revsync(tmp_path, "report", "--org", "local:org.db", "--now", "2026-11-26T15:00:00Z", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    db = sqlite3.connect(tmp_path / "org.db")

    def count(where: str) -> int:
        return db.execute(f"SELECT count(*) FROM Lead WHERE {where}").fetchone()[0]
    assert data["funnel"]["leads"] == count("1")
    assert data["funnel"]["mql"] >= count("Revsync_Stage__c = 'MQL'") > 0
    assert data["sla"]["clocks"] == count("Revsync_SLA_Started_At__c IS NOT NULL")
    met = count("Revsync_SLA_Met_At__c IS NOT NULL")
    assert data["sla"]["met_on_time"] + data["sla"]["met_late"] == met
    assert data["sla"]["breached"] == count("Revsync_SLA_Met_At__c IS NULL AND Revsync_SLA_Due__c < '2026-11-26T15:00:00'")
    assert data["funnel"]["converted"] == count("IsConverted = 1")
    won = db.execute("SELECT count(*), sum(o.Amount) FROM Lead l JOIN Opportunity o ON o.Id = l.ConvertedOpportunityId "
                     "WHERE l.IsConverted = 1 AND o.IsWon = 1").fetchone()
    assert (data["funnel"]["won"], data["funnel"]["won_amount"]) == (won[0], round(won[1], 2))
    assert sum(t["records"] for t in data["teams"]) > 0
