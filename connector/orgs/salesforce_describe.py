"""Object describes for the Salesforce backend, kept between runs when it is given a cache.

Every run needs the describe of each object it reads (Lead, Account, User, Group): one call
each, every run, for metadata that changes a few times a year. With a MetadataCache (the
sync's state) they are read once a day, and sooner when the org refutes one: a query or write
answered INVALID_FIELD or INVALID_TYPE means a field or object went away since, so that
describe is cleared and read again (once per run); a refuted query is built again from it.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import structlog

from connector.orgs.base import BackendError, FieldInfo, MetadataCache

log = structlog.get_logger()

MAX_AGE = timedelta(days=1)
STALE_CODES = {"INVALID_FIELD", "INVALID_TYPE"}


def encode(fields: dict[str, FieldInfo]) -> list[dict[str, Any]]:
    return [{"name": f.name, "type": f.type, "updateable": f.updateable, "length": f.length,
             "picklist": list(f.picklist), "label": f.label} for f in fields.values()]


def decode(value: Any) -> dict[str, FieldInfo] | None:
    """Fields from a cached value; None for anything else (another version's shape, damage)."""
    try:
        fields = {f["name"]: FieldInfo(f["name"], f["type"], bool(f["updateable"]), f.get("length"),
                                       tuple(f.get("picklist") or ()), f.get("label") or "") for f in value}
    except (KeyError, TypeError, AttributeError):
        return None
    return fields or None


def fresh(fetched_at: Any, now: datetime) -> bool:
    if isinstance(fetched_at, str):
        try:
            fetched_at = datetime.fromisoformat(fetched_at)
        except ValueError:
            return False
    if not isinstance(fetched_at, datetime):
        return False
    if fetched_at.tzinfo is None:
        fetched_at = fetched_at.replace(tzinfo=timezone.utc)
    return abs(now - fetched_at) <= MAX_AGE  # a stamp from a clock ahead of ours counts as fresh too


class Describes:
    """The describe part of SalesforceOrg (a mixin: it calls the backend's `request`)."""

    api_version: str
    instance_url: str | None
    _user_id: str | None

    def _init_describes(self, cache: MetadataCache | None) -> None:
        self._describe: dict[str, dict[str, FieldInfo]] = {}
        self._from_cache: set[str] = set()  # objects whose describe this run took from the cache
        self._refreshed: set[str] = set()  # objects described again after the org refuted the cache
        self.metadata_cache = cache

    @property
    def metadata_cache(self) -> MetadataCache | None:
        return self._metadata_cache

    @metadata_cache.setter
    def metadata_cache(self, cache: MetadataCache | None) -> None:
        # A cache given after describes were read (a first run creates its state after the
        # preflight has described the org) keeps them too: the next run describes nothing.
        self._metadata_cache = cache
        if cache is None:
            return
        for object, fields in self._describe.items():
            if object not in self._from_cache:
                cache.put(self._describe_key(object), encode(fields))

    def describe(self, object: str) -> dict[str, FieldInfo]:
        if object not in self._describe:
            self._describe[object] = self._cached_describe(object) or self._fetch_describe(object)
        return self._describe[object]

    def _describe_key(self, object: str) -> str:
        # Per org and per user: what a describe says is updateable depends on the user's
        # field-level security, and a sandbox has the same host names as production had.
        org = getattr(self, "org_id", None) or self.instance_url
        return f"salesforce/{org}/{self._user_id or '-'}/v{self.api_version}/describe/{object}"

    def _cached_describe(self, object: str) -> dict[str, FieldInfo] | None:
        if self.metadata_cache is None or object in self._refreshed:
            return None
        hit = self.metadata_cache.get(self._describe_key(object))
        if not hit or not fresh(hit[1], datetime.now(timezone.utc)):
            return None
        fields = decode(hit[0])
        if fields:
            self._from_cache.add(object)
        return fields

    def _fetch_describe(self, object: str) -> dict[str, FieldInfo]:
        path = f"/services/data/v{self.api_version}/sobjects/{object}/describe"
        data = self.request("GET", path, expect=dict)  # type: ignore[attr-defined]
        try:
            fields = {f["name"]: FieldInfo(f["name"], f["type"], bool(f.get("updateable")), f.get("length") or None,
                                           tuple(p["value"] for p in f.get("picklistValues") or []
                                                 if p.get("active", True)),
                                           f.get("label", ""))
                      for f in data["fields"]}
        except (KeyError, TypeError, AttributeError):
            raise BackendError(f"GET {path}: the answer is not shaped like a describe; check the "
                               f"instance URL ({self.instance_url})") from None
        if self.metadata_cache is not None:
            self.metadata_cache.put(self._describe_key(object), encode(fields))
        return fields

    def refute_describe(self, object: str, code: str) -> bool:
        """The org answered `code` to something built from this object's describe. When that
        describe came from the cache and the code says a field or the object is gone, forget it
        (here and in the cache, so the next run does not trust it either): the next `describe`
        asks the org, once a run. True when the caller may build its request again. A describe
        read this run is not doubted, as without a cache. Asks the org nothing itself, so a
        write whose records were saved never fails here."""
        if code not in STALE_CODES or object not in self._from_cache or object in self._refreshed:
            return False
        log.info("salesforce_describe_refuted", object=object, code=code, note="describing it again")
        self._refreshed.add(object)
        self._from_cache.discard(object)
        self._describe.pop(object, None)
        if self.metadata_cache is not None:
            self.metadata_cache.put(self._describe_key(object), None)
        return True
