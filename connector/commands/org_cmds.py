"""The embedded org's commands (`revsync org demo / import / export`), `doctor` (is an org ready
for the rules), and the hidden `demo` of `make demo`."""
from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
import structlog

from connector.commands.common import (EXIT_CONFIG, EXIT_OK, EXIT_PARTIAL, _INPUT, _Bare, _Command, _Group, _load,
                                       _open, encoding_option, mappings_option, object_option, org_option,
                                       report_problems, rules_option)

ORG_OBJECTS = ["Lead", "Opportunity", "Account", "User", "Group"]  # the embedded org's tables


class _AnyCase(click.Choice):
    """Choices taken in any case but shown as Salesforce spells them (click shows them folded)."""

    def __init__(self, choices: list[str]):
        super().__init__(choices, case_sensitive=False)

    def get_metavar(self, param, ctx) -> str:
        return "[" + "|".join(map(str, self.choices)) + "]"

    def get_invalid_choice_message(self, value, ctx) -> str:
        return f"{value!r} is not one of " + ", ".join(repr(str(c)) for c in self.choices)


@click.group("org", cls=_Group)
def org_group() -> None:
    """Create, import into and export from the embedded org."""


@org_group.command("demo", cls=_Bare)  # the org commands read no setting
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


@org_group.command("import", cls=_Bare)
@click.argument("path", type=click.Path(path_type=Path))
@click.argument("file", type=_INPUT)
@click.option("--object", "object_name", required=True, type=_AnyCase(ORG_OBJECTS))
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


@org_group.command("export", cls=_Bare)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--object", "object_name", required=True, type=_AnyCase(ORG_OBJECTS))
@click.option("--output", type=click.Path(path_type=Path), default=None, help="File (default: stdout).")
@click.option("--related", is_flag=True,
              help="Add the related columns the mapping reads (Account.*, Owner.*), as a sync finds them.")
@click.option("--mappings", "mappings_dir", type=click.Path(path_type=Path), default=None,
              help="With --related: the mappings directory (default: the shipped mappings).")
def org_export(path: Path, object_name: str, output: Path | None, related: bool, mappings_dir: Path | None) -> None:
    """Write an object's records as Data Loader style CSV."""
    import contextlib

    from connector.orgs.local import LocalOrg
    from connector.orgs.transfer import export_csv
    org = LocalOrg(path)
    columns, extra = None, None
    if related:
        import mappings
        from connector.context import OrgContext
        context = OrgContext(org, mappings.load(object_name, mappings_dir))  # a ConfigError exits 2
        columns, extra = context.related_columns(), context.related_row
    with (output.open("w", newline="", encoding="utf-8") if output else contextlib.nullcontext(sys.stdout)) as fh:
        count = export_csv(org, object_name, fh, columns, extra)
    click.echo(f"exported {count} {object_name} records" + (f" with {len(columns)} related columns" if columns else ""),
               err=True)


@click.command(cls=_Command)
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


@click.command(hidden=True, cls=_Bare)
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path(".demo"), show_default=True)
@click.option("--size", default=5000, show_default=True)
def demo(directory: Path, size: int) -> None:
    """What `make demo` shows: a demo org synced with the example rules."""
    from connector.demo.showcase import run
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    for part in run(directory, size):
        click.echo(part)
