"""Read-only paths stay read-only and agree with a sync: a dry run leaves the state file as it
was, a preview gives owners the shares a sync would, and imports give every record an Id."""
from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.workspace.scaffold import scaffold
from connector.orgs.local_schema import sf_id
from connector.orgs.transfer import import_csv

from .test_preview import NOW, revsync


@pytest.fixture()
def same_rules(tmp_path: Path) -> Path:
    scaffold(tmp_path)
    shutil.copytree(tmp_path / "rules", tmp_path / "baseline")
    create_demo_org(tmp_path / "org.db", leads=600, seed=3)
    return tmp_path


def test_preview_owner_shares_match_what_the_sync_assigns(same_rules):
    # Converted leads are left out of the owner counts but still evaluated in the same batch,
    # so they take round-robin turns the sync (which skips them) never gives away.
    proc = revsync(same_rules, "preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW,
                   "--format", "json")
    assert proc.returncode == 0, proc.stderr
    share = json.loads(proc.stdout)["owner_share"]["candidate"]
    assert revsync(same_rules, "sync", "--org", "local:org.db", "--now", NOW).returncode == 0
    db = sqlite3.connect(same_rules / "org.db")
    names = {i: f"user:{u}" for i, u in db.execute("SELECT Id, Username FROM User")}
    names.update({i: f"queue:{n}" for i, n in db.execute('SELECT Id, Name FROM "Group"')})
    synced = Counter(names[o] for o, in db.execute("SELECT OwnerId FROM Lead WHERE IsConverted = 0"))
    total = sum(synced.values())
    assert {k: round(v * total) for k, v in share.items()} == dict(synced)


def test_dry_run_leaves_an_existing_state_file_alone(same_rules):
    assert revsync(same_rules, "sync", "--org", "local:org.db", "--now", NOW).returncode == 0
    path = same_rules / ".revsync" / "org_db.state.db"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 3")  # a state an older revsync still reads
    db.close()
    before = path.read_bytes()
    proc = revsync(same_rules, "sync", "--dry-run", "--org", "local:org.db", "--now", NOW)
    assert proc.returncode == 0, proc.stderr
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == 3
    assert path.read_bytes() == before


@pytest.fixture()
def org(tmp_path: Path) -> LocalOrg:
    org = LocalOrg(tmp_path / "org.db", create=True)
    org.insert("Lead", [{"LastName": f"L{i}", "Company": "C"} for i in range(3)])
    return org


def test_import_with_blank_ids_creates_records_with_ids(org, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("Id,LastName,Company\n,New,Acme\n")
    result = import_csv(org, "Lead", path)
    assert result.created == 1
    assert org.db.execute("SELECT count(*) FROM Lead WHERE Id IS NULL").fetchone()[0] == 0


def test_import_after_an_import_with_ids_does_not_collide(org, tmp_path):
    kept = tmp_path / "kept.csv"
    kept.write_text(f"Id,LastName,Company\n{sf_id('00Q', 5)},Kept,Acme\n")
    assert import_csv(org, "Lead", kept).created == 1
    more = tmp_path / "more.csv"
    more.write_text("LastName,Company\n" + "".join(f"N{i},Acme\n" for i in range(5)))
    assert import_csv(org, "Lead", more).created == 5
    assert org.count("Lead") == 9


def test_import_reads_data_loader_headers_and_refuses_another_objects_ids(org, tmp_path):
    from connector.orgs.transfer import ImportRefused
    upper = tmp_path / "upper.csv"
    upper.write_text(f'"ID","LASTNAME","COMPANY","Lead Source"\n"{sf_id("00Q", 50)}","Up","Acme","Web"\n')
    result = import_csv(org, "Lead", upper)
    assert result.created == 1 and result.ignored == ["Lead Source"]
    assert "ignored column(s) that are not Lead fields: Lead Source" in str(result)
    (row,) = org.read_ids("Lead", ["LastName", "Company"], [sf_id("00Q", 50)])
    assert (row["LastName"], row["Company"]) == ("Up", "Acme")
    leads = tmp_path / "leads.csv"
    leads.write_text(f"Id,Name\n{sf_id('00Q', 60)},Not an account\n")
    wrong = import_csv(org, "Account", leads)
    assert wrong.created == 0 and "is not an Account Id" in str(wrong.bad[0]) and org.count("Account") == 0
    nothing = tmp_path / "nothing.csv"
    nothing.write_text("Lead ID,Employees\nx,5\n")
    with pytest.raises(ImportRefused, match="no column is a field of Lead"):
        import_csv(org, "Lead", nothing)


def test_org_commands_name_the_objects_they_know(tmp_path):
    LocalOrg(tmp_path / "org.db", create=True).close()
    proc = revsync(tmp_path, "org", "export", "org.db", "--object", "Contact")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "'lead'" in proc.stderr.lower()
    proc = revsync(tmp_path, "org", "export", "org.db", "--object", "lead")
    assert proc.returncode == 0 and proc.stdout.startswith("Id,")


def test_import_of_json_lines_takes_fields_that_first_appear_in_later_rows(org, tmp_path):
    path = tmp_path / "leads.jsonl"
    path.write_text(f'{{"Id": "{sf_id("00Q", 70)}", "LastName": "A", "Company": "C"}}\n'
                    f'{{"Id": "{sf_id("00Q", 71)}", "LastName": "B", "Company": "C", "State": "CA", "Nope": 1}}\n')
    result = import_csv(org, "Lead", path)
    assert result.created == 2 and result.ignored == ["Nope"]
    (row,) = org.read_ids("Lead", ["State"], [sf_id("00Q", 71)])
    assert row["State"] == "CA"


def test_files_are_checked_whole_and_a_byte_order_mark_is_never_a_header(tmp_path):
    from connector.files import InputError, check_encoding, read_items
    split = tmp_path / "split.csv"  # a character split across the reader's 1 MiB chunks, then a bad byte
    split.write_bytes(b"Id\n" + b"a" * (2 ** 20 - 5) + "€".encode() + b"\xff\n")
    with pytest.raises(InputError, match=r"split.csv:2: not UTF-8 text \(byte 0xff at offset 1048577\)"):
        check_encoding(split)
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffId,Title\n00Q000000000001EAA,CEO\n".encode())
    for encoding in ("utf-8", "UTF8", "utf-8-sig"):
        assert list(read_items(bom, encoding)) == [{"Id": "00Q000000000001EAA", "Title": "CEO"}]


def test_preview_from_an_org_refuses_rules_naming_an_owner_it_lacks(same_rules):
    rules = same_rules / "rules" / "lead.yaml"
    rules.write_text(rules.read_text().replace("{queue: Inbound SDR}", "{queue: Inbound SDRs}"))
    proc = revsync(same_rules, "preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW)
    assert proc.returncode == 2 and "D008" in proc.stderr and "Inbound SDRs" in proc.stderr
    bad = revsync(same_rules, "preview", "--baseline", "baseline", "--org", "local:org.db",
                  "--max-owner-changes", "150%")
    assert bad.returncode == 2 and "from 0 to 1" in bad.stderr
