"""The Salesforce backend: the same protocol as the embedded org, over the REST API.

simple-salesforce does the logins it knows (JWT bearer, client credentials, SOAP username and
password); every API call goes through our own requests session, because the library sets
no timeout, drops custom headers when it re-authenticates, can recurse on an expired session,
and keeps API usage only on its top-level object.
"""
from __future__ import annotations

import html
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

import requests
import structlog
from tenacity import (RetryCallState, retry, retry_if_exception, stop_after_attempt,
                      wait_exponential_jitter)

from rules.model import RevsyncError

from connector.orgs.base import AuthError, BackendError, BudgetExhausted, FieldInfo, Patch, WriteResult

log = structlog.get_logger()

API_VERSION = "61.0"
COLLECTION_SIZE = 200  # sObject Collections take at most 200 records
IDS_PER_QUERY = 200  # keeps `WHERE Id IN (...)` well inside the URL limit
TRANSIENT_RECORD_ERRORS = {"UNABLE_TO_LOCK_ROW"}
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class RetryableError(BackendError):
    """A failure worth trying again as is: 5xx, connection errors, timeouts, the concurrency limit."""


@dataclass(frozen=True)
class Credentials:
    """Which login to use, from the environment (or revsync.toml). Never logged."""

    kind: str  # session | jwt | client_credentials | password
    domain: str = "login"
    instance_url: str | None = None
    access_token: str | None = None
    username: str | None = None
    password: str | None = None
    security_token: str | None = None
    consumer_key: str | None = None
    consumer_secret: str | None = None
    private_key_file: str | None = None

    def __repr__(self) -> str:  # secrets stay out of logs and tracebacks
        return f"Credentials(kind={self.kind!r}, domain={self.domain!r}, username={self.username!r})"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Credentials":
        get = lambda k: (env.get(k) or "").strip() or None  # noqa: E731
        domain = get("SF_DOMAIN") or "login"
        if get("SF_ACCESS_TOKEN") and get("SF_INSTANCE_URL"):
            return cls("session", domain, instance_url=get("SF_INSTANCE_URL"), access_token=get("SF_ACCESS_TOKEN"))
        if get("SF_USERNAME") and get("SF_CONSUMER_KEY") and get("SF_PRIVATE_KEY_FILE"):
            return cls("jwt", domain, username=get("SF_USERNAME"), consumer_key=get("SF_CONSUMER_KEY"),
                       private_key_file=get("SF_PRIVATE_KEY_FILE"))
        if get("SF_CONSUMER_KEY") and get("SF_CONSUMER_SECRET"):
            return cls("client_credentials", domain, consumer_key=get("SF_CONSUMER_KEY"),
                       consumer_secret=get("SF_CONSUMER_SECRET"))
        if get("SF_USERNAME") and get("SF_PASSWORD"):
            return cls("password", domain, username=get("SF_USERNAME"), password=get("SF_PASSWORD"),
                       security_token=get("SF_SECURITY_TOKEN") or "")
        raise AuthError("no Salesforce credentials: set SF_INSTANCE_URL and SF_ACCESS_TOKEN, or SF_USERNAME, "
                        "SF_CONSUMER_KEY and SF_PRIVATE_KEY_FILE (JWT), or SF_CONSUMER_KEY and "
                        "SF_CONSUMER_SECRET with SF_DOMAIN (client credentials); see docs/salesforce.md")


