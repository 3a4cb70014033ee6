"""revsync preview: the same records through baseline and candidate rules, nothing written."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.workspace.scaffold import scaffold

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-24T15:00:00Z"
LOOSER_MQL = ("when: {score: {gte: 60}, grade: [A, B]}", "when: {score: {gte: 45}, grade: [A, B, C]}")


def revsync(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture()
def ws(tmp_path: Path) -> Path:
    scaffold(tmp_path)
    shutil.copytree(tmp_path / "rules", tmp_path / "baseline")
    lead = tmp_path / "rules" / "lead.yaml"
    lead.write_text(lead.read_text().replace(*LOOSER_MQL))
    create_demo_org(tmp_path / "org.db", leads=600, seed=3)
    return tmp_path


def digest(path: Path) -> str:
    db = sqlite3.connect(path)
    rows = db.execute("SELECT * FROM Lead ORDER BY Id").fetchall()
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def test_json_has_the_pinned_shape_and_nothing_is_written(ws):
    before = digest(ws / "org.db")
    proc = revsync(ws, "preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW,
                   "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["evaluated"] == 600
    assert set(data["changed"]) == {"segment", "score", "grade", "stage", "owner", "sla_due"}
    assert data["changed"]["stage"] > 0 and data["changed"]["score"] == 0
    assert {"from": "Nurture", "to": "MQL"} == {k: data["stage_moves"][0][k] for k in ("from", "to")}
    assert all(set(m) == {"from", "to", "count"} for m in data["owner_moves"])
    assert data["rules"]["baseline"]["score/Senior title"] == data["rules"]["candidate"]["score/Senior title"]
    assert data["rules"]["candidate"]["qualify/Marketing qualified"] > data["rules"]["baseline"]["qualify/Marketing qualified"]
    record = data["records"][0]
    assert record["id"].startswith("00Q") and record["before"]["stage"] != record["after"]["stage"]
    assert data["closed_loop"]["candidate"]["mql"] > data["closed_loop"]["baseline"]["mql"]
    # Read-only: the org is byte-for-byte the same and no sync state was created.
    assert digest(ws / "org.db") == before
    assert not (ws / ".revsync").exists()


def test_export_file_where_and_thresholds(ws):
    export = ws / "leads.csv"
    assert revsync(ws, "org", "export", "org.db", "--object", "Lead", "--output", str(export)).returncode == 0
    everything = json.loads(revsync(ws, "preview", "--baseline", "baseline", "--input", str(export),
                                    "--now", NOW, "--format", "json").stdout)
    narrowed = json.loads(revsync(ws, "preview", "--baseline", "baseline", "--input", str(export), "--now", NOW,
                                  "--format", "json", "--where", "{lead_source: Demo Request}").stdout)
    assert 0 < narrowed["evaluated"] < everything["evaluated"]
    failed = revsync(ws, "preview", "--baseline", "baseline", "--input", str(export), "--now", NOW,
                     "--max-stage-changes", "1%")
    assert failed.returncode == 1 and "stage changes for" in failed.stderr
    ok = revsync(ws, "preview", "--baseline", "baseline", "--input", str(export), "--now", NOW,
                 "--max-stage-changes", "90%")
    assert ok.returncode == 0
    same = revsync(ws, "preview", "--baseline", "rules", "--input", str(export), "--now", NOW, "--fail-on-change")
    assert same.returncode == 0 and "0 of 540 open change" in same.stdout


def test_baseline_from_git_without_touching_the_work_tree(ws):
    def git(*args):
        subprocess.run(["git", *args], cwd=ws, check=True, capture_output=True,
                       env={**os.environ, "GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x",
                            "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x"})
    shutil.copy(ws / "baseline" / "lead.yaml", ws / "rules" / "lead.yaml")
    git("init", "-q")
    git("add", "rules")
    git("commit", "-qm", "rules as agreed")
    lead = ws / "rules" / "lead.yaml"
    lead.write_text(lead.read_text().replace(*LOOSER_MQL))
    edited = lead.read_text()
    proc = revsync(ws, "preview", "--baseline", "HEAD", "--org", "local:org.db", "--now", NOW, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["changed"]["stage"] > 0
    assert lead.read_text() == edited
    bad = revsync(ws, "preview", "--baseline", "no-such-ref", "--org", "local:org.db", "--now", NOW)
    assert bad.returncode == 2 and "P001" in bad.stderr


def test_html_is_self_contained(ws):
    out = ws / "preview.html"
    proc = revsync(ws, "preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW,
                   "--format", "html", "--output", str(out))
    assert proc.returncode == 0
    html = out.read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html and "Owner share" in html
    assert "<script" not in html and "http://" not in html and "https://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")


def test_seeded_sample_is_reproducible(ws):
    args = ("preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW, "--format", "json",
            "--sample", "3", "--seed", "7")
    a = json.loads(revsync(ws, *args).stdout)["records"]
    b = json.loads(revsync(ws, *args).stdout)["records"]
    assert a == b and len(a) == 3


def test_converted_leads_count_for_the_closed_loop_only(ws):
    # A sync never writes converted leads: they are not changes, owners or stages, but they
    # are what the closed loop measures.
    proc = revsync(ws, "preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW,
                   "--format", "json", "--limit", "1000")
    data = json.loads(proc.stdout)
    db = sqlite3.connect(ws / "org.db")
    converted = {r[0] for r in db.execute("SELECT Id FROM Lead WHERE IsConverted = 1")}
    open_count = 600 - len(converted)
    assert converted and data["changed_records"] > 0
    assert not converted & {r["id"] for r in data["records"]}
    for side in ("baseline", "candidate"):
        assert sum(data["stages"][side].values()) == open_count
        assert sum(data["score_bands"][side].values()) == open_count
    assert data["closed_loop"]["baseline"]["mql"] >= 0 and data["closed_loop"]["candidate"]["mql"] > 0


def test_owners_have_one_name_whether_kept_or_routed(ws):
    # After a sync, kept owners come back as Ids while routing names them: the shares must
    # not count one queue or person twice.
    assert revsync(ws, "sync", "--org", "local:org.db", "--now", NOW).returncode == 0
    data = json.loads(revsync(ws, "preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW,
                              "--format", "json").stdout)
    for side in ("baseline", "candidate"):
        owners = list(data["owner_share"][side])
        assert owners and not [o for o in owners if o.split(":", 1)[1][:3] in ("005", "00G")], owners
        assert "queue:Inbound Nurture" in owners
