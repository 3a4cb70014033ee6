"""Open records per capped member, counted by Salesforce in one aggregate query (SOQL GROUP BY,
AggregateResult rows keyed by the alias), the same counts the embedded org gives."""
from __future__ import annotations

import pytest
import responses

from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from tests.fake_salesforce import FakeSalesforce, connect


@pytest.fixture()
def fake(tmp_path):
    create_demo_org(tmp_path / "org.db", leads=150, seed=5)
    backing = LocalOrg(tmp_path / "org.db")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield FakeSalesforce(backing, rsps), backing


def test_open_counts_agree_with_the_org_in_one_query(fake):
    _, backing = fake
    owners = sorted({r["OwnerId"] for r in backing.read_all("Lead", ["OwnerId"]) if r["OwnerId"].startswith("005")})
    by_hand: dict[str, int] = {}
    for r in backing.read_all("Lead", ["OwnerId", "IsConverted"]):
        if r["OwnerId"] in owners and not r["IsConverted"]:
            by_hand[r["OwnerId"][:15]] = by_hand.get(r["OwnerId"][:15], 0) + 1
    assert sum(by_hand.values()) > 10  # the demo's reps own open leads: the comparison means something
    assert backing.open_counts("Lead", owners, "IsConverted") == by_hand
    org = connect(fake[0])
    org.describe("Lead")  # describes are cached apart: count only the aggregate query
    before = org.calls
    assert org.open_counts("Lead", owners, "IsConverted") == by_hand
    assert org.calls - before == 1
