"""One version's statistics in a preview: owners, stages, score bands, rule matches and SLA
deadlines over the open records, and the closed loop (what each version would have predicted)
over every record that carries an outcome."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from rules.model import Decision, FieldType
from rules.values import coerce

from connector.preview.owners import owner_key

SCORE_BANDS = (0, 20, 40, 60, 80, 100)


@dataclass
class Outcome:
    converted: bool = False
    won: bool | None = None
    amount: float | None = None


@dataclass
class Side:
    owners: Counter = field(default_factory=Counter)
    stages: Counter = field(default_factory=Counter)
    scores: Counter = field(default_factory=Counter)
    rules: Counter = field(default_factory=Counter)
    due_day: Counter = field(default_factory=Counter)
    due_week: Counter = field(default_factory=Counter)

    def add_batch(self, day: datetime, week: datetime, open_ds: list[Decision], name: Callable[[str], str]) -> None:
        """Owners, stages, scores, deadlines and rules over the open records (the ones a sync
        manages). The closed loop is a backtest of its own (closed_loop.py)."""
        # Counter.update counts in C: one pass per statistic over the batch.
        owners = [owner_key(d, name) for d in open_ds]
        self.owners.update(owners)
        self.stages.update([d.stage or "(none)" for d in open_ds])
        self.scores.update([band(d.score) for d in open_ds])
        self.rules.update([key for d in open_ds for key in d.matched_rules()])
        for d, owner in zip(open_ds, owners):
            if d.sla_status == "pending" and d.sla_due is not None and d.sla_due <= week:
                self.due_week[owner] += 1
                if d.sla_due <= day:
                    self.due_day[owner] += 1


def band(score: float | None) -> str:
    if score is None:
        return "none"
    low = min(max(int(score // 20) * 20, 0), 100)
    return _BANDS[low]


_BANDS = {low: (f"{low}-{low + 19}" if low < 100 else "100+") for low in SCORE_BANDS}


def _true(value) -> bool:
    return coerce(value, FieldType.BOOLEAN) is True  # read as rules read a boolean field


def outcome_of(record: dict) -> Outcome | None:
    """Outcomes a record carries: a converted lead and its opportunity won or lost."""
    converted = record.get("converted")
    if converted is None:
        return None
    is_true = _true(converted)
    won = record.get("converted_opportunity.is_won")
    amount = record.get("converted_opportunity.amount")
    amount = coerce(amount, FieldType.NUMBER)  # read as rules read a number: "n/a" is no amount, not a crash
    return Outcome(is_true, None if won is None else _true(won),
                   float(amount) if amount.__class__ in (int, float) else None)


def record_label(record: dict) -> str | None:
    """What people call a record: a lead's name and company, an opportunity's name."""
    name = record.get("name") or " ".join(str(record[k]) for k in ("first_name", "last_name") if record.get(k))
    company = record.get("company") or record.get("account.name")
    if name and company:
        return f"{name} ({company})"
    return str(name or company) if name or company else None
