"""Logging in to Salesforce: which credentials, which login URL, and who we are once in.

simple-salesforce posts the logins and reads their answers (its errors are the ones our
messages are built from); we choose the URL, so `SF_LOGIN_URL` (a My Domain, a sandbox, a
Hyperforce or government host) is honoured by every flow and by every login again after an
expired session, and we keep the login's answer, which names the org and the user.
"""
from __future__ import annotations

import base64
import html
import os
import re
import time
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from urllib.parse import urlparse

import requests
import structlog

from rules.model import RevsyncError

from connector.orgs.base import AuthError, BackendError, CertificateError

log = structlog.get_logger()

API_VERSION = "61.0"
SANDBOX_AUDIENCE, PRODUCTION_AUDIENCE = "https://test.salesforce.com", "https://login.salesforce.com"
_IDENTITY = re.compile(r"/id/(00D\w{12}(?:\w{3})?)/(005\w{12}(?:\w{3})?)/?$")


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
    login_url: str | None = None  # SF_LOGIN_URL: wins over SF_DOMAIN

    def __repr__(self) -> str:  # secrets stay out of logs and tracebacks
        return (f"Credentials(kind={self.kind!r}, domain={self.domain!r}, login_url={self.login_url!r}, "
                f"username={self.username!r})")

    @property
    def login_base(self) -> str:
        """Where logins go: SF_LOGIN_URL, else https://<SF_DOMAIN>.salesforce.com."""
        return self.login_url or f"https://{self.domain}.salesforce.com"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Credentials":
        get = lambda k: (env.get(k) or "").strip() or None  # noqa: E731
        domain, login_url = get("SF_DOMAIN") or "login", login_url_from(get("SF_LOGIN_URL"))
        common = {"login_url": login_url}
        if get("SF_ACCESS_TOKEN") and get("SF_INSTANCE_URL"):
            return cls("session", domain, instance_url=get("SF_INSTANCE_URL"), access_token=get("SF_ACCESS_TOKEN"),
                       **common)
        if get("SF_USERNAME") and get("SF_CONSUMER_KEY") and get("SF_PRIVATE_KEY_FILE"):
            return cls("jwt", domain, username=get("SF_USERNAME"), consumer_key=get("SF_CONSUMER_KEY"),
                       private_key_file=get("SF_PRIVATE_KEY_FILE"), **common)
        if get("SF_CONSUMER_KEY") and get("SF_CONSUMER_SECRET"):
            return cls("client_credentials", domain, consumer_key=get("SF_CONSUMER_KEY"),
                       consumer_secret=get("SF_CONSUMER_SECRET"), **common)
        if get("SF_USERNAME") and get("SF_PASSWORD"):
            return cls("password", domain, username=get("SF_USERNAME"), password=get("SF_PASSWORD"),
                       security_token=get("SF_SECURITY_TOKEN") or "", **common)
        raise AuthError("no Salesforce credentials: set SF_INSTANCE_URL and SF_ACCESS_TOKEN, or SF_USERNAME, "
                        "SF_CONSUMER_KEY and SF_PRIVATE_KEY_FILE (JWT), or SF_CONSUMER_KEY and "
                        "SF_CONSUMER_SECRET with SF_LOGIN_URL or SF_DOMAIN (client credentials); see docs/salesforce.md")


def login_url_from(value: str | None) -> str | None:
    """SF_LOGIN_URL as an origin: https only (it receives the secrets), no trailing slash."""
    if not value:
        return None
    url = value if "://" in value else f"https://{value}"
    parsed = urlparse(url)
    if parsed.scheme != "https" or not parsed.hostname:
        raise RevsyncError(f"SF_LOGIN_URL {value!r} is not an https:// URL: logins send secrets, so revsync "
                           "only sends them over https (e.g. https://acme.my.salesforce.com)")
    if parsed.hostname.endswith(".lightning.force.com"):
        raise RevsyncError(f"SF_LOGIN_URL {value!r} is the Lightning address, which takes no API login: use the "
                           "My Domain URL, e.g. https://acme.my.salesforce.com (Setup > My Domain)")
    return url.rstrip("/")


