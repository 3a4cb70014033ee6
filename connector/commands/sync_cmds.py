"""A sync and its journal: `sync` (once, or every DURATION, stopped by Ctrl-C or SIGTERM),
`runs` and `runs show`, a record's `history`, and `revert`."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from connector.commands.common import (EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, ORG, REPORT_ERROR, SHARE, _Command, _Group,
                                       _echo_text, _load, _progress, _setting, _settings, _where, engine_option,
                                       mappings_option, now_option, object_option, org_option, parse_now,
                                       report_problems, rules_option, state_option)
from connector.commands.logs import quiet
from connector.orgs.spec import OrgSpec, state_path

CONFIRM_ABOVE = 100  # records: a revert of more asks first on a terminal, and needs --yes elsewhere


@click.command(cls=_Command)
@org_option
@rules_option
@mappings_option
@object_option
@state_option
@click.option("--dry-run", is_flag=True, help="Evaluate and report; write nothing to the org or the state.")
@click.option("--full", is_flag=True, help="Re-evaluate every record, not only what changed.")
@click.option("--reroute", is_flag=True, help="Route already-routed records again (routing is sticky otherwise).")
@click.option("--accept-changes", is_flag=True, help="Proceed although the change guard would stop the run.")
@click.option("--max-change-share", type=SHARE, default=_setting("max_change_share"),
              show_default="20%", help="Share of already-decided records whose stage or owner may move (5% or 0.05).")
@click.option("--every", "every", default=None, help="Keep running, one sync every DURATION (e.g. 15m).")
@now_option
@engine_option
def sync(org_spec, rules_dir, mappings_dir, object_name, state_file, dry_run, full, reroute,
         accept_changes, max_change_share, every, now_text, engine):
    """Pull changed records, evaluate the rules, write what changes, checkpoint."""
    import signal
    import time as _time

    from connector.render import sync_summary
    from connector.sync.job import sync_once
    from connector.workspace.schedule import parse_every, reload_workspace
    try:
        interval = parse_every(every) if every else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--every")
    parse_now(now_text)  # command-line mistakes exit 2 before anything is read
    ws = _load(rules_dir, mappings_dir, object_name)
    signal.signal(signal.SIGTERM, _terminated)  # a scheduler's stop ends a run as Ctrl-C does
    where = _where(org_spec, state_file)
    try:
        while True:
            try:
                synced = sync_once(org_spec, ws, state_file, _settings(), parse_now(now_text), dry_run=dry_run,
                                   full=full, reroute=reroute, accept_changes=accept_changes,
                                   max_change_share=max_change_share, engine=engine,
                                   progress=lambda: _progress(f"syncing {ws.object if ws else object_name}"),
                                   on_problems=report_problems)
                if not quiet():
                    _echo_text(sync_summary(synced, where))
                code = EXIT_PARTIAL if synced.report.status == "partial" else EXIT_OK
            except Exception as exc:
                if interval is None or isinstance(exc, click.ClickException):
                    raise
                # cli.report_error, as for any command, and a long-lived --every loop survives one failed run
                code = click.get_current_context().meta[REPORT_ERROR](exc)
            if interval is None:
                sys.exit(code)
            if not quiet():
                click.echo(f"next run in {every}", err=True)
            _time.sleep(interval)
            full = False
            # Each run reads the rules as they are then: an edit takes effect at the next run,
            # and a broken edit skips runs (exit 2 logged) until it is fixed.
            ws, problems = reload_workspace(rules_dir, mappings_dir, object_name, ws)
            report_problems(problems)
    except KeyboardInterrupt as exc:
        # Every page written so far is checkpointed, and the lock was released on the way out;
        # the next run carries on from there. The exit code is the shell's for the signal.
        how, code = ("terminated (SIGTERM)", 143) if isinstance(exc, _Terminated) else ("interrupted", 130)
        click.echo(f"stopped: {how}. Pages written so far are kept; the next run carries on.", err=True)
        sys.exit(code)


class _Terminated(KeyboardInterrupt):
    """SIGTERM (systemd, Kubernetes, `kill`): stops a sync the way Ctrl-C does, run marked
    interrupted, lock released, but exits 143."""


def _terminated(signum, frame) -> None:
    raise _Terminated()


@click.group("runs", invoke_without_command=True, cls=_Group)
@org_option
@state_option
@click.option("--limit", default=20, show_default=True, type=click.IntRange(0), help="Newest runs listed; 0 for all.")
@click.pass_context
def runs_group(ctx, org_spec, state_file, limit) -> None:
    """List sync runs with their counts, newest first."""
    from connector.render import run_lines
    _settings()  # as every command does (_Command) before it reads anything
    ctx.obj = state_path(org_spec, state_file, directory=_settings().state_dir)
    if ctx.invoked_subcommand is None:
        lines, total = run_lines(ctx.obj, limit or None)
        if not lines:
            click.echo(f"no runs recorded in {ctx.obj} (sync with the same --org, or pass --state)", err=True)
        for line in lines:
            click.echo(line)
        if len(lines) < total:
            click.echo(f"the newest {len(lines)} of {total} runs; --limit 0 lists them all", err=True)


@runs_group.command("show")
@click.argument("run_id", type=int)
@click.option("--org", "org_spec", type=ORG, default=None, help="As for `revsync runs`; may come after RUN_ID.")
@click.option("--state", "state_file", type=click.Path(path_type=Path), default=None,
              help="As for `revsync runs`; may come after RUN_ID.")
@click.option("--records", is_flag=True, help="Every changed field, one line each (page it with `less -S`).")
@click.option("--record", default=None, help="Only this record's changes (15- or 18-character Id).")
@click.option("--field", "field_name", default=None, help="Only changes of this CRM field.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.pass_context
def runs_show(ctx, run_id: int, org_spec: OrgSpec | None, state_file: Path | None, records: bool,
              record: str | None, field_name: str | None, fmt: str) -> None:
    """What a run changed: fields, owner moves by owner, stage flows, the rules that decided
    most. --records (or --record, --field) lists each change with its old and new value."""
    from connector.render import run_show
    explicit = state_file or ctx.parent.params.get("state_file")
    if state_file is None:
        state_file = ctx.obj
        if org_spec is not None and ctx.parent.params.get("state_file") is None:
            state_file = state_path(org_spec, directory=_settings().state_dir)  # an explicit --state before `show` still wins
    spec = org_spec or ctx.parent.params.get("org_spec")
    for line in run_show(Path(state_file), run_id, spec, _outputs, records=records, record=record,
                         field=field_name, fmt=fmt, where=_where(spec, explicit)):
        _echo_text(line)


def _outputs(object_name: str) -> dict[str, str]:
    """The CRM fields an object's decisions are written to (which holds the owner, which the
    stage), from the mapping in use, or the shipped one when that does not load."""
    import mappings
    from rules.model import ConfigError
    try:
        mapping = mappings.load(object_name, _settings().mappings)
    except ConfigError:
        mapping = mappings.load(object_name, None)
    return {o.name: o.crm for o in mapping.outputs}


@click.command(cls=_Command)
@click.argument("record_id")
@org_option
@state_option
@mappings_option
@object_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def history(record_id, org_spec, state_file, mappings_dir, object_name, fmt):
    """One record's timeline across runs, oldest first: stage entries, owners and the rules that
    gave them (first routing, handoffs, escalations), SLA clocks, reverts. RECORD_ID has 15 or 18
    characters; a record no run changed prints `no runs changed ID` and exits 0."""
    import mappings
    from connector.render import record_timeline
    mapping = mappings.load(object_name, mappings_dir)  # a ConfigError exits 2, problems listed
    path = state_path(org_spec, state_file, directory=_settings().state_dir)
    if not path.exists():
        click.echo(f"no runs recorded in {path} (sync with the same --org, or pass --state)", err=True)
        return
    found = record_timeline(org_spec, path, mapping, record_id)
    if fmt == "json":
        click.echo(json.dumps(found.asdict(), indent=2, default=str))
    if not found.events:
        hint = f"; {' and '.join(found.elsewhere)} runs did (pass --object)" if found.elsewhere else ""
        click.echo(f"no runs changed {record_id} in {path}{hint}", err=True)
    elif fmt == "table":
        click.echo(str(found))


@click.command(cls=_Command)
@org_option
@state_option
@click.argument("run_id", type=int)
@click.option("--dry-run", is_flag=True, help="Say what would be restored and left alone; write nothing.")
@click.option("--yes", "-y", is_flag=True, help=f"Revert more than {CONFIRM_ABOVE} records without asking.")
def revert(org_spec, state_file, run_id, dry_run, yes):
    """Restore a run's old values where records still hold what it wrote; fields changed since
    (by people, or by a later run) are left alone."""
    from connector.sync.job import revert_run

    def confirm(records: int) -> None:
        if records <= CONFIRM_ABOVE or yes:
            return
        if not sys.stdin.isatty():
            click.echo(f"error: run {run_id} wrote {records:,} records; a revert of more than {CONFIRM_ABOVE} "
                       f"asks first. Pass --yes to revert without asking (`--dry-run` shows what it restores).",
                       err=True)
            sys.exit(EXIT_CONFIG)
        if not click.confirm(f"Revert run {run_id}: restore up to {records:,} records in {org_spec}?", err=True):
            click.echo("cancelled: nothing was written", err=True)
            sys.exit(EXIT_PARTIAL)

    report = revert_run(org_spec, state_file, _settings(), run_id, dry_run=dry_run, confirm=confirm)
    if not quiet() or dry_run:
        _echo_text(str(report))
    if dry_run:
        click.echo(f"dry run: nothing was written; `revsync revert {run_id}{_where(org_spec, state_file)}` "
                   f"restores these")
    sys.exit(EXIT_PARTIAL if report.failed else EXIT_OK)
