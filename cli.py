"""revsync's command line: the only module that parses arguments, prints, reads the clock and exits.

Exit codes (docs/operations.md): 0 success; 1 partial (rule tests failed, or some records were
skipped or failed to write and are kept for retry); 2 bad input: rule, mapping, settings or
command-line problems, a state or org file that is not usable (nothing was read or written);
3 cannot reach or authenticate to the org; 4 another run holds the lock; 5 the change guard
stopped the run before writing; 6 the API budget floor was reached and the run paused; 70 an
internal error (a bug). Errors carry their code (rules.model.RevsyncError); `report_error` is
the one place an error becomes a message and an exit code.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, MutableMapping

import click
import structlog

from connector.orgs.spec import DEFAULT_ORG, OrgSpec, OrgSpecError, state_path
from connector.workspace.settings import Settings, load_settings
from rules.model import GuardStop, RevsyncError

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_ORG, EXIT_LOCKED, EXIT_GUARD = 0, 1, 2, 3, 4, 5
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h: a bug, not something the user can fix
# Secret values from the environment are masked in everything revsync prints or logs, whatever
# carried them there (an org echoing a request back in an error page, say).
SECRET_ENV = ("SF_ACCESS_TOKEN", "SF_PASSWORD", "SF_SECURITY_TOKEN", "SF_CONSUMER_SECRET")
_VERBOSE = False


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


def setup_logging(verbose: bool = False) -> None:
    global _VERBOSE
    _VERBOSE = verbose
    # plain_traceback: structlog's default on a terminal is rich's traceback with local variables.
    renderer = (structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
                if sys.stderr.isatty() else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[structlog.processors.add_log_level, _log_safely,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if verbose else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def report_error(exc: Exception) -> int:
    """The one place an error becomes a message on stderr (and a JSON event for machines) and
    an exit code: revsync's own errors carry theirs; anything else is a bug (70)."""
    from connector.dbfile import known_failure
    from rules.model import ConfigError
    error_type = type(exc).__name__
    if not isinstance(exc, RevsyncError):  # a busy, damaged or missing file is no bug
        exc = known_failure(exc) or exc
    code, lead, text = exc.exit_code if isinstance(exc, RevsyncError) else EXIT_INTERNAL, "error", str(exc)
    if isinstance(exc, ConfigError):
        report_problems(exc.problems)
    elif isinstance(exc, GuardStop):
        lead = "stopped before writing"
    elif not isinstance(exc, RevsyncError):
        lead, one_line = "internal error (a bug in revsync, exit 70)", " ".join(text.split())[:500]
        text = (f"{error_type}: {one_line}. Run the command again with -v for the traceback "
                f"and report it to revsync's maintainers with that and `revsync --version`")
    if not sys.stderr.isatty():  # on a terminal the line below says it all
        structlog.get_logger().error("command_failed", exit_code=code, error_type=error_type, error=text)
    click.echo(redact(f"{lead}: {text}"), err=True)
    if code == EXIT_INTERNAL and _VERBOSE:
        click.echo(redact("".join(traceback.format_exception(exc))), err=True)
    return code


