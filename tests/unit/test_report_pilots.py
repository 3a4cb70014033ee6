"""Pilots: the arm a record lands in, the [pilots.NAME] settings, and the comparison of arms."""
from __future__ import annotations

from pathlib import Path

import pytest

from connector.report.facts import LeadFacts
from connector.report.pilots import arms, pilot_report
from connector.workspace.pilots import CONTROL, PILOT, arm_of, assign_arm
from connector.report.source import Population
from connector.workspace.settings import Pilot, SettingsError, load_settings
from connector.workspace.workspace import load_workspace
from connector.orgs.local_schema import sf_id
from tests.reportkit import NOW, write_rules


def test_the_arm_is_pinned_by_the_pilot_name_and_the_id_in_either_length():
    rid = "00Q000000000001EAA"
    # Pinned: a change of the hash would move records between arms in the middle of a pilot.
    assert [arm_of(rid, name, 0.5) for name in ("west", "east", "emea", "smb")] == [PILOT, PILOT, CONTROL, CONTROL]
    assert arm_of(rid[:15], "west", 0.5) == arm_of(rid, "west", 0.5) == PILOT
    assert arm_of(rid, "west", 1.0) == PILOT
    ids = [sf_id("00Q", n) for n in range(1, 201)]
    assert all(arm_of(i[:15], "trial", 0.5) == arm_of(i, "trial", 0.5) for i in ids)


def test_shares_hold_over_many_records_and_two_pilots_split_independently():
    ids = [sf_id("00Q", n) for n in range(1, 20_001)]
    tenth = sum(arm_of(i, "trial", 0.1) == PILOT for i in ids)
    assert abs(tenth - 2000) < 170  # four standard deviations of a binomial(20000, 0.1)
    a = [arm_of(i, "a", 0.5) for i in ids]
    b = [arm_of(i, "b", 0.5) for i in ids]
    same = sum(x == y for x, y in zip(a, b))
    assert abs(same - 10_000) < 283  # as two fair coins agree: half the time, within 4 sigma
    # A bigger share only adds records to the pilot arm: none leaves it.
    assert all(arm_of(i, "trial", 0.2) == PILOT for i in ids if arm_of(i, "trial", 0.1) == PILOT)


def test_outside_the_segment_there_is_no_arm():
    assert assign_arm("00Q000000000001EAA", "west", 0.5, False) is None
    assert assign_arm("00Q000000000001EAA", "west", 0.5, True) == PILOT


def lead(rid: str, qualified=False, followed=False, converted=False, amount=None, minutes=None) -> LeadFacts:
    return LeadFacts(id=rid, created=None, source=None, segment=None, owner="o", team=None, given_to=None,
                     stage=None, qualified=qualified, qualified_at=None, followed_up=followed, first_touch=None,
                     clock=None, minutes_to_first_touch=minutes, converted=converted, opportunity=None,
                     won=amount is not None, amount=amount)


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    return load_workspace(write_rules(tmp_path_factory.mktemp("rules")), None, "Lead")


def arm_population(arms_: list[str | None]) -> Population:
    return Population([{"id": f"L{i}", "crm:Revsync_Pilot_Arm__c": arm} for i, arm in enumerate(arms_)])


def test_arms_compared_from_the_crm_field_as_counted_by_hand(ws):
    """Pilot (L0-L9): 4 MQLs, 3 followed up, 2 converted, one won 1,000, first touches 30 and 50
    minutes. Control (L10-L19): 2 MQLs, 1 followed up, 1 converted, first touch 90. L20 has no
    arm (outside the segment), L21 an arm the field should not hold."""
    pilot = [lead("L0", True, True, True, 1000.0, 30.0), lead("L1", True, True, True, None, 50.0),
             lead("L2", True, True), lead("L3", True)] + [lead(f"L{i}") for i in range(4, 10)]
    control = [lead("L10", True, True, True, None, 90.0), lead("L11", True)] + [lead(f"L{i}") for i in range(12, 20)]
    population = arm_population(["Pilot"] * 10 + ["control"] * 10 + [None, "both"])
    out = pilot_report(population, pilot + control + [lead("L20", True), lead("L21", True)], ws,
                       Pilot("trial", Path("rules-b"), 0.5), NOW)
    assert out["arms_from"] == "the CRM field Revsync_Pilot_Arm__c"
    p, c = out["arms"]["pilot"], out["arms"]["control"]
    assert (p["records"], p["mql_rate"]["count"], p["follow_up_rate"]["count"], p["follow_up_rate"]["of"],
            p["conversion_rate"]["count"]) == (10, 4, 3, 4, 2)
    assert (c["records"], c["mql_rate"]["count"], c["follow_up_rate"]["count"], c["conversion_rate"]["count"]) == \
        (10, 2, 1, 1)
    assert (p["median_minutes_to_first_touch"], c["median_minutes_to_first_touch"]) == (40.0, 90.0)
    assert (p["won_amount"], p["won_amount_per_lead"]["mean"], c["won_amount"]) == (1000.0, 100.0, 0.0)
    mql = out["comparison"]["mql_rate"]
    assert mql["difference"] == 0.2 and mql["low"] < 0.2 < mql["high"]
    assert mql["significant"] is False and mql["more_records_needed"] > 0
    assert out["comparison"]["follow_up_rate"]["counted"] == "MQLs"
    assert out["comparison"]["minutes_to_first_touch"]["difference"] == -50.0


