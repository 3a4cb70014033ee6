"""Finding and loading the rule files of a directory."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .model import ConfigError, FieldType, Location, Problem, RuleSet, Severity
from .parse import RuleFileParser
from .source import display_path, load_file, parse_text

CASES_SUFFIX = ".cases.yaml"


@dataclass(frozen=True)
class Loaded:
    ruleset: RuleSet
    warnings: tuple[Problem, ...]


def rule_files(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.glob("*.y*ml") if not p.name.endswith((".cases.yaml", ".cases.yml")))
    return [p for p in files if p.suffix in (".yaml", ".yml")]


def file_object(path: Path) -> tuple[str | None, list[Problem]]:
    """The `object:` a rule file declares, without validating the rest, and why it cannot
    be read if it cannot (not YAML, a duplicate key, not UTF-8)."""
    root, problems = load_file(path)
    node = root.get("object") if root is not None else None
    return (str(node.value).strip() if node is not None and node.value else None), problems


def parse_rules(text: str, file: str, fields: dict[str, FieldType]) -> Loaded:
    """Validate one rule file's text. Raises ConfigError with every problem found."""
    root, problems = parse_text(text, file)
    ruleset = None
    if root is not None:
        parser = RuleFileParser(root, file, text, fields)
        ruleset = parser.parse()
        problems = problems + parser.problems
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors or ruleset is None:
        raise ConfigError(problems)
    return Loaded(ruleset, tuple(p for p in problems if p.severity is Severity.WARNING))


def find_rule_file(directory: Path, object: str) -> Path:
    if directory.is_file():
        return directory
    if not directory.is_dir():
        raise ConfigError([Problem("E004", f"rules directory not found: {directory}",
                                   Location(str(directory), 0, 0), "pass --rules DIR")])
    matches, unreadable = [], []
    for path in rule_files(directory):
        declared, problems = file_object(path)
        if (declared or "").lower() == object.lower():
            matches.append(path)
        unreadable += problems
    if not matches and unreadable:  # the file for this object may be the one that cannot be read
        raise ConfigError(unreadable)
    if not matches:
        raise ConfigError([Problem(
            "E005", f"no rule file for object {object} in {display_path(directory)}",
            Location(display_path(directory), 0, 0),
            f"create {directory / (object.lower() + '.yaml')} with `object: {object}`")])
    if len(matches) > 1:
        raise ConfigError([Problem(
            "E006", f"several rule files declare object {object}: "
            + ", ".join(display_path(p) for p in matches), Location(display_path(matches[1]), 1, 1),
            "keep one rule file per object")])
    return matches[0]


def load(directory: Path, object: str, fields: dict[str, FieldType]) -> Loaded:
    path = find_rule_file(directory, object)
    return parse_rules(path.read_text(encoding="utf-8"), display_path(path), fields)
