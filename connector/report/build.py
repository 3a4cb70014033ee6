"""`revsync report`: the records read once, read-only, and each part of the report made from
them: the funnel and SLA counts, and on request a backtest of two rule versions and a pilot's
comparison of arms."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rules.values import format_instant

from connector.orgs.base import Backend
from connector.report.backtest import BacktestOptions, backtest
from connector.report.facts import FactReader, ReportError, qualified_stages
from connector.report.funnel import funnel_report
from connector.report.journal_read import read_journal
from connector.report.pilots import pilot_report
from connector.report.source import read_population
from connector.workspace.settings import Pilot
from connector.workspace.workspace import Workspace


@dataclass(frozen=True)
class ReportOptions:
    now: datetime
    since: datetime | None = None
    by: str | None = None
    journal: Path | None = None  # the sync's state file; none: the records' own fields only
    baseline: Workspace | None = None  # with it, a backtest of the rules against these
    backtest: BacktestOptions = field(default_factory=BacktestOptions)
    pilot: Pilot | None = None


def make_report(org: Backend, ws: Workspace, options: ReportOptions) -> dict:
    if ws.object != "Lead":
        raise ReportError(f"the report follows leads through the funnel; --object {ws.object} is not "
                          "supported (run it with --object Lead)")
    qualified = qualified_stages(ws.ruleset)  # before reading anything: exit 2 when it cannot say
    if options.baseline is not None:
        qualified_stages(options.baseline.ruleset)
    extra = (options.pilot.arm_field,) if options.pilot is not None else ()
    population = read_population(org, ws, options.since, extra)
    journal = read_journal(options.journal, ws.mapping)
    reader = FactReader(ws.ruleset, qualified, population.names, population.opportunities, journal)
    facts = [reader.facts(rec) for rec in population.records]
    data = {"object": ws.object, "rules": ws.ruleset.file, "now": format_instant(options.now),
            "since": format_instant(options.since) if options.since else None, "by": options.by,
            "qualified_stages": list(qualified), "created_before_since": population.before_since,
            "journal": {"path": str(journal.path), "runs": journal.runs} if journal.path else None,
            **funnel_report(facts, ws.ruleset, options.now, options.by)}
    if options.baseline is not None:
        data["backtest"] = {"baseline": options.baseline.ruleset.file, "candidate": ws.ruleset.file,
                            **backtest(population, options.baseline, ws, options.now, options.backtest)}
    if options.pilot is not None:
        data["pilot"] = pilot_report(population, facts, ws, options.pilot, options.now)
    return data