def parse_now(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not ISO 8601, e.g. 2026-11-23T15:00:00Z", param_hint="--now")
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def report_problems(problems) -> None:
    for problem in problems:
        click.echo(redact(str(problem)), err=True)


def _settings() -> Settings:
    """revsync.toml, read once per command (SettingsError, exit 2, lists every problem)."""
    ctx = click.get_current_context(silent=True)
    meta = ctx.find_root().meta if ctx is not None else {}
    if "revsync.settings" not in meta:
        meta["revsync.settings"] = load_settings()
    return meta["revsync.settings"]


def _setting(key: str):
    return lambda: getattr(_settings(), key)


class _OrgType(click.ParamType):
    """--org parsed once, when the command line is: a mistake exits 2 before anything is read."""

    name = "org"

    def convert(self, value, param, ctx):
        try:
            return value if isinstance(value, OrgSpec) else OrgSpec.parse(value)
        except OrgSpecError as exc:
            self.fail(str(exc), param, ctx)


ORG = _OrgType()


# An export to read: `-` is stdin; pipes and FIFOs (`--input <(cat f)`) are read once, as they flow.
_INPUT = click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
rules_option = click.option("--rules", "rules_dir", type=click.Path(path_type=Path),
                            default=_setting("rules"), show_default="rules",
                            help="Directory of rule files.")
mappings_option = click.option("--mappings", "mappings_dir", type=click.Path(path_type=Path),
                               default=_setting("mappings"),
                               help="Directory of mapping files (default: the shipped mappings).")
object_option = click.option("--object", "object_name", default=_setting("object"),
                             show_default="Lead", help="CRM object: Lead or Opportunity.")
now_option = click.option("--now", "now_text", default=None,
                          help="Evaluation time, ISO 8601 (default: the current time).")
encoding_option = click.option("--encoding", default="utf-8-sig", show_default="utf-8",
                               help="The input file's text encoding, e.g. cp1252 for a CSV Excel saved as plain CSV.")
engine_option = click.option("--engine", type=click.Choice(["default", "durable"]),
                             default=_setting("engine"), show_default="default",
                             help="Rule engine; durable needs `pip install 'revsync[durable]'`.")
org_option = click.option("--org", "org_spec", type=ORG, default=_setting("org"), show_default=DEFAULT_ORG,
                          help="local:PATH (the embedded org) or salesforce (credentials from the environment).")
state_option = click.option("--state", "state_file", type=click.Path(path_type=Path), default=_setting("state"),
                            help="State file (default .revsync/<org>.state.db).")


class _Command(click.Command):
    def invoke(self, ctx):
        # A command given every option still reads revsync.toml: a wrong setting stops it (exit 2)
        # before it reads or writes anything, not halfway through a run that needs it.
        _settings()
        return super().invoke(ctx)


class _Group(click.Group):
    command_class = _Command


class _Main(_Group):
    group_class = _Group

    def main(self, *args, **kwargs):
        setup_logging()  # before anything can log: structlog's own default shows local variables
        return super().main(*args, **kwargs)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise  # click's own: usage errors (exit 2), --help, Ctrl-C
        except BrokenPipeError:  # `revsync ... | head` closed the pipe: not an error of ours
            sys.stdout = open(os.devnull, "w")  # the interpreter's last flush would fail again
            sys.exit(141)
        except Exception as exc:
            sys.exit(report_error(exc))


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging, and the traceback of an internal error.")
@click.version_option(package_name="revsync")
def main(verbose: bool) -> None:
    """revsync: sales and marketing agreements as code."""
    setup_logging(verbose)


def _load(rules_dir: Path, mappings_dir: Path | None, object_name: str, show_warnings: bool = True):
    """Mapping and rules for one object, or exit 2 with every problem."""
    from connector.workspace.workspace import load_workspace
    from rules.model import ConfigError
    try:
        ws = load_workspace(rules_dir, mappings_dir, object_name)
    except ConfigError as exc:
        report_problems(exc.problems)
        errors = sum(1 for p in exc.problems if p.severity.value == "error")
        click.echo(f"{errors} error(s); nothing was evaluated. Fix them and run "
                   f"`revsync rules validate` again.", err=True)
        sys.exit(EXIT_CONFIG)
    if show_warnings:
        report_problems(ws.warnings)
    return ws


@main.group("rules")
def rules_group() -> None:
    """Validate, test and describe rule files."""


@rules_group.command("validate")
@rules_option
@mappings_option
@click.option("--object", "object_name", default=None, help="Only this object (default: every rule file).")
def rules_validate(rules_dir: Path, mappings_dir: Path | None, object_name: str | None) -> None:
    """Check rule files against the format and the mappings; report every problem at once."""
    from connector.workspace.workspace import validate_all
    results, problems = validate_all(rules_dir, mappings_dir, object_name)
    report_problems(problems)
    errors = [p for p in problems if p.severity.value == "error"]
    for line in results:
        click.echo(line)
    if errors:
        click.echo(f"{len(errors)} error(s), {len(problems) - len(errors)} warning(s)", err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(f"ok: {len(results)} rule file(s), {len(problems)} warning(s)")


@rules_group.command("test")
@rules_option
@mappings_option
@engine_option
@click.option("--object", "object_name", default=None, help="Only this object's cases.")
def rules_test(rules_dir: Path, mappings_dir: Path | None, engine: str, object_name: str | None) -> None:
    """Run the rule test cases kept beside the rule files (*.cases.yaml)."""
    from connector.workspace.workspace import run_all_cases
    results = run_all_cases(rules_dir, mappings_dir, engine, object_name)  # a ConfigError exits 2
    failed = [r for r in results if not r.passed]
    for result in results:
        click.echo(result.render())
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(EXIT_PARTIAL if failed else EXIT_OK)


# What admins type first: `revsync validate` and `revsync test` are the rules commands.
main.add_command(rules_validate, "validate")
main.add_command(rules_test, "test")


@rules_group.command("schema", cls=click.Command)  # reads no setting
def rules_schema() -> None:
    """Print the JSON Schema of rule files (for editors' completion and checks)."""
    from rules.schema import schema
    click.echo(json.dumps(schema(), indent=2))


@rules_group.command("fields")
@mappings_option
@object_option
def rules_fields(mappings_dir: Path | None, object_name: str) -> None:
    """List the fields rules may test for an object, with their types and CRM fields."""
    import mappings
    mapping = mappings.load(object_name, mappings_dir)  # a ConfigError exits 2, problems listed
    for name, ftype in sorted(mapping.rule_fields().items()):
        click.echo(f"{name:32} {ftype.value}")


@main.command()
@rules_option
@mappings_option
@object_option
@click.option("--input", "input_path", required=True, type=_INPUT,
              help="CSV or JSONL export named by CRM fields.")
@now_option
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True)
@click.option("--trace", is_flag=True, help="Include every matched rule with file:line in jsonl output.")
@engine_option
@encoding_option
def evaluate(rules_dir, mappings_dir, object_name, input_path, now_text, fmt, trace, engine, encoding):
    """Evaluate an export offline and print one decision per record, in input order."""
    from connector.offline import evaluate_file
    from connector.render import TableStream
    now = parse_now(now_text)
    ws = _load(rules_dir, mappings_dir, object_name)
    table = TableStream() if fmt == "table" else None
    result = evaluate_file(ws, input_path, now, engine, encoding=encoding)
    try:
        _print_decisions(result, table, trace)
    except RuntimeError as exc:  # the optional engine's own failures, e.g. durable_rules' limits
        click.echo(f"error: the {engine} engine failed: {exc}", err=True)
        sys.exit(EXIT_PARTIAL)
    if table is not None:
        table.print()
    for bad in result.bad_rows:
        click.echo(str(bad), err=True)
    if result.unknown_columns:
        click.echo(f"warning: {input_path}: column(s) that look misspelt, ignored: "
                   + ", ".join(result.unknown_columns), err=True)
    sys.exit(EXIT_PARTIAL if result.bad_rows else EXIT_OK)


def _print_decisions(result, table, trace: bool) -> None:
    for decision in result.decisions:
        if table is not None:
            table.add(decision)
            continue
        out = decision.asdict()
        if not trace:
            out.pop("trace")
        try:
            click.echo(json.dumps(out, ensure_ascii=False))
        except UnicodeEncodeError:  # a lone surrogate from a JSON export, or stdout not UTF-8:
            click.echo(json.dumps(out))  # \u escapes, still one JSON object on the line


def _echo_text(text: str) -> None:
    """Text for people that may quote record values: what stdout cannot encode (a lone
    surrogate) is shown as a backslash escape instead of ending the command."""
    try:
        click.echo(text)
    except UnicodeEncodeError:
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        click.echo(text.encode(encoding, "backslashreplace").decode(encoding))


@main.command()
@rules_option
@mappings_option
@object_option
@click.option("--input", "input_path", type=_INPUT,
              help="CSV or JSONL export holding the record.")
@click.option("--org", "org_spec", type=ORG, default=None,
              help="Read the record from an org instead (local:PATH or salesforce), with its account and owner.")
@click.argument("record_id")
@now_option
@encoding_option
def explain(rules_dir, mappings_dir, object_name, input_path, org_spec, record_id, now_text, encoding):
    """One record's full story: every section, every rule, and why it did or did not match."""
    from connector.offline import explain_org_record, explain_record
    if (input_path is None) == (org_spec is None):
        raise click.UsageError("give the record's source: --input FILE or --org local:PATH")
    now = parse_now(now_text)
    ws = _load(rules_dir, mappings_dir, object_name)
    if org_spec is not None:
        text = explain_org_record(ws, _open(org_spec), record_id, now)  # a BackendError exits 3
    else:
        text = explain_record(ws, input_path, record_id, now, encoding)
    if text is None:
        click.echo(f"no {ws.object} with id {record_id} in {input_path or org_spec}", err=True)
        sys.exit(EXIT_PARTIAL)
    _echo_text(text)


@main.command(cls=click.Command)  # reads no setting: works beside a broken revsync.toml
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Scaffold a rules repository: example rules, cases, mappings, config and CI."""
    from connector.workspace.scaffold import scaffold
    written, skipped = scaffold(directory, force=force)
    for path in written:
        click.echo(f"created {path}")
    for path in skipped:
        click.echo(f"kept existing {path} (use --force to overwrite)", err=True)
    click.echo(f"\nNext: cd {directory} && revsync rules validate && revsync rules test")
    click.echo(f"To sync: set `org` in {Path(directory) / 'revsync.toml'} or pass --org "
               f"(`revsync org demo revsync-demo.db` makes an org to try), then `revsync sync --dry-run`.")


# -- the org, sync runs and their journal ----------------------------------------------------
def _open(spec: OrgSpec):
    """What goes wrong reaches `report_error`, as everything does (exit 3 for the org)."""
    return spec.open(salesforce=_settings().salesforce)


ORG_OBJECTS = ["Lead", "Opportunity", "Account", "User", "Group"]  # the embedded org's tables


@main.group("org")
def org_group() -> None:
    """Create, import into and export from the embedded org."""


@org_group.command("demo", cls=click.Command)  # the org commands read no setting
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--size", default=5000, show_default=True, help="Number of leads.")
@click.option("--seed", default=42, show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing file.")
def org_demo(path: Path, size: int, seed: int, force: bool) -> None:
    """Create a demo org with realistic users, queues, accounts, leads and opportunities."""
    from connector.demo.org import create_demo_org
    if path.exists():
        if not force:
            click.echo(f"error: {path} exists; pass --force to replace it", err=True)
            sys.exit(EXIT_CONFIG)
        path.unlink()
    counts = create_demo_org(path, leads=size, seed=seed)
    click.echo(f"created {path}: " + ", ".join(f"{n} {obj}" for obj, n in counts.items()))


@org_group.command("import", cls=click.Command)
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("file", type=_INPUT)
@click.option("--object", "object_name", required=True, type=click.Choice(ORG_OBJECTS, case_sensitive=False))
@encoding_option
def org_import(path: Path, file: Path, object_name: str, encoding: str) -> None:
    """Load a Data Loader style CSV (CRM field names) into the embedded org."""
    from connector.orgs.transfer import ImportRefused, import_file
    try:
        result = import_file(path, object_name, file, encoding)
    except ImportRefused as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    click.echo(str(result))
    sys.exit(EXIT_PARTIAL if result.bad else EXIT_OK)


@org_group.command("export", cls=click.Command)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--object", "object_name", required=True, type=click.Choice(ORG_OBJECTS, case_sensitive=False))
@click.option("--output", type=click.Path(path_type=Path), default=None, help="File (default: stdout).")
def org_export(path: Path, object_name: str, output: Path | None) -> None:
    """Write an object's records as Data Loader style CSV."""
    import contextlib

    from connector.orgs.local import LocalOrg
    from connector.orgs.transfer import export_csv
    org = LocalOrg(path)
    with (output.open("w", newline="", encoding="utf-8") if output else contextlib.nullcontext(sys.stdout)) as fh:
        count = export_csv(org, object_name, fh)
    click.echo(f"exported {count} {object_name} records", err=True)


@main.command()
@org_option
@rules_option
@mappings_option
@object_option
@state_option
@click.option("--dry-run", is_flag=True, help="Evaluate and report; write nothing to the org or the state.")
@click.option("--full", is_flag=True, help="Re-evaluate every record, not only what changed.")
@click.option("--reroute", is_flag=True, help="Route already-routed records again (routing is sticky otherwise).")
@click.option("--accept-changes", is_flag=True, help="Proceed although the change guard would stop the run.")
@click.option("--max-change-share", type=click.FloatRange(0, 1), default=_setting("max_change_share"),
              show_default="0.2", help="Share of already-decided records whose stage or owner may move.")
@click.option("--every", "every", default=None, help="Keep running, one sync every DURATION (e.g. 15m).")
@now_option
@engine_option
def sync(org_spec, rules_dir, mappings_dir, object_name, state_file, dry_run, full, reroute,
         accept_changes, max_change_share, every, now_text, engine):
    """Pull changed records, evaluate the rules, write what changes, checkpoint."""
    import time as _time

    from connector.sync.job import sync_once
    from connector.workspace.schedule import parse_every, reload_workspace
    try:
        interval = parse_every(every) if every else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--every")
    parse_now(now_text)  # command-line mistakes exit 2 before anything is read
    ws = _load(rules_dir, mappings_dir, object_name)
    try:
        while True:
            try:
                report = sync_once(org_spec, ws, state_file, _settings(), parse_now(now_text), dry_run=dry_run,
                                   full=full, reroute=reroute, accept_changes=accept_changes,
                                   max_change_share=max_change_share, engine=engine, progress=_progress,
                                   on_problems=report_problems)
                click.echo(str(report))
                code = EXIT_PARTIAL if report.status == "partial" else EXIT_OK
            except Exception as exc:
                if interval is None or isinstance(exc, click.ClickException):
                    raise
                code = report_error(exc)  # a long-lived --every loop survives one failed run
            if interval is None:
                sys.exit(code)
            click.echo(f"next run in {every}", err=True)
            _time.sleep(interval)
            full = False
            # Each run reads the rules as they are then: an edit takes effect at the next run,
            # and a broken edit skips runs (exit 2 logged) until it is fixed.
            ws, problems = reload_workspace(rules_dir, mappings_dir, object_name, ws)
            report_problems(problems)
    except KeyboardInterrupt:
        # Every page written so far is checkpointed; the next run carries on from there.
        click.echo("stopped: interrupted. Pages written so far are kept; the next run carries on.", err=True)
        sys.exit(130)


def _progress():
    import contextlib
    if not sys.stderr.isatty():
        return contextlib.nullcontext(lambda n: None)
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    @contextlib.contextmanager
    def bar():
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                      transient=True) as progress:
            task = progress.add_task("syncing", total=None)
            yield lambda n: progress.update(task, description=f"syncing: page {n} written")
    return bar()


