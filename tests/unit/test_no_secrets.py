"""Each layer that keeps secrets out of outputs, on its own: no code turns on tracebacks with
local variables; logging renders an exception without them, on a terminal too; the Salesforce
connector's errors mask credentials an answer echoes and name what failed without the library's
exception text; the command line masks secret values from the environment in what it prints."""
from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
import responses
import structlog

import cli
from connector.orgs.base import AuthError, BackendError
from connector.orgs.salesforce import API_VERSION, Credentials, SalesforceOrg

ROOT = Path(__file__).resolve().parents[2]
TOKEN, PASSWORD, SECRET = "00DPLANTED!tok3nValue", "PLANTEDpa55&<word>", "PLANTEDsecr3tValue"
INSTANCE = "https://acme.my.salesforce.com"
DESCRIBE = f"{INSTANCE}/services/data/v{API_VERSION}/sobjects/Lead/describe"

# Ways to get tracebacks that print local variables (rich's, structlog's default on a terminal,
# the traceback module's capture_locals, better_exceptions).
FORBIDDEN = [r"show_locals\s*=\s*True", r"\brich\.traceback\b", r"from rich import [^\n]*\btraceback\b",
             r"\btraceback\.install\(", r"RichTracebackFormatter", r"\brich_traceback\b", r"better_exceptions",
             r"capture_locals\s*=\s*True", r"ConsoleRenderer\((?![^)]*exception_formatter)"]


def test_no_code_enables_tracebacks_with_local_variables():
    sources = [ROOT / "cli.py", *(p for d in ("connector", "rules", "mappings", "tests")
                                  for p in (ROOT / d).rglob("*.py"))]
    found = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in sources if p.resolve() != Path(__file__).resolve()
             for pattern in FORBIDDEN for m in re.finditer(pattern, p.read_text(encoding="utf-8"))]
    assert not found, found


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture()
def restore_logging():
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)
    cli.setup_logging.__globals__["_VERBOSE"] = False


@pytest.mark.parametrize("verbose", [False, True])
def test_an_exception_logged_on_a_terminal_shows_no_local_variables(restore_logging, monkeypatch, verbose):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)  # here: pytest swaps sys.stderr between phases
    cli.setup_logging(verbose)

    def log_in(headers={"Authorization": f"Bearer {TOKEN}"}):  # noqa: B006 - a local holding a secret
        raise RuntimeError("the org refused")
    try:
        log_in()
    except RuntimeError:
        structlog.get_logger().exception("login_failed")
    text = re.sub(r"\x1b\[[0-9;]*m", "", terminal.getvalue())
    assert TOKEN not in text
    assert "login_failed" in text and "RuntimeError: the org refused" in text
    assert ("Traceback (most recent call last)" in text) == verbose  # with -v, plain, without locals


def test_the_command_line_masks_secret_values_from_the_environment(monkeypatch):
    monkeypatch.setenv("SF_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("SF_CONSUMER_SECRET", SECRET)
    assert cli.redact(f"echoed: Bearer {TOKEN} and {SECRET}") == \
        "echoed: Bearer <SF_ACCESS_TOKEN> and <SF_CONSUMER_SECRET>"
    event = cli._log_safely(None, "error", {"event": "x", "error": f"Bearer {TOKEN}"})
    assert TOKEN not in str(event)


def session_org() -> SalesforceOrg:
    return SalesforceOrg(Credentials("session", instance_url=INSTANCE, access_token=TOKEN), max_wait=0.01)


def assert_clean(exc: BaseException) -> None:
    # No chained exception either: a traceback printed with -v shows only this message.
    assert TOKEN not in str(exc) and PASSWORD not in str(exc) and SECRET not in str(exc)
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)


@responses.activate
def test_an_error_answer_that_echoes_the_token_is_masked():
    responses.get(DESCRIBE, status=400, json=[{"errorCode": "MALFORMED", "message": f"bad header Bearer {TOKEN}"}])
    with pytest.raises(BackendError, match=r"MALFORMED: bad header Bearer \*\*\*") as caught:
        session_org().describe("Lead")
    assert_clean(caught.value)


@responses.activate
def test_html_or_another_json_shape_where_the_api_answers_json_is_the_orgs_problem():
    responses.get(DESCRIBE, body="<html>maintenance</html>", content_type="text/html")
    with pytest.raises(BackendError, match="HTTP 200 with text/html") as caught:
        session_org().describe("Lead")
    assert_clean(caught.value)
    responses.replace(responses.GET, DESCRIBE, json=["not", "a", "describe"])
    with pytest.raises(BackendError, match="JSON list"):
        session_org().describe("Lead")
    responses.replace(responses.GET, DESCRIBE, json={"fields": [{"label": "no name"}]})
    with pytest.raises(BackendError, match="not shaped like a describe"):
        session_org().describe("Lead")


@responses.activate
def test_a_login_answered_with_a_json_list_is_a_clear_error_without_the_secret():
    responses.post("https://acme.my.salesforce.com/services/oauth2/token", json=[{"access_token": 1}])
    with pytest.raises(BackendError, match=r"client_credentials login failed \(AttributeError\)") as caught:
        SalesforceOrg(Credentials("client_credentials", "acme.my", consumer_key="k", consumer_secret=SECRET))
    assert not isinstance(caught.value, AuthError)
    assert_clean(caught.value)


@responses.activate
def test_a_soap_fault_that_echoes_the_password_is_masked():
    # The SOAP body carries the password HTML-escaped, followed by the security token.
    responses.add_callback(responses.POST, f"https://login.salesforce.com/services/Soap/u/{API_VERSION}",
                           callback=lambda request: (500, {}, f"cannot parse: {request.body}"))
    with pytest.raises(AuthError, match="refused the password login") as caught:
        SalesforceOrg(Credentials("password", username="u@acme.example", password=PASSWORD,
                                  security_token="PLANTEDsecurityTok"))
    assert_clean(caught.value)
    assert "PLANTEDsecurityTok" not in str(caught.value) and "pa55" not in str(caught.value)