def test_a_clear_difference_is_significant_and_needs_no_more_records(ws):
    facts = [lead(f"L{i}", qualified=i < 50) for i in range(100)]
    out = pilot_report(arm_population(["pilot"] * 50 + ["control"] * 50), facts, ws, Pilot("t", Path("r"), 0.5), NOW)
    mql = out["comparison"]["mql_rate"]
    assert mql["significant"] is True and mql["p_value"] < 0.001 and mql["more_records_needed"] == 0


def test_without_the_arm_field_arms_are_recomputed_within_the_segment(ws):
    records = [{"id": sf_id("00Q", n), "lead_source": "Webinar" if n % 2 else "Web"} for n in range(1, 41)]
    found, source = arms(Population(records), ws, Pilot("trial", Path("r"), 0.5, "{lead_source: Webinar}"), NOW)
    assert source.startswith("recomputed")
    assert set(found) == {r["id"] for r in records if r["lead_source"] == "Webinar"}
    assert all(found[i] == arm_of(i, "trial", 0.5) for i in found)


def test_pilots_are_read_from_their_own_tables(tmp_path):
    path = tmp_path / "revsync.toml"
    path.write_text('[revsync]\nrules = "rules"\n\n[pilots.west]\nrules = "rules-b"\nshare = "10%"\n'
                    'when = "{state: [CA, WA]}"\n\n[pilots.all]\nrules = "c"\nshare = 1\narm_field = "Arm__c"\n')
    settings = load_settings(path)
    assert settings.pilot("west") == Pilot("west", Path("rules-b"), 0.1, "{state: [CA, WA]}")
    assert settings.pilot("all") == Pilot("all", Path("c"), 1.0, None, "Arm__c")
    assert settings.pilot("east") is None
    flat = tmp_path / "flat.toml"
    flat.write_text('rules = "rules"\n[pilots.west]\nrules = "b"\nshare = 0.25\n')
    assert load_settings(flat).pilot("west").share == 0.25


def test_every_pilot_problem_is_located(tmp_path):
    path = tmp_path / "revsync.toml"
    path.write_text('[revsync]\nrules = "rules"\n\n[pilots.west]\nrules = "b"\nshare = "150%"\nwehn = "x"\n\n'
                    '[pilots.east]\nshare = 0.5\n')
    with pytest.raises(SettingsError) as raised:
        load_settings(path)
    file = str(path)
    assert [str(p) for p in raised.value.problems] == [
        f"{file}:6:1: S004 pilots.west.share = '150%': expected a share above 0 and at most 1 (100%) "
        f'(e.g. share = "10%" or 0.1)',
        f"{file}:7:1: S002 unknown pilot setting 'wehn' (did you mean 'when'?)",
        f"{file}:9:2: S006 pilot 'east' has no rules (add rules = \"rules-candidate\")",
    ]


def test_without_the_statistics_extra_the_message_says_how_to_add_it(monkeypatch):
    import sys
    from connector.report.stats import StatsMissing, wilson
    monkeypatch.setitem(sys.modules, "statsmodels.stats.proportion", None)  # import fails as when absent
    with pytest.raises(StatsMissing) as caught:
        wilson(1, 2)
    assert caught.value.exit_code == 2 and "pip install 'revsync[stats]'" in str(caught.value)
    assert wilson(0, 0).asdict() == {"count": 0, "of": 0, "rate": None, "low": None, "high": None}