@main.group("runs", invoke_without_command=True)
@org_option
@state_option
@click.pass_context
def runs_group(ctx, org_spec, state_file) -> None:
    """List sync runs with their counts."""
    from connector.render import run_lines
    _settings()  # as every command does (_Command) before it reads anything
    ctx.obj = state_path(org_spec, state_file, directory=_settings().state_dir)
    if ctx.invoked_subcommand is None:
        lines = run_lines(ctx.obj)
        if not lines:
            click.echo(f"no runs recorded in {ctx.obj} (sync with the same --org, or pass --state)", err=True)
        for line in lines:
            click.echo(line)


@runs_group.command("show")
@click.argument("run_id", type=int)
@click.option("--org", "org_spec", type=ORG, default=None, help="As for `revsync runs`; may come after RUN_ID.")
@click.option("--state", "state_file", type=click.Path(path_type=Path), default=None,
              help="As for `revsync runs`; may come after RUN_ID.")
@click.option("--record", default=None, help="Only this record's changes (15- or 18-character Id).")
@click.option("--field", "field_name", default=None, help="Only changes of this CRM field.")
@click.pass_context
def runs_show(ctx, run_id: int, org_spec: OrgSpec | None, state_file: Path | None, record: str | None,
              field_name: str | None) -> None:
    """Every field a run changed: old and new value, and the rules that decided it."""
    from connector.render import change_lines
    if state_file is None:
        state_file = ctx.obj
        if org_spec is not None and ctx.parent.params.get("state_file") is None:
            state_file = state_path(org_spec, directory=_settings().state_dir)  # an explicit --state before `show` still wins
    for line in change_lines(Path(state_file), run_id, record, field_name):
        click.echo(line)


