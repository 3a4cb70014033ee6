"""What people read in a preview: each owner under one name, changes as `field: old -> new`,
every format saying how many changed records it lists, round-robin reshuffles apart from
moves, and records a full team holds shown as held."""
from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

from connector.workspace.scaffold import scaffold
from tests.integration.test_preview import NOW, revsync, ws  # noqa: F401 - ws is a fixture


def preview(ws: Path, *args: str) -> str:
    proc = revsync(ws, "preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW, *args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_table_names_owners_once_and_shows_changes_as_cells(ws):  # noqa: F811 - the fixture
    text = preview(ws, "--limit", "5")
    assert "{'" not in text and "user:" not in text and "team:" not in text, text
    assert "queue Inbound Nurture" in text
    data = json.loads(preview(ws, "--format", "json", "--limit", "0"))
    assert f"changed records, showing 5 of {data['changed_records']} changed records (--limit 0 lists all):" in text
    first = data["records"][0]
    assert first["name"] and f"{first['id']}  {first['name']}" in text
    assert f"stage: {first['before']['stage']} -> {first['after']['stage']}" in text
    assert "sla_due: (none) -> " in text  # a deadline the baseline does not set
    # A person routed by a round robin is named as the person, with the team beside.
    moved = next(r for r in data["records"] if r.get("teams", {}).get("after") and not r["reshuffle"])
    member = moved["after"]["owner"].removeprefix("user:")
    every = preview(ws, "--limit", "0")
    assert re.search(rf"owner: queue [^\n]* -> {re.escape(member)} \(team {moved['teams']['after']}\)", every)


def test_every_format_says_how_many_changed_records_it_lists(ws):  # noqa: F811
    every = json.loads(preview(ws, "--format", "json", "--limit", "0"))
    total = every["changed_records"]
    assert total > 5 and len(every["records"]) == total and every["showing"]["how"] == "all"
    cut = json.loads(preview(ws, "--format", "json", "--limit", "5"))
    assert len(cut["records"]) == 5 and cut["showing"] == {
        "records": 5, "of": total, "how": "first", "note": f"showing 5 of {total} changed records (--limit 0 lists all)"}
    rows = [r for r in csv.reader(io.StringIO(preview(ws, "--format", "csv", "--limit", "5"))) if r]
    assert rows[-1] == [f"# showing 5 of {total} changed records (--limit 0 lists all)"]
    assert {r[0] for r in rows[1:-1]} == {r["id"] for r in cut["records"]}
    rows = [r for r in csv.reader(io.StringIO(preview(ws, "--format", "csv", "--limit", "0"))) if r]
    assert len(rows) - 1 == sum(len(r["before"]) for r in every["records"])  # no note: nothing left out
    assert not any(r[0].startswith("#") for r in rows)
    owners = [r for r in rows if r[1] == "owner"]
    assert owners and not [r for r in owners if "user:" in r[2] + r[3] or "team:" in r[2] + r[3]]
    sampled = json.loads(preview(ws, "--format", "json", "--sample", "3"))
    assert sampled["showing"]["note"].startswith(f"showing a seeded sample of 3 of {total}")


def test_round_robin_reshuffles_are_counted_apart_from_moves(ws):  # noqa: F811
    data = json.loads(preview(ws, "--format", "json", "--limit", "0"))
    owner_changes = [r for r in data["records"] if "owner" in r["before"]]
    assert len(owner_changes) == data["changed"]["owner"]
    # A reshuffle: the same team's round robin on both sides, another member.
    shuffled = [r for r in owner_changes
                if r["teams"]["before"] is not None and r["teams"]["before"] == r["teams"]["after"]]
    assert shuffled, "the fixture's looser MQL rule takes round-robin turns from other leads"
    assert all(r["reshuffle"] for r in shuffled) and sum(r["reshuffle"] for r in owner_changes) == len(shuffled)
    per_team = {}
    for r in shuffled:
        per_team[r["teams"]["after"]] = per_team.get(r["teams"]["after"], 0) + 1
    assert {x["team"]: x["count"] for x in data["owner_reshuffles"]} == per_team
    assert sum(m["count"] for m in data["owner_moves"]) == len(owner_changes) - len(shuffled)
    text = preview(ws)
    assert f"owner {data['changed']['owner']} ({len(shuffled)} of them round-robin reshuffles)" in text
    assert "round-robin reshuffles (same team" in text
    # The owner gate counts moves: a limit of exactly the moves passes, one fewer trips.
    moves, total = len(owner_changes) - len(shuffled), data["open"]
    args = ("preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW, "--format", "json")
    assert revsync(ws, *args, "--max-owner-changes", f"{moves}/{total}").returncode == 0
    tripped = revsync(ws, *args, "--max-owner-changes", f"{moves - 1}/{total}")
    assert tripped.returncode == 1 and f"{len(shuffled)} round-robin reshuffles not counted" in tripped.stderr


def test_kept_owners_are_named_by_username_after_a_sync(ws):  # noqa: F811
    assert revsync(ws, "sync", "--org", "local:org.db", "--now", NOW).returncode == 0
    text = preview(ws, "--limit", "0")
    assert not re.search(r"\b005[0-9A-Za-z]{12}", text), "an owner shown by Id"
    data = json.loads(preview(ws, "--format", "json", "--limit", "0"))
    assert not [r for r in data["records"] if "owner" in r["after"] and ":005" in str(r["after"]["owner"])]


HOLDING = """object: Lead
teams:
  sdr:
    {caps}
    members: [alice@acme.example, bob@acme.example]
route:
  - name: SDR
    assign: {{team: sdr}}
"""


def test_records_a_full_team_holds_show_as_held(tmp_path: Path):
    scaffold(tmp_path)
    for name in os.listdir(tmp_path / "rules"):
        (tmp_path / "rules" / name).unlink()
    (tmp_path / "baseline").mkdir()
    (tmp_path / "baseline" / "lead.yaml").write_text(HOLDING.format(caps=""))
    (tmp_path / "rules" / "lead.yaml").write_text(HOLDING.format(caps="max_open: 1\n    when_full: hold"))
    (tmp_path / "leads.csv").write_text("Id,LastName,Company\n" + "".join(
        f"00Q{k:015d},L{k},Acme\n" for k in range(4)))
    args = ("preview", "--baseline", "baseline", "--input", "leads.csv", "--now", NOW)
    data = json.loads(revsync(tmp_path, *args, "--format", "json").stdout)
    held = [r for r in data["records"] if r["after"].get("owner") == "(held)"]
    assert len(held) == 2 and all("full" in r["held"]["after"] for r in held)
    assert data["owner_share"]["candidate"]["(held)"] == 0.5
    text = revsync(tmp_path, *args).stdout
    assert "-> held (team sdr is full" in text and "None" not in text


def test_an_export_names_owners_by_its_owner_columns(ws):  # noqa: F811
    # Offline, the account owner comes as an Id (`assign: {field: account.owner_id}`) while a
    # round robin names its member: the export's OwnerId and Owner.Username pairs join them.
    assert revsync(ws, "org", "export", "org.db", "--object", "Lead", "--related", "--output", "leads.csv").returncode == 0
    with (ws / "leads.csv").open(newline="") as fh:
        named = {r["OwnerId"]: r["Owner.Username"] for r in csv.DictReader(fh) if r["Owner.Username"]}
    proc = revsync(ws, "preview", "--baseline", "baseline", "--input", "leads.csv", "--now", NOW, "--format", "json")
    data = json.loads(proc.stdout)
    owners = set(data["owner_share"]["baseline"]) | set(data["owner_share"]["candidate"])
    assert not [o for o in owners if o.split(":", 1)[-1] in named], owners
    assert len([o for o in owners if o.removeprefix("user:") in set(named.values())]) >= 3


FIELD_ROUTE = """object: Lead
route:
  - {name: Account owner, when: {account.owner_id: {exists: true}}, assign: {field: account.owner_id}}
  - {name: Rest, assign: {queue: Inbound}}
"""


def test_an_owner_named_only_in_a_later_batch_is_counted_under_its_name(tmp_path: Path):
    # Lead 1 goes to its account's owner, an Id; the row that names that Id is the last one,
    # read after the first batch of 1,000 was counted.
    scaffold(tmp_path)
    for name in os.listdir(tmp_path / "rules"):
        (tmp_path / "rules" / name).unlink()
    (tmp_path / "baseline").mkdir()
    for folder in ("baseline", "rules"):
        (tmp_path / folder / "lead.yaml").write_text(FIELD_ROUTE)
    zed = "005000000000099AAA"
    rows = [["00Q000000000001AAA", "L1", "Acme", "", "", zed]]
    rows += [[f"00Q{k:015d}", f"L{k}", "Acme", "", "", ""] for k in range(2, 1200)]
    rows += [["00Q000000000001ZZZ", "Last", "Acme", zed, "zed@acme.example", ""]]
    with (tmp_path / "leads.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Id", "LastName", "Company", "OwnerId", "Owner.Username", "Account.OwnerId"])
        writer.writerows(rows)
    proc = revsync(tmp_path, "preview", "--baseline", "baseline", "--input", "leads.csv", "--now", NOW,
                   "--format", "json")
    share = json.loads(proc.stdout)["owner_share"]["candidate"]
    assert "user:zed@acme.example" in share and not [o for o in share if zed[:15] in o], share