def jwt_audience(login_base: str) -> str:
    """The `aud` Salesforce expects: the sandbox or production login server, as documented and
    as the Salesforce CLI sends it, even when the token is asked of a My Domain; a host outside
    salesforce.com (government, Hyperforce regions) is its own audience."""
    host = urlparse(login_base).hostname or ""
    if host == "test.salesforce.com" or host.endswith(".sandbox.my.salesforce.com") or \
            re.match(r"^[\w-]+--[\w-]+\.(cs\d+\.)?my\.salesforce\.com$", host):
        return SANDBOX_AUDIENCE
    if host == "salesforce.com" or host.endswith(".salesforce.com"):
        return PRODUCTION_AUDIENCE
    return login_base


def id18(value: str | None) -> str | None:
    """A record Id in its 18-character, case-safe form (15-character Ids gain their checksum)."""
    if not value or len(value) not in (15, 18) or not value.isalnum():
        return None
    if len(value) == 18:
        return value
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
    return value + "".join(alphabet[sum(1 << i for i, ch in enumerate(value[k:k + 5]) if ch.isupper())]
                           for k in (0, 5, 10))


def identity_from_url(url: str | None) -> tuple[str | None, str | None]:
    """(org Id, user Id) from an identity URL `https://<host>/id/<orgId>/<userId>`."""
    match = _IDENTITY.search(urlparse(url).path) if isinstance(url, str) else None
    return (id18(match.group(1)), id18(match.group(2))) if match else (None, None)


def mask(text: Any, secrets: Iterable[str | None]) -> str:
    """Text from the other end, fit for a message: any credential it echoes masked, on one
    line, bounded (an error page can be megabytes)."""
    text = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***").replace(html.escape(secret), "***")
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:300] + "..."


def certificate_error(what: str, url: str, exc: BaseException) -> CertificateError:
    """A certificate that does not verify will not verify on the next attempt either: say
    what to change instead of retrying."""
    reason = re.search(r"certificate verify failed: ([^()\[\]'\"]+)", str(exc))
    origin = "{0.scheme}://{0.netloc}".format(urlparse(url))
    why = f" ({reason.group(1).strip()})" if reason else ""
    return CertificateError(f"{what}: the TLS certificate of {origin} could not be verified{why}. If a proxy or "
                            "your organisation's own certificate authority signs it, set REQUESTS_CA_BUNDLE to a "
                            "PEM file holding that authority's certificate, then run again")


def is_certificate_problem(exc: requests.exceptions.SSLError) -> bool:
    text = str(exc)
    return "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text


@dataclass(frozen=True)
class Login:
    token: str
    instance_url: str
    org_id: str | None = None
    user_id: str | None = None


class _Keep:
    """Hands simple-salesforce our session and keeps the answer it reads: the library returns
    only the token and the instance, and the answer also names the org and the user."""

    def __init__(self, session: requests.Session):
        self.session = session
        self.response: requests.Response | None = None

    def post(self, *args, **kwargs):
        self.response = self.session.post(*args, **kwargs)
        return self.response


