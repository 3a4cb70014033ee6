"""What the command line does with people's mistakes and interruptions: exit codes a scheduler
can act on, no tracebacks, and nothing changed by a command that was refused."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from connector.workspace.schedule import parse_every
from tests.integration.test_sync import NOW, ROOT, outputs, revsync, summary, sync, workspace  # noqa: F401


def test_a_broken_or_misspelt_settings_file_is_exit_2(workspace):
    (workspace / "revsync.toml").write_text('[revsync]\nrules = [broken\n')
    proc = sync(workspace)
    assert proc.returncode == 2 and "not valid TOML" in proc.stderr and "Traceback" not in proc.stderr
    (workspace / "revsync.toml").write_text('[revsync]\nobjekt = "Lead"\n')
    proc = revsync(workspace, "rules", "validate")
    assert proc.returncode == 2 and "'objekt' (did you mean 'object'?)" in proc.stderr


@pytest.mark.parametrize("args", [("--now", "yesterday"), ("--now", "2026-13-01"), ("--org", "foo:bar"),
                                  ("--max-change-share", "5"), ("--every", "soon")])
def test_command_line_mistakes_exit_2_before_anything_is_touched(workspace, args):
    before = outputs(workspace / "org.db")
    extra = ["--org", "local:org.db"] if args[0] != "--org" else []
    proc = revsync(workspace, "sync", *extra, *args)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and args[1] in proc.stderr
    assert outputs(workspace / "org.db") == before and not (workspace / ".revsync").exists()


def test_every_takes_seconds_minutes_and_hours():
    assert [parse_every(t) for t in ("30s", "15m", "1h")] == [30.0, 900.0, 3600.0]


def test_a_run_is_reverted_once_and_a_run_that_wrote_nothing_not_at_all(workspace):
    assert sync(workspace).returncode == 0
    assert sync(workspace).returncode == 0  # run 2 writes nothing
    synced = outputs(workspace / "org.db")
    # Over 100 records and no terminal to ask on: refused until --yes says so, nothing written.
    unasked = revsync(workspace, "revert", "--org", "local:org.db", "1")
    assert unasked.returncode == 2 and "pass --yes" in unasked.stderr.lower(), unasked.stderr
    assert outputs(workspace / "org.db") == synced
    assert revsync(workspace, "revert", "--org", "local:org.db", "1", "--yes").returncode == 0
    after_revert = outputs(workspace / "org.db")
    again = revsync(workspace, "revert", "--org", "local:org.db", "1")
    assert again.returncode == 2 and "already reverted by run 3" in again.stderr
    nothing = revsync(workspace, "revert", "--org", "local:org.db", "2")
    assert nothing.returncode == 2 and "wrote nothing" in nothing.stderr
    missing = revsync(workspace, "revert", "--org", "local:org.db", "99")
    assert missing.returncode == 2 and "no run 99" in missing.stderr
    assert outputs(workspace / "org.db") == after_revert
    assert len(revsync(workspace, "runs", "--org", "local:org.db").stdout.splitlines()) == 3
    assert revsync(workspace, "runs", "--org", "local:org.db", "show", "99").returncode == 2


def test_runs_show_narrows_to_a_record_and_a_field(workspace):
    assert sync(workspace).returncode == 0
    every = revsync(workspace, "runs", "show", "1", "--org", "local:org.db", "--records").stdout.splitlines()
    assert every[0].split() == ["RECORD", "FIELD", "OLD", "NEW", "STATUS", "RULE"]
    changes = [line for line in every if line.startswith("00Q")]
    record = changes[0].split()[0]
    mine = [line for line in changes if line.startswith(record)]
    shown = revsync(workspace, "runs", "show", "1", "--org", "local:org.db", "--record", record[:15]).stdout
    assert [line for line in shown.splitlines() if line.startswith("00Q")] == mine
    owners = revsync(workspace, "runs", "show", "1", "--org", "local:org.db", "--field", "ownerid").stdout
    lines = [line for line in owners.splitlines() if line.startswith("00Q")]
    assert lines and all(line.split()[1] == "OwnerId" for line in lines)
    # Owners by name, with the rule that routed each record.
    assert all("@acme.example" in line or "queue " in line for line in lines)
    assert all(" route/" in line for line in lines) and "005" not in "".join(line[19:] for line in lines)
    data = json.loads(revsync(workspace, "runs", "show", "1", "--org", "local:org.db", "--field", "OwnerId",
                              "--format", "json").stdout)
    assert len(data["changes"]) == len(lines) and sum(m["count"] for m in data["owners"]) == len(lines)
    assert all(m["to_name"] != m["to"] for m in data["owners"])


def test_a_run_killed_between_pages_is_listed_as_interrupted(workspace):
    crashed = sync(workspace, env={"REVSYNC_KILL_AT": "after-page:1"})
    assert crashed.returncode == -9
    assert " running " in revsync(workspace, "runs", "--org", "local:org.db").stdout
    assert sync(workspace).returncode == 0
    listed = revsync(workspace, "runs", "--org", "local:org.db").stdout.splitlines()
    assert " ok " in listed[0] and " interrupted " in listed[1]


def test_ctrl_c_stops_sync_every_with_130(workspace):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = workspace / "every.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "sync", "--org", "local:org.db", "--every", "1h",
                                 "--now", NOW], cwd=workspace, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 120
        while "next run in 1h" not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)
    text = log.read_text()
    assert code == 130 and "stopped: interrupted" in text and "Traceback" not in text


def test_two_runs_on_one_embedded_org_never_overlap_whatever_the_directory(workspace, tmp_path):
    from filelock import FileLock
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    org = (workspace / "org.db").resolve()
    with FileLock(str(org) + ".revsync.lock"):  # as a sync started from the workspace holds it
        proc = revsync(elsewhere, "sync", "--org", f"local:{org}", "--rules", str(workspace / "rules"),
                       "--now", NOW)
        assert proc.returncode == 4 and "org.db.revsync.lock" in proc.stderr
        reverting = revsync(workspace, "revert", "--org", "local:org.db", "1")
    assert reverting.returncode == 2 and "no runs recorded" in reverting.stderr  # and no state file made
    assert not (workspace / ".revsync").exists()
    assert revsync(elsewhere, "runs", "--org", f"local:{org}").returncode == 0
    assert not list(elsewhere.glob(".revsync/*.state.db"))  # the refused run made no state


def test_validate_and_test_are_also_top_level_commands(workspace):
    assert revsync(workspace, "validate").stdout == revsync(workspace, "rules", "validate").stdout
    tested = revsync(workspace, "test")
    assert tested.returncode == 0 and tested.stdout == revsync(workspace, "rules", "test").stdout
    assert " passed, 0 failed" in tested.stdout


def test_a_dry_run_refuses_what_the_real_run_would_refuse(workspace):
    rules = workspace / "rules" / "lead.yaml"
    rules.write_text(rules.read_text().replace("alice@acme.example", "ghost@acme.example", 1))
    for extra in (["--dry-run"], []):
        proc = sync(workspace, *extra)
        assert proc.returncode == 2 and "D008" in proc.stderr and "ghost@acme.example" in proc.stderr
    assert revsync(workspace, "doctor", "--org", "local:org.db").returncode == 2


@pytest.mark.parametrize("text", ['[revsynk]\norg = "local:org.db"\n', '[revsync]\npage_size = 0\n',
                                  '[revsync]\npage_size = "abc"\n', '[revsync]\nmax_change_share = 20\n'])
def test_settings_out_of_range_or_in_the_wrong_table_are_exit_2(workspace, text):
    (workspace / "revsync.toml").write_text(text)
    proc = sync(workspace)
    assert proc.returncode == 2 and "revsync.toml" in proc.stderr and "Traceback" not in proc.stderr


def test_sync_every_reads_the_rules_again_before_each_run(workspace):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = workspace / "every.log"
    rules = workspace / "rules" / "lead.yaml"
    original = rules.read_text()

    def wait_for(text: str, count: int = 1) -> None:
        deadline = time.monotonic() + 120
        while log.read_text().count(text) < count and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert log.read_text().count(text) >= count, log.read_text()[-2000:]

    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "sync", "-v", "--org", "local:org.db", "--every", "2s",
                                 "--now", NOW, "--accept-changes"], cwd=workspace, env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
        try:
            wait_for("next run in 2s")
            rules.write_text(original.replace("segment: Acquire", "segment: [broken"))  # an edit in progress
            wait_for("rules_invalid")
            rules.write_text(original.replace("when: {score: {gte: 60}, grade: [A, B]}", "when: {score: {gte: 0}}"))
            wait_for("rules_reloaded")
            before = log.read_text().count('"event": "run_done"')
            wait_for('"event": "run_done"', before + 1)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=30)
    after = log.read_text().split("rules_reloaded", 1)[1]
    runs = [json.loads(line) for line in after.splitlines() if '"event": "run_done"' in line]
    assert runs[0]["written"] > 0  # the edited rules moved stages, in the same process
