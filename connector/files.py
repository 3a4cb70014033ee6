"""Export files in and out: Data Loader CSV and JSON lines, streamed record by record."""
from __future__ import annotations

import codecs
import csv
import io
import json
import shutil
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator

import structlog

from rules.model import RevsyncError

log = structlog.get_logger()

# utf-8-sig: Excel and Data Loader write a byte-order mark at the start of the file.
DEFAULT_ENCODING = "utf-8-sig"


class InputError(RevsyncError):
    """An input file cannot be read as a whole (exit 2; nothing was evaluated or imported)."""

# A cell may hold 16 Mi characters (Salesforce's longest text field holds 131,072); a physical
# line twice that. Past either, the row is skipped and reported: memory stays bounded whatever
# the file holds.
CELL_LIMIT = 1 << 24
LINE_LIMIT = 2 * CELL_LIMIT
csv.field_size_limit(CELL_LIMIT)
STDIN = "-"  # `--input -`


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read at all; reported, never fatal."""

    file: str
    line: int
    reason: str
    record: dict | None = None  # what could be read of the row (its Id, for one), if anything

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: skipped: {self.reason}"


# Cells a spreadsheet reads as a formula (OWASP, CSV injection): `=HYPERLINK(...)` in a lead's
# title must not become a live link, or worse, in the sheet of whoever opens an export.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell no spreadsheet runs: text that starts with = + - @, a tab or a
    carriage return gets a leading apostrophe, as OWASP advises; so does text that already
    starts with apostrophes before one of them, so that reading (`csv_text`) removes exactly
    one and a file revsync wrote reads back as it was. Numbers are left alone: -5 written from
    a number is a number, and only text is quoted."""
    if value.__class__ is str and value.lstrip("'")[:1] in _FORMULA:
        return "'" + value
    return value


def csv_text(cell: str) -> str:
    """The text of a cell `csv_cell` wrote."""
    if cell[:1] == "'" and cell.lstrip("'")[:1] in _FORMULA:
        return cell[1:]
    return cell


def display_name(path: Path | str) -> str:
    return "<stdin>" if str(path) == STDIN else str(path)


@contextmanager
def open_input(path: Path | str) -> Iterator[IO[bytes]]:
    """The input's bytes, seekable, taken from the source exactly once: `-` is stdin, and
    stdin, a pipe or a FIFO (`--input <(cat f)`) is copied as it is read into a temporary file
    that stays in memory up to 8 MiB. Opening a pipe a second time would find it empty, and a
    FIFO would wait for a second writer that never comes."""
    source = sys.stdin.buffer if str(path) == STDIN else open(path, "rb")
    try:
        if source.seekable():
            yield source
            return
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as spool:
            shutil.copyfileobj(source, spool, 1 << 20)
            spool.seek(0)
            yield spool
    finally:
        if source is not sys.stdin.buffer:
            source.close()


def detect_format(path: Path, encoding: str = DEFAULT_ENCODING, fh: IO[bytes] | None = None) -> str:
    """jsonl or csv, by the suffix, else by the first character (read from `fh` if given)."""
    suffix = Path(str(path)).suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt"):
        return "csv"
    if fh is None:
        with open_input(path) as opened:
            return detect_format(path, encoding, opened)
    return "jsonl" if _first_char(fh, encoding) in ("{", "[") else "csv"


def _first_char(fh: IO[bytes], encoding: str) -> str:
    at = fh.tell()
    head = codecs.getincrementaldecoder(codec(encoding))(errors="replace").decode(fh.read(64))
    fh.seek(at)
    return head[:1]


def codec(encoding: str) -> str:
    """UTF-8 read as utf-8-sig, so a byte-order mark (Excel's "CSV UTF-8") is never a header."""
    return DEFAULT_ENCODING if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig") else encoding


def check_encoding(path: Path, encoding: str = DEFAULT_ENCODING, fh: IO[bytes] | None = None) -> None:
    """Raise InputError unless the whole input decodes: a file saved in another encoding is
    refused before its first record, not halfway through. Reads `fh` (if given) to its end
    and back to where it was."""
    if fh is None:
        with open_input(path) as opened:
            return check_encoding(path, encoding, opened)
    try:
        decoder = codecs.getincrementaldecoder(codec(encoding))()
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}: use e.g. utf-8, cp1252 or latin-1") from None
    shown = "UTF-8" if codec(encoding) == DEFAULT_ENCODING else encoding
    lines, offset = 1, 0  # newlines before `offset`, the first byte not yet given to the decoder
    start = fh.tell()
    try:
        while True:
            chunk = fh.read(1 << 20)
            pending = decoder.getstate()[0]  # bytes of a character split across chunks
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk
                at = offset - len(pending) + exc.start
                line = lines + data[:exc.start].count(b"\n")
                bad = f"byte 0x{data[exc.start]:02x}" if exc.start < len(data) else "an unfinished character"
                raise InputError(f"{display_name(path)}:{line}: not {shown} text ({bad} at offset {at}); save the "
                                 f"file as UTF-8 (Excel: \"CSV UTF-8\"), or pass --encoding cp1252 for a file Excel "
                                 f"saved as plain CSV") from None
            if not chunk:
                return
            lines += chunk.count(b"\n")
            offset += len(chunk)
    finally:
        fh.seek(start)


