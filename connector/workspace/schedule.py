"""`sync --every`: the time between runs, and the rules read again before each run."""
from __future__ import annotations

from pathlib import Path

import structlog

from connector.workspace.workspace import Workspace, load_workspace
from rules.model import ConfigError, Problem
from rules.values import parse_duration

log = structlog.get_logger()


def parse_every(text: str) -> float:
    """Seconds between runs: `30s`, or a rule-file duration (`15m`, `1h`, `1d`). ValueError for
    anything else: a loop without a pause, or one that never comes round, is no schedule."""
    stripped = text.strip().lower()
    # Rule durations start at minutes; a schedule (and its test) may want seconds.
    if stripped.endswith("s") and stripped[:-1].isdigit() and int(stripped[:-1]) > 0:
        return float(stripped[:-1])
    duration = parse_duration(text)
    if duration is None or duration.seconds <= 0:
        raise ValueError(f"{text!r}: use a duration such as 30s, 15m or 1h")
    return float(duration.seconds)


def reload_workspace(rules_dir: Path, mappings_dir: Path | None, object_name: str,
                     previous: Workspace | None) -> tuple[Workspace | None, list[Problem]]:
    """The rules as they are now, so an edit takes effect at the next run. A broken edit gives no
    workspace and its problems: runs are skipped (each logged) until it is fixed, and the
    process stays up."""
    try:
        ws = load_workspace(rules_dir, mappings_dir, object_name)
    except ConfigError as exc:
        log.error("rules_invalid", problems=len(exc.problems), note="runs are skipped until the rules validate")
        return None, exc.problems
    if previous is None or ws.ruleset.fingerprint != previous.ruleset.fingerprint:
        log.info("rules_reloaded", file=ws.ruleset.file)
    return ws, []
