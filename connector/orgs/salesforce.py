"""The Salesforce backend: the same protocol as the embedded org, over the REST API.

Every API call goes through our own requests session, because simple-salesforce sets no
timeout, drops custom headers when it re-authenticates, can recurse on an expired session,
and keeps API usage only on its top-level object. Logins: salesforce_auth.py; describes and
their cache: salesforce_describe.py; Bulk API 2.0: salesforce_bulk.py.
"""
from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Iterator

from connector.orgs.base import MetadataCache, Patch, WriteResult
from connector.orgs.salesforce_auth import API_VERSION, Credentials, id18, log_in
from connector.orgs.salesforce_bulk import MAX_UPLOAD_BYTES
from connector.orgs.salesforce_describe import Describes
from connector.orgs.salesforce_http import ApiClient, Refused, RetryableError, call_kind
from connector.orgs.salesforce_identity import KnownOrgs

# Credentials, RetryableError and call_kind are imported from here too.
__all__ = ["API_VERSION", "Credentials", "RetryableError", "SalesforceOrg", "call_kind", "soql_quote",
           "soql_datetime"]

COLLECTION_SIZE = 200  # sObject Collections take at most 200 records
IDS_PER_QUERY = 200  # keeps `WHERE Id IN (...)` well inside the URL limit
TRANSIENT_RECORD_ERRORS = {"UNABLE_TO_LOCK_ROW"}


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped, so values cannot change the query."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def soql_datetime(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _primed(pages: Iterator[list[dict]]) -> Iterator[list[dict]]:
    """The first page asked for now, so that an error answering the query is raised here."""
    first = next(pages, None)
    return pages if first is None else itertools.chain([first], pages)