@main.command()
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


@main.command()
@org_option
@state_option
@click.argument("run_id", type=int)
def revert(org_spec, state_file, run_id):
    """Restore a run's old values where records still hold what it wrote."""
    from connector.sync.job import revert_run
    report = revert_run(org_spec, state_file, _settings(), run_id)
    click.echo(str(report))
    sys.exit(EXIT_PARTIAL if report.failed else EXIT_OK)


@main.command()
@org_option
@rules_option
@mappings_option
@object_option
def doctor(org_spec, rules_dir, mappings_dir, object_name):
    """Check the org has every field revsync reads and writes, and what to create or change."""
    from connector.sync.preflight import preflight
    ws = _load(rules_dir, mappings_dir, object_name)
    problems = preflight(_open(org_spec), ws.mapping, ws.ruleset)
    report_problems(problems)
    errors = [p for p in problems if p.severity.value == "error"]
    click.echo(f"{ws.object}: {len(errors)} problem(s) to fix in the org, "
               f"{len(problems) - len(errors)} warning(s)" if problems else f"{ws.object}: the org is ready")
    sys.exit(EXIT_CONFIG if errors else EXIT_OK)


@main.command()
@rules_option
@click.option("--baseline", required=True, help="Baseline rules: a directory or a git ref (e.g. HEAD, main).")
@mappings_option
@object_option
@click.option("--org", "org_spec", type=ORG, default=None, help="Read records from an org (local:PATH), read-only.")
@click.option("--input", "input_path", type=_INPUT, default=None,
              help="Read records from a CSV or JSONL export.")
