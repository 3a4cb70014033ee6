"""YAML in, a tree of nodes that each know their file, line and column.

ruamel.yaml is used because it speaks YAML 1.2 (`NO` stays Norway, `on` stays a string)
and keeps positions for every key and item; PyYAML's 1.1 booleans would silently change
country codes and picklist values that admins write.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .model import Location, Problem


@dataclass(frozen=True)
class Node:
    """A YAML value with where it was written. Maps keep their keys' positions too."""

    value: Any  # dict[str, Node] | list[Node] | scalar
    loc: Location
    key_locs: dict | None = None  # for maps: key -> Location of the key

    @property
    def is_map(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_seq(self) -> bool:
        return isinstance(self.value, list)

    @property
    def is_scalar(self) -> bool:
        return not (self.is_map or self.is_seq)

    def get(self, key: str) -> "Node | None":
        return self.value.get(key) if self.is_map else None

    def key_loc(self, key: str) -> Location:
        if self.key_locs and key in self.key_locs:
            return self.key_locs[key]
        return self.loc

    def items(self) -> Iterator[tuple[str, "Node"]]:
        return iter(self.value.items()) if self.is_map else iter(())

    def plain(self) -> Any:
        """The value without positions (for JSON and hashing)."""
        if self.is_map:
            return {k: v.plain() for k, v in self.value.items()}
        if self.is_seq:
            return [v.plain() for v in self.value]
        return self.value


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def _convert(data: Any, loc: Location, file: str) -> Node:
    if isinstance(data, CommentedMap):
        values: dict[str, Node] = {}
        key_locs: dict[str, Location] = {}
        for key in data:
            kline, kcol = data.lc.key(key)
            vline, vcol = data.lc.value(key)
            skey = str(key) if key is not None else ""
            key_locs[skey] = Location(file, kline + 1, kcol + 1)
            values[skey] = _convert(data[key], Location(file, vline + 1, vcol + 1), file)
        return Node(values, loc, key_locs)
    if isinstance(data, CommentedSeq):
        items = []
        for i, item in enumerate(data):
            line, col = data.lc.item(i)
            items.append(_convert(item, Location(file, line + 1, col + 1), file))
        return Node(items, loc)
    return Node(_scalar(data), loc)


def _scalar(data: Any) -> Any:
    # ruamel hands back subclasses (ScalarFloat, ScalarBoolean, TaggedScalar...); plain
    # types keep equality, hashing and JSON output predictable.
    if isinstance(data, bool) or data is None:
        return data
    if type(data).__name__ == "ScalarBoolean":
        return bool(data)
    if isinstance(data, int):
        return int(data)
    if isinstance(data, float):
        return float(data)
    if isinstance(data, str):
        return str(data)
    return data


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def parse_text(text: str, file: str) -> tuple[Node | None, list[Problem]]:
    try:
        data = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        message = (exc.problem or str(exc)).strip()
        if "duplicate key" in str(exc):
            return None, [Problem("E002", f"duplicate key: {message}", loc,
                                  "each key may appear once in a mapping")]
        return None, [Problem("E001", f"not valid YAML: {message}", loc,
                              "check indentation, colons and quotes on this line")]
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys)
        return None, [Problem("E001", f"not valid YAML: {exc}", Location(file, 1, 1),
                              "check the file's syntax")]
    return _convert(data, Location(file, 1, 1), file), []


def load_file(path: Path) -> tuple[Node | None, list[Problem]]:
    file = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem("E003", f"cannot read file: {exc}", Location(file, 1, 1),
                              "check the path and that the file is UTF-8 text")]
    return parse_text(text, file)
