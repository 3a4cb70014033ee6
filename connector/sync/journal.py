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
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from connector.orgs.base import Backend, Patch
from connector.sync.state_schema import SCHEMA, SCHEMA_VERSION, StateError, check_file, upgrade

__all__ = ["SCHEMA", "SCHEMA_VERSION", "StateError", "check_file", "State", "Run", "Change", "Retry", "commit_page"]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _kept(patch: Patch | None) -> str | None:
    return None if patch is None else _dump({"values": patch.values, "old": patch.old, "reason": patch.reason})


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
class Retry:
    """A write that failed, kept as it was decided: re-sent as it is while the record still holds
    what it held then, so a retry takes no second round-robin turn and keeps the owner it was given."""
    values: dict
    old: dict
    reason: str


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
            upgrade(self.db)  # a new file, or one an older revsync wrote

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
            tables = {r[0] for r in source.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            for table in ("watermark", "rr_position", "retry", "recheck", "inactive_owner", "meta", "cache"):
                if table not in tables:  # a file of an older schema
                    continue
                cur = source.execute(f"SELECT * FROM {table}")
                columns = ", ".join(c[0] for c in cur.description)
                rows = cur.fetchall()
                if rows:  # by column name: an older file may lack the newer columns
                    state.db.executemany(f"INSERT INTO {table} ({columns}) VALUES ({','.join('?' * len(rows[0]))})",
                                         rows)
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

    def set_watermark(self, object: str, stamp: str) -> None:
        """The upper bound of a completed read: what the next read starts from (less the overlap)."""
        self.db.execute("INSERT INTO watermark(object, modstamp) VALUES (?, ?) ON CONFLICT(object) "
                        "DO UPDATE SET modstamp=max(coalesce(modstamp, ''), excluded.modstamp)", (object, stamp))

    # -- the org it belongs to ---------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def claim_org(self, org_id: str, where: str = "") -> bool:
        """Bind this state to one org, or refuse another org's (exit 2): its watermarks would
        skip records the other org never had read. True when the state was new to any org."""
        owner = self.meta("org_id")
        if owner is None:
            self.set_meta("org_id", org_id)
            if where:
                self.set_meta("org_url", where)
            return True
        if owner[:15] != org_id[:15]:
            raise StateError(f"{self.path} belongs to org {owner} ({self.meta('org_url') or 'another instance'}), "
                             f"not to org {org_id}{f' ({where})' if where else ''}: its watermarks and journal are "
                             f"that org's. Pass --state for this org's file, or leave --state out to use "
                             f".revsync/salesforce-{org_id[:15]}.state.db")
        return False

    # -- what a backend would re-read every run (describes) -------------------------------------
    def cache_get(self, key: str) -> tuple[Any, datetime] | None:
        row = self.db.execute("SELECT value, fetched_at FROM cache WHERE key=?", (key,)).fetchone()
        if row is None or row[0] is None:
            return None
        return json.loads(row[0]), datetime.fromisoformat(row[1].replace("Z", "+00:00"))

    def cache_put(self, key: str, value: Any) -> None:
        if value is None:
            self.db.execute("DELETE FROM cache WHERE key=?", (key,))
        else:
            self.db.execute("INSERT OR REPLACE INTO cache VALUES (?, ?, ?)", (key, _dump(value), _now()))

    # -- round robin -------------------------------------------------------------------------
    def positions(self, object: str) -> dict[str, int]:
        return dict(self.db.execute("SELECT team, position FROM rr_position WHERE object=?", (object,)))

    # -- retry queue and re-checks ------------------------------------------------------------
    def retry_ids(self, object: str) -> list[str]:
        return [r[0] for r in self.db.execute(
            "SELECT record_id FROM retry WHERE object=? ORDER BY record_id", (object,))]

    def retry_patches(self, object: str) -> dict[str, Retry]:
        out = {}
        for rid, patch in self.db.execute("SELECT record_id, patch FROM retry WHERE object=? AND patch IS NOT NULL",
                                          (object,)):
            data = json.loads(patch)
            out[rid] = Retry(data["values"], data["old"], data.get("reason", ""))
        return out

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
    def start_run(self, object: str, org: str, dry_run: bool, fingerprint: str, evaluated_at: str | None = None
                  ) -> int:
        cur = self.db.execute(
            "INSERT INTO runs(object, org, started_at, status, dry_run, rules_fingerprint, counts, evaluated_at) "
            "VALUES (?, ?, ?, 'running', ?, ?, '{}', ?)", (object, org, _now(), int(dry_run), fingerprint,
                                                          evaluated_at))
        assert cur.lastrowid is not None  # an INSERT always gives one
        return cur.lastrowid

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

    def runs(self, limit: int | None = 50, object: str | None = None) -> list[Run]:
        sql = "SELECT * FROM runs" + (" WHERE object=?" if object else "") + " ORDER BY run_id DESC LIMIT ?"
        args = (object, -1 if limit is None else limit) if object else (-1 if limit is None else limit,)
        return [self._run(row) for row in self.db.execute(sql, args)]

    def run_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM runs").fetchone()[0]

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
                   positions: dict[str, int], watermark: str | None, plan: str | None = None) -> None:
        """Journal a page's intended changes (each patch's fields, old and new, and the rules that
        decided them) before writing; `plan`: the rest finishing it needs (connector/sync/spool.py)."""
        rows = [(run_id, page, p.id, _dump({k: [p.old.get(k), v] for k, v in p.values.items()}), p.reason)
                for p in patches]
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO pages VALUES (?, ?, 'pending', ?, ?)",
                       (run_id, page, _dump(positions), watermark))
            db.executemany("INSERT OR REPLACE INTO changes VALUES (?, ?, ?, ?, ?, 'pending')", rows)
            if plan is not None:
                db.execute("INSERT OR REPLACE INTO page_plan VALUES (?, ?, ?)", (run_id, page, plan))

    def pending_page(self, object: str) -> tuple[int, int, dict, str | None] | None:
        row = self.db.execute(
            "SELECT p.run_id, p.page, p.positions, p.watermark FROM pages p JOIN runs r USING (run_id) "
            "WHERE p.status='pending' AND r.object=? ORDER BY p.run_id, p.page LIMIT 1", (object,)).fetchone()
        return (row[0], row[1], json.loads(row[2]), row[3]) if row else None

    def page_changes(self, run_id: int, page: int) -> list[Change]:
        return self.changes(run_id, page)

    def finish_page(self, object: str, run_id: int, page: int, written: list[str],
                    failed: dict[str, tuple[str, str]], positions: dict[str, int],
                    watermark: str | None, rechecks: dict[str, str | None],
                    kept: dict[str, Patch] | None = None, queue_failed: bool = True) -> None:
        """After the writes returned: outcomes, retry queue, positions and watermark at once.
        `kept`: the failed patches to re-send as they are (see Retry)."""
        kept = kept or {}
        queued = failed if queue_failed else {}
        now = _now()
        with self.transaction() as db:
            db.execute("UPDATE pages SET status='done' WHERE run_id=? AND page=?", (run_id, page))
            db.execute("DELETE FROM page_plan WHERE run_id=? AND page=?", (run_id, page))
            # Only failures are marked: the page being done says the rest were written.
            db.executemany("UPDATE changes SET status='failed' WHERE run_id=? AND record_id=?",
                           [(run_id, rid) for rid in failed])
            db.executemany("DELETE FROM retry WHERE object=? AND record_id=?",
                           [(object, rid) for rid in written])
            db.executemany(
                "INSERT INTO retry VALUES (?, ?, 1, ?, ?, ?, ?, ?) ON CONFLICT(object, record_id) DO UPDATE SET "
                "attempts=attempts+1, code=excluded.code, message=excluded.message, "
                "last_failed_at=excluded.last_failed_at, patch=excluded.patch",
                [(object, rid, code, msg, now, now, _kept(kept.get(rid))) for rid, (code, msg) in queued.items()])
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
                self.set_watermark(object, watermark)  # inside this transaction: same connection

    def mark_reverted(self, run_id: int, by_run: int) -> None:
        self.db.execute("UPDATE runs SET reverts=? WHERE run_id=?", (run_id, by_run))


