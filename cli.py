"""revsync's command line: the only module that parses arguments, prints, reads the clock and exits.

Exit codes: 0 success; 1 rule tests failed or some records were skipped; 2 rule or mapping
files are wrong (nothing was read or written).
"""
from __future__ import annotations

import json
import logging
import sys
import tomllib
from datetime import datetime, timezone
from pathlib import Path

import click
import structlog

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG = 0, 1, 2
CONFIG_FILE = "revsync.toml"


def setup_logging(verbose: bool = False) -> None:
    renderer = (structlog.dev.ConsoleRenderer() if sys.stderr.isatty()
                else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG if verbose else logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )


def load_settings(path: Path = Path(CONFIG_FILE)) -> dict:
    """`revsync.toml` in the working directory supplies defaults for options."""
    if not path.is_file():
        return {}
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    return data.get("revsync", data)


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
        click.echo(str(problem), err=True)


def _settings_default(key: str, fallback):
    def get():
        return load_settings().get(key, fallback)
    return get


rules_option = click.option("--rules", "rules_dir", type=click.Path(path_type=Path),
                            default=_settings_default("rules", "rules"), show_default="rules",
                            help="Directory of rule files.")
mappings_option = click.option("--mappings", "mappings_dir", type=click.Path(path_type=Path),
                               default=_settings_default("mappings", None),
                               help="Directory of mapping files (default: the shipped mappings).")
object_option = click.option("--object", "object_name", default=_settings_default("object", "Lead"),
                             show_default="Lead", help="CRM object: Lead or Opportunity.")
now_option = click.option("--now", "now_text", default=None,
                          help="Evaluation time, ISO 8601 (default: the current time).")
engine_option = click.option("--engine", type=click.Choice(["default", "durable"]),
                             default=_settings_default("engine", "default"), show_default="default",
                             help="Rule engine; durable needs `pip install 'revsync[durable]'`.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
@click.version_option(package_name="revsync")
def main(verbose: bool) -> None:
    """revsync: sales and marketing agreements as code."""
    setup_logging(verbose)


def _load(rules_dir: Path, mappings_dir: Path | None, object_name: str, show_warnings: bool = True):
    """Mapping and rules for one object, or exit 2 with every problem."""
    from connector.workspace import load_workspace
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
    from connector.workspace import validate_all
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
    from connector.workspace import run_all_cases
    from rules.model import ConfigError
    try:
        results = run_all_cases(rules_dir, mappings_dir, engine, object_name)
    except ConfigError as exc:
        report_problems(exc.problems)
        sys.exit(EXIT_CONFIG)
    failed = [r for r in results if not r.passed]
    for result in results:
        click.echo(result.render())
    click.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    sys.exit(EXIT_PARTIAL if failed else EXIT_OK)


@rules_group.command("schema")
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
    from rules.model import ConfigError
    try:
        mapping = mappings.load(object_name, mappings_dir)
    except ConfigError as exc:
        report_problems(exc.problems)
        sys.exit(EXIT_CONFIG)
    for name, ftype in sorted(mapping.rule_fields().items()):
        click.echo(f"{name:32} {ftype.value}")


@main.command()
@rules_option
@mappings_option
@object_option
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV or JSONL export named by CRM fields.")
@now_option
@click.option("--format", "fmt", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True)
@click.option("--trace", is_flag=True, help="Include every matched rule with file:line in jsonl output.")
@engine_option
def evaluate(rules_dir, mappings_dir, object_name, input_path, now_text, fmt, trace, engine):
    """Evaluate an export offline and print one decision per record, in input order."""
    from connector.offline import evaluate_file
    now = parse_now(now_text)
    ws = _load(rules_dir, mappings_dir, object_name)
    table = None
    if fmt == "table":
        from connector.report import DecisionTable
        table = DecisionTable()
    result = evaluate_file(ws, input_path, now, engine)
    for decision in result.decisions:
        if table is not None:
            table.add(decision)
            continue
        out = decision.asdict()
        if not trace:
            out.pop("trace")
        click.echo(json.dumps(out, ensure_ascii=False))
    if table is not None:
        table.print()
    for bad in result.bad_rows:
        click.echo(str(bad), err=True)
    sys.exit(EXIT_PARTIAL if result.bad_rows else EXIT_OK)


@main.command()
@rules_option
@mappings_option
@object_option
@click.option("--input", "input_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("record_id")
@now_option
def explain(rules_dir, mappings_dir, object_name, input_path, record_id, now_text):
    """One record's full story: every section, every rule, and why it did or did not match."""
    from connector.offline import explain_record
    now = parse_now(now_text)
    ws = _load(rules_dir, mappings_dir, object_name)
    text = explain_record(ws, input_path, record_id, now)
    if text is None:
        click.echo(f"no record with id {record_id} in {input_path}", err=True)
        sys.exit(EXIT_PARTIAL)
    click.echo(text)


@main.command()
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Scaffold a rules repository: example rules, cases, mappings, config and CI."""
    from rules.templates import scaffold
    written, skipped = scaffold(directory, force=force)
    for path in written:
        click.echo(f"created {path}")
    for path in skipped:
        click.echo(f"kept existing {path} (use --force to overwrite)", err=True)
    click.echo(f"\nNext: cd {directory} && revsync rules validate && revsync rules test")


@main.command(hidden=True)
def demo() -> None:
    """What `make demo` shows."""
    from connector.offline import run_demo
    click.echo(run_demo())


if __name__ == "__main__":
    main()
