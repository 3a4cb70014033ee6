"""The README's first hour, as a new user walks it, as subprocesses: scaffold a rules repository,
make a demo org, validate (with a typo, then fixed), test, explain, preview as HTML, sync, look
at the run, see what undoing it would do, undo it. The assertions are on what a person reads:
located problems, owners by name, the run id and the command that undoes it."""
from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

from tests.integration.test_preview import LOOSER_MQL, NOW, revsync

RAW_OWNER_ID = re.compile(r"\b00[5G][A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?\b")  # a User or Queue Id
OWNER_LABEL_ID = re.compile(r"\b(?:user|queue):00[5G]")  # an owner label holding an Id, not a name


def owners(db: Path) -> dict[str, tuple]:
    with sqlite3.connect(db) as conn:
        return {r[0]: r[1:] for r in conn.execute("SELECT Id, OwnerId, Revsync_Stage__c FROM Lead ORDER BY Id")}


def test_the_first_hour(tmp_path: Path) -> None:
    made = revsync(tmp_path, "init", "acme-rules")
    assert made.returncode == 0 and "revsync rules validate" in made.stdout, made.stderr
    ws = tmp_path / "acme-rules"
    # The org `init` points at (revsync.toml's default): no --org needed from here on.
    demo = revsync(ws, "org", "demo", "revsync-demo.db", "--size", "600", "--seed", "3")
    assert demo.returncode == 0 and "600 Lead" in demo.stdout, demo.stderr

    lead = ws / "rules" / "lead.yaml"
    good = lead.read_text()
    lead.write_text(good.replace("when: {employees: {gte: 1000}}", "when: {employes: {gte: 1000}}", 1))
    typo = revsync(ws, "rules", "validate")
    located = [line for line in typo.stderr.splitlines() if "employes" in line]
    assert typo.returncode == 2 and located, typo.stdout + typo.stderr
    assert re.match(r"rules/lead\.yaml:\d+:\d+: E\d+ unknown field 'employes' \(did you mean 'employees'\?\)",
                    located[0]), located
    lead.write_text(good)
    fixed = revsync(ws, "rules", "validate")
    assert fixed.returncode == 0 and "ok: 2 rule file(s)" in fixed.stdout, fixed.stderr

    tested = revsync(ws, "rules", "test")
    assert tested.returncode == 0 and re.search(r"\b\d+ passed, 0 failed", tested.stdout), tested.stdout

    with sqlite3.connect(ws / "revsync-demo.db") as conn:
        some_lead = conn.execute("SELECT Id FROM Lead WHERE IsConverted = 0 ORDER BY Id").fetchone()[0]
    story = revsync(ws, "explain", "--org", "local:revsync-demo.db", some_lead, "--now", NOW)
    assert story.returncode == 0 and "decision: " in story.stdout, story.stderr
    decision = story.stdout.split("decision: ", 1)[1]
    assert "owner=" in decision and not RAW_OWNER_ID.search(decision), decision  # owners by name

    # A rule change, previewed against the rules as they were before it.
    shutil.copytree(ws / "rules", ws / "baseline")
    lead.write_text(good.replace(*LOOSER_MQL))
    html = revsync(ws, "preview", "--baseline", "baseline", "--org", "local:revsync-demo.db", "--now", NOW,
                   "--format", "html", "--output", "preview.html")
    assert html.returncode == 0, html.stderr
    assert "<html" in (ws / "preview.html").read_text(encoding="utf-8").lower()

    before = owners(ws / "revsync-demo.db")
    synced = revsync(ws, "sync", "--now", NOW)
    assert synced.returncode == 0, synced.stderr
    summary = synced.stdout.strip().splitlines()
    # Short, owners by name, ending with the run id and the command that undoes it.
    assert len(summary) <= 8 and summary[0].startswith("Lead: read 600"), synced.stdout
    assert summary[-1].startswith("run 1:") and "`revsync revert 1`" in summary[-1], synced.stdout
    assert "owners: " in synced.stdout and "queue " in synced.stdout and not RAW_OWNER_ID.search(synced.stdout)
    assert synced.stderr == ""  # no log lines at the default (warning) level, and no progress bar off a terminal
    after = owners(ws / "revsync-demo.db")
    # Once synced, the lead keeps the owner it was given (routing is sticky): named, not an Id.
    kept = revsync(ws, "explain", "--org", "local:revsync-demo.db", some_lead, "--now", NOW).stdout
    assert "kept owner " in kept and not OWNER_LABEL_ID.search(kept), kept

    shown = revsync(ws, "runs", "show", "1")
    assert shown.returncode == 0, shown.stderr
    assert "owner moves" in shown.stdout and "stage flows" in shown.stdout, shown.stdout
    assert "@acme.example" in shown.stdout and not RAW_OWNER_ID.search(shown.stdout), shown.stdout
    assert len(shown.stdout.splitlines()) < 60 and "`revsync revert 1`" in shown.stdout

    dry = revsync(ws, "revert", "1", "--dry-run")
    assert dry.returncode == 0 and "would restore" in dry.stdout and "nothing was written" in dry.stdout, dry.stderr
    assert owners(ws / "revsync-demo.db") == after  # a dry run writes nothing

    undone = revsync(ws, "revert", "1", "--yes")
    assert undone.returncode == 0 and "restored" in undone.stdout, undone.stderr
    assert owners(ws / "revsync-demo.db") == before
    listed = revsync(ws, "runs").stdout.splitlines()
    assert "reverts run 1" in listed[0] and len(listed) == 2
