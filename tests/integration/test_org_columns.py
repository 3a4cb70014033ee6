"""The embedded org as its file really is: `doctor` reads the tables' own columns (one dropped
is named, one an admin added is found, a missing table is a problem, not a crash), and
`org export --related` writes the account and owner columns the mapping reads, so `evaluate`
on the export decides as the sync of the org does; without them `evaluate` says what it lacks."""
from __future__ import annotations

import csv
import json
import shutil
import sqlite3
from pathlib import Path

from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.workspace.scaffold import scaffold
from tests.integration.test_preview import NOW, revsync

FIT = "  fit_score: {crm: Fit_Score__c, type: number}\n"


def alter(path: Path, *statements: str) -> None:
    db = sqlite3.connect(path)
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()


def test_doctor_reads_the_columns_the_file_has(tmp_path: Path):
    scaffold(tmp_path)
    mapping = tmp_path / "mappings" / "lead.yaml"
    mapping.write_text(mapping.read_text().replace("fields:\n", "fields:\n" + FIT, 1))
    create_demo_org(tmp_path / "org.db", leads=30, seed=1)
    alter(tmp_path / "org.db", 'ALTER TABLE Lead DROP COLUMN "Title"', 'ALTER TABLE Lead ADD COLUMN "Fit_Score__c" REAL',
          'UPDATE Lead SET Fit_Score__c = 72.5', 'DROP TABLE Opportunity')
    proc = revsync(tmp_path, "doctor", "--org", "local:org.db")
    assert "ready" not in proc.stdout and "1 warning(s)" in proc.stdout, proc.stdout + proc.stderr
    assert "D002 Lead.Title (rule field 'title') does not exist" in proc.stderr
    assert "Fit_Score__c" not in proc.stderr  # a column the admin added is there
    org = LocalOrg(tmp_path / "org.db")
    assert org.describe("Lead")["Fit_Score__c"].type == "double"
    assert {r["Fit_Score__c"] for r in org.read_all("Lead", ["Fit_Score__c", "Title"])} == {72.5}
    org.close()
    gone = revsync(tmp_path, "doctor", "--org", "local:org.db", "--object", "Opportunity")
    assert gone.returncode == 2 and "D001" in gone.stderr and "no such table" in gone.stderr, gone.stderr
    assert "D003" not in gone.stderr  # one problem for the missing table, not one per field
    alter(tmp_path / "org.db", 'DROP TABLE "User"')
    nobody = revsync(tmp_path, "doctor", "--org", "local:org.db")
    assert nobody.returncode == 2 and "D001 cannot read User" in nobody.stderr, nobody.stderr


def segments(ws: Path, export: Path) -> tuple[dict[str, str], str]:
    proc = revsync(ws, "evaluate", "--input", str(export), "--now", NOW)
    assert proc.returncode == 0, proc.stderr
    return {d["id"]: d["segment"] for d in map(json.loads, proc.stdout.splitlines())}, proc.stderr


def test_an_export_with_related_columns_decides_segments_as_the_sync(tmp_path: Path):
    scaffold(tmp_path)
    create_demo_org(tmp_path / "org.db", leads=300, seed=5)
    shutil.copy(tmp_path / "org.db", tmp_path / "synced.db")
    assert revsync(tmp_path, "sync", "--org", "local:synced.db", "--now", NOW).returncode == 0
    db = sqlite3.connect(tmp_path / "synced.db")
    synced = dict(db.execute("SELECT Id, Revsync_Segment__c FROM Lead WHERE IsConverted = 0"))
    assert {"Retain", "Develop", "Acquire"} <= set(synced.values())

    export = revsync(tmp_path, "org", "export", "org.db", "--object", "Lead", "--related", "--output", "related.csv")
    assert export.returncode == 0 and "related columns" in export.stderr, export.stderr
    decided, warnings = segments(tmp_path, tmp_path / "related.csv")
    assert {i: decided[i] for i in synced} == synced
    assert "warning" not in warnings

    assert revsync(tmp_path, "org", "export", "org.db", "--object", "Lead", "--output", "plain.csv").returncode == 0
    plain, warnings = segments(tmp_path, tmp_path / "plain.csv")
    assert set(plain.values()) == {"Acquire"}  # what the warning is about
    assert warnings.count("warning: the rules test") == 1, warnings
    assert "account.share_of_wallet" in warnings and "Account.Share_of_Wallet__c" in warnings
    assert "--related" in warnings


def test_explain_and_preview_of_an_export_without_related_columns_warn_too(tmp_path: Path):
    scaffold(tmp_path)
    create_demo_org(tmp_path / "org.db", leads=30, seed=5)
    assert revsync(tmp_path, "org", "export", "org.db", "--object", "Lead", "--output", "plain.csv").returncode == 0
    assert revsync(tmp_path, "org", "export", "org.db", "--object", "Lead", "--related",
                   "--output", "related.csv").returncode == 0
    first = next(csv.DictReader((tmp_path / "plain.csv").open()))["Id"]
    shutil.copytree(tmp_path / "rules", tmp_path / "baseline")
    for name, warned in (("plain.csv", True), ("related.csv", False)):
        explained = revsync(tmp_path, "explain", first, "--input", name, "--now", NOW)
        previewed = revsync(tmp_path, "preview", "--baseline", "baseline", "--input", name, "--now", NOW)
        for proc in (explained, previewed):
            assert proc.returncode in (0, 1), proc.stderr
            assert ("Account.Share_of_Wallet__c" in proc.stderr) is warned, proc.stderr
            assert proc.stderr.count("warning: the rules test") == int(warned)
