"""Finding and loading the rule files of a directory."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .model import ConfigError, FieldType, Location, Problem, RuleSet, Severity
from .parse import RuleFileParser
from .source import display_path, load_file, parse_text, read_text
from .unproduced import unproduced_values

_CASES_SUFFIXES = (".cases.yaml", ".cases.yml")


@dataclass(frozen=True)
class Loaded:
    ruleset: RuleSet
    warnings: tuple[Problem, ...]


def rule_files(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.glob("*.y*ml") if not p.name.endswith(_CASES_SUFFIXES))
    return [p for p in files if p.suffix in (".yaml", ".yml")]


def case_files(directory: Path) -> list[Path]:
    """The rule test case files of a directory (`*.cases.yaml`, `*.cases.yml`), sorted."""
    return sorted(p for suffix in _CASES_SUFFIXES for p in directory.glob("*" + suffix))


def file_object(path: Path) -> tuple[str | None, list[Problem]]:
    """The `object:` a rule file declares, without validating the rest, and why it cannot
    be read if it cannot (not YAML, a duplicate key, not UTF-8, `object:` not a name)."""
    name, _, problems = _declared(path)
    return name, problems


def _declared(path: Path) -> tuple[str | None, Location, list[Problem]]:
    root, problems = load_file(path)
    node = root.get("object") if root is not None and root.is_map else None
    where = root.key_loc("object") if root is not None and node is not None else Location(display_path(path), 1, 1)
    if node is None or node.value is None:
        return None, where, problems
    if not isinstance(node.value, str) or not node.value.strip():
        shown = repr(node.plain())
        return None, where, problems + [Problem(
            "E103", f"`object:` must be the name of one CRM object, got {shown[:60]}", node.loc,
            "write it as plain text, e.g. `object: Lead`")]
    return node.value.strip(), where, problems


def parse_rules(text: str, file: str, fields: dict[str, FieldType]) -> Loaded:
    """Validate one rule file's text. Raises ConfigError with every problem found."""
    root, problems = parse_text(text, file)
    ruleset = None
    if root is not None:
        parser = RuleFileParser(root, file, text, fields)
        ruleset = parser.parse()
        problems = problems + parser.problems
        if ruleset is not None:
            problems += unproduced_values(ruleset)
    errors = [p for p in problems if p.severity is Severity.ERROR]
    if errors or ruleset is None:
        raise ConfigError(problems)
    return Loaded(ruleset, tuple(p for p in problems if p.severity is Severity.WARNING))


def find_rule_file(directory: Path, object: str) -> Path:
    """The one rule file for `object`. Given a file, it must be the only one of its
    directory for that object: the directory is what a sync loads, so a second file for the
    object that validates alone would be refused at the sync."""
    if directory.is_file():
        found, _ = _declaring(directory.parent, object)
        mine = [i for i, (path, _) in enumerate(found) if path.samefile(directory)]
        if len(found) > 1 and mine:
            raise ConfigError([_several(object, found)[mine[0]]])
        return directory
    if not directory.is_dir():
        raise ConfigError([Problem("E004", f"rules directory not found: {directory}",
                                   Location(str(directory), 0, 0), "pass --rules DIR")])
    found, unreadable = _declaring(directory, object)
    matches = [path for path, _ in found]
    if not matches and unreadable:  # the file for this object may be the one that cannot be read
        raise ConfigError(unreadable)
    if not matches:
        raise ConfigError([Problem(
            "E005", f"no rule file for object {object} in {display_path(directory)}",
            Location(display_path(directory), 0, 0),
            f"create {directory / (object.lower() + '.yaml')} with `object: {object}`")])
    if len(matches) > 1:
        raise ConfigError(_several(object, found))
    return matches[0]


def _declaring(directory: Path, object: str) -> tuple[list[tuple[Path, Location]], list[Problem]]:
    """The rule files of a directory that declare `object` (with where they say so), and
    the problems of those that cannot be read."""
    found, unreadable = [], []
    for path in rule_files(directory):
        declared, where, problems = _declared(path)
        if (declared or "").lower() == object.lower():
            found.append((path, where))
        unreadable += problems
    return found, unreadable


def _several(object: str, found: list[tuple[Path, Location]]) -> list[Problem]:
    """One problem in each file, so that each file's report names the others."""
    names = ", ".join(display_path(path) for path, _ in found)
    return [Problem("E006", f"several rule files declare object {object}: {names}", where,
                    "keep one rule file per object: merge them, or change `object:` in all but one")
            for _, where in found]


def load(directory: Path, object: str, fields: dict[str, FieldType]) -> Loaded:
    path = find_rule_file(directory, object)
    text, problems = read_text(path)
    if text is None:
        raise ConfigError(problems)
    return parse_rules(text, display_path(path), fields)
