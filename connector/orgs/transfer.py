"""Data Loader style CSV in and out of the embedded org."""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, TextIO

from rules.values import parse_bool, parse_instant

from rules.model import RevsyncError

from connector.files import DEFAULT_ENCODING, BadRow, csv_cell, display_name, read_numbered
from connector.orgs.local import LocalOrg, format_stamp
from connector.orgs.local_schema import PREFIX

NUMBER = {"int", "double", "currency", "percent"}


class ImportRefused(RevsyncError):
    """The file cannot be imported as this object (exit 2; nothing was imported)."""


@dataclass
class ImportResult:
    object: str
    created: int = 0
    bad: list[BadRow] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # columns that are not fields of the object

    def __str__(self) -> str:
        lines = [f"imported {self.created} {self.object} records"]
        if self.ignored:
            lines.append(f"  ignored column(s) that are not {self.object} fields: {', '.join(self.ignored)}")
        lines += [f"  {b}" for b in self.bad[:20]]
        if len(self.bad) > 20:
            lines.append(f"  ... {len(self.bad) - 20} more rows skipped, for the same kinds of reasons")
        return "\n".join(lines)


def _typed(value: Any, ftype: str) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip()
    if ftype in NUMBER:
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
        if not math.isfinite(number):  # "nan", "inf", "1e999": no CRM number, and int() would raise
            raise ValueError(f"{text!r} is not a number")
        return int(number) if ftype == "int" else number
    if ftype == "boolean":
        flag = parse_bool(value)
        if flag is None:
            raise ValueError(f"{text!r} is not true or false")
        return flag
    if ftype in ("date", "datetime"):
        instant = parse_instant(text)
        if instant is None:
            raise ValueError(f"{text!r} is not an ISO 8601 {ftype} (in the years 1 to 9999, UTC)")
        return instant.date().isoformat() if ftype == "date" else format_stamp(instant)
    return text


def import_file(org_path: Path, object: str, path: Path, encoding: str = DEFAULT_ENCODING) -> ImportResult:
    """`import_csv` into the embedded org at `org_path`, created if missing: an import refused
    before its first row leaves no empty org behind."""
    created = not org_path.exists()
    org = LocalOrg(org_path, create=True)
    try:
        return import_csv(org, object, path, encoding)
    except ImportRefused:
        org.close()
        if created:
            for leftover in (org_path, Path(f"{org_path}-wal"), Path(f"{org_path}-shm")):
                leftover.unlink(missing_ok=True)
        raise


def import_csv(org: LocalOrg, object: str, path: Path, encoding: str = DEFAULT_ENCODING) -> ImportResult:
    """Create a record per row. Columns are the object's API field names, in any case (Data
    Loader writes them upper-case); other columns are listed and ignored."""
    info = org.describe(object)
    by_folded = {name.casefold(): name for name in info if name not in ("LastModifiedDate", "SystemModstamp")}
    prefix = PREFIX[object]
    result = ImportResult(object)
    bad: list[BadRow] = []
    batch: list[tuple[int, dict]] = []
    columns: dict[str, str | None] = {}  # column -> field, or None: not a field (JSONL rows differ)
    first = True
    for line, row in read_numbered(path, encoding):
        if isinstance(row, BadRow):
            bad.append(row)
            continue
        for column in row:
            if column not in columns:
                columns[column] = by_folded.get(column.strip().casefold())
                if columns[column] is None:
                    result.ignored.append(column)
        if first and not any(columns.values()):
            raise ImportRefused(f"{display_name(path)}: no column is a field of {object} (the header has "
                                f"{', '.join(list(row)[:8])}); name columns by API name, e.g. "
                                f"{', '.join(list(by_folded.values())[:4])}")
        first = False
        record: dict[str, Any] = {}
        name: str | None = ""
        try:
            for column, value in row.items():
                name = columns[column]
                if name is not None:
                    record[name] = _typed(value, info[name].type)
        except ValueError as exc:
            bad.append(BadRow(display_name(path), line, f"{name}: {exc}"))
            continue
        rid = record.get("Id")
        if rid and not (len(rid) in (15, 18) and rid.isalnum() and rid.startswith(prefix)):
            bad.append(BadRow(display_name(path), line, f"Id: {rid!r} is not {_article(object)} {object} Id "
                                               f"({object} Ids are 15 or 18 letters and digits starting {prefix})"))
            continue
        batch.append((line, record))
        if len(batch) >= 500:
            result.created += _insert_new(org, object, batch, path, bad)
            batch = []
    if batch:
        result.created += _insert_new(org, object, batch, path, bad)
    result.bad = bad
    return result


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _insert_new(org: LocalOrg, object: str, batch: list[tuple[int, dict]], path: Path, bad: list[BadRow]) -> int:
    """Insert the rows whose Id the org does not hold yet; the others are reported, not merged."""
    taken = org.existing_ids(object, [r["Id"] for _, r in batch if r.get("Id")])
    rows = []
    for line, record in batch:
        rid = record.get("Id")
        if rid in taken:
            bad.append(BadRow(display_name(path), line, f"Id: {rid} is already in the org "
                                               f"(import creates records; drop the Id column to create copies)"))
            continue
        if rid:
            taken.add(rid)  # a second row with the same Id in the file
        rows.append(record)
    return len(org.insert(object, rows)) if rows else 0


def export_csv(org: LocalOrg, object: str, out: TextIO, extra_columns: list[str] | None = None,
               extra: Callable[[dict], dict] | None = None) -> int:
    """Every record of the object, every column of its table; `extra(record)` adds the values of
    `extra_columns` (the related columns of `org export --related`)."""
    info = org.describe(object)
    fields = list(info)
    writer = csv.DictWriter(out, fieldnames=fields + [c for c in extra_columns or [] if c not in info])
    writer.writeheader()
    count = 0
    for record in org.read_all(object, fields):
        # Text is made safe for spreadsheets (see csv_cell); number fields come back as numbers
        # and stay as they are, negative ones included. `org import` reads either back as it was.
        row = {k: csv_cell(_text(record.get(k)) if info[k].type not in NUMBER else _number(record.get(k)))
               for k in fields}
        if extra is not None:
            row.update({k: csv_cell(_number(v) if isinstance(v, (int, float)) and not isinstance(v, bool)
                                    else _text(v)) for k, v in extra(record).items() if k not in info})
        writer.writerow(row)
        count += 1
    return count


def _number(value: Any) -> Any:
    """A number field's value as written: a number (never quoted), or empty."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, (int, float)) else _text(value)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
