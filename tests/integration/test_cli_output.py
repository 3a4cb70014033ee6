"""What the command line prints for people and for machines: logs only when asked, -v/-q/
--log-format after the command, one share parser, objects spelt as Salesforce spells them,
quiet runs folded, the revert that names a later revsync run, SIGTERM, help that fits a screen."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import click
import pytest
from click.testing import CliRunner

import cli
from tests.integration.test_sync import NOW, ROOT, revsync, workspace  # noqa: F401

ORG = ("--org", "local:org.db")


def sync(ws, *extra: str) -> subprocess.CompletedProcess:
    return revsync(ws, "sync", *ORG, "--now", NOW, *extra)


def test_logs_are_warnings_only_unless_asked_and_the_flags_follow_the_command(workspace):
    plain = sync(workspace, "--dry-run")
    assert plain.returncode == 0 and plain.stderr == "" and "would write" in plain.stdout
    for args in (("-v",), ("-v", "--log-format", "json")):
        proc = revsync(workspace, "sync", *ORG, "--now", NOW, "--dry-run", *args)
        events = [json.loads(line)["event"] for line in proc.stderr.splitlines()]
        assert "run_done" in events, proc.stderr
    before = revsync(workspace, "-v", "--log-format", "text", "sync", *ORG, "--now", NOW, "--dry-run")
    assert "run_done" in before.stderr and not before.stderr.lstrip().startswith("{"), before.stderr
    quiet = sync(workspace, "-q")
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    assert "written" in revsync(workspace, "runs", *ORG).stdout  # it did run


def test_max_change_share_takes_a_percentage_like_preview(workspace):
    assert sync(workspace).returncode == 0
    rules = workspace / "rules" / "lead.yaml"
    rules.write_text(rules.read_text().replace("when: {score: {gte: 60}, grade: [A, B]}",
                                               "when: {score: {gte: 45}, grade: [A, B, C]}"))
    stopped = sync(workspace, "--max-change-share", "1%")
    assert stopped.returncode == 5 and "above the 1% limit" in stopped.stderr, stopped.stdout + stopped.stderr
    assert sync(workspace, "--max-change-share", "90%").returncode == 0


def test_org_objects_are_listed_as_salesforce_spells_them_and_taken_in_any_case(workspace):
    shown = CliRunner().invoke(cli.main, ["org", "export", "--help"]).output
    assert "[Lead|Opportunity|Account|User|Group]" in shown
    exported = revsync(workspace, "org", "export", "org.db", "--object", "lead")
    assert exported.returncode == 0 and exported.stdout.startswith("Id,")


def test_runs_that_change_nothing_are_folded_into_one_line(workspace):
    assert sync(workspace).returncode == 0  # decides everything
    assert sync(workspace).returncode == 0  # reads its own writes back, changes nothing: listed
    third = sync(workspace)
    assert third.returncode == 0 and "counted with quiet run 2" in third.stdout, third.stdout
    assert sync(workspace).returncode == 0
    listed = revsync(workspace, "runs", *ORG).stdout.splitlines()
    assert len(listed) == 2 and listed[0].split()[0] == "2" and "2 quiet run(s) since" in listed[0], listed
    one = revsync(workspace, "runs", *ORG, "--limit", "1")
    assert len(one.stdout.splitlines()) == 1 and "the newest 1 of 2 runs" in one.stderr


def test_revert_names_a_later_revsync_run_rather_than_people(workspace):
    assert sync(workspace).returncode == 0
    rules = workspace / "rules" / "lead.yaml"
    rules.write_text(rules.read_text().replace("when: {score: {gte: 60}, grade: [A, B]}",
                                               "when: {score: {gte: 45}, grade: [A, B, C]}"))
    second = sync(workspace, "--accept-changes")
    assert second.returncode == 0 and "run 2:" in second.stdout, second.stdout + second.stderr
    dry = revsync(workspace, "revert", *ORG, "1", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "changed since by revsync run 2" in dry.stdout and "by people" not in dry.stdout, dry.stdout
    assert "revert run 2 first" in dry.stdout


def test_sigterm_ends_sync_every_cleanly_with_143(workspace):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    log = workspace / "every.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "sync", *ORG, "--every", "1h", "--now", NOW],
                                cwd=workspace, env=env, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 120
        while "next run in 1h" not in log.read_text() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=20)
    text = log.read_text()
    assert code == 143 and "stopped: terminated" in text and "Traceback" not in text, text
    assert sync(workspace).returncode == 0  # the lock went with it


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


@pytest.mark.parametrize("command", [(), *_commands(cli.main)], ids=lambda c: " ".join(c) or "revsync")
def test_every_help_fits_one_screen(command):
    shown = CliRunner().invoke(cli.main, [*command, "--help"], terminal_width=80)
    assert shown.exit_code == 0, shown.output
    assert len(shown.output.splitlines()) <= 40, shown.output


@pytest.mark.parametrize("answer", ["n", "y"])
def test_a_large_revert_asks_first_on_a_terminal(workspace, answer):
    import pty
    assert sync(workspace).returncode == 0
    before = revsync(workspace, "runs", *ORG).stdout
    primary, secondary = pty.openpty()
    try:
        os.write(primary, f"{answer}\n".encode())
        proc = subprocess.run([sys.executable, "-m", "cli", "revert", *ORG, "1"], cwd=workspace, stdin=secondary,
                              capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(primary)
        os.close(secondary)
    assert "Revert run 1: restore up to" in proc.stderr, proc.stderr
    after = revsync(workspace, "runs", *ORG).stdout
    if answer == "n":
        assert proc.returncode == 1 and "cancelled: nothing was written" in proc.stderr and after == before
    else:
        assert proc.returncode == 0 and "restored" in proc.stdout and "reverts run 1" in after


def test_a_terminal_gets_a_progress_bar_and_no_log_lines(workspace):
    import pty
    import threading
    primary, secondary = pty.openpty()
    seen = bytearray()

    def drain() -> None:  # a terminal that is not read stops the writer once its buffer fills
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                return
            if not chunk:
                return
            seen.extend(chunk)
    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        proc = subprocess.run([sys.executable, "-m", "cli", "sync", *ORG, "--now", NOW], cwd=workspace,
                              stderr=secondary, stdout=subprocess.PIPE, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(secondary)
        reader.join(timeout=5)
        os.close(primary)
    terminal = seen.decode("utf-8", "replace")
    assert proc.returncode == 0 and "undo it with `revsync revert 1" in proc.stdout
    assert "syncing Lead" in terminal and "run_done" not in terminal and "page_done" not in terminal, terminal


def test_a_dry_run_names_who_records_would_go_to_as_the_real_run_does(workspace):
    dry = sync(workspace, "--dry-run")
    real = sync(workspace)
    assert dry.returncode == 0 and real.returncode == 0, dry.stderr + real.stderr
    summary = [line for line in real.stdout.splitlines() if line.startswith(("  owners:", "  stages:"))]
    assert len(summary) == 2 and "to queue " in summary[0]
    assert [line for line in dry.stdout.splitlines() if line.startswith(("  owners:", "  stages:"))] == summary
