"""YAML in, a tree of nodes that each know their file, line and column.

ruamel.yaml is used because it speaks YAML 1.2 (`NO` stays Norway, `on` stays a string)
and keeps positions for every key and item; PyYAML's 1.1 booleans would silently change
country codes and picklist values that admins write.
"""
from __future__ import annotations

import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode, Node as YamlNode
from ruamel.yaml.scanner import RoundTripScanner

from .model import Location, Problem
from .yaml_errors import plain_problem

# Bounds on what one rule file may make revsync do. A real rule file is a few kilobytes,
# nests about 8 levels and repeats a condition with an alias a few times; these are far
# above that and far below what would take minutes or gigabytes (ruamel reads about
# 20,000 values or 50 KB a second, and builds every value of an alias bomb if asked to).
MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_VALUES = 50_000  # keys, items and scalars written out: about 3 s of ruamel's time
MAX_ALIAS_VALUES = 10_000  # values that aliases add beyond what the file writes out
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Node:
    """A YAML value with where it was written. Maps keep their keys' positions too."""

    value: Any  # dict[str, Node] | list[Node] | scalar
    loc: Location
    key_locs: dict[str, Location] | None = None  # for maps: key -> Location of the key

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


class _Refused(Exception):
    """What makes a YAML document unsafe or ambiguous to build: (code, message, mark, fix)."""

    def __init__(self, problems: list[tuple[str, str, Any, str]]):
        super().__init__(problems[0][1])
        self.problems = problems


def _too_deep(mark: Any) -> _Refused:
    return _Refused([("E009", f"nested more than {MAX_DEPTH} levels deep", mark,
                      "flatten it: `all` and `any` take lists, and `not` of `any` says 'none of'")])


class _Scanner(RoundTripScanner):
    """Stops at MAX_DEPTH open brackets: ruamel's scanner reads a whole run of `[[[[` ahead
    and checks every open level per token, quadratic time (5,000 of them take 6 s)."""

    def fetch_flow_collection_start(self, *args: Any, **kwargs: Any) -> None:
        if len(self.flow_context) >= MAX_DEPTH:
            raise _too_deep(self.reader.get_mark())
        super().fetch_flow_collection_start(*args, **kwargs)


