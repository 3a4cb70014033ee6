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

import click
import structlog

from connector.orgs.spec import DEFAULT_ORG, LEGACY_SALESFORCE_STATE, OrgSpec, OrgSpecError, state_path
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


def _log_safely(logger, method: str, event: dict) -> dict:
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
    from connector.dbfile import is_file_error
    from rules.model import ConfigError
    code, lead, text = exc.exit_code if isinstance(exc, RevsyncError) else EXIT_INTERNAL, "error", str(exc)
    if isinstance(exc, ConfigError):
        report_problems(exc.problems)
    elif isinstance(exc, GuardStop):
        lead = "stopped before writing"
    elif not isinstance(exc, RevsyncError):
        name = getattr(exc, "sqlite_errorname", None) or ""
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):  # another process kept it past the timeout
            code, text = EXIT_LOCKED, (f"{exc}: another process is writing the state or embedded-org file; "
                                       "this command stopped there. Run it again when that one is done")
        elif is_file_error(exc):  # damaged where the checks at opening did not look, or a full disk
            code, text = EXIT_CONFIG, (f"{exc} ({exc.sqlite_errorname}): the state or embedded-org file is "
                                       "damaged or read-only, or its disk is full; revsync stopped there. "
                                       "Check the disk and the file, or restore the file from a backup")
        elif isinstance(exc, OSError) and exc.filename is not None:
            code, text = EXIT_CONFIG, f"{exc.filename}: {exc.strerror}"
        else:
            code, lead = EXIT_INTERNAL, "internal error (a bug in revsync, exit 70)"
            one_line = " ".join(text.split())[:500]
            text = (f"{type(exc).__name__}: {one_line}. Run the command again with -v for the traceback "
                    f"and report it to revsync's maintainers with that and `revsync --version`")
    if not sys.stderr.isatty():  # on a terminal the line below says it all
        structlog.get_logger().error("command_failed", exit_code=code, error_type=type(exc).__name__,
                                     error=text)
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
    now = parse_now(now_text)
    ws = _load(rules_dir, mappings_dir, object_name)
    table = _TableStream() if fmt == "table" else None
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


class _TableStream:
    """`evaluate --format table` printed CHUNK rows at a time: memory stays flat however long
    the file (one table holding every row took 558 MB at 100k rows; this takes 60 MB). Cells
    are rich Text, never markup: an Id `[/bold]` is shown as written instead of being read as
    a tag (or `:smile:` as an emoji code)."""

    CHUNK = 500

    def __init__(self) -> None:
        from rich.console import Console

        from connector.offline import COLUMNS
        self.columns = COLUMNS
        self.console = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 160)
        self.rows: list[tuple[str, ...]] = []
        self.widths: list[int] | None = None

    def add(self, decision) -> None:
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
        first = self.widths is None
        if not first and not self.rows:
            return
        # Widths only grow (to 60, then text folds): chunks line up unless a later one is wider.
        self.widths = [min(max([len(c) if first else self.widths[i], *(len(r[i]) for r in self.rows)]), 60)
                       for i, c in enumerate(self.columns)]
        table = Table(title="revsync decisions" if first else None, show_header=first, box=box.SIMPLE_HEAD,
                      show_edge=False)
        for name, width in zip(self.columns, self.widths):
            table.add_column(name, width=width, overflow="fold")
        for row in self.rows:
            table.add_row(*(Text(c) for c in row))
        self.console.print(table)
        self.rows.clear()


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


def _writing(spec: OrgSpec, state: Path):
    """The lock of a command that writes the org and its state. A state file that is not
    revsync's is refused (exit 2) first: the lock file would be created beside it."""
    from connector.sync.journal import check_file
    from connector.workspace.lock import org_lock
    check_file(state, writable=True)
    return org_lock(spec, state)


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
    from connector.orgs.local import LocalOrg
    from connector.orgs.transfer import ImportRefused, import_csv
    created = not path.exists()
    org = LocalOrg(path, create=True)
    try:
        result = import_csv(org, object_name, file, encoding)
    except ImportRefused as exc:
        org.close()
        if created:  # refused before any row: leave no empty org behind
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)
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
    from connector.orgs.local import LocalOrg
    from connector.orgs.transfer import export_csv
    org = LocalOrg(path)
    with (output.open("w", newline="", encoding="utf-8") if output else _stdout()) as fh:
        count = export_csv(org, object_name, fh)
    click.echo(f"exported {count} {object_name} records", err=True)


