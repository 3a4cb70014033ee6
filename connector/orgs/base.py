"""The small protocol every CRM backend meets, and the errors a run sorts by what to do next."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator, Protocol

from rules.model import RevsyncError


class BackendError(RevsyncError):
    """The org could not be reached or refused us: retry later or fix credentials (exit 3)."""

    exit_code = 3
    retryable = True


class AuthError(BackendError):
    """Credentials were refused: running again with the same ones will not help."""

    retryable = False


class BudgetExhausted(RevsyncError):
    """The org's API budget fell below the configured floor: the run paused between pages (the
    pages written so far are checkpointed) and the next run carries on (exit 6). Not a
    BackendError: the org answered, and a scheduler should not page anyone for it."""

    exit_code = 6
    retryable = True

    def __init__(self, message: str):
        super().__init__(f"paused: {message}; the pages written so far are kept and the next run "
                         "carries on from there")


@dataclass(frozen=True)
class FieldInfo:
    name: str
    type: str  # the CRM's type name: id, string, picklist, double, int, currency, percent, boolean, date, datetime, ...
    updateable: bool = True
    length: int | None = None
    picklist: tuple[str, ...] = ()
    label: str = ""


@dataclass(frozen=True)
class Patch:
    """Field values to write to one record, with what they were when read."""

    object: str
    id: str
    values: dict[str, Any]
    old: dict[str, Any] = field(default_factory=dict)
    reason: str = ""


@dataclass(frozen=True)
class WriteResult:
    id: str
    ok: bool
    code: str = ""
    message: str = ""
    transient: bool = False  # worth retrying as is (e.g. UNABLE_TO_LOCK_ROW)


class Backend(Protocol):
    name: str
    # How far before the last stamp read an incremental read starts: records committed late
    # with an earlier stamp are still read.
    late_commits: timedelta

    def describe(self, object: str) -> dict[str, FieldInfo]: ...

    def changed_since(self, object: str, fields: list[str], since: datetime | None,
                      page_size: int = 200) -> Iterator[list[dict]]:
        """Records modified at or after `since` (all when None), ordered by SystemModstamp, Id,
        in pages, as they stand when the read starts: records modified while the pages are
        read are left to the next read (a Salesforce query cursor behaves so)."""
        ...

    def read_ids(self, object: str, fields: list[str], ids: list[str]) -> list[dict]: ...

    def read_all(self, object: str, fields: list[str]) -> Iterator[dict]: ...

    def owned_ids(self, object: str, owner_ids: list[str], unless: str | None = None) -> list[str]:
        """Ids of the records these users own, leaving out those whose boolean field `unless`
        is true (converted leads, closed opportunities)."""
        ...

    def write(self, patches: list[Patch]) -> list[WriteResult]: ...

    def now(self) -> datetime:
        """The org's clock, for watermarks."""
        ...
