"""revsync's own SQLite files, the sync state and the embedded org, looked at before they are
opened: a file that is empty, damaged, read-only or someone else's is refused (exit 2) with what
to do, and left byte for byte as it was. Opening one for writing would not be: SQLite turns an
empty file into a new database, and revsync would set WAL mode on a stranger's file and add its
own tables to it."""
from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Callable

from rules.model import Locked, RevsyncError

MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file
# SQLite's result codes for a file that is damaged or unusable rather than a query that is wrong.
FILE_ERRORS = ("SQLITE_CORRUPT", "SQLITE_NOTADB", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_FULL",
               "SQLITE_IOERR", "SQLITE_PERM")


class UnusableFile(RevsyncError):
    """A state or embedded-org file revsync will not use as it is (exit 2); it is left untouched."""


def is_file_error(exc: BaseException) -> bool:
    """An sqlite3 error about the file itself (damaged, read-only, disk full), found after it was
    opened: a page can be damaged where the checks at opening did not look."""
    # Extended codes keep the primary name as a prefix: SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE.
    return isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorname", None) or "").startswith(FILE_ERRORS)


def known_failure(exc: BaseException) -> RevsyncError | None:
    """An error that is not revsync's own, as one when it is about a file: the state or
    embedded-org file held by another process (exit 4), damaged, read-only or on a full disk
    (exit 2), or a path that cannot be opened (exit 2). None for anything else: a bug."""
    name = getattr(exc, "sqlite_errorname", None) or ""
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):  # another process kept it past the timeout
        return Locked(f"{exc}: another process is writing the state or embedded-org file; "
                      "this command stopped there. Run it again when that one is done")
    if is_file_error(exc):  # damaged where the checks at opening did not look, or a full disk
        return RevsyncError(f"{exc} ({name}): the state or embedded-org file is damaged or read-only, or its "
                            "disk is full; revsync stopped there. Check the disk and the file, or restore the "
                            "file from a backup")
    if isinstance(exc, OSError) and exc.filename is not None:
        return RevsyncError(f"{exc.filename}: {exc.strerror}")
    return None


def check(path: Path, what: str, ours: Callable[[set[str], int], str | None], *, fix: str,
          empty_fix: str, writable: bool = True) -> None:
    """Refuse `path` unless it is a SQLite file `ours` accepts (it returns why not, or None);
    with `writable`, unless revsync may also write it and create files beside it (WAL, lock).
    A path that does not exist is left to the caller. Reads only; never changes the file."""
    if not path.exists():
        return
    if path.is_dir():
        raise UnusableFile(f"{path} is a directory, not {what}: {fix}")
    try:
        with path.open("rb") as fh:
            head = fh.read(len(MAGIC))
    except OSError as exc:
        raise UnusableFile(f"{path} cannot be read ({exc.strerror}): make it readable by this user") from None
    if not head:
        raise UnusableFile(f"{path} is empty (0 bytes), so it is not {what}; a process may have died while "
                           f"creating it. {empty_fix}. revsync left it as it is.")
    if head != MAGIC:
        raise UnusableFile(f"{path} is not {what} (not a SQLite file at all): {fix}")
    if writable and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        which = "it is" if not os.access(path, os.W_OK) else f"its directory {path.parent} is"
        raise UnusableFile(f"{path} cannot be written ({which} read-only): revsync writes to it and keeps "
                           f"SQLite's -wal and -shm files beside it. Make it writable for this user "
                           f"(chmod u+w), or run revsync as a user who may write it. revsync left it as it is.")
    # Read only: mode=ro never changes the file. Without a -wal file beside it there is nothing
    # uncheckpointed to read, and immutable=1 keeps SQLite from leaving -wal and -shm files
    # beside a stranger's file; with one (a run was killed), its content must be read too.
    wal = Path(f"{path}-wal").exists()
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro{'' if wal else '&immutable=1'}", uri=True)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise UnusableFile(f"{path} is damaged ({exc}): restore it from a backup. revsync left it as it is.") from None
    why = ours(tables, version)
    if why:
        raise UnusableFile(f"{path} is not {what} ({why}): {fix}")
