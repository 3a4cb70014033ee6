"""What revsync logs and prints, and how: structlog on stderr (text on a terminal, JSON lines
otherwise), -v / -q / --log-format wherever they come on the command line, and secret values from
the environment masked in everything. Here rather than in cli.py because every command takes the
logging options and prints through `redact`, and connector never imports cli."""
from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any, MutableMapping

import click
import structlog

# Secret values from the environment are masked in everything revsync prints or logs, whatever
# carried them there (an org echoing a request back in an error page, say).
SECRET_ENV = ("SF_ACCESS_TOKEN", "SF_PASSWORD", "SF_SECURITY_TOKEN", "SF_CONSUMER_SECRET")
_VERBOSE = False
_LOGGING: dict[str, Any] = {}  # what the command line said: verbose, quiet, log_format


def redact(text: str) -> str:
    for name in SECRET_ENV:
        value = (os.environ.get(name) or "").strip()
        if len(value) >= 4 and value in text:
            text = text.replace(value, f"<{name}>")
    return text


def _log_safely(logger: object, method: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """No traceback with local variables, ever (they hold tokens and passwords): an exception
    logged with exc_info becomes its type and message, and with -v a plain traceback."""
    exc_info = event.pop("exc_info", None)
    if exc_info:
        exc = (exc_info if isinstance(exc_info, BaseException) else
               exc_info[1] if isinstance(exc_info, tuple) else sys.exc_info()[1])
        if exc is not None:
            event["error"] = f"{type(exc).__name__}: {exc}"
            if _VERBOSE:
                event["exception"] = "".join(traceback.format_exception(exc))
    return {k: redact(v) if isinstance(v, str) else v for k, v in event.items()}


class _Stderr:
    """structlog's output: a line on sys.stderr as it is when the event is logged, so that while
    a progress bar is shown (which redirects stderr) log lines print above it, not through it."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def json_logs() -> bool:
    """Whether log events are JSON lines: when asked (`--log-format json`), or stderr is no terminal."""
    return (_LOGGING.get("log_format") or ("text" if sys.stderr.isatty() else "json")) == "json"


def setup_logging(verbose: int = 0, quiet: bool = False, log_format: str | None = None) -> None:
    """Warnings and errors only, unless -v (info: every page and run) or -vv (debug); errors
    only with -q. Text on a terminal, JSON lines otherwise or with --log-format json."""
    global _VERBOSE
    _VERBOSE = verbose > 0
    _LOGGING.update(verbose=int(verbose), quiet=quiet, log_format=log_format)
    # plain_traceback: structlog's default on a terminal is rich's traceback with local variables.
    renderer = (structlog.processors.JSONRenderer() if json_logs() else
                structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback,
                                              colors=sys.stderr.isatty()))
    level = (logging.DEBUG if verbose > 1 else logging.INFO if verbose else
             logging.ERROR if quiet else logging.WARNING)
    structlog.configure(
        processors=[structlog.processors.add_log_level, _log_safely,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *args: _Stderr(),
        cache_logger_on_first_use=False,
    )


def verbose() -> bool:
    """-v was given: an internal error shows its traceback."""
    return _VERBOSE


def quiet() -> bool:
    return bool(_LOGGING.get("quiet")) and not _LOGGING.get("verbose")


def _logging_option(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """-v, -q and --log-format, before or after the command (`revsync sync -v`): each place
    adds to what the command line said so far."""
    said = ctx.find_root().meta.setdefault("revsync.logging", {"verbose": 0, "quiet": False, "log_format": None})
    if param.name == "verbose":
        said["verbose"] += value or 0
    elif param.name == "quiet":
        said["quiet"] = said["quiet"] or bool(value)
    elif value:
        said["log_format"] = value
    setup_logging(**said)


def logging_options(hidden: bool) -> list[click.Option]:
    return [
        click.Option(["-v", "--verbose"], count=True, expose_value=False, callback=_logging_option, hidden=hidden,
                     help="Info logs (-vv: debug), and the traceback of an internal error."),
        click.Option(["-q", "--quiet"], is_flag=True, expose_value=False, callback=_logging_option, hidden=hidden,
                     help="No progress bar or summary; log errors only."),
        click.Option(["--log-format"], type=click.Choice(["text", "json"]), expose_value=False,
                     callback=_logging_option, hidden=hidden,
                     help="Logs on stderr as text or JSON lines (default: JSON unless stderr is a terminal)."),
    ]
