"""What the terminal shows of decisions and runs, where a result's own `__str__` is not enough:
`evaluate --format table`, a preview in the format asked for, the list of runs, a run's summary
and its changes, a record's history, owners by name."""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Callable, Iterator

from mappings import Mapping
from rules.model import Decision, RevsyncError

from connector.offline import COLUMNS
from connector.orgs.base import BackendError
from connector.orgs.spec import OrgSpec
from connector.preview.html import render_html
from connector.preview.render import render_csv, render_table
from connector.sync.digest import Row, RunDigest, cached_names, digest, rows
from connector.sync.history import History, owner_names, record_history, reverted_run
from connector.sync.job import Synced
from connector.sync.journal import Run, State
from connector.sync.options import SyncReport


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


def sync_summary(synced: Synced, where: str = "") -> str:
    """What a person reads after a sync: the counts, who records moved to and which stages, by
    name, then the run id with the commands that show and undo it. `where`: the --org/--state
    options those commands need when they differ from the defaults."""
    report, found = synced.report, synced.digest
    lines = report.text(fields=found is None).splitlines()
    if synced.folded_into is not None:
        return (f"{report.object}: read {report.read:,}, nothing changed; counted with quiet run "
                f"{synced.folded_into} (`revsync runs{where}`)")
    if found is not None:
        lines[1:1] = [f"  {line}" for line in (found.owner_line(), found.stage_line()) if line]
    if report.dry_run:
        lines.append(f"dry run: nothing was written; `revsync sync{where}` writes these changes")
    elif report.run_id is not None and report.written:
        lines.append(f"run {report.run_id}: `revsync runs show {report.run_id}{where}` shows what changed; "
                     f"undo it with `revsync revert {report.run_id}{where}`")
    elif report.run_id is not None:
        lines.append(f"run {report.run_id} wrote nothing (`revsync runs show {report.run_id}{where}`)")
    return "\n".join(lines)


@contextlib.contextmanager
def progress(label: str, show: bool) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr while a sync or a preview runs, when `show` (a terminal, not
    --quiet); the callback is told the page (or records) done, and a sync's report so far.
    The total is unknown until the read ends, so the bar pulses. While it is shown, whatever is
    printed to stderr (log lines) goes above it instead of through it."""
    if not show:
        yield lambda *args: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=Console(file=sys.stderr), transient=True, redirect_stderr=True) as bar:
        task = bar.add_task(label, total=None)

        def advance(done: int, report: SyncReport | None = None) -> None:
            text = (f"{label}: page {done}, {report.read:,} read, {report.written:,} written"
                    if report is not None else f"{label}: {done:,}")
            bar.update(task, description=text)
        yield advance


def run_line(run: Run) -> str:
    """A run as `revsync runs` lists it: when, what, its counts, and what it reverted."""
    c = run.counts
    note = f" reverts run {run.reverts}" if run.reverts else ""
    undone = reverted_run(run)
    if not run.reverts and undone is not None:  # a revert that failed part-way is not marked on the run
        note = f" partly reverts run {undone} (revert it again to finish)"
    if c.get("repeats"):
        note += f" and {c['repeats']} quiet run(s) since, the last at {str(c.get('last_at'))[:19]}"
    if run.status == "guarded":
        note = f" stopped: would move {c.get('moved', 0)} of {c.get('decided', 0)} decided records"
    return (f"{run.run_id:5}  {run.started_at[:19]}  {run.object:12} {run.status:11} "
            f"read {c.get('read', 0):6}  written {c.get('written', c.get('restored', 0)):6}  "
            f"failed {c.get('failed', 0):4}  skipped {c.get('skipped', 0):4}{note}")


def run_lines(path: Path, limit: int | None = 20) -> tuple[list[str], int]:
    """The newest `limit` runs (None: all) recorded in the state file at `path`, newest first,
    and how many it holds; none when there is no file."""
    if not path.exists():
        return [], 0
    state = State(path)
    return [run_line(run) for run in state.runs(limit)], state.run_count()


def org_names(spec: OrgSpec | None, state: State) -> dict[str, str]:
    """Owner Ids as people know them: the names the last sync saved in the state and, for the
    embedded org, its users and queues as they are now (from Salesforce that would cost calls)."""
    names = cached_names(state)
    if spec is not None and spec.path is not None and spec.path.exists():
        from connector.orgs.local import LocalOrg
        try:
            org = LocalOrg(spec.path)
            names.update(owner_names(org))
            org.close()
        except BackendError:
            pass
    return names


def run_show(path: Path, run_id: int, spec: OrgSpec | None, outputs: Callable[[str], dict[str, str]], *,
             records: bool = False, record: str | None = None, field: str | None = None, fmt: str = "text",
             where: str = "") -> Iterator[str]:
    """`revsync runs show`: the run's summary; with `records` (or a record or a field to narrow
    to) every changed field, one line each; as JSON for `fmt` json. `outputs(object)`: the
    mapping's output name -> CRM field; `where`: the options the commands it suggests need."""
    state = State(path) if path.exists() else None
    run = state.run(run_id) if state is not None else None
    if state is None or run is None:
        raise RevsyncError(f"no run {run_id} in {path}; `revsync runs` lists them")
    fields = outputs(run.object)
    found = digest(state, run_id, fields, org_names(spec, state))
    assert found is not None  # the run exists
    detail = rows(state, run_id, fields, record, field) if records or record or field else None
    if fmt == "json":
        yield from _json_lines(found.asdict(), detail)
    elif detail is None:
        yield from found.lines()
        yield ""
        yield from _next_steps(state, found, where)
    else:
        yield from change_table(found, detail)


