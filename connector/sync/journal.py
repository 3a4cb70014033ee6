"""Sync state in SQLite: watermarks, round-robin positions, the retry queue, re-check times,
and the run journal (every changed field's old and new value with the rules that decided it).

A page is made durable in two steps. Before writing, its intended changes are journalled as
`pending` together with the round-robin positions and watermark it leads to; after the
writes return, the page is marked `done` in the same transaction that advances the
watermark. A run killed between the two finds the pending page next time and finishes it
from the journal, so an interrupted run ends exactly where an uninterrupted one would.
"""
from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from rules.model import RevsyncError

from connector.orgs.base import Patch
from connector.dbfile import check

# 3: one journal row per record, {field: [old, new]}. 4: a change row stays 'pending' until it
# fails; its page being done says it was written (an older revsync would misread that).
# 5: the users known inactive at the last run, per object.
SCHEMA_VERSION = 5
UPGRADES = {3, 4}  # schemas this version opens and upgrades in place


class StateError(RevsyncError):
    """The state file cannot be used (exit 2: a person has to look)."""


SCHEMA = """
CREATE TABLE IF NOT EXISTS watermark (
    object TEXT PRIMARY KEY, modstamp TEXT, rules_fingerprint TEXT);
CREATE TABLE IF NOT EXISTS rr_position (
    object TEXT, team TEXT, position INTEGER NOT NULL, PRIMARY KEY (object, team));
CREATE TABLE IF NOT EXISTS retry (
    object TEXT, record_id TEXT, attempts INTEGER NOT NULL, code TEXT, message TEXT,
    first_failed_at TEXT, last_failed_at TEXT, PRIMARY KEY (object, record_id));
CREATE TABLE IF NOT EXISTS recheck (
    object TEXT, record_id TEXT, at TEXT NOT NULL, PRIMARY KEY (object, record_id));
CREATE INDEX IF NOT EXISTS recheck_at ON recheck (object, at);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT, object TEXT, org TEXT, started_at TEXT,
    finished_at TEXT, status TEXT, dry_run INTEGER, rules_fingerprint TEXT, counts TEXT,
    reverts INTEGER);
CREATE TABLE IF NOT EXISTS pages (
    run_id INTEGER, page INTEGER, status TEXT, positions TEXT, watermark TEXT,
    PRIMARY KEY (run_id, page));
CREATE TABLE IF NOT EXISTS changes (
    run_id INTEGER, page INTEGER, record_id TEXT, fields TEXT, rules TEXT, status TEXT,
    PRIMARY KEY (run_id, record_id));
CREATE INDEX IF NOT EXISTS changes_page ON changes (run_id, page);
CREATE TABLE IF NOT EXISTS inactive_owner (
    object TEXT, user_id TEXT, PRIMARY KEY (object, user_id));
"""


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


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


def _dump(value: Any) -> str:
    return _ENCODE(value)


# One encoder for the process: json.dumps(..., default=str) builds a new one on every call.
_ENCODE = json.JSONEncoder(default=str).encode


@dataclass(frozen=True)
class Run:
    run_id: int
    object: str
    org: str
    started_at: str
    finished_at: str | None
    status: str
    dry_run: bool
    rules_fingerprint: str
    counts: dict
    reverts: int | None

    def asdict(self) -> dict:
        return {**self.__dict__}


@dataclass(frozen=True)
class Change:
    run_id: int
    page: int
    record_id: str
    field: str
    old: Any
    new: Any
    rules: str
    status: str


