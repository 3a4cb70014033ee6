"""One error model, seen from the command line (docs/operations.md, exit codes). A state or
embedded-org file that is empty, damaged, read-only or not revsync's is refused by every command
that opens it with exit 2 and a sentence saying what to do, and left byte for byte as it was with
nothing created beside it (issue 11: `runs`, `revert` and `doctor` crashed on them, and a 0-byte
state silently started over). The API budget floor pauses a run with exit 6."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from connector.demo.org import create_demo_org
from connector.workspace.scaffold import scaffold
from tests.fake_salesforce_server import FakeSalesforceServer

ROOT = Path(__file__).resolve().parents[2]
NOW = "2026-11-24T15:00:00Z"


def revsync(cwd: Path, *args: str, prefix: tuple[str, ...] = (), env: dict | None = None):
    return subprocess.run([*prefix, sys.executable, "-m", "cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Path:
    """A workspace with an embedded org and the state of one sync (run 1)."""
    base = tmp_path_factory.mktemp("synced")
    scaffold(base)
    create_demo_org(base / "org.db", leads=60, seed=3)
    proc = revsync(base, "sync", "--org", "local:org.db", "--state", "state.db", "--now", NOW)
    assert proc.returncode == 0, proc.stderr
    for name in ("org.db", "state.db"):  # everything in the files themselves, no -wal beside them
        db = sqlite3.connect(base / name)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
    return base


@pytest.fixture()
def ws(synced, tmp_path) -> Path:
    shutil.copytree(synced, tmp_path / "ws")
    return tmp_path / "ws"


def _foreign(path: Path) -> None:
    path.unlink()
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE notes (body TEXT)")
    db.execute("INSERT INTO notes VALUES ('not revsync''s')")
    db.commit()
    db.close()


def _damaged(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[100:160] = b"\xff" * 60  # the first page's b-tree header, after the 100-byte file header
    path.write_bytes(bytes(data))


SPOIL = {"empty": lambda p: p.write_bytes(b""),
         "text": lambda p: p.write_text("milk, eggs, a new CRM\n"),
         "foreign": _foreign,
         "damaged": _damaged,
         "read-only": lambda p: p.chmod(0o444)}
SAYS = {"empty": ["is empty (0 bytes)", "Delete it"],  # and each says "revsync left it as it is"
        "text": ["not a SQLite file at all"],
        "foreign": ["is not"],
        "damaged": ["is damaged", "restore it from a backup"],
        "read-only": ["cannot be written", "chmod u+w"]}
STATE_COMMANDS = {"runs": ("runs", "--state", "state.db"),
                  "runs show": ("runs", "show", "1", "--state", "state.db"),
                  "revert": ("revert", "--org", "local:org.db", "--state", "state.db", "1"),
                  "sync": ("sync", "--org", "local:org.db", "--state", "state.db", "--now", NOW)}
ORG_COMMANDS = {"doctor": ("doctor", "--org", "local:org.db"),
                "sync": ("sync", "--org", "local:org.db", "--state", "state.db", "--now", NOW),
                "revert": ("revert", "--org", "local:org.db", "--state", "state.db", "1")}


def as_user_without_root() -> tuple[str, ...]:
    """Root writes read-only files anyway: run as an ordinary user in a user namespace where the
    test's files are that user's, or skip."""
    if os.geteuid() != 0:
        return ()
    prefix = ("unshare", "--user", "--map-user=1000", "--map-group=1000")
    if not shutil.which("unshare") or subprocess.run([*prefix, "true"], capture_output=True).returncode:
        pytest.skip("running as root without user namespaces: a read-only file is writable")
    return prefix


def snapshot(ws: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in ws.iterdir() if p.is_file()}


def assert_refused(proc, path_name: str, kind: str, before: dict, ws: Path) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and path_name in proc.stderr
    for words in [*SAYS[kind], "revsync left"]:
        assert words in proc.stderr, proc.stderr
    assert snapshot(ws) == before  # the file unchanged, no lock, -wal or -shm beside it
    assert not (ws / ".revsync").exists()


@pytest.mark.parametrize("kind", list(SPOIL))
@pytest.mark.parametrize("command", list(STATE_COMMANDS))
def test_an_unusable_state_file_is_exit_2_and_left_as_it_was(ws, kind, command):
    prefix = as_user_without_root() if kind == "read-only" else ()
    SPOIL[kind](ws / "state.db")
    before = snapshot(ws)
    proc = revsync(ws, *STATE_COMMANDS[command], prefix=prefix)
    assert_refused(proc, "state.db", kind, before, ws)
    if kind == "foreign":
        assert "is not a revsync state file (it holds tables revsync does not write: notes)" in proc.stderr


@pytest.mark.parametrize("kind", list(SPOIL))
@pytest.mark.parametrize("command", list(ORG_COMMANDS))
def test_an_unusable_embedded_org_file_is_exit_2_and_left_as_it_was(ws, kind, command):
    prefix = as_user_without_root() if kind == "read-only" else ()
    SPOIL[kind](ws / "org.db")
    before = snapshot(ws)
    proc = revsync(ws, *ORG_COMMANDS[command], prefix=prefix)
    assert_refused(proc, "org.db", kind, before, ws)
    if kind == "foreign":
        assert "is not an embedded org (it has none of the tables Lead" in proc.stderr


def test_a_dry_run_reads_a_read_only_state(ws):
    # It writes nothing, so a state it may only read is enough.
    prefix = as_user_without_root()
    SPOIL["read-only"](ws / "state.db")
    before = (ws / "state.db").read_bytes()
    proc = revsync(ws, "sync", "--dry-run", "--org", "local:org.db", "--state", "state.db", "--now", NOW,
                   prefix=prefix)
    assert proc.returncode == 0, proc.stderr
    assert (ws / "state.db").read_bytes() == before


def test_a_missing_state_is_still_a_new_one(ws):
    proc = revsync(ws, "sync", "--org", "local:org.db", "--state", "new.db", "--now", NOW)
    assert proc.returncode == 0, proc.stderr
    assert revsync(ws, "runs", "--state", "new.db").stdout.count("Lead") == 1


def test_the_api_budget_floor_pauses_the_run_with_exit_6_and_the_next_run_carries_on(tmp_path):
    scaffold(tmp_path)
    with (tmp_path / "revsync.toml").open("a") as fh:
        fh.write("lag_seconds = 0\napi_floor = 1000\n")
    create_demo_org(tmp_path / "org.db", leads=300, seed=2)
    srv = FakeSalesforceServer(tmp_path / "org.db", tmp_path)
    try:
        srv.fake.faults.daily_left = 600  # below the floor: the run pauses before its first write
        paused = revsync(tmp_path, "sync", "--org", "salesforce", "--now", NOW, env=srv.env())
        assert paused.returncode == 6, paused.stderr
        assert "paused:" in paused.stderr and "below the floor of 1000" in paused.stderr
        assert "next run carries on" in paused.stderr and "Traceback" not in paused.stderr
        srv.fake.faults.daily_left = None  # a new day
        resumed = revsync(tmp_path, "sync", "--org", "salesforce", "--now", NOW, env=srv.env())
        assert resumed.returncode == 0, resumed.stderr
        assert "wrote 0" not in resumed.stdout
    finally:
        srv.stop()
