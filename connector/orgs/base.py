"""The small protocol every CRM backend meets, and the errors a run sorts by what to do next."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping, Protocol

from rules.model import RevsyncError


class BackendError(RevsyncError):
    """The org could not be reached or refused us: retry later or fix credentials (exit 3)."""

    exit_code = 3
    retryable = True


class AuthError(BackendError):
    """Credentials were refused: running again with the same ones will not help."""

    retryable = False


class CertificateError(BackendError):
    """The org's TLS certificate could not be verified: the same trust store will refuse it
    again, so nothing retries it (exit 3, the message says how to trust it)."""

    retryable = False


class BudgetExhausted(RevsyncError):
    """The org's API budget fell below the configured floor: the run paused between pages (the
    pages written so far are checkpointed) and the next run carries on (exit 6). Not a
    BackendError: the org answered, and a scheduler should not page anyone for it."""

    exit_code = 6
    retryable = True

    def __init__(self, message: str):
        self.detail = message
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

    def open_counts(self, object: str, owner_ids: list[str], unless: str | None = None) -> dict[str, int]:
        """How many records each of these users owns (by their Id's first 15 characters), leaving
        out those whose boolean field `unless` is true: one aggregate read, for routing caps."""
        ...

    def write(self, patches: list[Patch]) -> list[WriteResult]: ...

    def now(self) -> datetime:
        """The org's clock, for watermarks."""
        ...


class MetadataCache(Protocol):
    """Somewhere to keep what a backend would otherwise re-read every run (object describes),
    e.g. the sync's state. Values are JSON-able; `get` answers the value with the moment `put`
    stored it (timezone-aware), and the backend decides when that is too old. The backend
    clears an entry by putting None."""

    def get(self, key: str) -> tuple[Any, datetime] | None: ...

    def put(self, key: str, value: Any) -> None: ...


class MemoryCache:
    """A MetadataCache in memory, for tests (and one process sharing it between backends)."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.clock = clock
        self.entries: dict[str, tuple[Any, datetime]] = {}

    def get(self, key: str) -> tuple[Any, datetime] | None:
        return self.entries.get(key)

    def put(self, key: str, value: Any) -> None:
        self.entries[key] = (value, self.clock())


class ApiBackend(Backend, Protocol):
    """What a backend over an API adds to the protocol. The embedded org (LocalOrg) has none of
    it: read these with getattr(backend, name, None) and treat None as "not known"."""

    @property
    def org_id(self) -> str | None:
        """The 18-character Id of the org logged in to, so state kept for one org is never
        applied to another (a sandbox refreshed from production keeps the records' Ids but not
        the org's). None when there is no org (LocalOrg) or the org would not say."""
        ...

    @property
    def server_time(self) -> datetime | None:
        """The org's clock (UTC) as of the latest response, from its HTTP Date header (whole
        seconds): a watermark taken from it does not depend on this machine's clock or on the
        newest record read. None before the first response."""
        ...

    # Where describes are kept between runs; None: described afresh every run.
    metadata_cache: MetadataCache | None
    # API calls made (retries included, logins not), in all and by kind: describe, query,
    # queryMore, write, bulk, identity, other.
    calls: int
    calls_by_kind: Mapping[str, int]
