"""What every command shares: exit codes, settings, the option decorators and parameter types,
the command classes (each takes the logging options and reads revsync.toml first), and the
helpers that load a workspace, open an org, print text and show progress."""
from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path

import click

from connector.commands.logs import logging_options, quiet, redact
from connector.orgs.spec import DEFAULT_ORG, OrgSpec, OrgSpecError
from connector.workspace.settings import Settings, load_settings

EXIT_OK, EXIT_PARTIAL, EXIT_CONFIG, EXIT_ORG, EXIT_LOCKED, EXIT_GUARD = 0, 1, 2, 3, 4, 5
# ctx.meta key of cli.report_error, for a command that reports an error and carries on (sync
# --every): cli.py's main group puts it there, as connector never imports cli.
REPORT_ERROR = "revsync.report_error"


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


class _ShareType(click.ParamType):
    """A share from 0 to 1 written as 5% or 0.05: the parser of preview's gates, for every option."""

    name = "share"

    def convert(self, value, param, ctx):
        from connector.preview.sources import BadShare, share_limits
        try:
            return float(share_limits({"share": str(value)})["share"])
        except BadShare as exc:
            self.fail(str(exc), param, ctx)


SHARE = _ShareType()


# An export to read: `-` is stdin; pipes and FIFOs (`--input <(cat f)`) are read once, as they flow.
_INPUT = click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
rules_option = click.option("--rules", "rules_dir", type=click.Path(path_type=Path),
                            default=_setting("rules"), show_default="rules",
                            help="Directory of rule files.")
mappings_option = click.option("--mappings", "mappings_dir", type=click.Path(path_type=Path),
                               default=_setting("mappings"),
                               help="Mapping files (default: the shipped ones).")
object_option = click.option("--object", "object_name", default=_setting("object"),
                             show_default="Lead", help="Lead or Opportunity.")
now_option = click.option("--now", "now_text", default=None,
                          help="Evaluation time, ISO 8601 (default: now).")
encoding_option = click.option("--encoding", default="utf-8-sig", show_default="utf-8",
                               help="The input file's text encoding, e.g. cp1252 for a CSV Excel saved as plain CSV.")
engine_option = click.option("--engine", type=click.Choice(["default", "durable"]),
                             default=_setting("engine"), show_default="default",
                             help="Rule engine; durable needs `pip install 'revsync[durable]'`.")
org_option = click.option("--org", "org_spec", type=ORG, default=_setting("org"), show_default=DEFAULT_ORG,
                          help="local:PATH (embedded org) or salesforce.")
state_option = click.option("--state", "state_file", type=click.Path(path_type=Path), default=_setting("state"),
                            help="State file (default .revsync/<org>.state.db).")


class _LoggingOptions:
    """Commands take -v, -q and --log-format after their name too, not listed in their help
    (`revsync --help` lists them once) so that each help fits a screen."""

    hidden_logging = True
    params: list[click.Parameter]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.params += logging_options(self.hidden_logging)


class _Bare(_LoggingOptions, click.Command):
    """A command that reads no setting (it works beside a broken revsync.toml)."""


class _Command(_LoggingOptions, click.Command):
    def invoke(self, ctx):
        # A command given every option still reads revsync.toml: a wrong setting stops it (exit 2)
        # before it reads or writes anything, not halfway through a run that needs it.
        _settings()
        return super().invoke(ctx)


class _Group(_LoggingOptions, click.Group):
    command_class = _Command


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


def _open(spec: OrgSpec):
    """What goes wrong reaches `report_error`, as everything does (exit 3 for the org)."""
    return spec.open(salesforce=_settings().salesforce)


def _echo_text(text: str) -> None:
    """Text for people that may quote record values: what stdout cannot encode (a lone
    surrogate) is shown as a backslash escape instead of ending the command."""
    try:
        click.echo(text)
    except UnicodeEncodeError:
        encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
        click.echo(text.encode(encoding, "backslashreplace").decode(encoding))


def _where(org_spec: OrgSpec, state_file: Path | None) -> str:
    """The options a suggested `revsync runs show` or `revert` needs to find this run's state."""
    where = "" if str(org_spec) == str(_settings().org) else f" --org {org_spec}"
    return where + (f" --state {state_file}" if state_file is not None and state_file != _settings().state else "")


def _progress(label: str = "previewing"):
    from connector.render import progress
    return progress(label, sys.stderr.isatty() and not quiet())
