"""The state file's schema, its versions and upgrades, and the checks that refuse a file that
is not a usable revsync state before anything is read or written."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from rules.model import RevsyncError

from connector.dbfile import check

# 3: one journal row per record, {field: [old, new]}. 4: a change row stays 'pending' until it
# fails; its page being done says it was written (an older revsync would misread that).
# 5: the users known inactive at the last run, per object. 6: a failed write keeps its patch in
# the retry queue (re-sent as decided); `meta` holds the org the state belongs to; `cache` the
# org's describes. 7: each run's evaluation time, for the records given per member per day.
# 8: `page_plan`, what finishing a journalled page needs besides the write outcomes (its records'
# re-check times, the Ids it settles), so a run can journal every page before writing any
# (connector/sync/spool.py) and a recovered page is finished as planned.
SCHEMA_VERSION = 8
UPGRADES = {3, 4, 5, 6, 7}  # schemas this version opens and upgrades in place


class StateError(RevsyncError):
    """The state file cannot be used (exit 2: a person has to look)."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS watermark (
    object TEXT PRIMARY KEY, modstamp TEXT, rules_fingerprint TEXT);
CREATE TABLE IF NOT EXISTS rr_position (
    object TEXT, team TEXT, position INTEGER NOT NULL, PRIMARY KEY (object, team));
CREATE TABLE IF NOT EXISTS retry (
    object TEXT, record_id TEXT, attempts INTEGER NOT NULL, code TEXT, message TEXT,
    first_failed_at TEXT, last_failed_at TEXT, patch TEXT, PRIMARY KEY (object, record_id));
CREATE TABLE IF NOT EXISTS recheck (
    object TEXT, record_id TEXT, at TEXT NOT NULL, PRIMARY KEY (object, record_id));
CREATE INDEX IF NOT EXISTS recheck_at ON recheck (object, at);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, object TEXT, org TEXT, started_at TEXT,
    finished_at TEXT, status TEXT, dry_run INTEGER, rules_fingerprint TEXT, counts TEXT,
    reverts INTEGER, evaluated_at TEXT);
CREATE TABLE IF NOT EXISTS pages (
    run_id INTEGER, page INTEGER, status TEXT, positions TEXT, watermark TEXT,
    PRIMARY KEY (run_id, page));
CREATE TABLE IF NOT EXISTS changes (
    run_id INTEGER, page INTEGER, record_id TEXT, fields TEXT, rules TEXT, status TEXT,
    PRIMARY KEY (run_id, record_id));
CREATE INDEX IF NOT EXISTS changes_page ON changes (run_id, page);
CREATE TABLE IF NOT EXISTS page_plan (
    run_id INTEGER, page INTEGER, plan TEXT, PRIMARY KEY (run_id, page));
CREATE TABLE IF NOT EXISTS inactive_owner (
    object TEXT, user_id TEXT, PRIMARY KEY (object, user_id));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS cache (key TEXT PRIMARY KEY, value TEXT, fetched_at TEXT);
"""


def upgrade(db: sqlite3.Connection) -> None:
    """Bring an older state up to this schema, in one transaction: a process killed meanwhile
    leaves no tables without their schema version (a file the next run would refuse as ours)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(retry)")}
    alter = "ALTER TABLE retry ADD COLUMN patch TEXT;" if columns and "patch" not in columns else ""
    runs = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
    if runs and "evaluated_at" not in runs:
        alter += "ALTER TABLE runs ADD COLUMN evaluated_at TEXT;"
    db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} {alter} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")


def _check_version(path: Path, version: int) -> None:
    if version != SCHEMA_VERSION and version not in UPGRADES:
        raise StateError(f"{path} was written by another version of revsync (state schema {version}, "
                         f"this version uses {SCHEMA_VERSION}); move it aside and run with --full")


def check_file(path: Path, writable: bool) -> None:
    """Refuse (exit 2, file untouched) a state file that is empty, damaged, read-only (when
    writing) or not revsync's; only a path that does not exist starts a new state."""
    def ours(tables: set[str], version: int) -> str | None:
        if version:
            _check_version(path, version)
            return None
        return f"it holds tables revsync does not write: {', '.join(sorted(tables)[:5])}" if tables \
            else "an empty SQLite database"
    check(path, "a revsync state file", ours, writable=writable,
          fix="pass --state with this org's state file, or move this one aside (the next sync then reads "
              "every record again, and `revsync revert` cannot undo earlier runs). revsync left it as it is.",
          empty_fix="Delete it to start a new state (the next sync reads every record again), or restore "
                    "it from a backup")
