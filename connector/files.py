"""Export files in and out: Data Loader CSV and JSON lines, streamed record by record."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import structlog

log = structlog.get_logger()

csv.field_size_limit(1 << 24)


@dataclass(frozen=True)
class BadRow:
    """A row that could not be read at all; reported, never fatal."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: skipped: {self.reason}"


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix in (".csv", ".txt"):
        return "csv"
    with path.open("r", encoding="utf-8-sig") as fh:
        head = fh.read(1)
    return "jsonl" if head in ("{", "[") else "csv"


def read_records(path: Path, bad: list[BadRow]) -> Iterator[dict]:
    """CRM-named records from a CSV (values all text, empty cells null) or JSONL export.
    Rows that cannot be read are appended to `bad` and skipped."""
    if detect_format(path) == "jsonl":
        yield from _read_jsonl(path, bad)
    else:
        yield from _read_csv(path, bad)


def _read_csv(path: Path, bad: list[BadRow]) -> Iterator[dict]:
    # utf-8-sig: Excel and Data Loader write a byte-order mark at the start of the file.
    with path.open("r", encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames:
            return
        width = len(reader.fieldnames)
        for row in reader:
            if None in row or None in row.values():
                bad.append(BadRow(str(path), reader.line_num,
                                  f"wrong number of columns (the header has {width})"))
                continue
            yield {k: (v if v != "" else None) for k, v in row.items()}


def _read_jsonl(path: Path, bad: list[BadRow]) -> Iterator[dict]:
    with path.open("r", encoding="utf-8-sig") as fh:
        first = fh.read(1)
        fh.seek(0)
        if first == "[":
            # A JSON array (e.g. REST query `records`): small files only, read whole.
            try:
                data = json.load(fh)
            except json.JSONDecodeError as exc:
                bad.append(BadRow(str(path), exc.lineno, f"not valid JSON: {exc.msg}"))
                return
            for i, item in enumerate(data, 1):
                if isinstance(item, dict):
                    yield item
                else:
                    bad.append(BadRow(str(path), i, "array item is not an object"))
            return
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                bad.append(BadRow(str(path), number, f"not valid JSON: {exc.msg}"))
                continue
            if not isinstance(item, dict):
                bad.append(BadRow(str(path), number, "line is not a JSON object"))
                continue
            yield item
