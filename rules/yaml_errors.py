"""The YAML mistakes people make by hand, said in plain words (E001).

The parser reports what it expected (`expected <block end>, but found '<block mapping start>'`),
which only someone who knows YAML's grammar can act on. The common causes are few: a tab, a
line indented to a column nothing else uses, a quote or a bracket never closed, a colon with no
space after it, a value that holds `: `. Each is recognised from the parser's error and the
text around it, and said as what to change where; anything else keeps the parser's words.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from .model import Location, Problem

# `key:value` with no space after the colon (not `http://`, not `a::b`), at a line's start.
_NO_SPACE = re.compile(r"^(\s*(?:-\s+)?)([A-Za-z_][\w.\-]*):(?=[^\s:/])(\S*)")
_CLOSERS = {"{": "}", "[": "]"}
At = Callable[[int, int, str, str], Problem]  # (row, column, message, fix) -> the E001 there


def plain_problem(exc: Any, text: str, file: str) -> Problem | None:
    """E001 in plain words for a ruamel MarkedYAMLError, or None when it is not a common one."""
    problem, context = str(exc.problem or ""), str(exc.context or "")
    mark, opened = exc.problem_mark, exc.context_mark
    lines = text.splitlines()
    if mark is None:
        return None
    line, col = mark.line, mark.column

    def at(row: int, column: int, message: str, fix: str) -> Problem:
        return Problem("E001", f"not valid YAML: {message}", Location(file, row + 1, column + 1), fix)

    if "\\t" in problem or "\t" in problem:
        return at(line, col, "a tab character; YAML indents with spaces only",
                  "replace the tab with spaces, as many as the lines around it use")
    if context.startswith("while scanning a quoted scalar") and opened is not None:
        quote = _char(lines, opened.line, opened.column) or '"'
        return at(opened.line, opened.column, f"the quote {quote} that starts here is never closed",
                  f"end the text with {quote} on the same line, or remove the quote")
    if any(p in problem for p in ("mapping values are not allowed", "could not find expected ':'", "<block end>")):
        found = _missing_space(lines, line)
        if found is not None:
            row, column, key, value = found
            return at(row, column, f"'{key}:{value}' has no space after the colon, so YAML reads it as one word "
                      "instead of a key and its value", f"write '{key}: {value}'")
    if context.startswith("while parsing a flow") and opened is not None:
        return _flow(lines, problem, opened, at, line, col)
    if "mapping values are not allowed" in problem:
        before = lines[line][:col] if line < len(lines) else ""
        if ": " in before:
            key = before.split(":", 1)[0].strip().lstrip("- ")
            return at(line, col, "a second ': ' in this line's value; YAML reads it as the start of another key",
                      f"quote the value, e.g. {key}: 'VP: Sales'")
        return _indented(lines, line, at, deeper=True)
    if "<block end>" in problem or "could not find expected ':'" in problem:
        return _indented(lines, line, at, deeper=False)
    return None


def _char(lines: list[str], row: int, column: int) -> str:
    return lines[row][column] if row < len(lines) and column < len(lines[row]) else ""


def _missing_space(lines: list[str], row: int) -> tuple[int, int, str, str] | None:
    """The nearest `key:value` at or above `row` (the parser notices a line or two later)."""
    for i in range(min(row, len(lines) - 1), max(row - 3, -1), -1):
        found = _NO_SPACE.match(lines[i])
        if found is not None and not lines[i].lstrip().startswith("#"):
            return i, len(found.group(1)), found.group(2), found.group(3)
    return None


def _flow(lines: list[str], problem: str, opened: Any, at: At, line: int, col: int) -> Problem:
    opener = _char(lines, opened.line, opened.column) or "{"
    closer = _CLOSERS.get(opener, "}")
    where = f"line {opened.line + 1}, column {opened.column + 1}"
    got = problem.rsplit("but got ", 1)[-1].strip("'")
    if got == ":":
        return at(line, col, f"a second ':' inside the {opener} {closer} opened at {where}; "
                  "YAML reads it as the start of another key", "quote a value that contains ': ', e.g. {title: 'VP: Sales'}")
    if got in ("}", "]") and got != closer:
        return at(line, col, f"the '{opener}' opened at {where} is closed with '{got}'", f"close it with '{closer}'")
    return at(line, col, f"the '{opener}' opened at {where} is not closed before this (or a ',' is missing "
              "between its entries)", f"end it with '{closer}' on the line it starts, and separate entries with ', '")


def _indent(text: str) -> list[int]:
    """The columns a line's entries start at: its indentation, and after `- ` its item's key."""
    stripped = text.lstrip(" ")
    cols = [len(text) - len(stripped)]
    if stripped.startswith("- "):
        cols.append(cols[0] + 2 + len(stripped[2:]) - len(stripped[2:].lstrip(" ")))
    return cols


def _indented(lines: list[str], row: int, at: At, deeper: bool) -> Problem | None:
    """A line whose indentation lines up with nothing above it (or is deeper than the key above,
    whose value it then continues)."""
    if row >= len(lines) or not lines[row].strip():
        return None
    here = _indent(lines[row])[0]
    above = [i for i in range(row - 1, -1, -1) if lines[i].strip() and not lines[i].lstrip().startswith("#")]
    if deeper and above:
        prev = above[0]
        key_col = _indent(lines[prev])[-1]
        if here > key_col:
            return at(row, here, f"this line is indented more than line {prev + 1} above it, so YAML reads it as "
                      f"more of that line's value", f"start it in column {key_col + 1}, like the key on line {prev + 1}")
    used = sorted({c for i in above for c in _indent(lines[i])})
    lower = [c for c in used if c < here]
    higher = [c for c in used if c > here]
    if here in used:
        return None
    columns = " or ".join(f"column {c + 1}" for c in ([lower[-1]] if lower else []) + ([higher[0]] if higher else []))
    return at(row, here, f"this line starts in column {here + 1}, which lines up with no line above it",
              f"indent it to {columns}, where the entries it belongs with start" if columns
              else "indent it like the entries it belongs with")