class TimeoutSession(requests.Session):
    """Every request gets a timeout unless it names its own."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def soql_quote(value: str) -> str:
    """A SOQL string literal: backslash and quote escaped, so values cannot change the query."""
    escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    return f"'{escaped}'"


def soql_datetime(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableError)


def _log_retry(state: RetryCallState) -> None:
    log.warning("salesforce_retry", attempt=state.attempt_number, error=str(state.outcome.exception()))


class SalesforceOrg:
    name = "salesforce"
    # A record's SystemModstamp is set when its transaction starts and seen when it commits:
    # each incremental read starts this long before the last stamp read.
    late_commits = timedelta(minutes=5)

    api_version = API_VERSION

    def __init__(self, credentials: Credentials, *, timeout: float = 60.0, api_floor: int = 1000,
                 attempts: int = 5, max_wait: float = 30.0, bulk_query_threshold: int = 50_000,
                 bulk_write_threshold: int = 2_000, bulk_poll: float = 2.0, lag_seconds: float = 30.0):
        self.credentials = credentials
        self.bulk_query_threshold, self.bulk_write_threshold = bulk_query_threshold, bulk_write_threshold
        self.bulk_poll = bulk_poll
        # Records changed in the last moments may belong to transactions still committing:
        # they are left to the next run, which the overlap window makes sure reads them.
        self.lag_seconds = lag_seconds
        self.session = TimeoutSession(timeout)
        self.api_floor = api_floor
        self.calls = 0
        self.api_used: int | None = None
        self.api_max: int | None = None
        self.instance_url: str | None = None
        self._token: str | None = None
        self._describe: dict[str, dict[str, FieldInfo]] = {}
        self._send = retry(retry=retry_if_exception(_retryable), stop=stop_after_attempt(attempts),
                           wait=wait_exponential_jitter(multiplier=0.5, max=max_wait), reraise=True,
                           before_sleep=_log_retry)(self._send_once)
        self.login()

    # -- authentication ------------------------------------------------------------------------
    def login(self) -> None:
        c = self.credentials
        if c.kind == "session":
            self._token, self.instance_url = c.access_token, c.instance_url.rstrip("/")
            return
        from simple_salesforce.exceptions import SalesforceAuthenticationFailed
        from simple_salesforce.login import SalesforceLogin
        if c.kind == "password":
            log.warning("salesforce_password_login",
                        note="Salesforce is retiring SOAP login; prefer the JWT bearer flow (docs/salesforce.md)")
        if c.kind == "jwt" and not os.access(c.private_key_file, os.R_OK):
            raise RevsyncError(f"SF_PRIVATE_KEY_FILE {c.private_key_file} cannot be read by this user "
                               "(see docs/salesforce.md)")
        # Errors below say what failed and never carry these values: no `from exc` chaining
        # either, so not even a traceback printed with -v holds them.
        try:
            token, instance = SalesforceLogin(**self._login_kwargs())
        except SalesforceAuthenticationFailed as exc:
            detail = getattr(exc, "auth_message", None) or str(exc)
            raise AuthError(self._clean(f"Salesforce refused the {c.kind} login: {getattr(exc, 'code', '')} "
                                        f"{detail}")) from None
        except requests.RequestException as exc:
            raise BackendError(f"cannot reach Salesforce to log in: {exc.__class__.__name__}") from None
        except Exception as exc:  # the library choked on an answer that was not a login's (HTML, a JSON list)
            key = "SF_PRIVATE_KEY_FILE is not the app's RSA key in PEM, or " if c.kind == "jwt" else ""
            raise BackendError(f"the {c.kind} login failed ({exc.__class__.__name__}): {key}the answer from "
                               f"{c.domain} was not a Salesforce login's; check SF_DOMAIN (docs/salesforce.md)") from None
        self._token, self.instance_url = token, f"https://{instance}"
        log.info("salesforce_login", kind=c.kind, instance=self.instance_url)

    def _login_kwargs(self) -> dict[str, Any]:
        c = self.credentials
        kwargs: dict[str, Any] = {"domain": c.domain, "session": self.session, "sf_version": API_VERSION}
        if c.kind == "jwt":
            kwargs.update(username=c.username, consumer_key=c.consumer_key, privatekey_file=c.private_key_file)
        elif c.kind == "client_credentials":
            kwargs.update(consumer_key=c.consumer_key, consumer_secret=c.consumer_secret)
        else:
            kwargs.update(username=c.username, password=c.password, security_token=c.security_token)
        return kwargs

    def _clean(self, text: Any) -> str:
        """Text from the other end, fit for a message: any credential it echoes masked, on one
        line, bounded (an error page can be megabytes)."""
        c = self.credentials
        text = str(text)
        for secret in (self._token, c.access_token, c.password, c.security_token, c.consumer_secret):
            if secret and len(secret) >= 4:
                text = text.replace(secret, "***").replace(html.escape(secret), "***")
        text = " ".join(text.split())
        return text if len(text) <= 300 else text[:300] + "..."

    # -- one request ---------------------------------------------------------------------------------
    def _url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.instance_url}{path}"

    def raw(self, method: str, path: str, **kwargs) -> requests.Response:
        """Like `request`, for answers that are not JSON (Bulk API CSV)."""
        return self.request(method, path, _raw=True, **kwargs)

    def request(self, method: str, path: str, expect: type | None = None, **kwargs) -> Any:
        """A REST call: re-login once on an expired session (replaying the same request with
        its headers), retries by policy, API budget read from every response. With `expect`,
        an answer of another JSON shape is the org's problem (exit 3), not a crash of ours."""
        try:
            data = self._send(method, path, **kwargs)
        except AuthError as exc:
            if "INVALID_SESSION_ID" not in str(exc) or self.credentials.kind == "session":
                raise
            log.info("salesforce_session_expired", note="logging in again and replaying the request")
            self.login()
            data = self._send(method, path, **kwargs)
        if expect is not None and not isinstance(data, expect):
            raise BackendError(f"{method} {path}: the answer is a JSON {type(data).__name__}, where the API "
                               f"answers a {expect.__name__}; check the instance URL ({self.instance_url})")
        return data

    def _send_once(self, method: str, path: str, headers: dict | None = None, _raw: bool = False,
                   **kwargs) -> Any:
        # The caller's headers are merged anew on every attempt and replay, never consumed.
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json", **(headers or {})}
        # Errors name the request, never its headers (the token): no `from exc` chaining.
        try:
            response = self.session.request(method, self._url(path), headers=headers, **kwargs)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetryableError(f"{method} {path}: {exc.__class__.__name__}") from None
        except requests.RequestException as exc:
            raise BackendError(f"{method} {path}: {exc.__class__.__name__}") from None
        self.calls += 1
        self._read_limits(response)
        if response.status_code < 300:
            if _raw or not response.content:
                return response if _raw else None
            try:
                return response.json()
            except ValueError:  # a maintenance page or a proxy's login page, not the API
                kind = response.headers.get("Content-Type", "no content type").split(";")[0]
                raise BackendError(f"{method} {path}: HTTP {response.status_code} with {kind}, not the API's "
                                   f"JSON; check the instance URL ({self.instance_url})") from None
        body = _error_body(response)
        code = self._clean(body.get("errorCode", ""))
        message = self._clean(body.get("message", response.text[:2000]))
        if response.status_code == 401 or code == "INVALID_SESSION_ID":
            raise AuthError(f"INVALID_SESSION_ID: {message}")
        if code == "REQUEST_LIMIT_EXCEEDED" and "concurrent" in message.lower():
            raise RetryableError(f"concurrent request limit: {message}")
        if code == "REQUEST_LIMIT_EXCEEDED":
            raise BudgetExhausted(f"the org's daily API limit is exhausted: {message}")
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"{method} {path}: HTTP {response.status_code} {code} {message}")
        raise BackendError(f"{method} {path}: HTTP {response.status_code} {code}: {message}")

    def _read_limits(self, response: requests.Response) -> None:
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_used, self.api_max = int(match.group(1)), int(match.group(2))

    def check_budget(self) -> None:
        """Between pages: stop cleanly (the last page is checkpointed) below the floor."""
        if self.api_max is not None and self.api_max - self.api_used < self.api_floor:
            raise BudgetExhausted(f"{self.api_max - self.api_used} API calls left today, below the floor "
                                  f"of {self.api_floor} (api_floor)")

    # -- the backend protocol ----------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def describe(self, object: str) -> dict[str, FieldInfo]:
        if object not in self._describe:
            path = f"/services/data/v{API_VERSION}/sobjects/{object}/describe"
            data = self.request("GET", path, expect=dict)
            try:
                self._describe[object] = {
                    f["name"]: FieldInfo(f["name"], f["type"], bool(f.get("updateable")), f.get("length") or None,
                                         tuple(p["value"] for p in f.get("picklistValues") or [] if p.get("active", True)),
                                         f.get("label", ""))
                    for f in data["fields"]}
            except (KeyError, TypeError, AttributeError):
                raise BackendError(f"GET {path}: the answer is not shaped like a describe; check the "
                                   f"instance URL ({self.instance_url})") from None
        return self._describe[object]

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

    def changed_since(self, object: str, fields: list[str], since: datetime | str | None,
                      page_size: int = 200) -> Iterator[list[dict]]:
        soql = self._select(object, [*fields, "SystemModstamp"])
        conditions = []
        if since is not None:
            instant = since if isinstance(since, datetime) else datetime.fromisoformat(since)
            conditions.append(f"SystemModstamp >= {soql_datetime(instant)}")
        if self.lag_seconds:
            conditions.append(f"SystemModstamp <= {soql_datetime(self.now() - timedelta(seconds=self.lag_seconds))}")
        if conditions:
            soql += " WHERE " + " AND ".join(conditions)
        soql += " ORDER BY SystemModstamp, Id"
        pages = self.query(soql)
        if since is None and self.bulk_query_threshold:
            # A backfill: above the threshold, Bulk API 2.0 reads it in a constant number of calls.
            count = self.request("GET", f"/services/data/v{API_VERSION}/query", expect=dict,
                                 params={"q": soql.split(" ORDER BY")[0].replace(
                                     soql[7:soql.index(" FROM ")], "COUNT()", 1)})["totalSize"]
            if count >= self.bulk_query_threshold:
                from connector.orgs.salesforce_bulk import query as bulk_query
                pages = bulk_query(self, soql, poll=self.bulk_poll)
        for records in pages:
            for start in range(0, len(records), page_size):
                yield records[start:start + page_size]

    def read_ids(self, object: str, fields: list[str], ids: list[str]) -> list[dict]:
        out: list[dict] = []
        for start in range(0, len(ids), IDS_PER_QUERY):
            chunk = ids[start:start + IDS_PER_QUERY]
            soql = f"{self._select(object, fields)} WHERE Id IN ({', '.join(soql_quote(i) for i in chunk)})"
            for records in self.query(soql):
                out.extend(records)
        return out

    def owned_ids(self, object: str, owner_ids: list[str], unless: str | None = None) -> list[str]:
        skip = f" AND {unless} = false" if unless and unless in self.describe(object) else ""
        out: list[str] = []
        for start in range(0, len(owner_ids), IDS_PER_QUERY):
            chunk = owner_ids[start:start + IDS_PER_QUERY]
            soql = f"SELECT Id FROM {object} WHERE OwnerId IN ({', '.join(soql_quote(i) for i in chunk)}){skip}"
            for records in self.query(soql):
                out += [r["Id"] for r in records]
        return out

    def read_all(self, object: str, fields: list[str]) -> Iterator[dict]:
        soql = self._select(object, fields)
        if object == "Group":
            soql += " WHERE Type = 'Queue'"
        for records in self.query(soql):
            yield from records

    def write(self, patches: list[Patch], lock_retries: int = 3) -> list[WriteResult]:
        if self.bulk_write_threshold and len(patches) >= self.bulk_write_threshold:
            from connector.orgs.salesforce_bulk import update as bulk_update
            return bulk_update(self, patches, poll=self.bulk_poll)
        results: dict[str, WriteResult] = {}
        for start in range(0, len(patches), COLLECTION_SIZE):
            pending = patches[start:start + COLLECTION_SIZE]
            for attempt in range(lock_retries + 1):
                self.check_budget()
                body = {"allOrNone": False, "records": [
                    {"attributes": {"type": p.object}, "id": p.id, **{k: _value(v) for k, v in p.values.items()}}
                    for p in pending]}
                # Sforce-Auto-Assign defaults to TRUE: every Lead update would re-run the org's active
                # assignment rule and take away the owner revsync just gave.
                saved = self.request("PATCH", f"/services/data/v{API_VERSION}/composite/sobjects", expect=list,
                                     data=json.dumps(body), headers={"Content-Type": "application/json",
                                                                     "Sforce-Auto-Assign": "FALSE"})
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


def _error_body(response: requests.Response) -> dict:
    try:
        data = response.json()
    except ValueError:
        return {}
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict) and "error" in data and "errorCode" not in data:  # OAuth errors
        return {"errorCode": data.get("error", ""), "message": data.get("error_description", "")}
    return data if isinstance(data, dict) else {}
