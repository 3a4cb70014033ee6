"""The funnel and SLA report over a hand-counted embedded org (tests/reportkit.py says what each
lead counts for)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from connector.orgs.local import LocalOrg
from connector.report.build import ReportOptions, make_report
from connector.report.facts import ReportError, qualified_stages
from connector.workspace.workspace import load_workspace
from tests.reportkit import NOW, RULES, funnel_org, write_rules
from tests.rulekit import ruleset


@pytest.fixture(scope="module")
def fixture(tmp_path_factory):
    directory = tmp_path_factory.mktemp("funnel")
    org = funnel_org(directory)
    ws = load_workspace(write_rules(directory / "rules"), None, "Lead")
    return org, ws


def report(fixture, **options) -> dict:
    org, ws = fixture
    backend = LocalOrg(org.path)
    try:
        return make_report(backend, ws, ReportOptions(now=options.pop("now", NOW), journal=org.state, **options))
    finally:
        backend.close()


def test_funnel_counts_every_lead_once_as_counted_by_hand(fixture):
    data = report(fixture)
    assert data["qualified_stages"] == ["MQL"]  # no funnel key: the stage named MQL
    assert data["funnel"] == {"leads": 9, "mql": 6, "followed_up": 4, "follow_up_rate": 0.6667, "converted": 3,
                              "mql_converted": 1, "opportunities": 3, "won": 2, "won_amount": 1700.0}


def test_sla_outcomes_and_business_minutes_to_first_touch(fixture):
    assert report(fixture)["sla"] == {
        "clocks": 5, "met_on_time": 1, "met_late": 1, "breached": 2, "pending": 1, "escalated": 1,
        "compliance": 0.25,  # 1 on time of 4 decided (L4 is still pending)
        "median_minutes_to_first_touch": 330.0,  # L1 120, L2 540 business minutes
        "p90_minutes_to_first_touch": 540.0}


def test_since_leaves_out_older_leads_and_counts_them(fixture):
    data = report(fixture, since=datetime(2026, 11, 1, tzinfo=timezone.utc))
    assert data["created_before_since"] == 1  # L7
    f = data["funnel"]
    assert (f["leads"], f["converted"], f["opportunities"], f["won"], f["won_amount"]) == (8, 2, 2, 1, 1000.0)


def test_without_the_journal_a_former_mql_counts_but_its_touch_is_unknown(fixture):
    org, ws = fixture
    backend = LocalOrg(org.path)
    data = make_report(backend, ws, ReportOptions(now=NOW, journal=org.state.parent / "no-such.db"))
    backend.close()
    assert data["journal"] is None
    assert (data["funnel"]["mql"], data["funnel"]["followed_up"]) == (6, 3)  # L5 qualified, not followed up


def test_a_clock_breaches_strictly_after_its_due(fixture):
    at_due = report(fixture, now=datetime(2026, 12, 1, 14, 30, tzinfo=timezone.utc))  # L4's due
    assert (at_due["sla"]["pending"], at_due["sla"]["breached"]) == (1, 2)
    after = report(fixture, now=datetime(2026, 12, 1, 14, 31, tzinfo=timezone.utc))
    assert (after["sla"]["pending"], after["sla"]["breached"]) == (0, 3)


def test_groups_by_source(fixture):
    groups = {g["group"]: (g["funnel"]["leads"], g["funnel"]["mql"], g["funnel"]["followed_up"], g["sla"]["clocks"])
              for g in report(fixture, by="source")["groups"]}
    assert groups == {"Demo Request": (5, 5, 3, 5), "Web": (2, 0, 0, 0), "Webinar": (1, 1, 1, 0),
                      "Trade Show": (1, 0, 0, 0)}


def test_groups_by_team_and_week(fixture):
    teams = {g["group"]: g["funnel"]["mql"] for g in report(fixture, by="team")["groups"]}
    assert teams == {"sdr": 4, "(no team)": 2}  # L1 L2 L4 L9; L3 (escalated to a queue) and L5
    weeks = {g["group"]: g["funnel"]["leads"] for g in report(fixture, by="week")["groups"]}
    assert weeks == {"2026-W40": 1, "2026-W46": 1, "2026-W47": 4, "2026-W48": 2, "2026-W49": 1}


def test_owners_load_and_team_shares_against_weights(fixture):
    data = report(fixture)
    owners = {o["owner"]: (o["mql"], o["load"], o["clocks"], o["compliance"]) for o in data["owners"]}
    assert owners == {"bo@x.example": (2, 2, 2, 0.0), "ann@x.example": (2, 1, 2, 0.5),
                      "queue Managers": (1, 1, 1, 0.0), "queue Nurture": (1, 1, 0, None)}
    assert [o["owner"] for o in data["owners"]][0] == "bo@x.example"  # the heaviest load first
    (sdr,) = data["teams"]
    assert sdr["records"] == 4
    assert [(m["member"], m["promised_share"], m["records"], m["share"]) for m in sdr["members"]] == [
        ("ann@x.example", 0.25, 2, 0.5), ("bo@x.example", 0.75, 2, 0.5)]


def test_sla_by_the_week_clocks_started(fixture):
    weeks = {w["week"]: (w["clocks"], w["met_on_time"], w["met_late"], w["breached"], w["pending"], w["compliance"])
             for w in report(fixture)["weeks"]}
    assert weeks == {"2026-W47": (3, 1, 1, 1, 0, 0.3333), "2026-W48": (1, 0, 0, 1, 0, 0.0),
                     "2026-W49": (1, 0, 0, 0, 1, None)}


def test_qualified_stages_come_from_the_funnel_key_first():
    text = RULES.replace("object: Lead\n", "object: Lead\nfunnel: {qualified: [SQL, MQL]}\n")
    assert qualified_stages(ruleset(text)) == ("SQL", "MQL")


def test_without_the_key_or_an_mql_stage_the_report_asks_for_the_key():
    text = RULES.replace("stage: MQL", "stage: Hot")
    with pytest.raises(ReportError) as caught:
        qualified_stages(ruleset(text))
    assert caught.value.exit_code == 2
    assert "funnel: {qualified: [Customer, Hot]}" in str(caught.value)