def _stdout():
    import contextlib
    return contextlib.nullcontext(sys.stdout)


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
                code = _sync_once(org_spec, ws, state_file, dry_run, full, reroute,
                                  accept_changes, max_change_share, now_text, engine)
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


def _sync_once(org_spec, ws, state_file, dry_run, full, reroute, accept_changes, max_change_share,
               now_text, engine) -> int:
    import contextlib

    from connector.context import OrgContext
    from connector.sync.journal import State, StateCache, adopt_state
    from connector.sync.preflight import preflight
    from connector.sync.run import SyncOptions, SyncRun
    if ws is None:
        raise RevsyncError("the rules do not validate; this run did nothing (see the problems above)")
    org = _open(org_spec)
    org_id = getattr(org, "org_id", None)  # Salesforce: from the login, no call of its own
    path = state_path(org_spec, state_file, org_id, _settings().state_dir)
    # A dry run writes nothing, state included: it takes no lock and reads a copy in memory.
    with contextlib.nullcontext() if dry_run else _writing(org_spec, path):
        if org_id and state_file is None and not dry_run:
            adopt_state(path.with_name(LEGACY_SALESFORCE_STATE), path, org_id, getattr(org, "instance_url", ""))
        # An existing state holds the org's describes: a quiet run does not describe it again.
        state = State.for_reading(path) if dry_run else State(path) if path.exists() else None
        if state is not None and org_id:
            state.claim_org(org_id, getattr(org, "instance_url", ""))  # before it is read or written
        if state is not None and hasattr(org, "metadata_cache"):
            org.metadata_cache = StateCache(state)
        context = OrgContext(org, ws.mapping)  # users and queues, read once for preflight and the run
        # A dry run checks too: it must not promise writes the real run would refuse.
        problems = [p for p in preflight(org, ws.mapping, ws.ruleset, context) if p.severity.value == "error"]
        if problems:
            report_problems(problems)
            raise RevsyncError("the org is missing what revsync writes, or users and queues the rules name; "
                               "nothing was written. `revsync doctor` lists what to create.")
        if state is None:
            state = State(path)
            if hasattr(org, "metadata_cache"):
                org.metadata_cache = StateCache(state)
        opts = SyncOptions(object=ws.object, now=parse_now(now_text), dry_run=dry_run, full=full,
                           reroute=reroute, accept_changes=accept_changes,
                           max_change_share=max_change_share, engine=engine,
                           page_size=_settings().page_size)
        with _progress() as advance:
            report = SyncRun(org, ws, state, opts, on_page=advance, context=context).run()
        click.echo(str(report))
        return EXIT_PARTIAL if report.status == "partial" else EXIT_OK


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


def _open_state(path: Path):
    """The state file; one that is not usable is refused (exit 2) by `report_error`, untouched."""
    from connector.sync.journal import State
    return State(path)


