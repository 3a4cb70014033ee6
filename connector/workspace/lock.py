"""One writer per org: the lock a sync or a revert holds while it writes the org and its state."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from filelock import FileLock, Timeout

from connector.orgs.spec import OrgSpec
from rules.model import Locked


def lock_paths(spec: OrgSpec, state: Path) -> list[Path]:
    """The state's lock and, for an embedded org, one beside its file: two runs on one org never
    overlap, whichever directory or spelling of the path they were started with."""
    paths = [Path(f"{state}.lock")]
    if spec.path is not None and spec.path.exists():
        org = spec.path.resolve()
        paths.append(org.with_name(org.name + ".revsync.lock"))
    return paths


@contextmanager
def org_lock(spec: OrgSpec, state: Path) -> Iterator[None]:
    """Held while a command writes the org or its state; Locked (exit 4) when another run holds it.
    The caller checks the state file first: the lock file sits beside it, and a file that is not
    ours must be refused before anything is created next to it."""
    spec.check_file()
    state.parent.mkdir(parents=True, exist_ok=True)
    taken: list[FileLock] = []
    try:
        for path in lock_paths(spec, state):
            lock = FileLock(str(path))
            try:
                lock.acquire(timeout=0)
            except Timeout:
                raise Locked(f"another revsync run holds {path}; this run did nothing") from None
            taken.append(lock)
        yield
    finally:
        for lock in reversed(taken):
            lock.release()
