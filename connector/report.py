"""Tables for people (rich), kept out of the code that decides things."""
from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from rules.model import Decision

COLUMNS = ("id", "segment", "score", "grade", "stage", "owner", "sla_due", "sla_status")


class DecisionTable:
    def __init__(self) -> None:
        self.table = Table(*COLUMNS, title="revsync decisions")

    def add(self, decision: Decision) -> None:
        out = {"id": decision.id, **decision.outputs()}
        self.table.add_row(*("" if out.get(c) is None else str(out[c]) for c in COLUMNS))

    def print(self) -> None:
        Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160).print(self.table)