@main.group("runs", invoke_without_command=True)
@org_option
@state_option
@click.pass_context
def runs_group(ctx, org_spec, state_file) -> None:
    """List sync runs with their counts."""
    _settings()  # as every command does (_Command) before it reads anything
    ctx.obj = state_path(org_spec, state_file, directory=_settings().state_dir)
    if ctx.invoked_subcommand is None:
        runs = _open_state(ctx.obj).runs() if ctx.obj.exists() else []
        if not runs:
            click.echo(f"no runs recorded in {ctx.obj} (sync with the same --org, or pass --state)", err=True)
        for run in runs:
            c = run.counts
            note = f" reverts run {run.reverts}" if run.reverts else ""
            if not run.reverts and run.rules_fingerprint.startswith("revert:"):
                note = f" partly reverts run {run.rules_fingerprint[7:]} (revert it again to finish)"
            if run.status == "guarded":
                note = f" stopped: would move {c.get('moved', 0)} of {c.get('decided', 0)} decided records"
            click.echo(f"{run.run_id:5}  {run.started_at[:19]}  {run.object:12} {run.status:11} "
                       f"read {c.get('read', 0):6}  written {c.get('written', c.get('restored', 0)):6}  "
                       f"failed {c.get('failed', 0):4}  skipped {c.get('skipped', 0):4}{note}")


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
    if state_file is None:
        state_file = ctx.obj
        if org_spec is not None and ctx.parent.params.get("state_file") is None:
            state_file = state_path(org_spec, directory=_settings().state_dir)  # an explicit --state before `show` still wins
    state = _open_state(state_file) if Path(state_file).exists() else None
    run = state.run(run_id) if state is not None else None
    if run is None:
        raise RevsyncError(f"no run {run_id} in {state_file}; `revsync runs` lists them")
    click.echo(json.dumps(run.asdict(), indent=2))
    for c in state.changes(run_id):
        if (record and c.record_id[:15] != record[:15]) or (field_name and c.field.casefold() != field_name.casefold()):
            continue
        click.echo(f"{c.record_id} {c.field}: {c.old!r} -> {c.new!r} [{c.status}]  {c.rules}")


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
    from connector.orgs.base import BackendError
    from connector.sync.history import owner_names, record_history
    mapping = mappings.load(object_name, mappings_dir)  # a ConfigError exits 2, problems listed
    path = state_path(org_spec, state_file, directory=_settings().state_dir)
    if not path.exists():
        click.echo(f"no runs recorded in {path} (sync with the same --org, or pass --state)", err=True)
        return
    names = {}
    if org_spec.kind == "local":  # from Salesforce names would cost API calls: Ids
        try:
            org = _open(org_spec)
            names = owner_names(org)
            org.close()
        except BackendError:
            pass
    found = record_history(_open_state(path), mapping, record_id, names)
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
    from connector.sync.revert import revert as do_revert
    path = state_path(org_spec, state_file, directory=_settings().state_dir)
    if not path.exists():
        raise RevsyncError(f"no runs recorded in {path} (use the same --org as the sync, or pass --state)")
    with _writing(org_spec, path):
        report = do_revert(_open(org_spec), _open_state(path), run_id)
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


def parse_share(text: str | None, param: str):
    """An exact fraction (`12.5%` is 1/8): a float would put 0.7% a hair below 7 of 1,000."""
    from fractions import Fraction
    if text is None:
        return None
    stripped = text.strip()
    try:
        share = Fraction(stripped[:-1]) / 100 if stripped.endswith("%") else Fraction(stripped)
    except (ValueError, ZeroDivisionError):
        share = Fraction(-1)
    if not 0 <= share <= 1:
        raise click.BadParameter(f"{text!r}: use a share from 0 to 1 such as 5% or 0.05", param_hint=param)
    return share


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
    from connector.preview import compare as pv
    from connector.preview.render import exceeded, render_csv, render_table
    from rules.model import ConfigError
    if (org_spec is None) == (input_path is None):
        raise click.UsageError("give exactly one of --org or --input")
    limits = {k: v for k, v in (("owner", parse_share(max_owner_changes, "--max-owner-changes")),
                                ("stage", parse_share(max_stage_changes, "--max-stage-changes")),
                                ("score", parse_share(max_score_changes, "--max-score-changes"))) if v is not None}
    now = parse_now(now_text)
    candidate = _load(rules_dir, mappings_dir, object_name)
    try:
        base = pv.baseline_workspace(candidate, baseline, mappings_dir)
        keep = pv.where_filter(candidate, where)
    except ConfigError as exc:
        report_problems(exc.problems)
        sys.exit(EXIT_CONFIG)
    result = pv.Preview(base, candidate, now, limit=limit, sample=sample, seed=seed)
    if input_path is not None:
        records = pv.file_records(candidate, input_path, result.bad_rows, encoding)
    else:
        org = _open(org_spec)
        if candidate.mapping.output("owner") is not None:
            from connector.sync.preflight import owner_problems
            problems = owner_problems(org, candidate.ruleset)
            report_problems(problems)
            if any(p.severity.value == "error" for p in problems):
                click.echo("the candidate rules name owners the org does not have; a sync would refuse "
                           "them", err=True)
                sys.exit(EXIT_CONFIG)
        records = pv.org_records(candidate, org, now, preview=result)
    with _progress() as advance:
        pv.run_preview(result, records, keep, on_batch=advance)
    data = result.asdict()
    if fmt == "json":
        text = json.dumps(data, indent=2, default=str)
    elif fmt == "csv":
        text = render_csv(data)
    elif fmt == "html":
        from connector.preview.html import render_html
        text = render_html(data, f"revsync preview: {candidate.ruleset.file} against {baseline}")
    else:
        text = render_table(data)
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