@click.option("--where", default=None, help="Only records matching this condition, e.g. '{state: [CA, WA]}'.")
@now_option
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Write to this file (default stdout).")
@click.option("--limit", default=50, show_default=True, help="Changed records listed.")
@click.option("--sample", default=None, type=int, help="List a seeded random sample of N changed records instead.")
@click.option("--seed", default=0, show_default=True)
@click.option("--fail-on-change", is_flag=True, help="Exit 1 if any record changes.")
@click.option("--max-owner-changes", default=None, help="Exit 1 if more owners change than this share (5% or 0.05).")
@click.option("--max-stage-changes", default=None, help="Exit 1 if more stages change than this share.")
@click.option("--max-score-changes", default=None, help="Exit 1 if more scores change than this share.")
@encoding_option
def preview(rules_dir, baseline, mappings_dir, object_name, org_spec, input_path, where, now_text, fmt, output,
            limit, sample, seed, fail_on_change, max_owner_changes, max_stage_changes, max_score_changes, encoding):
    """What a rule change does to every record, before it is live. Writes nothing."""
    from connector.preview import sources
    from connector.preview.compare import run_preview
    from connector.preview.render import exceeded
    from connector.render import preview_text
    from rules.model import ConfigError
    if (org_spec is None) == (input_path is None):
        raise click.UsageError("give exactly one of --org or --input")
    try:
        limits = sources.share_limits({"owner": max_owner_changes, "stage": max_stage_changes,
                                       "score": max_score_changes})
    except sources.BadShare as exc:
        raise click.BadParameter(str(exc), param_hint=f"--max-{exc.key}-changes")
    now = parse_now(now_text)
    candidate = _load(rules_dir, mappings_dir, object_name)
    try:
        result, keep = sources.prepare(candidate, baseline, mappings_dir, where, now, limit=limit, sample=sample,
                                       seed=seed)
    except ConfigError as exc:
        report_problems(exc.problems)
        sys.exit(EXIT_CONFIG)
    source = input_path
    if source is None:
        source = _open(org_spec)
        problems = sources.owner_problems(candidate, source)
        report_problems(problems)
        if any(p.severity.value == "error" for p in problems):
            click.echo("the candidate rules name owners the org does not have; a sync would refuse them", err=True)
            sys.exit(EXIT_CONFIG)
    with _progress() as advance:
        run_preview(result, sources.records(result, source, encoding), keep, on_batch=advance)
    data = result.asdict()
    text = preview_text(data, fmt, f"revsync preview: {candidate.ruleset.file} against {baseline}")
    if output is not None:
        output.write_text(text, encoding="utf-8", errors="backslashreplace")  # a lone surrogate in an Id
        click.echo(f"wrote {output}", err=True)
    else:
        _echo_text(text)
    for bad in result.bad_rows:
        click.echo(str(bad), err=True)
    reasons = exceeded(data, fail_on_change, limits)
    for reason in reasons:
        click.echo(f"preview check failed: {reason}", err=True)
    sys.exit(EXIT_PARTIAL if reasons else EXIT_OK)


