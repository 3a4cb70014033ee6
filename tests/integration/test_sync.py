"""The sync job end to end against the embedded org, run as the scheduler runs it: the CLI in a
subprocess, a real SQLite org and a real state file."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from connector.orgs.base import Patch
from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.workspace.scaffold import scaffold

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-24T15:00:00Z"
OUTPUT_FIELDS = ["OwnerId", "Revsync_Score__c", "Revsync_Grade__c", "Revsync_Stage__c", "Revsync_Segment__c",
                 "Revsync_Routed_At__c", "Revsync_SLA_Due__c", "Revsync_SLA_Status__c", "Revsync_Reason__c"]


def revsync(cwd: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    # With REVSYNC_KILL_AT, the CLI runs under the kill harness (tests/killpoints.py).
    module = "tests.killpoints" if "REVSYNC_KILL_AT" in (env or {}) else "cli"
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture()
def workspace(tmp_path: Path) -> Path:
    scaffold(tmp_path)
    create_demo_org(tmp_path / "org.db", leads=700, seed=7)
    return tmp_path


def sync(ws: Path, *extra: str, env: dict | None = None, org: str = "org.db") -> subprocess.CompletedProcess:
    # -v: the run_done event `summary` reads is logged at info level
    return revsync(ws, "sync", "-v", "--org", f"local:{org}", "--now", NOW, *extra, env=env)


def summary(proc: subprocess.CompletedProcess) -> dict:
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    done = [e for e in events if e.get("event") == "run_done"]
    assert done, proc.stdout + proc.stderr
    return done[-1]


def outputs(path: Path) -> dict[str, tuple]:
    db = sqlite3.connect(path)
    cols = ", ".join(f'"{c}"' for c in OUTPUT_FIELDS)
    return {row[0]: row[1:] for row in db.execute(f'SELECT Id, {cols} FROM Lead ORDER BY Id')}


def test_first_sync_decides_and_second_sync_writes_nothing(workspace):
    first = sync(workspace)
    assert first.returncode == 0, first.stderr
    s1 = summary(first)
    assert s1["written"] > 500 and s1["failed"] == 0
    assert "Lead: read" in first.stdout
    second = sync(workspace)
    assert second.returncode == 0
    s2 = summary(second)
    assert s2["written"] == 0 and s2["changed"] == 0 and s2["evaluated"] > 0
    runs = revsync(workspace, "runs", "--org", "local:org.db")
    assert runs.stdout.count("Lead") == 2


def test_dry_run_writes_nothing_anywhere(workspace):
    before = outputs(workspace / "org.db")
    proc = sync(workspace, "--dry-run")
    assert proc.returncode == 0 and "would write" in proc.stdout
    assert outputs(workspace / "org.db") == before
    assert not (workspace / ".revsync").exists()  # no state file, no lock file
    assert revsync(workspace, "runs", "--org", "local:org.db").stdout.strip() == ""


@pytest.mark.parametrize("fault", ["before-journal:2", "after-journal:2", "mid-write:2", "after-write:2",
                                   "after-page:1"])
def test_killed_run_resumes_to_the_uninterrupted_state(tmp_path, fault):
    """Killed at each point of the page protocol, then run again: the same owners, stages,
    scores and deadlines as a run nobody killed, nothing lost and nothing written twice."""
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    for ws in (straight, killed):
        ws.mkdir()
        scaffold(ws)
        create_demo_org(ws / "org.db", leads=700, seed=7)
    assert sync(straight).returncode == 0
    crashed = sync(killed, env={"REVSYNC_KILL_AT": fault})
    assert crashed.returncode == -9  # SIGKILL
    resumed = sync(killed)
    assert resumed.returncode == 0, resumed.stderr
    assert outputs(killed / "org.db") == outputs(straight / "org.db")
    # Nothing was written twice: every (record, field) appears once among written changes.
    from collections import Counter

    from connector.sync.journal import State
    state = State(next((killed / ".revsync").glob("*.state.db")))
    written = Counter((c.record_id, c.field) for run in state.runs() for c in state.changes(run.run_id)
                      if c.status == "written")
    assert written and max(written.values()) == 1
    assert summary(sync(killed))["written"] == 0


def test_a_persons_owner_change_is_kept(workspace):
    assert sync(workspace).returncode == 0
    org = LocalOrg(workspace / "org.db")
    lead = next(r for r in org.read_all("Lead", ["OwnerId", "Revsync_Routed_At__c", "IsConverted"])
                if r["Revsync_Routed_At__c"] and not r["IsConverted"])
    person = next(u["Id"] for u in org.read_all("User", ["IsActive", "Username"])
                  if u["IsActive"] and u["Id"] != lead["OwnerId"] and u["Username"].startswith("erin"))
    assert org.write([Patch("Lead", lead["Id"], {"OwnerId": person})])[0].ok
    org.close()
    proc = sync(workspace)
    assert proc.returncode == 0
    assert outputs(workspace / "org.db")[lead["Id"]][0] == person
    # Only revsync's memory changes (and the reason with it: "owner: kept"): it no longer holds
    # the owner it gave, so no handoff ever takes the lead from the person, who joins its owners.
    assert summary(proc)["written"] == 1
    assert summary(proc)["fields"] == {"Revsync_Lifecycle__c": 1, "Revsync_Reason__c": 1}
    memory = json.loads(LocalOrg(workspace / "org.db").read_ids("Lead", ["Revsync_Lifecycle__c"], [lead["Id"]])[0]
                        ["Revsync_Lifecycle__c"])
    assert "owner" not in memory and memory["owners"][-1] == person
    assert summary(sync(workspace))["written"] == 0


def test_revert_restores_old_values_and_leaves_peoples_edits(workspace):
    before = outputs(workspace / "org.db")
    assert sync(workspace).returncode == 0
    after = outputs(workspace / "org.db")
    changed = [rid for rid in after if after[rid] != before[rid]]
    edited = changed[0]
    org = LocalOrg(workspace / "org.db")
    assert org.write([Patch("Lead", edited, {"Revsync_Stage__c": "Hand picked"})])[0].ok
    org.close()
    proc = revsync(workspace, "revert", "--org", "local:org.db", "1", "--yes")
    assert proc.returncode == 0, proc.stderr
    assert "left alone" in proc.stdout and edited in proc.stdout
    reverted = outputs(workspace / "org.db")
    for rid in changed[1:]:
        assert reverted[rid] == before[rid]
    stage = OUTPUT_FIELDS.index("Revsync_Stage__c")
    assert reverted[edited][stage] == "Hand picked"
    assert reverted[edited][0] == before[edited][0]  # its other fields were restored
    runs = revsync(workspace, "runs", "--org", "local:org.db").stdout
    assert "reverts run 1" in runs
    show = revsync(workspace, "runs", "--org", "local:org.db", "show", "1").stdout
    assert "Revsync_Stage__c" in show and "reverted by run 2" in show
    records = revsync(workspace, "runs", "--org", "local:org.db", "show", "1", "--records", "--format", "json").stdout
    assert "lead.yaml:" not in records and any(c["rule"] for c in json.loads(records)["changes"])
    # Options may also come after the run number, as people type them.
    assert revsync(workspace, "runs", "show", "1", "--org", "local:org.db").stdout == show


def test_bad_rows_are_skipped_and_reported(workspace):
    db = sqlite3.connect(workspace / "org.db")
    ids = [r[0] for r in db.execute("SELECT Id FROM Lead WHERE IsConverted = 0 ORDER BY Id LIMIT 3")]
    db.execute("UPDATE Lead SET NumberOfEmployees = 'lots' WHERE Id = ?", (ids[0],))
    db.execute("UPDATE Lead SET LastActivityDate = '31/12/2025' WHERE Id = ?", (ids[1],))
    db.execute("UPDATE Lead SET OwnerId = '005ZZZZZZZZZZZZZZZ' WHERE Id = ?", (ids[2],))
    db.commit()
    db.close()
    proc = sync(workspace)
    assert proc.returncode == 1, proc.stderr  # partial success
    s = summary(proc)
    assert s["skipped"] == 3 and s["written"] > 500
    for rid in ids:
        assert f"skipped {rid}" in proc.stdout
    assert "lots" in proc.stdout and "unknown owner id 005ZZZZZZZZZZZZZZZ" in proc.stdout


def test_a_second_run_waits_for_the_lock(workspace):
    from filelock import FileLock
    state = workspace / ".revsync" / "org_db.state.db"
    state.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(state) + ".lock"):
        proc = sync(workspace)
    assert proc.returncode == 4 and "holds" in proc.stderr


def test_guard_stops_a_rule_change_that_moves_too_much(workspace):
    assert sync(workspace).returncode == 0
    rules = workspace / "rules" / "lead.yaml"
    rules.write_text(rules.read_text().replace("when: {score: {gte: 60}, grade: [A, B]}",
                                               "when: {score: {gte: 0}}"))
    proc = sync(workspace)
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "--accept-changes" in proc.stderr and "preview" in proc.stderr
    runs = revsync(workspace, "runs", "--org", "local:org.db").stdout.splitlines()
    assert "guarded" in runs[0] and "stopped: would move" in runs[0]  # listed, newest first
    dry_run = sync(workspace, "--dry-run")
    dry = summary(dry_run)
    assert dry["would_write"] > 0 and dry["written"] == 0  # nothing was written by the guard
    assert "the change guard would stop the real run" in dry_run.stdout and dry["guard_would_stop"]
    accepted = sync(workspace, "--accept-changes")
    assert accepted.returncode == 0 and summary(accepted)["written"] > 0


def test_a_changed_decision_rewrites_the_reason_and_an_unchanged_one_keeps_it(workspace):
    assert sync(workspace).returncode == 0
    before = outputs(workspace / "org.db")
    rules = workspace / "rules" / "lead.yaml"
    rules.write_text(rules.read_text().replace("when: {title: {contains: director}}\n      points: 12",
                                               "when: {title: {contains: director}}\n      points: 13"))
    proc = sync(workspace, "--accept-changes")
    assert proc.returncode == 0, proc.stderr
    after = outputs(workspace / "org.db")
    score, reason = OUTPUT_FIELDS.index("Revsync_Score__c"), OUTPUT_FIELDS.index("Revsync_Reason__c")
    rescored = [i for i in after if after[i][score] != before[i][score]]
    assert rescored and summary(proc)["written"] == len(rescored)
    for i in rescored:  # the reason cites the new score, not the one it replaced
        assert f"score {after[i][score]:g}:" in after[i][reason] and after[i][reason] != before[i][reason]
    assert all(after[i][reason] == before[i][reason] for i in after if i not in rescored)


def test_config_problems_exit_2_before_touching_anything(workspace):
    (workspace / "rules" / "lead.yaml").write_text("object: Lead\nsegment:\n  - {name: a, when: {titel: x}, segment: a}\n")
    before = outputs(workspace / "org.db")
    proc = sync(workspace)
    assert proc.returncode == 2 and "E110" in proc.stderr
    assert outputs(workspace / "org.db") == before


def test_missing_org_is_exit_3(workspace):
    proc = sync(workspace, org="nope.db")
    assert proc.returncode == 3 and "revsync org demo" in proc.stderr


def test_org_import_and_export_round_trip(tmp_path):
    export = ROOT / "examples" / "leads.csv"
    proc = revsync(tmp_path, "org", "import", "org.db", str(export), "--object", "Lead")
    assert proc.returncode == 1  # two rows in the sample are deliberately bad
    assert "imported 58 Lead records" in proc.stdout
    assert "leads.csv:11: skipped: NumberOfEmployees: 'lots' is not a number" in proc.stdout
    out = revsync(tmp_path, "org", "export", "org.db", "--object", "Lead", "--output", "out.csv")
    assert out.returncode == 0 and "exported 58" in out.stderr
    import csv
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    source = {r["Id"]: r for r in csv.DictReader(export.open())}
    assert len(rows) == 58
    for row in rows:
        assert row["Email"] == source[row["Id"]]["Email"]
        assert row["IsConverted"] in ("true", "false")
        assert row["SystemModstamp"].endswith("+0000")


def test_failed_writes_are_kept_and_retried(workspace):
    from datetime import datetime, timedelta

    from connector.sync.journal import State
    from connector.sync.run import SyncOptions, SyncRun
    from connector.workspace.workspace import load_workspace
    ws = load_workspace(workspace / "rules", workspace / "mappings", "Lead")
    org = LocalOrg(workspace / "org.db")
    state = State(workspace / "state.db")
    victims = [r["Id"] for r in org.read_all("Lead", ["IsConverted"]) if not r["IsConverted"]][:3]
    org.faults = {victims[0]: ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access", True),
                  victims[1]: ("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Status must be set", False)}
    now = datetime.fromisoformat("2026-11-24T15:00:00+00:00")
    first = SyncRun(org, ws, state, SyncOptions(now=now)).run()
    assert first.failed == 2 and first.status == "partial"
    assert [e["record_id"] for e in state.retry_entries("Lead")] == sorted(victims[:2])
    assert {e["code"] for e in state.retry_entries("Lead")} == {"UNABLE_TO_LOCK_ROW", "FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    # Long after the overlap window: only the retry queue brings the failed records back.
    org.faults = {}
    state.db.execute("UPDATE watermark SET modstamp = '2999-01-01T00:00:00.000+0000'")
    second = SyncRun(org, ws, state, SyncOptions(now=now + timedelta(minutes=1))).run()
    assert second.written == 2 and second.failed == 0
    assert state.retry_entries("Lead") == []
    assert all(r["Revsync_Stage__c"] for r in org.read_ids("Lead", ["Revsync_Stage__c"], victims[:2]))


def test_every_keeps_running_after_a_failed_run(workspace):
    """`sync --every` survives a run that fails and starts the next one on time."""
    import signal
    import time
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = workspace / "every.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "sync", "--org", "local:missing.db", "--every", "1m",
                                 "--now", NOW], cwd=workspace, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 120
        while "next run in 1m" not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        alive = proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    text = log.read_text()
    assert alive, text  # still running after a failed run
    assert "next run in 1m" in text and "revsync org demo" in text