def log_in(c: Credentials, session: requests.Session) -> Login:
    """One login by the credentials' flow, at their login URL. Errors say what failed and never
    carry a secret: no `from exc` chaining either, so not even a traceback printed with -v
    holds one."""
    if c.kind == "session":
        return Login(c.access_token or "", (c.instance_url or "").rstrip("/"))
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed
    if c.kind == "password":
        log.warning("salesforce_password_login",
                    note="Salesforce is retiring SOAP login; prefer the JWT bearer flow (docs/salesforce.md)")
    if c.kind == "jwt" and not os.access(c.private_key_file or "", os.R_OK):
        raise RevsyncError(f"SF_PRIVATE_KEY_FILE {c.private_key_file} cannot be read by this user "
                           "(see docs/salesforce.md)")
    if c.kind == "client_credentials" and urlparse(c.login_base).hostname in ("login.salesforce.com",
                                                                            "test.salesforce.com"):
        raise RevsyncError("the client credentials flow logs in at your My Domain, not login or test: set "
                           "SF_LOGIN_URL=https://<my domain>.my.salesforce.com (see docs/salesforce.md)")
    keep = _Keep(session)
    secrets = (c.access_token, c.password, c.security_token, c.consumer_secret)
    try:
        token, instance = _post_login(c, keep)
    except SalesforceAuthenticationFailed as exc:
        detail = getattr(exc, "auth_message", None) or str(exc)
        raise AuthError(mask(f"Salesforce refused the {c.kind} login: {getattr(exc, 'code', '')} {detail}",
                             secrets)) from None
    except requests.exceptions.SSLError as exc:
        if is_certificate_problem(exc):
            raise certificate_error("cannot log in to Salesforce", c.login_base, exc) from None
        raise BackendError(f"cannot reach Salesforce to log in: {exc.__class__.__name__}") from None
    except requests.RequestException as exc:
        raise BackendError(f"cannot reach Salesforce to log in: {exc.__class__.__name__}") from None
    except Exception as exc:  # the library choked on an answer that was not a login's (HTML, a JSON list)
        key = "SF_PRIVATE_KEY_FILE is not the app's RSA key in PEM, or " if c.kind == "jwt" else ""
        raise BackendError(f"the {c.kind} login failed ({exc.__class__.__name__}): {key}the answer from "
                           f"{urlparse(c.login_base).netloc} was not a Salesforce login's; check SF_LOGIN_URL "
                           "or SF_DOMAIN (docs/salesforce.md)") from None
    org_id, user_id = _identity(keep.response)
    login = Login(token, f"https://{instance}", org_id, user_id)
    log.info("salesforce_login", kind=c.kind, instance=login.instance_url, org_id=org_id)
    return login


def _post_login(c: Credentials, keep: _Keep) -> tuple[str, str]:
    from simple_salesforce.login import SalesforceLogin, token_login
    token_url = f"{c.login_base}/services/oauth2/token"
    if c.kind == "jwt":
        import jwt
        with open(c.private_key_file or "", "rb") as fh:
            key = fh.read()
        claims = {"iss": c.consumer_key, "sub": c.username, "aud": jwt_audience(c.login_base),
                  "exp": int(time.time()) + 180}
        data = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                "assertion": jwt.encode(claims, key, algorithm="RS256")}
        return token_login(token_url, data, c.domain, c.consumer_key or "", None, None, keep)  # type: ignore[arg-type]
    if c.kind == "client_credentials":
        basic = base64.b64encode(f"{c.consumer_key}:{c.consumer_secret}".encode()).decode()
        return token_login(token_url, {"grant_type": "client_credentials"}, c.domain, c.consumer_key or "",
                           {"Authorization": f"Basic {basic}"}, None, keep)  # type: ignore[arg-type]
    # SOAP: the library writes the envelope (escaping the password); `scratch_url` is its way
    # of naming the whole login URL.
    return SalesforceLogin(username=c.username, password=c.password, security_token=c.security_token,
                           sf_version=API_VERSION, session=keep, scratch_url=c.login_base)  # type: ignore[arg-type]


def _identity(response: requests.Response | None) -> tuple[str | None, str | None]:
    """The org and user a login answer names: an OAuth answer's identity URL (`id`), a SOAP
    answer's userInfo. (None, None) when it names neither; the backend then asks userinfo."""
    if response is None:
        return None, None
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return identity_from_url(data.get("id"))
    try:
        from simple_salesforce.util import getUniqueElementValueFromXmlString as element
        return id18(element(response.content, "organizationId")), id18(element(response.content, "userId"))
    except Exception:  # not XML either: the login worked, only the names are unknown
        return None, None