@main.command()
@org_option
@rules_option
@mappings_option
@object_option
@state_option
@click.option("--since", default=None, help="Only leads created on or after this date (YYYY-MM-DD or ISO 8601).")
@click.option("--by", type=click.Choice(["source", "segment", "owner", "team", "week"]), default=None,
              help="Also the funnel and SLA per lead source, segment, current owner, team or week created.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "html"]), default="table", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Write to this file (default stdout).")
@now_option
@click.option("--baseline", default=None, help="Backtest --rules against these rules (a directory or a git ref).")
@click.option("--maturity", default="30d", show_default=True,
              help="Backtest: leave out (and count) leads decided less than this long ago.")
@click.option("--decision-delay", default="0m", show_default=True,
              help="Backtest: a lead decided from its creation is decided this long after it.")
@click.option("--decided-at", type=click.Choice(["entered", "created"]), default="entered", show_default=True,
              help="Backtest: decide each lead as of its stage entry (where known) or its creation.")
@click.option("--pilot", "pilot_name", default=None, help="Compare the arms of this pilot ([pilots.NAME] in revsync.toml).")
def report(org_spec, rules_dir, mappings_dir, object_name, state_file, since, by, fmt, output, now_text, baseline,
           maturity, decision_delay, decided_at, pilot_name):
    """The funnel and SLA report (docs/report.md); with --baseline a point-in-time backtest, with
    --pilot a comparison of a pilot's arms. Reads the org and the journal; writes nothing."""
    from dataclasses import replace
    from connector.report.build import make_report
    from connector.report.command import render, report_options
    ws = _load(rules_dir, mappings_dir, object_name)
    options = report_options(ws, _settings(), parse_now(now_text), since, by, baseline, mappings_dir, maturity,
                             decision_delay, decided_at, pilot_name)
    org = _open(org_spec)
    journal = state_path(org_spec, state_file, getattr(org, "org_id", None), _settings().state_dir)
    data = make_report(org, ws, replace(options, journal=journal))
    text = render(data, fmt)
    if output is not None:
        output.write_text(text, encoding="utf-8", errors="backslashreplace")
        click.echo(f"wrote {output}", err=True)
    else:
        _echo_text(text)


