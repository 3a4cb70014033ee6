"""Data Loader style CSV in and out of the embedded org."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rules.values import parse_instant

from .files import BadRow, read_records
from .local import LocalOrg, format_stamp

NUMBER = {"int", "double", "currency", "percent"}


@dataclass
class ImportResult:
    object: str
    created: int = 0
    bad: list[BadRow] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"imported {self.created} {self.object} records"]
        lines += [f"  {b}" for b in self.bad]
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
        return int(number) if ftype == "int" else number
    if ftype == "boolean":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    if ftype in ("date", "datetime"):
        instant = parse_instant(text)
        if instant is None:
            raise ValueError(f"{text!r} is not an ISO 8601 {ftype}")
        return instant.date().isoformat() if ftype == "date" else format_stamp(instant)
    return text


def import_csv(org: LocalOrg, object: str, path: Path) -> ImportResult:
    info = org.describe(object)
    result = ImportResult(object)
    bad: list[BadRow] = []
    batch: list[dict] = []
    for line, row in enumerate(read_records(path, bad), 2):
        record: dict[str, Any] = {}
        try:
            for name, value in row.items():
                if name in info and name not in ("LastModifiedDate", "SystemModstamp"):
                    record[name] = _typed(value, info[name].type)
        except ValueError as exc:
            bad.append(BadRow(str(path), line, f"{name}: {exc}"))
            continue
        batch.append((line, record))
        if len(batch) >= 500:
            result.created += _insert_new(org, object, batch, path, bad)
            batch = []
    if batch:
        result.created += _insert_new(org, object, batch, path, bad)
    result.bad = bad
    return result


def _insert_new(org: LocalOrg, object: str, batch: list[tuple[int, dict]], path: Path, bad: list[BadRow]) -> int:
    """Insert the rows whose Id the org does not hold yet; the others are reported, not merged."""
    taken = org.existing_ids(object, [r["Id"] for _, r in batch if r.get("Id")])
    rows = []
    for line, record in batch:
        rid = record.get("Id")
        if rid in taken:
            bad.append(BadRow(str(path), line, f"Id: {rid} is already in the org "
                                               f"(import creates records; drop the Id column to create copies)"))
            continue
        if rid:
            taken.add(rid)  # a second row with the same Id in the file
        rows.append(record)
    return len(org.insert(object, rows)) if rows else 0


def export_csv(org: LocalOrg, object: str, out: TextIO) -> int:
    fields = list(org.describe(object))
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    count = 0
    for record in org.read_all(object, fields):
        writer.writerow({k: _text(record.get(k)) for k in fields})
        count += 1
    return count


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
