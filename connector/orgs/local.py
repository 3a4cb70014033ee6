"""The embedded org: a SQLite file shaped like a Salesforce org.

One table per object (Lead, Opportunity, Account, User, Group), columns named as the CRM
fields, 18-character ids with Salesforce's key prefixes, and CreatedDate, LastModifiedDate
and SystemModstamp maintained on every write as Salesforce does. It meets the same Backend
protocol as the Salesforce connector, so every sync behaviour is tested against something
real before it runs against an org.
"""
from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from connector.orgs.base import BackendError, FieldInfo, Patch, WriteResult
from connector.dbfile import check
from connector.orgs.local_schema import OBJECTS, PREFIX, READ_ONLY, REVSYNC_FIELDS, described, sf_id

SQL_TYPE = {"boolean": "INTEGER", "int": "INTEGER", "double": "REAL", "currency": "REAL",
            "percent": "REAL"}


def check_file(path: Path) -> None:
    """Refuse (exit 2, file untouched) an org file that is empty, damaged, read-only or not an
    embedded org: opening it would make it one (WAL mode, revsync's tables and columns)."""
    def ours(tables: set[str], version: int) -> str | None:
        return None if tables & set(OBJECTS) else f"it has none of the tables {', '.join(OBJECTS)}"
    check(path, "an embedded org", ours,
          fix="name the org's file with --org local:PATH; revsync left this one as it is",
          empty_fix=f"Delete it, then create an org with `revsync org demo {path}` or "
                    f"`revsync org import {path} FILE --object Lead`")


def format_stamp(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="milliseconds")[:23] + "+0000"