def commit_page(state: State, backend: Backend, object: str, run_id: int, page: int, patches: list[Patch],
                positions: dict[str, int], watermark: str | None = None, rechecks: dict[str, str | None] | None = None,
                settled: list[str] | tuple[str, ...] = (), journalled: bool = False, retry: bool = True,
                seconds: dict[str, float] | None = None) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """The one way a page reaches the org: journal it (unless a killed run already did), write,
    then mark it done with its outcomes. Sync, recovery and revert all go through here, so they
    agree on what was written. `settled`: Ids that need no write and count as done (a recovered
    record already holding its new value, a skipped record leaving the retry queue). `retry`:
    whether failed patches are kept for the next sync (a revert's are not: reverting again
    finishes it). Returns the written Ids and the failures by Id."""
    timer = seconds if seconds is not None else {}
    started = time.perf_counter()
    if not journalled:
        state.begin_page(run_id, page, patches, positions, watermark)
    timer["journal"] = timer.get("journal", 0.0) + time.perf_counter() - started
    started = time.perf_counter()
    results = backend.write(patches) if patches else []
    timer["write"] = timer.get("write", 0.0) + time.perf_counter() - started
    started = time.perf_counter()
    written = [r.id for r in results if r.ok]
    failed = {r.id: (r.code, r.message) for r in results if not r.ok}
    kept = {p.id: p for p in patches if p.id in failed} if retry else {}
    state.finish_page(object, run_id, page, written + list(settled), failed, positions, watermark, rechecks or {},
                      kept, queue_failed=retry)
    timer["journal"] += time.perf_counter() - started
    return written, failed


class StateCache:
    """The state as a backend's MetadataCache: describes outlive the process, so a quiet
    scheduled run does not describe the org again."""

    def __init__(self, state: State):
        self.get, self.put = state.cache_get, state.cache_put


def adopt_state(legacy: Path, target: Path, org_id: str, where: str = "") -> None:
    """Move the one Salesforce state older versions kept (whatever the org) to this org's name,
    after checking it is this org's: a state of another org is refused (exit 2), untouched."""
    if target.exists() or not legacy.exists():
        return
    state = State(legacy)
    try:
        state.claim_org(org_id, where)
        state.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        state.close()
    legacy.rename(target)