def read_records(path: Path, bad: list[BadRow], encoding: str = DEFAULT_ENCODING) -> Iterator[dict]:
    """CRM-named records from a CSV (values all text, empty cells null) or JSONL export.
    Rows that cannot be read are appended to `bad` and skipped."""
    for item in read_items(path, encoding):
        if isinstance(item, BadRow):
            bad.append(item)
        else:
            yield item


def read_items(path: Path, encoding: str = DEFAULT_ENCODING) -> Iterator[dict | BadRow]:
    """Every row of the input in order: a record, or a BadRow saying why it cannot be read."""
    for _, item in read_numbered(path, encoding):
        yield item


def read_numbered(path: Path, encoding: str = DEFAULT_ENCODING) -> Iterator[tuple[int, dict | BadRow]]:
    """(line, row) for every row: the line a record ends on, as a BadRow reports it. The input
    is opened once (stdin and pipes included) and read in one pass after the encoding check."""
    name = display_name(path)
    with open_input(path) as fh:
        check_encoding(path, encoding, fh)
        encoding = codec(encoding)
        jsonl = detect_format(path, encoding, fh) == "jsonl"
        array = jsonl and _first_char(fh, encoding) == "["
        # newline="": the csv module reads line ends inside quoted cells itself.
        text = io.TextIOWrapper(fh, encoding=encoding, newline=None if jsonl else "")
        try:
            yield from _read_jsonl(text, name, array) if jsonl else _read_csv(text, name)
        finally:
            text.detach()  # the caller's stream (stdin) stays open


class _LineTooLong(Exception):
    pass


class _Lines:
    """Physical lines of a text stream, none longer than LINE_LIMIT: a longer one is read to its
    end in bounded pieces and raises _LineTooLong; the next call goes on with the next line.
    An iterator class, not a generator: a generator cannot go on after raising."""

    def __init__(self, text: IO[str]):
        self.text = text
        self.count = 0  # lines given out or skipped so far

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        line = self.text.readline(LINE_LIMIT)
        if not line:
            raise StopIteration
        self.count += 1
        if len(line) >= LINE_LIMIT and not line.endswith(("\n", "\r")):
            while True:  # the rest of the line, dropped as it is read
                more = self.text.readline(LINE_LIMIT)
                if not more or more.endswith(("\n", "\r")):
                    break
            raise _LineTooLong
        return line


_TOO_LONG = f"a line longer than {LINE_LIMIT:,} characters"


def _read_csv(text: IO[str], name: str) -> Iterator[tuple[int, dict | BadRow]]:
    lines = _Lines(text)
    try:
        header = next(csv.reader(lines), None)
    except (_LineTooLong, csv.Error) as exc:
        raise InputError(f"{name}:{lines.count}: the header cannot be read "
                         f"({_TOO_LONG if isinstance(exc, _LineTooLong) else exc})") from None
    if not header:
        return
    width = len(header)
    reader = csv.reader(lines)
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except (_LineTooLong, csv.Error) as exc:
            why = _TOO_LONG if isinstance(exc, _LineTooLong) else (
                f"a cell longer than {CELL_LIMIT:,} characters" if "field limit" in str(exc) else f"not CSV: {exc}")
            yield lines.count, BadRow(name, lines.count, why)
            reader = csv.reader(lines)  # a reader that raised may hold half a row: start afresh
            continue
        if not cells:
            continue  # a blank line, as csv.DictReader skips it
        if len(cells) != width:
            known = {k: v for k, v in zip(header, cells) if v != ""}
            yield lines.count, BadRow(name, lines.count,
                                      f"wrong number of columns: {len(cells)} cells, the header has {width}", known)
            continue
        yield lines.count, {k: (None if v == "" else csv_text(v) if v[:1] == "'" else v)
                            for k, v in zip(header, cells)}


def _read_jsonl(text: IO[str], name: str, array: bool) -> Iterator[tuple[int, dict | BadRow]]:
    if array:
        # A JSON array (e.g. REST query `records`): small files only, read whole.
        try:
            data = json.loads(text.read())
        except json.JSONDecodeError as exc:
            yield exc.lineno, BadRow(name, exc.lineno, f"not valid JSON: {exc.msg}")
            return
        except RecursionError:
            yield 1, BadRow(name, 1, _DEEP)
            return
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            yield 1, BadRow(name, 1, f"not valid JSON: {exc}")
            return
        for i, item in enumerate(data, 1):
            yield i, (item if isinstance(item, dict) else BadRow(name, i, "array item is not an object"))
        return
    lines = _Lines(text)
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except _LineTooLong:
            yield lines.count, BadRow(name, lines.count, _TOO_LONG)
            continue
        if not line.strip():
            continue
        number = lines.count
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, BadRow(name, number, f"not valid JSON: {exc.msg}")
        except RecursionError:  # json.loads recurses once per level: a deep line is not a crash
            yield number, BadRow(name, number, _DEEP)
        except ValueError as exc:  # e.g. an integer of more digits than Python converts
            yield number, BadRow(name, number, f"not valid JSON: {exc}")
        else:
            yield number, (item if isinstance(item, dict) else BadRow(name, number, "line is not a JSON object"))


_DEEP = f"JSON nested deeper than {sys.getrecursionlimit():,} levels"
