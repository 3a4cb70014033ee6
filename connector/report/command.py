"""What `revsync report` needs besides its command line: its options read and checked (bad
input is a ReportError, exit 2, that names the option), and the report rendered."""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from rules.values import parse_duration, to_utc

from connector.report.backtest import BacktestOptions
from connector.report.build import ReportOptions
from connector.report.facts import ReportError
from connector.report.html import render_html
from connector.report.text import render_csv, render_table
from connector.workspace.settings import Settings
from connector.workspace.workspace import Workspace

FORMATS = ("table", "json", "csv", "html")


def parse_since(text: str | None) -> datetime | None:
    """A date (midnight UTC) or an ISO 8601 instant."""
    if text is None:
        return None
    value = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            return datetime.combine(date.fromisoformat(value), time(0), timezone.utc)
        return to_utc(datetime.fromisoformat(value))
    except ValueError:
        raise ReportError(f"--since {text!r} is not a date: write YYYY-MM-DD (e.g. 2026-11-01) or an ISO 8601 "
                          "instant (2026-11-01T09:00:00Z)") from None


def _duration(text: str, option: str) -> timedelta:
    parsed = parse_duration(text)
    if parsed is None and text.strip() not in ("0", "0m", "0h", "0d"):
        raise ReportError(f"{option} {text!r} is not a duration: write a number and a unit, e.g. 30d, 4h, 2w")
    return timedelta(seconds=parsed.seconds if parsed else 0)


def report_options(ws: Workspace, settings: Settings, now: datetime, since: str | None = None, by: str | None = None,
                   baseline: str | None = None, mappings_dir: Path | None = None, maturity: str = "30d",
                   delay: str = "0m", decided_at: str = "entered", pilot: str | None = None) -> ReportOptions:
    options = ReportOptions(now=now, since=parse_since(since), by=by,
                            backtest=BacktestOptions(_duration(maturity, "--maturity"), _duration(delay, "--decision-delay"),
                                                     decided_at))
    if baseline is not None:
        from connector.preview.compare import baseline_workspace
        options = replace(options, baseline=baseline_workspace(ws, baseline, mappings_dir))  # ConfigError: exit 2
    if pilot is not None:
        found = settings.pilot(pilot)
        if found is None:
            known = ", ".join(p.name for p in settings.pilots) or "none: declare one as [pilots.NAME] in revsync.toml"
            raise ReportError(f"--pilot {pilot!r}: no such pilot in revsync.toml (pilots: {known})")
        options = replace(options, pilot=found)
    return options


def render(data: dict, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, default=str) + "\n"
    if fmt == "csv":
        return render_csv(data)
    if fmt == "html":
        return render_html(data, f"revsync report: {data['object']}")
    return render_table(data)