@main.group("pilot")
def pilot_group() -> None:
    """Pilots declared in revsync.toml ([pilots.NAME]); compare them with `revsync report --pilot`."""


@pilot_group.command("end")
@click.argument("name")
@click.option("--promote", "outcome", flag_value="promote", help="The candidate rules replace the current ones.")
@click.option("--rollback", "outcome", flag_value="rollback", help="Keep the current rules for everyone.")
@now_option
def pilot_end(name: str, outcome: str | None, now_text: str | None) -> None:
    """End a pilot: the next sync decides every record by the (promoted or current) rules."""
    from connector.workspace.pilots import end_pilot
    from connector.workspace.settings import SETTINGS_FILE
    settings = _settings()
    pilot = settings.pilot(name)
    if outcome is None:
        raise click.UsageError("say how the pilot ends: --promote or --rollback")
    if pilot is None:
        known = ", ".join(p.name for p in settings.pilots) or "none declared"
        raise click.BadParameter(f"no pilot {name!r} in {SETTINGS_FILE} (pilots: {known})", param_hint="NAME")
    for line in end_pilot(Path(SETTINGS_FILE), pilot, settings.rules, settings.object, outcome == "promote",
                          parse_now(now_text).date()):
        click.echo(line)


@main.command(hidden=True, cls=click.Command)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path(".demo"), show_default=True)
@click.option("--size", default=5000, show_default=True)
def demo(directory: Path, size: int) -> None:
    """What `make demo` shows: a demo org synced with the example rules."""
    from connector.demo.showcase import run
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for part in run(directory, size):
        click.echo(part)


if __name__ == "__main__":
    main()
