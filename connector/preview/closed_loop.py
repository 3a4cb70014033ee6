"""The preview's closed loop: how well each version would have picked the leads that converted,
as a point-in-time backtest (connector/report/backtest.py). Each record is decided as of when it
was decided, not as of today: scoring converted leads on what they look like now lets their later
activity and status leak into the score, which made the closed loop say the opposite of the truth.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from connector.report.backtest import Backtest, BacktestOptions
from connector.report.facts import ReportError
from connector.workspace.workspace import Workspace


class ClosedLoop:
    def __init__(self, baseline: Workspace, candidate: Workspace, now: datetime):
        self.records = 0
        self.skipped: str | None = None
        self.run: Backtest | None = None
        self._result: dict | None = None
        if candidate.object != "Lead":
            self.skipped = "the closed loop follows leads to conversion; this preview is of " + candidate.object
            return
        try:
            self.run = Backtest(baseline, candidate, now, BacktestOptions())
        except ReportError as exc:  # no qualified stages named: the loop cannot say what counts
            self.skipped = str(exc)

    def add(self, records: list[dict[str, Any]], with_outcomes: list[bool]) -> None:
        """Records whose outcome is known (the org's, or an export's conversion columns)."""
        known = [r for r, ok in zip(records, with_outcomes) if ok]
        self.records += len(known)
        if self.run is not None and known:
            self.run.add(known)

    def asdict(self) -> dict | None:
        if not self.records:
            return None
        if self.run is None:
            return {"records_with_outcomes": self.records, "skipped": self.skipped}
        if self._result is None:
            try:
                result = self.run.result()
            except ReportError as exc:  # the statistics extra is not installed
                return {"records_with_outcomes": self.records, "skipped": str(exc)}
            versions = result.pop("versions")
            self._result = {"records_with_outcomes": self.records, "point_in_time": True, **result,
                            "baseline": versions["baseline"], "candidate": versions["candidate"]}
        return self._result


def closed_loop_lines(loop: dict | None) -> list[str]:
    """The text of the closed loop, for the preview table."""
    if not loop:
        return []
    if loop.get("skipped"):
        return [f"\nclosed loop: not computed ({loop['skipped']})"]
    lines = [f"\nclosed loop, point in time ({loop['population']} leads decided as of their decision time; "
             f"{loop['immature']} too recent to judge, {loop['approximate_records']} with approximated fields; "
             f"{loop['converted']} converted, {loop['won']} won):"]
    for side in ("baseline", "candidate"):
        v = loop[side]
        lines.append(f"  {side:9} MQLs {v['mql']:6}, precision {_rate(v['precision'])}, recall {_rate(v['recall'])}, "
                     f"revenue captured {v['revenue_captured']['amount']:,.0f}")
    return lines


def _rate(share: dict) -> str:
    if share.get("rate") is None:
        return "n/a"
    low, high = share.get("low"), share.get("high")
    interval = f" [{100 * low:.0f}-{100 * high:.0f}%]" if low is not None and high is not None else ""
    return f"{100 * share['rate']:.1f}%{interval}"
