"""The rules commands: validate, test and describe rule files (`revsync rules ...`, and
`revsync validate` / `test` for short), evaluate an export offline, explain one record's
decision, and scaffold a rules repository (`init`)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from connector.commands.common import (EXIT_CONFIG, EXIT_OK, EXIT_PARTIAL, ORG, _INPUT, _Bare, _Command, _echo_text,
                                       _Group, _load, _open, encoding_option, engine_option, mappings_option,
                                       now_option, object_option, parse_now, report_problems, rules_option)


@click.group("rules", cls=_Group)
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


@rules_group.command("schema", cls=_Bare)  # reads no setting
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


@click.command(cls=_Command)
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
    from connector.offline import evaluate_file, related_warning
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
    warning = related_warning(ws, input_path, result.missing_related)
    if warning:
        click.echo(warning, err=True)
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


@click.command(cls=_Command)
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
    from connector.offline import explain_org_record, explain_record, file_related_warning
    if (input_path is None) == (org_spec is None):
        raise click.UsageError("give the record's source: --input FILE or --org local:PATH")
    now = parse_now(now_text)
    ws = _load(rules_dir, mappings_dir, object_name)
    if org_spec is not None:
        text = explain_org_record(ws, _open(org_spec), record_id, now)  # a BackendError exits 3
    else:
        warning = file_related_warning(ws, input_path, encoding)
        if warning:
            click.echo(warning, err=True)
        text = explain_record(ws, input_path, record_id, now, encoding)
    if text is None:
        click.echo(f"no {ws.object} with id {record_id} in {input_path or org_spec}", err=True)
        sys.exit(EXIT_PARTIAL)
    _echo_text(text)


@click.command(cls=_Bare)  # reads no setting: works beside a broken revsync.toml
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, force: bool) -> None:
    """Scaffold a rules repository: example rules, cases, mappings, config and CI."""
    from connector.workspace.scaffold import installed_requirement, scaffold
    source = installed_requirement()  # this revsync's git URL, when it was installed from one
    written, skipped = scaffold(directory, force=force, source=source)
    for path in written:
        click.echo(f"created {path}")
    for path in skipped:
        click.echo(f"kept existing {path} (use --force to overwrite)", err=True)
    click.echo(f"\nNext: cd {directory} && revsync rules validate && revsync rules test")
    if source is None:
        click.echo(f"For CI: set REVSYNC_SOURCE in {Path(directory) / '.github/workflows/rules.yml'} to the git URL "
                   "revsync is installed from, or a path (no package index serves revsync).")
    click.echo(f"To sync: set `org` in {Path(directory) / 'revsync.toml'} or pass --org "
               f"(`revsync org demo revsync-demo.db` makes an org to try), then `revsync sync --dry-run`.")
