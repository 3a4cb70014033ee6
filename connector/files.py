"""Export files in and out: Data Loader CSV and JSON lines, streamed record by record."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import codecs

import structlog

from rules.model import RevsyncError

log = structlog.get_logger()

# utf-8-sig: Excel and Data Loader write a byte-order mark at the start of the file.
DEFAULT_ENCODING = "utf-8-sig"


class InputError(RevsyncError):
    """An input file cannot be read as a whole (exit 2; nothing was evaluated or imported)."""

csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read at all; reported, never fatal."""

    file: str
    line: int
    reason: str
    record: dict | None = None  # what could be read of the row (its Id, for one), if anything

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: skipped: {self.reason}"


def detect_format(path: Path, encoding: str = DEFAULT_ENCODING) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt"):
        return "csv"
    with path.open("r", encoding=encoding, errors="replace") as fh:
        head = fh.read(1)
    return "jsonl" if head in ("{", "[") else "csv"


def codec(encoding: str) -> str:
    """UTF-8 read as utf-8-sig, so a byte-order mark (Excel's "CSV UTF-8") is never a header."""
    return DEFAULT_ENCODING if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig") else encoding


def check_encoding(path: Path, encoding: str = DEFAULT_ENCODING) -> None:
    """Raise InputError unless the whole file decodes: a file saved in another encoding is
    refused before its first record, not halfway through."""
    try:
        decoder = codecs.getincrementaldecoder(codec(encoding))()
    except LookupError:
        raise InputError(f"unknown encoding {encoding!r}: use e.g. utf-8, cp1252 or latin-1") from None
    shown = "UTF-8" if codec(encoding) == DEFAULT_ENCODING else encoding
    lines, offset = 1, 0  # newlines before `offset`, the first byte not yet given to the decoder
    with path.open("rb") as fh:
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
                raise InputError(f"{path}:{line}: not {shown} text ({bad} at offset {at}); save the file as "
                                 f"UTF-8 (Excel: \"CSV UTF-8\"), or pass --encoding cp1252 for a file Excel "
                                 f"saved as plain CSV") from None
            if not chunk:
                return
            lines += chunk.count(b"\n")
            offset += len(chunk)


def read_records(path: Path, bad: list[BadRow], encoding: str = DEFAULT_ENCODING) -> Iterator[dict]:
    """CRM-named records from a CSV (values all text, empty cells null) or JSONL export.
    Rows that cannot be read are appended to `bad` and skipped."""
    for item in read_items(path, encoding):
        if item.__class__ is BadRow:
            bad.append(item)
        else:
            yield item


def read_items(path: Path, encoding: str = DEFAULT_ENCODING) -> Iterator[dict | BadRow]:
    """Every row of the file in order: a record, or a BadRow saying why it cannot be read."""
    check_encoding(path, encoding)
    encoding = codec(encoding)
    if detect_format(path, encoding) == "jsonl":
        yield from _read_jsonl(path, encoding)
    else:
        yield from _read_csv(path, encoding)


def _read_csv(path: Path, encoding: str) -> Iterator[dict | BadRow]:
    with path.open("r", encoding=encoding, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            return
        width = len(reader.fieldnames)
        for row in reader:
            if None in row or None in row.values():
                cells = width + len(row.get(None) or ()) - sum(1 for v in row.values() if v is None)
                known = {k: v for k, v in row.items() if k is not None and v not in (None, "")}
                yield BadRow(str(path), reader.line_num,
                             f"wrong number of columns: {cells} cells, the header has {width}", known)
                continue
            yield {k: (v if v != "" else None) for k, v in row.items()}


def _read_jsonl(path: Path, encoding: str) -> Iterator[dict | BadRow]:
    with path.open("r", encoding=encoding) as fh:
        first = fh.read(1)
        fh.seek(0)
        if first == "[":
            # A JSON array (e.g. REST query `records`): small files only, read whole.
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                yield BadRow(str(path), exc.lineno, f"not valid JSON: {exc.msg}")
                return
            for i, item in enumerate(data, 1):
                if isinstance(item, dict):
                    yield item
                else:
                    yield BadRow(str(path), i, "array item is not an object")
            return
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                yield BadRow(str(path), number, f"not valid JSON: {exc.msg}")
                continue
            if not isinstance(item, dict):
                yield BadRow(str(path), number, "line is not a JSON object")
                continue
            yield item
