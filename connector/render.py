"""What the terminal shows of decisions and runs, where a result's own `__str__` is not enough:
`evaluate --format table`, a preview in the format asked for, the list of runs, a run's changes,
a record's history with the names of its owners."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Iterator

from mappings import Mapping
from rules.model import Decision, RevsyncError

from connector.offline import COLUMNS
from connector.orgs.base import BackendError
from connector.orgs.spec import OrgSpec
from connector.preview.html import render_html
from connector.preview.render import render_csv, render_table
from connector.sync.history import History, owner_names, record_history, reverted_run
from connector.sync.journal import Run, State


class TableStream:
    """`evaluate --format table` printed CHUNK rows at a time: memory stays flat however long
    the file (one table holding every row took 558 MB at 100k rows; this takes 60 MB). Cells
    are rich Text, never markup: an Id `[/bold]` is shown as written instead of being read as
    a tag (or `:smile:` as an emoji code)."""

    CHUNK = 500

    def __init__(self) -> None:
        from rich.console import Console

        self.columns = COLUMNS
        self.console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
        self.rows: list[tuple[str, ...]] = []
        self.widths: list[int] | None = None

    def add(self, decision: Decision) -> None:
        out = {"id": decision.id, **decision.outputs()}
        cells = ("" if out.get(c) is None else str(out[c]) for c in self.columns)
        # A lone surrogate cannot be written to a UTF-8 stream: show it escaped.
        self.rows.append(tuple(c if c.isascii() else c.encode("utf-8", "backslashreplace").decode() for c in cells))
        if len(self.rows) >= self.CHUNK:
            self.print()

    def print(self) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text
        widths = self.widths
        if widths is not None and not self.rows:
            return
        # Widths only grow (to 60, then text folds): chunks line up unless a later one is wider.
        self.widths = [min(max([len(c) if widths is None else widths[i], *(len(r[i]) for r in self.rows)]), 60)
                       for i, c in enumerate(self.columns)]
        first = widths is None
        table = Table(title="revsync decisions" if first else None, show_header=first, box=box.SIMPLE_HEAD,
                      show_edge=False)
        for name, width in zip(self.columns, self.widths):
            table.add_column(name, width=width, overflow="fold")
        for row in self.rows:
            table.add_row(*(Text(c) for c in row))
        self.console.print(table)
        self.rows.clear()


def preview_text(data: dict, fmt: str, title: str) -> str:
    """A preview's result (`Preview.asdict()`) as `--format` asks: a table for people, JSON, CSV
    for a spreadsheet, or an HTML page titled `title`."""
    if fmt == "json":
        return json.dumps(data, indent=2, default=str)
    if fmt == "csv":
        return render_csv(data)
    if fmt == "html":
        return render_html(data, title)
    return render_table(data)


def run_line(run: Run) -> str:
    """A run as `revsync runs` lists it: when, what, its counts, and what it reverted."""
    c = run.counts
    note = f" reverts run {run.reverts}" if run.reverts else ""
    undone = reverted_run(run)
    if not run.reverts and undone is not None:  # a revert that failed part-way is not marked on the run
        note = f" partly reverts run {undone} (revert it again to finish)"
    if run.status == "guarded":
        note = f" stopped: would move {c.get('moved', 0)} of {c.get('decided', 0)} decided records"
    return (f"{run.run_id:5}  {run.started_at[:19]}  {run.object:12} {run.status:11} "
            f"read {c.get('read', 0):6}  written {c.get('written', c.get('restored', 0)):6}  "
            f"failed {c.get('failed', 0):4}  skipped {c.get('skipped', 0):4}{note}")


def run_lines(path: Path) -> list[str]:
    """The runs recorded in the state file at `path`, newest first; none when there is no file."""
    return [run_line(run) for run in State(path).runs()] if path.exists() else []


def change_lines(path: Path, run_id: int, record: str | None = None, field: str | None = None) -> Iterator[str]:
    """A run as JSON, then every field it changed (only one record's, or one field's, if asked):
    old and new value, whether it was written, the rules that decided it."""
    state = State(path) if path.exists() else None
    run = state.run(run_id) if state is not None else None
    if state is None or run is None:
        raise RevsyncError(f"no run {run_id} in {path}; `revsync runs` lists them")
    yield json.dumps(run.asdict(), indent=2)
    for c in state.changes(run_id):
        if (record and c.record_id[:15] != record[:15]) or (field and c.field.casefold() != field.casefold()):
            continue
        yield f"{c.record_id} {c.field}: {c.old!r} -> {c.new!r} [{c.status}]  {c.rules}"


def record_timeline(spec: OrgSpec, path: Path, mapping: Mapping, record_id: str) -> History:
    """A record's history from the state file at `path`, owners by name when the org is the
    embedded one (from Salesforce, names would cost API calls: Ids are shown)."""
    names: dict[str, str] = {}
    if spec.path is not None:
        from connector.orgs.local import LocalOrg
        try:
            org = LocalOrg(spec.path)
            names = owner_names(org)
            org.close()
        except BackendError:
            pass
    return record_history(State(path), mapping, record_id, names)
