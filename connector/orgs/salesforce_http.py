"""One Salesforce API request, as every call of the backend makes it: a timeout, the retry
policy, a login again on an expired session, the API budget and the org's clock read from
every answer, calls counted by kind, and errors that name the request and never a secret."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlparse

import requests
import structlog
from tenacity import (RetryCallState, retry, retry_if_exception, stop_after_attempt,
                      wait_exponential_jitter)

from connector.orgs.base import AuthError, BackendError, BudgetExhausted
from connector.orgs.salesforce_auth import Credentials, certificate_error, is_certificate_problem, mask

log = structlog.get_logger()

KINDS = ("describe", "query", "queryMore", "write", "bulk")
_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class RetryableError(BackendError):
    """A failure worth trying again as is: 5xx, connection errors, timeouts, the concurrency limit."""


class Refused(BackendError):
    """The org answered a request with an error (its errorCode in `code`) that retrying will not change."""

    def __init__(self, message: str, code: str = ""):
        super().__init__(message)
        self.code = code


class TimeoutSession(requests.Session):
    """Every request gets a timeout unless it names its own."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, **kwargs)


def _rest_write(method: str, path: str) -> bool:
    route = urlparse(path).path
    return method in ("POST", "PATCH", "PUT") and ("/sobjects" in route or "/composite" in route)


def call_kind(method: str, path: str) -> str:
    """What a call is, for counting: describe, query, queryMore, write, bulk, identity or other."""
    route = urlparse(path).path
    if "/jobs/" in route:
        return "bulk"
    if route.endswith("/describe"):
        return "describe"
    if "/query/" in route or "/queryAll/" in route:
        return "queryMore"
    if route.endswith(("/query", "/queryAll")):
        return "query"
    if _rest_write(method, path) or method == "DELETE":
        return "write"
    if route.endswith("/oauth2/userinfo") or "/id/" in route:
        return "identity"
    return "other"


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, RetryableError)


def _log_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning("salesforce_retry", attempt=state.attempt_number, error=str(error))


class ApiClient:
    """The request layer of SalesforceOrg; the subclass logs in (`login`)."""

    credentials: Credentials

    def _init_client(self, timeout: float, attempts: int, max_wait: float, api_floor: int) -> None:
        self.session = TimeoutSession(timeout)
        self.session.hooks["response"].append(self._saw)
        self.api_floor = api_floor
        self.calls = 0
        self.calls_by_kind: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.api_used: int | None = None
        self.api_max: int | None = None
        self.instance_url: str | None = None
        self._token: str | None = None
        self._server_time: datetime | None = None
        self._server_seen = 0.0
        self._send = retry(retry=retry_if_exception(_retryable), stop=stop_after_attempt(attempts),
                           wait=wait_exponential_jitter(multiplier=0.5, max=max_wait), reraise=True,
                           before_sleep=_log_retry)(self._send_once)

    def login(self) -> None:
        raise NotImplementedError

    @property
    def server_time(self) -> datetime | None:
        return self._server_time

    def _saw(self, response: requests.Response, *args, **kwargs) -> None:
        """Every answer's Date header (logins' too): the org's clock, which watermarks follow."""
        try:
            when = parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError, IndexError):
            return
        self._server_time = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
        self._server_seen = time.monotonic()

    def now(self) -> datetime:
        """The org's clock: its latest Date plus the time passed here since; this machine's
        clock before the org has answered."""
        if self._server_time is None:
            return datetime.now(timezone.utc)
        return self._server_time + timedelta(seconds=time.monotonic() - self._server_seen)

    def _clean(self, text: Any) -> str:
        c = self.credentials
        return mask(text, (self._token, c.access_token, c.password, c.security_token, c.consumer_secret))

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
        # Sforce-Auto-Assign defaults to TRUE: any REST create or update of a Lead (or Case,
        # Account) would re-run the org's active assignment rule and take away the owner revsync
        # just gave. Set here, so no write path can leave it out.
        auto_assign = {"Sforce-Auto-Assign": "FALSE"} if _rest_write(method, path) else {}
        # The caller's headers are merged anew on every attempt and replay, never consumed.
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json", **auto_assign,
                   **(headers or {})}
        rewind = getattr(kwargs.get("data"), "seek", None)
        if rewind is not None:  # a file (a Bulk upload) sent again on a retry or replay: from its top
            rewind(0)
        # Errors name the request, never its headers (the token): no `from exc` chaining.
        try:
            response = self.session.request(method, self._url(path), headers=headers, **kwargs)
        except requests.exceptions.SSLError as exc:
            if is_certificate_problem(exc):
                raise certificate_error(f"{method} {path}", self._url(path), exc) from None
            raise RetryableError(f"{method} {path}: {exc.__class__.__name__}") from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise RetryableError(f"{method} {path}: {exc.__class__.__name__}") from None
        except requests.RequestException as exc:
            raise BackendError(f"{method} {path}: {exc.__class__.__name__}") from None
        self.calls += 1
        kind = call_kind(method, path)
        self.calls_by_kind[kind] = self.calls_by_kind.get(kind, 0) + 1
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
        raise Refused(f"{method} {path}: HTTP {response.status_code} {code}: {message}", code)

    def _read_limits(self, response: requests.Response) -> None:
        match = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_used, self.api_max = int(match.group(1)), int(match.group(2))

    def check_budget(self) -> None:
        """Between pages: stop cleanly (the last page is checkpointed) below the floor."""
        if self.api_max is not None and self.api_used is not None and self.api_max - self.api_used < self.api_floor:
            raise BudgetExhausted(f"{self.api_max - self.api_used} API calls left today, below the floor "
                                  f"of {self.api_floor} (api_floor)")


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