class _Composer(Composer):
    """Notes explicit tags and alias uses as the events go by, stops nesting at MAX_DEPTH
    before ruamel's recursive composer reaches Python's recursion limit, and stops after
    MAX_VALUES values (ruamel composes about 20,000 a second: 2 MB of them take minutes)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        depth = getattr(self, "revsync_depth", 0)
        tags = self.__dict__.setdefault("revsync_tags", [])
        aliases = self.__dict__.setdefault("revsync_aliases", [])
        if not hasattr(event, "tag"):  # an alias: its value is composed once, where it was anchored
            aliases.append(event.start_mark)
            return super().compose_node(parent, index)
        if event.tag is not None:
            shown = str(event.tag).replace("tag:yaml.org,2002:", "!!")
            tags.append(("E010", f"YAML tag '{shown}' is not allowed", event.start_mark,
                         "remove the tag: rule files hold plain mappings, lists, text and numbers"))
        if depth >= MAX_DEPTH:
            raise _too_deep(event.start_mark)
        self.revsync_values = getattr(self, "revsync_values", 0) + 1
        if self.revsync_values > MAX_VALUES:
            raise _Refused([("E007", f"rule file holds more than {MAX_VALUES:,} values", event.start_mark,
                             "shorten long lists of values: a rule file holds rules, not reference data")])
        self.revsync_depth = depth + 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.revsync_depth = depth


class _Constructor(RoundTripConstructor):
    """Checks the composed document before building anything from it: an alias bomb is
    small as a graph and only explodes when its values are built."""

    def get_single_data(self) -> Any:
        node = self.composer.get_single_node()
        if node is None:
            return None
        problems = list(getattr(self.composer, "revsync_tags", []))
        problems += _inspect(node, getattr(self.composer, "revsync_aliases", []))
        if problems:
            raise _Refused(problems)
        return self.construct_document(node)


def _children(node: YamlNode) -> list[YamlNode]:
    if isinstance(node, SequenceNode):
        items: list[YamlNode] = node.value
        return items
    if isinstance(node, MappingNode):
        pairs: list[tuple[YamlNode, YamlNode]] = node.value
        return [n for pair in pairs for n in pair]
    return []


def _inspect(root: YamlNode, aliases: list[Any]) -> list[tuple[str, str, Any, str]]:
    """Duplicate keys, text that is not Unicode, and what aliases expand to, in one pass
    over the composed graph (each node once, iteratively: aliases may make it cyclic)."""
    problems: list[tuple[str, str, Any, str]] = []
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        if finished:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            height[key] = 1 + max((height[id(k)] for k in kids), default=0)
            visiting.discard(key)
            continue
        if key in size:
            continue
        if key in visiting:  # an alias inside the value it names: infinitely deep
            return [("E008", "a YAML alias refers to a value that contains it", node.start_mark,
                     "write the value out instead of the alias")]
        visiting.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node))
        if isinstance(node, ScalarNode) and isinstance(node.value, str) and _SURROGATE.search(node.value):
            problems.append(("E011", "text that is not valid Unicode (a lone surrogate such as \\ud800)",
                             node.start_mark, "remove the \\u escape, or write the character itself"))
        if isinstance(node, MappingNode):
            problems += _duplicates(node)
    extra = size[id(root)] - len(size)
    if extra > MAX_ALIAS_VALUES:
        problems.append(("E008", f"YAML aliases expand this file by {extra:,} values; the limit is "
                         f"{MAX_ALIAS_VALUES:,}", aliases[0] if aliases else root.start_mark,
                         "write repeated parts out, or use fewer aliases of aliases"))
    if height[id(root)] > MAX_DEPTH:  # aliases nest a value deeper than the text shows
        problems.append(("E009", f"aliases nest values more than {MAX_DEPTH} levels deep",
                         aliases[0] if aliases else root.start_mark, "write the nested part out, flatter"))
    return problems


def _duplicates(node: Any) -> list[tuple[str, str, Any, str]]:
    """Every repeated key of a mapping, as text: Node keys are text, so `1` and '1' collide too."""
    out = []
    first: dict[str, Any] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        text = str(key_node.value)
        if text in first:
            mark = first[text]
            out.append(("E002", f"duplicate key '{text}' (first at line {mark.line + 1}, column "
                        f"{mark.column + 1})", key_node.start_mark,
                        "each key may appear once in a mapping: merge the two or rename one"))
        else:
            first[text] = key_node.start_mark
    return out


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    yaml.Scanner = _Scanner
    yaml.Composer = _Composer
    yaml.Constructor = _Constructor
    return yaml


def _convert(data: Any, loc: Location, file: str) -> Node:
    if isinstance(data, CommentedMap):
        values: dict[str, Node] = {}
        key_locs: dict[str, Location] = {}
        for key in data:
            if key in data.lc.data:
                kline, kcol = data.lc.key(key)
                vline, vcol = data.lc.value(key)
            else:  # merged in by `<<: *anchor`: written elsewhere, cited where it is merged
                kline, kcol = vline, vcol = loc.line - 1, loc.col - 1
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
    except (ValueError, RuntimeError, OSError):  # elsewhere, or a symlink loop (RuntimeError)
        return str(path)


def _too_big(size: int, file: str) -> Problem:
    return Problem("E007", f"rule file is {size / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB",
                   Location(file, 1, 1), "keep one object's rules in a file, and remove unused entries")


def parse_text(text: str, file: str) -> tuple[Node | None, list[Problem]]:
    # A character is at most 4 bytes: only a long text needs encoding to know its size.
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > MAX_BYTES else len(text)
    if size > MAX_BYTES:  # text that came from git or a string, not a file
        return None, [_too_big(size, file)]
    try:
        data = _yaml().load(text)
    except _Refused as exc:
        return None, sorted((Problem(code, message, _loc(mark, file), fix) for code, message, mark, fix in exc.problems),
                            key=lambda p: (p.loc, p.code))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = _loc(mark, file)
        message = (exc.problem or str(exc)).strip()
        if "duplicate key" in str(exc):
            return None, [Problem("E002", f"duplicate key: {message}", loc,
                                  "each key may appear once in a mapping")]
        plain = plain_problem(exc, text, file)  # a tab, an indentation, a quote: said in plain words
        return None, [plain or Problem("E001", f"not valid YAML: {message}", loc,
                                       "check indentation, colons and quotes on this line")]
    except Exception as exc:  # ruamel raises a few unmarked errors (e.g. duplicate keys)
        return None, [Problem("E001", f"not valid YAML: {exc}", Location(file, 1, 1),
                              "check the file's syntax")]
    return _convert(data, Location(file, 1, 1), file), []


def _loc(mark: Any, file: str) -> Location:
    return Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)


def read_text(path: Path) -> tuple[str | None, list[Problem]]:
    """A rule file's text, refused before reading if it is too big or not a regular file
    (a FIFO would block the run until something writes to it)."""
    file = display_path(path)
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            return None, [Problem("E003", "cannot read file: not a regular file", Location(file, 1, 1),
                                  "rule files are plain files; replace it with one")]
        if info.st_size > MAX_BYTES:
            return None, [_too_big(info.st_size, file)]
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)  # the file may have grown since stat
        if len(data) > MAX_BYTES:
            return None, [_too_big(len(data), file)]
        return data.decode("utf-8"), []
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem("E003", f"cannot read file: {exc}", Location(file, 1, 1),
                              "check the path and that the file is UTF-8 text")]


def load_file(path: Path) -> tuple[Node | None, list[Problem]]:
    text, problems = read_text(path)
    return parse_text(text, display_path(path)) if text is not None else (None, problems)
