"""Capacity and availability through a real sync of the embedded org: open records counted in
the org, records given per day counted from the journal (written ones only), paused users from
the User checkbox, held records counted and tried again on the next run."""
from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from textwrap import dedent

import pytest

from connector.orgs.local import LocalOrg
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.scaffold import scaffold
from connector.workspace.workspace import load_workspace
from tests.integration.test_sync_edits import NOW  # Tuesday 10:00 in New York

REPS = ["frank@acme.example", "gina@acme.example", "hal@acme.example"]
RULES = """
object: Lead
teams:
  sdr:
    {caps}
    when_full: hold
    members: [frank@acme.example, gina@acme.example, hal@acme.example]
availability:
  paused_field: Revsync_Paused__c
route:
  - name: SDR
    assign: {{team: sdr}}
"""


@pytest.fixture()
def org_dir(tmp_path: Path):
    scaffold(tmp_path)
    for cases in (tmp_path / "rules").glob("*.cases.yaml"):
        cases.unlink()
    (tmp_path / "rules" / "opportunity.yaml").unlink()
    org = LocalOrg(tmp_path / "org.db", create=True)
    users = org.insert("User", [{"Username": u, "Email": u, "Name": u.split("@")[0].title(), "IsActive": True,
                                 "Revsync_Paused__c": u.startswith("hal")} for u in REPS])
    queue = org.insert("Group", [{"Name": "Inbound", "DeveloperName": "Inbound", "Type": "Queue"}])[0]
    org.insert("Lead", [{"LastName": f"Lead {k}", "Company": "Acme", "OwnerId": queue, "Status": "Open"}
                        for k in range(10)])
    org.close()
    return tmp_path, dict(zip(REPS, users))


def sync(where: Path, caps: str, now):
    (where / "rules" / "lead.yaml").write_text(dedent(RULES.format(caps=caps)))
    ws = load_workspace(where / "rules", where / "mappings", "Lead")
    org, state = LocalOrg(where / "org.db"), State(where / "state.db")
    try:
        return SyncRun(org, ws, state, SyncOptions(now=now, page_size=4, accept_changes=True)).run()
    finally:
        state.close()
        org.close()


def owners(where: Path, users: dict[str, str]) -> Counter:
    names = {v: k.split("@")[0] for k, v in users.items()}
    org = LocalOrg(where / "org.db")
    try:
        return Counter(names.get(r["OwnerId"], "queue") for r in org.read_all("Lead", ["OwnerId", "IsConverted"])
                       if not r["IsConverted"])
    finally:
        org.close()


def test_max_per_day_holds_the_rest_until_the_next_day(org_dir):
    where, users = org_dir
    caps = "max_per_day: 2"
    first = sync(where, caps, NOW)
    # hal is paused: frank and gina take two each, the other six are held, not dumped anywhere.
    assert owners(where, users) == {"frank": 2, "gina": 2, "queue": 6}
    assert (first.fields["OwnerId"], first.held) == (4, 6)
    later = sync(where, caps, NOW + timedelta(hours=2))
    assert (later.fields.get("OwnerId", 0), later.held) == (0, 6)  # the held six, read again: still full
    # Midnight in UTC has passed at 20:00 New York time, but the team has no calendar: UTC decides.
    next_day = sync(where, caps, NOW + timedelta(days=1))
    assert owners(where, users) == {"frank": 4, "gina": 4, "queue": 2}
    assert (next_day.fields["OwnerId"], next_day.held) == (4, 2)


def test_open_records_in_the_org_count_against_max_open(org_dir):
    where, users = org_dir
    org = LocalOrg(where / "org.db")
    # gina already owns two open leads and one converted (which does not count).
    org.insert("Lead", [{"LastName": "Open", "Company": "X", "OwnerId": users["gina@acme.example"], "Status": "Open"},
                        {"LastName": "Open", "Company": "X", "OwnerId": users["gina@acme.example"], "Status": "Open"},
                        {"LastName": "Done", "Company": "X", "OwnerId": users["gina@acme.example"],
                         "IsConverted": True}])
    org.close()
    report = sync(where, "max_open: 3", NOW)
    # The cycle is frank, gina, hal (paused). gina has room for one: frank, gina, frank, frank;
    # then both are at 3 open and the remaining six queue leads and gina's own two are held.
    assert owners(where, users) == {"frank": 3, "gina": 3, "queue": 6}
    assert report.held == 8


def test_a_preview_from_the_org_counts_its_open_records_against_max_open(org_dir):
    import json
    import shutil

    from tests.integration.test_preview import revsync
    where, users = org_dir
    org = LocalOrg(where / "org.db")
    org.insert("Lead", [{"LastName": "Open", "Company": "X", "OwnerId": users["gina@acme.example"], "Status": "Open",
                         "Revsync_Routed_At__c": "2026-11-20T10:00:00Z"} for _ in range(2)])
    org.close()
    (where / "rules" / "lead.yaml").write_text(dedent(RULES.format(caps="max_open: 3")))
    shutil.copytree(where / "rules", where / "baseline")
    (where / "baseline" / "lead.yaml").write_text(dedent(RULES.format(caps="")))
    proc = revsync(where, "preview", "--baseline", "baseline", "--org", "local:org.db", "--now",
                   "2026-11-24T15:00:00Z", "--format", "json", "--mappings", "mappings")
    assert proc.returncode in (0, 1), proc.stderr
    teams = json.loads(proc.stdout)["teams"]["candidate"]
    got = {m["member"]: m["received"] for m in teams["teams"]["sdr"]["members"]}
    # gina's two routed leads stay hers and count: one more reaches her cap; frank takes three.
    assert got == {"frank@acme.example": 3, "gina@acme.example": 1, "hal@acme.example": 0}
    assert teams["held"] == 6