def _next_steps(state: State, found: RunDigest, where: str) -> list[str]:
    run = found.run
    undone, by = reverted_run(run), state.reverted_by(run.run_id)
    lines = [f"this run reverts run {undone}"] if undone is not None else []
    if found.records:
        lines.append(f"`revsync runs show {run.run_id}{where} --records` lists every change (`| less -S` to page it)")
    if by is not None:
        lines.append(f"reverted by run {by}")
    elif (run.counts or {}).get("written") or (run.counts or {}).get("restored"):
        lines.append(f"`revsync revert {run.run_id}{where} --dry-run` shows what undoing it restores; "
                     f"`revsync revert {run.run_id}{where}` undoes it")
    return lines


def _json_lines(data: dict, detail: Iterator[Row] | None) -> Iterator[str]:
    """One JSON document; a run's changes are streamed into it row by row (a first sync has one
    per field of every record of the org)."""
    if detail is None:
        yield json.dumps(data, indent=2, default=str)
        return
    yield json.dumps(data, indent=2, default=str)[:-2] + ',\n  "changes": ['
    comma = ""
    for row in detail:
        yield f"{comma}    {json.dumps(row.asdict(), default=str)}"
        comma = ","
    yield "  ]\n}"


def change_table(found: RunDigest, detail: Iterator[Row], width: int = 32) -> Iterator[str]:
    """Every changed field, one plain line each in fixed columns: it pages (`less -S`), greps and
    sorts; owners by name, long values cut to `width` with `…`."""
    owner = (found.owner_field or "").casefold()
    field_width = max([len(f) for f, _ in found.fields] + [5])

    def cell(row: Row, value: object) -> str:
        if value is None or value == "":
            return "-"
        text = found.name(value) if row.field.casefold() == owner else str(value)
        text = " ".join(text.split())
        return text if len(text) <= width else text[:width - 1] + "…"

    yield f"{'RECORD':18}  {'FIELD':{field_width}}  {'OLD':{width}}  {'NEW':{width}}  {'STATUS':7}  RULE"
    for row in detail:
        yield (f"{row.record:18}  {row.field:{field_width}}  {cell(row, row.old):{width}}  "
               f"{cell(row, row.new):{width}}  {row.status:7}  {row.rule}").rstrip()


def record_timeline(spec: OrgSpec, path: Path, mapping: Mapping, record_id: str) -> History:
    """A record's history from the state file at `path`, owners by name (see `org_names`)."""
    state = State(path)
    return record_history(state, mapping, record_id, org_names(spec, state))