class SalesforceOrg(ApiClient, Describes):
    name = "salesforce"
    # A record's SystemModstamp is set when its transaction starts and seen when it commits:
    # each incremental read starts this long before the last stamp read.
    late_commits = timedelta(minutes=5)

    api_version = API_VERSION
    bulk_upload_bytes = MAX_UPLOAD_BYTES  # an ingest job's CSV at most (tests set less)

    def __init__(self, credentials: Credentials, *, timeout: float = 60.0, api_floor: int = 1000,
                 attempts: int = 5, max_wait: float = 30.0, bulk_query_threshold: int = 50_000,
                 bulk_write_threshold: int = 2_000, bulk_poll: float = 2.0, lag_seconds: float = 30.0,
                 metadata_cache: MetadataCache | None = None):
        self.credentials = credentials
        self.bulk_query_threshold, self.bulk_write_threshold = bulk_query_threshold, bulk_write_threshold
        self.bulk_poll = bulk_poll
        # Records changed in the last moments may belong to transactions still committing:
        # they are left to the next run, which the overlap window makes sure reads them.
        self.lag_seconds = lag_seconds
        self._init_client(timeout, attempts, max_wait, api_floor)
        self._org_id: str | None = None
        self._user_id: str | None = None
        self._asked_identity = False
        # Where the org behind an access token is remembered; None: asked once per run.
        self.known_orgs: KnownOrgs | None = None
        self._init_describes(metadata_cache)
        self.login()

    # -- who and when ----------------------------------------------------------------------------
    def login(self) -> None:
        done = log_in(self.credentials, self.session)
        self._token, self.instance_url = done.token, done.instance_url
        if done.org_id and not self._org_id:
            self._org_id, self._user_id = done.org_id, done.user_id

    @property
    def org_id(self) -> str | None:
        """The org's 18-character Id: from the login's answer; with an access token, as
        remembered for this instance URL (`known_orgs`), else asked once (userinfo)."""
        if self._org_id is None and not self._asked_identity:
            self._asked_identity = True
            known = self.known_orgs.get(self.instance_url, self._token) if self.known_orgs else None
            self._org_id, self._user_id = known or self._ask_identity()
            if self._org_id and not known and self.known_orgs is not None:
                self.known_orgs.put(self.instance_url, self._org_id, self._user_id)
        return self._org_id

    def _ask_identity(self) -> tuple[str | None, str | None]:
        try:
            info = self.request("GET", "/services/oauth2/userinfo", expect=dict)
            if id18(info.get("organization_id")):
                return id18(info.get("organization_id")), id18(info.get("user_id"))
        except Refused:  # a token without the scopes userinfo asks for: a query says which org too
            pass
        records = next(self.query("SELECT Id FROM Organization"), [])
        return (id18(records[0].get("Id")) if records else None), None

    # -- reads -----------------------------------------------------------------------------------------
    def _select(self, object: str, fields: list[str]) -> str:
        known = self.describe(object)
        cols = [f for f in dict.fromkeys(["Id", *fields]) if f in known]
        return f"SELECT {', '.join(cols)} FROM {object}"

    def query(self, soql: str) -> Iterator[list[dict]]:
        """Pages of a query as the API returns them, following nextRecordsUrl: never the whole
        result in memory."""
        data = self.request("GET", f"/services/data/v{API_VERSION}/query", expect=dict, params={"q": soql})
        while True:
            yield data.get("records", [])
            if data.get("done", True) or not data.get("nextRecordsUrl"):
                return
            self.check_budget()
            data = self.request("GET", data["nextRecordsUrl"], expect=dict)

    def _pages(self, object: str, build: Callable[[], str], backfill: bool = False) -> Iterator[list[dict]]:
        """Pages of the query `build` makes from the object's describe. When the org refutes a
        describe taken from the cache (a field or the object gone since), the query is built
        again from a fresh describe, once."""
        for attempt in (1, 2):
            try:
                pages = self._open(object, build(), backfill)
                break
            except Refused as exc:
                if attempt == 2 or not self.refute_describe(object, exc.code):
                    raise
        yield from pages

    def _open(self, object: str, soql: str, backfill: bool) -> Iterator[list[dict]]:
        if backfill and self.bulk_query_threshold:
            # A backfill: above the threshold, Bulk API 2.0 reads it in a constant number of calls.
            count = self.request("GET", f"/services/data/v{API_VERSION}/query", expect=dict,
                                 params={"q": soql.split(" ORDER BY")[0].replace(
                                     soql[7:soql.index(" FROM ")], "COUNT()", 1)})["totalSize"]
            if count >= self.bulk_query_threshold:
                from connector.orgs.salesforce_bulk import query as bulk_query
                booleans = [n for n, f in self.describe(object).items() if f.type == "boolean"]
                return _primed(bulk_query(self, soql, poll=self.bulk_poll, booleans=booleans))
        return _primed(self.query(soql))

    def changed_since(self, object: str, fields: list[str], since: datetime | str | None,
                      page_size: int = 200) -> Iterator[list[dict]]:
        def build() -> str:
            soql = self._select(object, [*fields, "SystemModstamp"])
            conditions = []
            if since is not None:
                instant = since if isinstance(since, datetime) else datetime.fromisoformat(since)
                conditions.append(f"SystemModstamp >= {soql_datetime(instant)}")
            # The read's upper bound, on the org's clock: the next read starts there (less the
            # overlap), so a quiet org is not read again from its last burst of writes. Bounded
            # with no lag too: a record stamped after the bound (the Date header has whole
            # seconds, so the bound can trail the org by up to one) would otherwise be read
            # now and lie at or after the next read's start, and be read again every run.
            self.last_read_until = self.now() - timedelta(seconds=self.lag_seconds)
            conditions.append(f"SystemModstamp <= {soql_datetime(self.last_read_until)}")
            if conditions:
                soql += " WHERE " + " AND ".join(conditions)
            return soql + " ORDER BY SystemModstamp, Id"
        for records in self._pages(object, build, backfill=since is None):
            for start in range(0, len(records), page_size):
                yield records[start:start + page_size]

    def read_ids(self, object: str, fields: list[str], ids: list[str]) -> list[dict]:
        out: list[dict] = []
        for start in range(0, len(ids), IDS_PER_QUERY):
            where = f" WHERE Id IN ({', '.join(soql_quote(i) for i in ids[start:start + IDS_PER_QUERY])})"
            for records in self._pages(object, lambda: self._select(object, fields) + where):
                out.extend(records)
        return out

    def owned_ids(self, object: str, owner_ids: list[str], unless: str | None = None) -> list[str]:
        def build() -> str:
            skip = f" AND {unless} = false" if unless and unless in self.describe(object) else ""
            return f"SELECT Id FROM {object} WHERE OwnerId IN ({', '.join(soql_quote(i) for i in chunk)}){skip}"
        out: list[str] = []
        for start in range(0, len(owner_ids), IDS_PER_QUERY):
            chunk = owner_ids[start:start + IDS_PER_QUERY]
            for records in self._pages(object, build):
                out += [r["Id"] for r in records]
        return out

    def open_counts(self, object: str, owner_ids: list[str], unless: str | None = None) -> dict[str, int]:
        """One aggregate query per IDS_PER_QUERY members (a team is far smaller): SOQL's GROUP BY
        answers at most 2,000 rows, which naming the owners keeps us under."""
        def build() -> str:
            skip = f" AND {unless} = false" if unless and unless in self.describe(object) else ""
            return (f"SELECT OwnerId, COUNT(Id) n FROM {object} WHERE OwnerId IN "
                    f"({', '.join(soql_quote(i) for i in chunk)}){skip} GROUP BY OwnerId")
        out: dict[str, int] = {}
        for start in range(0, len(owner_ids), IDS_PER_QUERY):
            chunk = owner_ids[start:start + IDS_PER_QUERY]
            for records in self._pages(object, build):
                for r in records:
                    key = str(r["OwnerId"])[:15]
                    out[key] = out.get(key, 0) + int(r.get("n") or r.get("expr0") or 0)
        return out

    def read_all(self, object: str, fields: list[str]) -> Iterator[dict]:
        where = " WHERE Type = 'Queue'" if object == "Group" else ""
        for records in self._pages(object, lambda: self._select(object, fields) + where):
            yield from records

    # -- writes ----------------------------------------------------------------------------------------
    def write(self, patches: list[Patch], lock_retries: int = 3) -> list[WriteResult]:
        """sObject Collections, 200 records a call: a page of a run, a recovered page, a revert.
        Bulk API 2.0 is chosen by the size of a whole run, not of a call (write_many)."""
        try:
            results = self._write_collections(patches, lock_retries)
        except Refused as exc:
            for obj in {p.object for p in patches}:
                self.refute_describe(obj, exc.code)
            raise
        # A field the cached describe has and the org has not: the next preflight should know.
        for obj, code in {(p.object, r.code) for p, r in zip(patches, results) if not r.ok}:
            self.refute_describe(obj, code)
        return results

    def write_many(self, object: str, columns: list[str], rows: Iterable[tuple[str, dict]],
                   record: Callable[[list[WriteResult]], None]) -> int:
        """A whole run's writes in Bulk API 2.0 ingest jobs, for a run whose changes reach
        `bulk_write_threshold` (connector/sync/spool.py counts them): `rows` yields each record's
        Id and values, read from the state as the upload is written; every result goes to
        `record` as it is read. As many jobs as the upload limit needs; returns how many."""
        from connector.orgs.salesforce_bulk import update_rows
        codes: set[str] = set()

        def seen(results: list[WriteResult]) -> None:
            codes.update(r.code for r in results if not r.ok)
            record(results)
        try:
            jobs = update_rows(self, object, columns, rows, seen, poll=self.bulk_poll, max_bytes=self.bulk_upload_bytes)
        except Refused as exc:
            self.refute_describe(object, exc.code)
            raise
        for code in codes:  # a field the cached describe has and the org has not
            self.refute_describe(object, code)
        return jobs

    def _write_collections(self, patches: list[Patch], lock_retries: int) -> list[WriteResult]:
        results: dict[str, WriteResult] = {}
        for start in range(0, len(patches), COLLECTION_SIZE):
            pending = patches[start:start + COLLECTION_SIZE]
            for attempt in range(lock_retries + 1):
                self.check_budget()
                body = {"allOrNone": False, "records": [
                    {"attributes": {"type": p.object}, "id": p.id, **{k: _value(v) for k, v in p.values.items()}}
                    for p in pending]}
                saved = self.request("PATCH", f"/services/data/v{API_VERSION}/composite/sobjects", expect=list,
                                     data=json.dumps(body), headers={"Content-Type": "application/json"})
                retry_again = []
                for patch, result in zip(pending, saved):
                    errors = result.get("errors") or []
                    if result.get("success"):
                        results[patch.id] = WriteResult(patch.id, True)
                        continue
                    code = errors[0].get("statusCode", "UNKNOWN") if errors else "UNKNOWN"
                    message = "; ".join(e.get("message", "") for e in errors)
                    transient = code in TRANSIENT_RECORD_ERRORS
                    results[patch.id] = WriteResult(patch.id, False, code, message, transient)
                    if transient:
                        retry_again.append(patch)
                if not retry_again or attempt == lock_retries:
                    break
                pending = retry_again
        return [results[p.id] for p in patches]


def _value(value: Any) -> Any:
    """Values as the REST API expects them: instants in ISO 8601 with zone, nulls as null."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return value


