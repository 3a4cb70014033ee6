"""An admin's rules directory with its mappings: loading, validating and testing it."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mappings
from mappings import Mapping
from rules.cases import CaseResult, load_cases, run_cases
from rules.loader import case_files, file_object, load, rule_files
from rules.model import ConfigError, Location, Problem, RuleSet
from rules.source import display_path


@dataclass(frozen=True)
class Workspace:
    object: str
    mapping: Mapping
    ruleset: RuleSet
    warnings: tuple[Problem, ...]
    rules_dir: Path


def load_workspace(rules_dir: Path, mappings_dir: Path | None, object_name: str) -> Workspace:
    mapping = mappings.load(object_name, mappings_dir)
    loaded = load(rules_dir, mapping.object, mapping.rule_fields())
    return Workspace(mapping.object, mapping, loaded.ruleset, loaded.warnings, rules_dir)


def validate_all(rules_dir: Path, mappings_dir: Path | None,
                 object_name: str | None = None) -> tuple[list[str], list[Problem]]:
    """Every rule file of a directory (or one object's), each against its object's mapping.
    Returns one summary line per valid file and every problem of every file."""
    problems: list[Problem] = []
    lines: list[str] = []
    if not rules_dir.is_dir():
        return [], [Problem("E004", f"rules directory not found: {rules_dir}",
                            Location(str(rules_dir), 0, 0), "pass --rules DIR")]
    files = rule_files(rules_dir)
    if not files:
        problems.append(Problem("E005", f"no rule files (*.yaml) in {display_path(rules_dir)}",
                                Location(display_path(rules_dir), 0, 0),
                                "create one with `revsync init DIR`"))
    for path in files:
        obj, unreadable = file_object(path)
        if unreadable:
            problems.extend(unreadable)
            continue
        if object_name and (obj or "").lower() != object_name.lower():
            continue
        if obj is None:
            problems.append(Problem("E103", "missing `object:`", Location(display_path(path), 1, 1),
                                    "name the CRM object, e.g. `object: Lead`"))
            continue
        try:
            ws = load_workspace(path, mappings_dir, obj)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        problems.extend(ws.warnings)
        count = len(ws.ruleset.all_rules())
        lines.append(f"ok {display_path(path)}: {ws.object}, {count} rules")
    return lines, problems


def run_all_cases(rules_dir: Path, mappings_dir: Path | None, engine: str = "default",
                  object_name: str | None = None) -> list[CaseResult]:
    """Every case file beside the rules; ConfigError with every problem of any file."""
    problems: list[Problem] = []
    results: list[CaseResult] = []
    files = case_files(rules_dir) if rules_dir.is_dir() else []
    if not files:
        raise ConfigError([Problem("C005", f"no *.cases.yaml files in {display_path(rules_dir)}",
                                   Location(display_path(rules_dir), 0, 0),
                                   "add cases beside the rules; `revsync init` shows the format")])
    for path in files:
        try:
            obj, cases = load_cases(path)
            if object_name and (obj or "").lower() != object_name.lower():
                continue
            if obj is None:
                raise ConfigError([Problem("C001", "cases file without `object:`",
                                           Location(display_path(path), 1, 1))])
            ws = load_workspace(rules_dir, mappings_dir, obj)
        except ConfigError as exc:
            problems.extend(exc.problems)
            continue
        results.extend(run_cases(ws.ruleset, cases, engine, ws.mapping.inbound))
    if problems:
        raise ConfigError(problems)
    return results