class State:
    def __init__(self, path: Path):
        self.path = path
        if str(path) != ":memory:":
            check_file(path, writable=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        # WAL with NORMAL survives the process being killed at any point, which is what the
        # page protocol relies on; only a power loss can cost the last transactions.
        self.db.execute("PRAGMA synchronous=NORMAL")
        if self.db.execute("PRAGMA user_version").fetchone()[0] != SCHEMA_VERSION:
            # A new file or an upgrade, in one transaction: a process killed meanwhile leaves no
            # tables without their schema version (a file the next run would refuse as not ours).
            self.db.executescript(f"BEGIN IMMEDIATE; {SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")

    @classmethod
    def for_reading(cls, path: Path) -> "State":
        """What a dry run reads of the state at `path` (watermarks, round-robin positions, the
        retry queue, re-check times), copied into memory: the file is only read, never changed."""
        state = cls(Path(":memory:"))
        if not path.exists():
            return state
        check_file(path, writable=False)  # read-only is fine here: nothing is written
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for table in ("watermark", "rr_position", "retry", "recheck", "inactive_owner"):
                rows = source.execute(f"SELECT * FROM {table}").fetchall()
                if rows:
                    state.db.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(rows[0]))})", rows)
        finally:
            source.close()
        return state

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- watermarks and rules ----------------------------------------------------------
    def watermark(self, object: str) -> tuple[str | None, str | None]:
        row = self.db.execute("SELECT modstamp, rules_fingerprint FROM watermark WHERE object=?",
                              (object,)).fetchone()
        return (row[0], row[1]) if row else (None, None)

    def set_rules_fingerprint(self, object: str, fingerprint: str) -> None:
        self.db.execute("INSERT INTO watermark(object, rules_fingerprint) VALUES (?, ?) "
                        "ON CONFLICT(object) DO UPDATE SET rules_fingerprint=excluded.rules_fingerprint",
                        (object, fingerprint))

    def reset(self, object: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM watermark WHERE object=?", (object,))

    # -- round robin -------------------------------------------------------------------------
    def positions(self, object: str) -> dict[str, int]:
        return dict(self.db.execute("SELECT team, position FROM rr_position WHERE object=?", (object,)))

    # -- retry queue and re-checks ------------------------------------------------------------
    def retry_ids(self, object: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT record_id FROM retry WHERE object=? ORDER BY record_id", (object,))]

    def retry_entries(self, object: str) -> list[dict]:
        cur = self.db.execute("SELECT record_id, attempts, code, message, first_failed_at, last_failed_at "
                              "FROM retry WHERE object=? ORDER BY record_id", (object,))
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, row)) for row in cur]

    def _rechecks(self, object: str, ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            found.update(self.db.execute(
                f"SELECT record_id, at FROM recheck WHERE object=? AND record_id IN ({','.join('?' * len(chunk))})",
                (object, *chunk)).fetchall())
        return found

    def due_rechecks(self, object: str, now: datetime) -> list[str]:
        stamp = now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return [r[0] for r in self.db.execute(
            "SELECT record_id FROM recheck WHERE object=? AND at<=? ORDER BY record_id", (object, stamp))]

    # -- owners who left --------------------------------------------------------------------
    def inactive_owners(self, object: str) -> set[str] | None:
        """The users inactive at the last completed run (None before any run recorded them)."""
        rows = [r[0] for r in self.db.execute("SELECT user_id FROM inactive_owner WHERE object=?", (object,))]
        return {r for r in rows if r} if rows else None

    def set_inactive_owners(self, object: str, user_ids: set[str]) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM inactive_owner WHERE object=?", (object,))
            # '' marks "recorded" even when nobody is inactive
            db.executemany("INSERT INTO inactive_owner VALUES (?, ?)", [(object, u) for u in ["", *sorted(user_ids)]])

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, object: str, org: str, dry_run: bool, fingerprint: str) -> int:
        cur = self.db.execute(
            "INSERT INTO runs(object, org, started_at, status, dry_run, rules_fingerprint, counts) "
            "VALUES (?, ?, ?, 'running', ?, ?, '{}')", (object, org, _now(), int(dry_run), fingerprint))
        return int(cur.lastrowid)

    def finish_run(self, run_id: int, status: str, counts: dict) -> None:
        self.db.execute("UPDATE runs SET finished_at=?, status=?, counts=? WHERE run_id=?",
                        (_now(), status, _dump(counts), run_id))

    def close_stale_runs(self, object: str) -> int:
        """Runs still marked running although the caller holds the lock: their process died."""
        return self.db.execute("UPDATE runs SET status='interrupted', finished_at=? WHERE object=? "
                               "AND status='running'", (_now(), object)).rowcount

    def reverted_by(self, run_id: int) -> int | None:
        row = self.db.execute("SELECT run_id FROM runs WHERE reverts=? ORDER BY run_id LIMIT 1",
                              (run_id,)).fetchone()
        return row[0] if row else None

    def runs(self, limit: int = 50, object: str | None = None) -> list[Run]:
        sql = "SELECT * FROM runs" + (" WHERE object=?" if object else "") + " ORDER BY run_id DESC LIMIT ?"
        args = (object, limit) if object else (limit,)
        return [self._run(row) for row in self.db.execute(sql, args)]

    def run(self, run_id: int) -> Run | None:
        row = self.db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        return self._run(row) if row else None

    @staticmethod
    def _run(row) -> Run:
        return Run(row[0], row[1], row[2], row[3], row[4], row[5], bool(row[6]), row[7],
                   json.loads(row[8] or "{}"), row[9])

    def changes(self, run_id: int, page: int | None = None) -> list[Change]:
        # A change stays 'pending' in its row until it fails; once its page is done, the rest
        # were written (marking each row would rewrite the whole journal a second time).
        sql = ("SELECT c.run_id, c.page, c.record_id, c.fields, c.rules, CASE WHEN c.status='pending' "
               "AND p.status='done' THEN 'written' ELSE c.status END FROM changes c "
               "LEFT JOIN pages p ON p.run_id=c.run_id AND p.page=c.page WHERE c.run_id=?")
        args: tuple = (run_id,)
        if page is not None:
            sql, args = sql + " AND c.page=?", (run_id, page)
        out = []
        for run, pg, rid, fields, rules, status in self.db.execute(sql + " ORDER BY c.page, c.record_id", args):
            for name, (old, new) in sorted(json.loads(fields).items()):
                out.append(Change(run, pg, rid, name, old, new, rules or "", status))
        return out

    def begin_page(self, run_id: int, page: int, patches: list[Patch],
                   positions: dict[str, int], watermark: str | None) -> None:
        """Journal a page's intended changes (each patch's fields, old and new, and the rules
        that decided them) before writing."""
        rows = [(run_id, page, p.id, _dump({k: [p.old.get(k), v] for k, v in p.values.items()}), p.reason)
                for p in patches]
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, 'pending', ?, ?)",
                       (run_id, page, _dump(positions), watermark))
            db.executemany("INSERT OR REPLACE INTO changes VALUES (?, ?, ?, ?, ?, 'pending')", rows)

    def pending_page(self, object: str) -> tuple[int, int, dict, str | None] | None:
        row = self.db.execute(
            "SELECT p.run_id, p.page, p.positions, p.watermark FROM pages p JOIN runs r USING (run_id) "
            "WHERE p.status='pending' AND r.object=? ORDER BY p.run_id, p.page LIMIT 1", (object,)).fetchone()
        return (row[0], row[1], json.loads(row[2]), row[3]) if row else None

    def page_changes(self, run_id: int, page: int) -> list[Change]:
        return self.changes(run_id, page)

    def finish_page(self, object: str, run_id: int, page: int, written: list[str],
                    failed: dict[str, tuple[str, str]], positions: dict[str, int],
                    watermark: str | None, rechecks: dict[str, str | None]) -> None:
        """After the writes returned: outcomes, retry queue, positions and watermark at once."""
        now = _now()
        with self.transaction() as db:
            db.execute("UPDATE pages SET status='done' WHERE run_id=? AND page=?", (run_id, page))
            # Only failures are marked: the page being done says the rest were written.
            db.executemany("UPDATE changes SET status='failed' WHERE run_id=? AND record_id=?",
                           [(run_id, rid) for rid in failed])
            db.executemany("DELETE FROM retry WHERE object=? AND record_id=?",
                           [(object, rid) for rid in written])
            db.executemany(
                "INSERT INTO retry VALUES (?, ?, 1, ?, ?, ?, ?) ON CONFLICT(object, record_id) DO UPDATE SET "
                "attempts=attempts+1, code=excluded.code, message=excluded.message, last_failed_at=excluded.last_failed_at",
                [(object, rid, code, msg, now, now) for rid, (code, msg) in failed.items()])
            db.executemany("INSERT OR REPLACE INTO rr_position VALUES (?, ?, ?)",
                           [(object, team, pos) for team, pos in positions.items()])
            # Most records keep their re-check time from run to run: only differences are written
            # (a read is far cheaper than replacing a row and its two index entries).
            known = self._rechecks(object, list(rechecks))
            db.executemany("DELETE FROM recheck WHERE object=? AND record_id=?",
                           [(object, rid) for rid, at in rechecks.items() if at is None and rid in known])
            db.executemany("INSERT OR REPLACE INTO recheck VALUES (?, ?, ?)",
                           [(object, rid, at) for rid, at in rechecks.items()
                            if at is not None and known.get(rid) != at])
            if watermark is not None:
                db.execute("INSERT INTO watermark(object, modstamp) VALUES (?, ?) ON CONFLICT(object) "
                           "DO UPDATE SET modstamp=max(coalesce(modstamp, ''), excluded.modstamp)",
                           (object, watermark))

    def mark_reverted(self, run_id: int, by_run: int) -> None:
        self.db.execute("UPDATE runs SET reverts=? WHERE run_id=?", (run_id, by_run))
