"""What rules do and did: `preview` (a rule change against every record, before it is live),
`report` (the funnel and SLA, backtests, pilot comparisons) and `pilot end`. They write nothing
to the org."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from connector.commands.common import (EXIT_CONFIG, EXIT_OK, EXIT_PARTIAL, ORG, _INPUT, _Command, _Group,
                                       _echo_text, _load, _open, _progress, _settings, encoding_option,
                                       mappings_option, now_option, object_option, org_option, parse_now,
                                       report_problems, rules_option, state_option)
from connector.orgs.spec import state_path


@click.command(cls=_Command)
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
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=0),
              help="Changed records listed, in every format (0: all); the output says how many of how many.")
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
    if input_path is not None:
        from connector.offline import file_related_warning
        warning = file_related_warning(candidate, input_path, encoding)
        if warning:
            click.echo(warning, err=True)
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


@click.command(cls=_Command)
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


@click.group("pilot", cls=_Group)
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