class LocalOrg:
    name = "local"
    # A write's stamp is taken inside its transaction, under SQLite's write lock: no record
    # can become visible later with an older stamp, so incremental reads need no overlap.
    late_commits = timedelta(0)

    def __init__(self, path: Path, create: bool = False):
        self.path = Path(path)
        if not create and not self.path.exists():
            raise BackendError(f"no embedded org at {self.path}: create one with "
                               f"`revsync org demo {self.path}`")
        check_file(self.path)
        self.db = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        # WAL with SQLite's default synchronous=FULL: a write is on disk when it returns, as a
        # write Salesforce acknowledged is, before the state marks its page done.
        self.db.execute("PRAGMA journal_mode=WAL")
        self._lock = threading.Lock()
        self._last_stamp: datetime | None = None
        # Where stamps come from: the wall clock, unless a test's fake org moves its own clock
        # (a scheduler's runs minutes apart, played in seconds).
        self.clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
        if create:
            self._create_schema()
        else:
            self._add_revsync_fields()
        self.faults: dict[str, tuple[str, str, bool]] = {}  # id -> (code, message, transient), for tests
        self._describe: dict[str, dict[str, FieldInfo]] = {}
        self._bool_cols: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}
        self._field_rules: dict[tuple[str, tuple[str, ...]], list[tuple[str, int | None, tuple | None]]] = {}

    def close(self) -> None:
        self.db.close()

    def _create_schema(self) -> None:
        for obj, fields in OBJECTS.items():
            cols = ", ".join(f'"{name}" {SQL_TYPE.get(info.type, "TEXT")}'
                             + (" PRIMARY KEY" if name == "Id" else "")
                             for name, info in fields.items())
            self.db.execute(f'CREATE TABLE IF NOT EXISTS "{obj}" ({cols})')
            if "SystemModstamp" in fields:
                self.db.execute(f'CREATE INDEX IF NOT EXISTS "{obj}_modstamp" ON "{obj}" (SystemModstamp, Id)')
        self.db.execute("CREATE TABLE IF NOT EXISTS _sequence (prefix TEXT PRIMARY KEY, n INTEGER)")

    def _add_revsync_fields(self) -> None:
        """An org made by an earlier revsync gets the custom fields this one writes, as an
        admin deploys a new version's fields; anything else missing stays missing (doctor says)."""
        for obj, fields in OBJECTS.items():
            have = {row[1] for row in self.db.execute(f'PRAGMA table_info("{obj}")')}
            if not have:
                continue
            for name in REVSYNC_FIELDS:
                if name in fields and name not in have:
                    try:
                        self.db.execute(f'ALTER TABLE "{obj}" ADD COLUMN "{name}" '
                                        f'{SQL_TYPE.get(fields[name].type, "TEXT")}')
                    except sqlite3.OperationalError:
                        return  # read-only: reads still work, and writes say why they cannot

    # -- the org's clock ---------------------------------------------------------------------
    def now(self) -> datetime:
        """Strictly increasing at millisecond resolution, so every write has its own stamp."""
        return self._reserve(1)

    def _reserve(self, n: int) -> datetime:
        """The first of `n` consecutive millisecond stamps no write has had, all reserved."""
        with self._lock:
            if self._last_stamp is None:
                self._sync_clock()
            now = self.clock()
            now = now.replace(microsecond=now.microsecond // 1000 * 1000)
            if self._last_stamp is not None and now <= self._last_stamp:
                now = self._last_stamp + timedelta(milliseconds=1)
            self._last_stamp = now + timedelta(milliseconds=n - 1)
            return now

    def _sync_clock(self) -> None:
        """Never stamp before a stamp already in the org, whoever wrote it: a bulk insert runs
        ahead of the wall clock by a millisecond a record, and another process may have
        written since. Called at the start of every write transaction."""
        latest = max((self.db.execute(f'SELECT max(SystemModstamp) FROM "{obj}"').fetchone()[0] or ""
                      for obj, fields in OBJECTS.items() if "SystemModstamp" in fields), default="")
        if latest:
            stamp = datetime.fromisoformat(latest.replace("+0000", "+00:00"))
            if self._last_stamp is None or stamp > self._last_stamp:
                self._last_stamp = stamp

    def _unused_id(self, object: str) -> str:
        """A new Id no record holds: imports may have brought Ids the sequence has not reached."""
        while True:
            rid = self.new_id(object)
            if self.db.execute(f'SELECT 1 FROM "{object}" WHERE Id = ?', (rid,)).fetchone() is None:
                return rid

    def new_id(self, object: str) -> str:
        prefix = PREFIX[object]
        row = self.db.execute("INSERT INTO _sequence VALUES (?, 1) ON CONFLICT(prefix) DO UPDATE "
                              "SET n = n + 1 RETURNING n", (prefix,)).fetchone()
        return sf_id(prefix, row[0])

    # -- describe and reads -------------------------------------------------------------------
    def describe(self, object: str) -> dict[str, FieldInfo]:
        """The object's fields as the file has them: every column of its table (see `described`)."""
        found = self._describe.get(object)
        if found is None:
            rows = self.db.execute(f'PRAGMA table_info("{object}")') if object in OBJECTS else []
            found = self._describe[object] = described(object, [(r[1], r[2]) for r in rows], str(self.path))
        return found

    def _columns(self, object: str, fields: Iterable[str]) -> list[str]:
        known = self.describe(object)
        return [f for f in dict.fromkeys(["Id", *fields]) if f in known]

    def _row(self, object: str, cols: list[str], row: tuple) -> dict:
        out = dict(zip(cols, row))
        out["attributes"] = {"type": object}
        for col in self._booleans(object, cols):
            if out[col] is not None:
                out[col] = bool(out[col])
        return out

    def _booleans(self, object: str, cols: list[str]) -> tuple[str, ...]:
        """The boolean columns among `cols` (SQLite keeps them as 0 and 1)."""
        key = (object, tuple(cols))
        found = self._bool_cols.get(key)
        if found is None:
            info = self.describe(object)
            found = self._bool_cols[key] = tuple(c for c in cols if info[c].type == "boolean")
        return found

    def changed_since(self, object: str, fields: list[str], since: datetime | str | None,
                      page_size: int = 200) -> Iterator[list[dict]]:
        cols = self._columns(object, [*fields, "SystemModstamp"])
        select = ", ".join(f'"{c}"' for c in cols)
        stamp = format_stamp(since) if isinstance(since, datetime) else since
        # The records as they stand when the read starts, as a Salesforce query cursor gives
        # them: what is written while the pages are read (the sync's own writes, a person's
        # edit) has a newer stamp and is for the next read.
        upper = self.db.execute(f'SELECT max(SystemModstamp) FROM "{object}"').fetchone()[0]
        self.last_read_until = upper  # the read's upper bound: where the next one starts
        if upper is None:
            return
        last: tuple[str, str] | None = None
        while True:
            # Keyset pagination: stable under concurrent writes, and no OFFSET scans.
            if last is None:
                where, args = ("SystemModstamp >= ?", [stamp]) if stamp else ("1=1", [])
            else:
                where, args = "(SystemModstamp, Id) > (?, ?)", list(last)
            rows = self.db.execute(f'SELECT {select} FROM "{object}" WHERE {where} AND SystemModstamp <= ? '
                                   f"ORDER BY SystemModstamp, Id LIMIT ?", (*args, upper, page_size)).fetchall()
            if not rows:
                return
            page = [self._row(object, cols, r) for r in rows]
            last = (page[-1]["SystemModstamp"], page[-1]["Id"])
            yield page
            if len(rows) < page_size:
                return

    def read_ids(self, object: str, fields: list[str], ids: list[str]) -> list[dict]:
        cols = self._columns(object, fields)
        select = ", ".join(f'"{c}"' for c in cols)
        out = []
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            out += [self._row(object, cols, r) for r in self.db.execute(
                f'SELECT {select} FROM "{object}" WHERE Id IN ({marks}) ORDER BY Id', chunk)]
        return out

    def read_all(self, object: str, fields: list[str]) -> Iterator[dict]:
        cols = self._columns(object, fields)
        select = ", ".join(f'"{c}"' for c in cols)
        for row in self.db.execute(f'SELECT {select} FROM "{object}" ORDER BY Id'):
            yield self._row(object, cols, row)

    def owned_ids(self, object: str, owner_ids: list[str], unless: str | None = None) -> list[str]:
        known = self.describe(object)
        skip = f' AND coalesce("{unless}", 0) = 0' if unless in known else ""
        out: list[str] = []
        for start in range(0, len(owner_ids), 500):
            chunk = owner_ids[start:start + 500]
            out += [r[0] for r in self.db.execute(
                f'SELECT Id FROM "{object}" WHERE OwnerId IN ({",".join("?" * len(chunk))}){skip} ORDER BY Id', chunk)]
        return out

    def open_counts(self, object: str, owner_ids: list[str], unless: str | None = None) -> dict[str, int]:
        known = self.describe(object)
        skip = f' AND coalesce("{unless}", 0) = 0' if unless in known else ""
        out: dict[str, int] = {}
        for start in range(0, len(owner_ids), 500):
            chunk = owner_ids[start:start + 500]
            for owner, n in self.db.execute(f'SELECT OwnerId, count(*) FROM "{object}" WHERE OwnerId IN '
                                            f'({",".join("?" * len(chunk))}){skip} GROUP BY OwnerId', chunk):
                out[owner[:15]] = out.get(owner[:15], 0) + n
        return out

    def count(self, object: str) -> int:
        return self.db.execute(f'SELECT count(*) FROM "{object}"').fetchone()[0]

    # -- writes --------------------------------------------------------------------------------
    def insert(self, object: str, records: list[dict], stamp: datetime | None = None) -> list[str]:
        """Create records (ids assigned when missing). CreatedDate is kept if given, so demo
        data can have a history; the modification stamps are the org's clock."""
        info = self.describe(object)
        ids = []
        with self._lock_tx():
            self._sync_clock()
            for rec in records:
                row = {k: v for k, v in rec.items() if k in info}
                if not row.get("Id"):  # missing or blank: the org gives one
                    row["Id"] = self._unused_id(object)
                now = format_stamp(stamp or self.now())
                if "CreatedDate" in info:
                    row.setdefault("CreatedDate", now)
                for f in ("LastModifiedDate", "SystemModstamp"):
                    if f in info:
                        row[f] = now if stamp is None else row.get(f, now)
                cols = list(row)
                self.db.execute(f'INSERT INTO "{object}" ({", ".join(chr(34) + c + chr(34) for c in cols)}) '
                                f'VALUES ({",".join("?" * len(cols))})', [_sql(row[c]) for c in cols])
                ids.append(row["Id"])
        return ids

    def write(self, patches: list[Patch]) -> list[WriteResult]:
        """One result per patch, in order. Updates with the same fields go to SQLite together;
        each record still gets its own SystemModstamp, as in Salesforce."""
        results = []
        owners: dict[str, bool] = {}
        with self._lock_tx():
            self._sync_clock()
            existing = self._existing(patches)
            stamps = _stamps(self._reserve(len(patches)), len(patches)) if patches else iter(())
            batches: dict[tuple[str, tuple[str, ...]], list[list]] = {}
            queued: set[tuple[str, str]] = set()
            for patch in patches:
                result = self._check(patch, owners, existing)
                results.append(result)
                if result is not _OK:
                    continue
                if (patch.object, patch.id) in queued:  # the same record twice: keep the order
                    self._flush(batches)
                    queued.clear()
                queued.add((patch.object, patch.id))
                now = next(stamps)
                batches.setdefault((patch.object, tuple(patch.values)), []).append(
                    [*map(_sql, patch.values.values()), now, now, patch.id])
            self._flush(batches)
        return [WriteResult(p.id, True) if r is _OK else r for p, r in zip(patches, results)]

    def _existing(self, patches: list[Patch]) -> set[tuple[str, str]]:
        by_object: dict[str, list[str]] = {}
        for patch in patches:
            by_object.setdefault(patch.object, []).append(patch.id)
        return {(obj, i) for obj, ids in by_object.items() if obj in OBJECTS for i in self.existing_ids(obj, ids)}

    def existing_ids(self, object: str, ids: list[str]) -> set[str]:
        """Which of these Ids the org holds."""
        found: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            found.update(r[0] for r in self.db.execute(
                f'SELECT Id FROM "{object}" WHERE Id IN ({",".join("?" * len(chunk))})', chunk))
        return found

    def _flush(self, batches: dict[tuple[str, tuple[str, ...]], list[list]]) -> None:
        for (obj, cols), rows in batches.items():
            assigns = ", ".join(f'"{k}" = ?' for k in (*cols, "LastModifiedDate", "SystemModstamp"))
            self.db.executemany(f'UPDATE "{obj}" SET {assigns} WHERE Id = ?', rows)
        batches.clear()

    def _check(self, patch: Patch, owners: dict[str, bool], existing: set[tuple[str, str]]) -> WriteResult:
        """The error Salesforce would give this patch, or `_OK`."""
        if patch.id in self.faults:
            code, message, transient = self.faults[patch.id]
            return WriteResult(patch.id, False, code, message, transient)
        key = (patch.object, tuple(patch.values))
        rules = self._field_rules.get(key)
        if rules is None:
            rules = self._field_rules[key] = self._rules_for(patch.object, key[1])
        values = patch.values
        for field_name, length, failure in rules:  # field by field, as Salesforce reports the first
            if failure is not None:
                return WriteResult(patch.id, False, *failure)
            value = values[field_name]
            if length and isinstance(value, str) and len(value) > length:
                return WriteResult(patch.id, False, "STRING_TOO_LONG",
                                   f"{field_name}: data value too large (max length={length})")
        owner = values.get("OwnerId")
        if owner is not None:
            if owner not in owners:
                owners[owner] = self._owner_exists(owner)
            if not owners[owner]:
                return WriteResult(patch.id, False, "FIELD_INTEGRITY_EXCEPTION",
                                   f"owner id value of incorrect type: {owner}")
        if (patch.object, patch.id) not in existing:
            return WriteResult(patch.id, False, "ENTITY_IS_DELETED", "entity is deleted")
        return _OK

    def _rules_for(self, object: str, fields: tuple[str, ...]) -> list[tuple[str, int | None, tuple | None]]:
        """What a patch writing `fields` is checked against, field by field: the (code, message)
        every such patch fails with there, or the field's length limit. Worked out once per
        field set."""
        info = self.describe(object)
        rules: list[tuple[str, int | None, tuple | None]] = []
        for field_name in fields:
            meta = info.get(field_name)
            if meta is None:
                rules.append((field_name, None, ("INVALID_FIELD", f"No such column '{field_name}' on entity '{object}'")))
            elif not meta.updateable or field_name in READ_ONLY:
                rules.append((field_name, None, ("INVALID_FIELD_FOR_INSERT_UPDATE",
                                                 f"Unable to create/update fields: {field_name}")))
            else:
                rules.append((field_name, meta.length, None))
        return rules

    def _owner_exists(self, owner: str) -> bool:
        table = "Group" if owner.startswith("00G") else "User"
        return self.db.execute(f'SELECT 1 FROM "{table}" WHERE Id = ?', (owner,)).fetchone() is not None

    def _lock_tx(self):
        return _Tx(self.db)


class _Tx:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_OK = WriteResult("", True)  # a patch that passed its checks (its own result is made after)


def _stamps(first: datetime, n: int) -> Iterator[str]:
    """`n` stamps a millisecond apart from `first`, formatted as `format_stamp` does; the
    date and time are formatted once per second, not once per stamp."""
    ms = (first - _EPOCH) // timedelta(milliseconds=1)
    second, prefix = None, ""
    for t in range(ms, ms + n):
        if t // 1000 != second:
            second = t // 1000
            prefix = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        yield f"{prefix}{t % 1000:03d}+0000"


def _sql(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, datetime):
        return format_stamp(value)
    return value
