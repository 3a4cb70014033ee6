"""Bulk API 2.0: queries and updates too large for the REST path, a constant number of calls per
job whatever its size, results streamed back record by record."""
from __future__ import annotations

import codecs
import csv
import io
import json
import tempfile
import time
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, Callable, Collection, Iterable, Iterator

import requests

from connector.orgs.base import BackendError, WriteResult

if TYPE_CHECKING:
    from connector.orgs.salesforce import SalesforceOrg

NULL = "#N/A"  # how Bulk API 2.0 CSV sets a field to null
DONE = {"JobComplete", "Failed", "Aborted"}
# An upload may hold 150 MB once base64-encoded, which Salesforce documents as about 100 MB of
# CSV: a larger update is split into as many jobs as that needs.
MAX_UPLOAD_BYTES = 100_000_000
RESULTS_CHUNK = 2_000  # results handed on at a time, as they are read


class BulkJobFailed(BackendError):
    pass


def _wait(org: "SalesforceOrg", path: str, poll: float, timeout: float, sleep: Callable[[float], None]) -> dict:
    started = time.monotonic()
    delay = poll
    while True:
        info = org.request("GET", path, expect=dict)
        if info["state"] in DONE:
            if info["state"] != "JobComplete":
                raise BulkJobFailed(f"bulk job {info.get('id')} {info['state']}: {info.get('errorMessage', '')}")
            return info
        if time.monotonic() - started > timeout:
            raise BackendError(f"bulk job {info.get('id')} still {info['state']} after {timeout:.0f} s")
        sleep(delay)
        delay = min(delay * 2, 30.0)


def _boolean(value: str | None) -> bool | str | None:
    # CSV has no types: booleans come as text, whose case is not promised ("true", "TRUE").
    if value is None:
        return None
    return {"true": True, "false": False}.get(value.strip().lower(), value)


def query(org: "SalesforceOrg", soql: str, *, poll: float = 2.0, timeout: float = 3600.0,
          max_records: int = 50_000, sleep: Callable[[float], None] = time.sleep,
          booleans: Collection[str] = ()) -> Iterator[list[dict]]:
    """Pages of a Bulk API 2.0 query, one results call per page (Sforce-Locator). The columns
    named in `booleans` are read as booleans, as the REST API's JSON gives them; an empty cell
    is None."""
    base = f"/services/data/v{org.api_version}/jobs/query"
    job = org.request("POST", base, expect=dict, data=json.dumps({"operation": "query", "query": soql}),
                      headers={"Content-Type": "application/json"})
    _wait(org, f"{base}/{job['id']}", poll, timeout, sleep)
    locator: str | None = None
    while True:
        params: dict[str, Any] = {"maxRecords": max_records}
        if locator:
            params["locator"] = locator
        response = org.raw("GET", f"{base}/{job['id']}/results", params=params, headers={"Accept": "text/csv"})
        rows = [{k: (v if v != "" else None) for k, v in row.items()}
                for row in csv.DictReader(io.StringIO(response.text))]
        for row in rows:
            for column in booleans:
                if column in row:
                    row[column] = _boolean(row[column])
        if rows:
            yield rows
        locator = response.headers.get("Sforce-Locator")
        if not locator or locator == "null":
            return
        org.check_budget()


def _cell(value: Any) -> str:
    if value is None or value == "":
        return NULL  # an empty cell would leave the field as it is
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return str(value)


def update_rows(org: "SalesforceOrg", object: str, columns: list[str], rows: Iterable[tuple[str, dict]],
                record: Callable[[list[WriteResult]], None], *, poll: float = 2.0, timeout: float = 3600.0,
                sleep: Callable[[float], None] = time.sleep, max_bytes: int = MAX_UPLOAD_BYTES) -> int:
    """Update the records `rows` yields (Id, values to write) through ingest jobs of `object`, as
    many as the upload limit needs: the CSV goes through a temporary file, never whole in memory,
    and each job's results go to `record` in chunks as they are read (a record missing from them
    is the caller's to count as failed). Returns the number of jobs.

    Bulk API 2.0 ignores an empty cell on update (null is written as #N/A), so records that
    change different fields share one job: a field a record leaves alone gets an empty cell."""
    header, jobs, held = _line(["Id", *columns]), 0, 0
    with tempfile.TemporaryFile() as upload:
        upload.write(header)
        for rid, values in rows:
            line = _line([rid, *(_cell(values[c]) if c in values else "" for c in columns)])
            if held and upload.tell() + len(line) > max_bytes:
                _ingest(org, object, upload, record, poll, timeout, sleep)
                jobs, held = jobs + 1, 0
                upload.seek(0)
                upload.truncate()
                upload.write(header)
            upload.write(line)
            held += 1
        if held:
            _ingest(org, object, upload, record, poll, timeout, sleep)
            jobs += 1
    return jobs


def _line(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue().encode()


def _ingest(org: "SalesforceOrg", object: str, upload: IO[bytes], record: Callable[[list[WriteResult]], None],
            poll: float, timeout: float, sleep: Callable[[float], None]) -> None:
    """One ingest job: create, upload, close, wait, then its three result lists."""
    org.check_budget()
    base = f"/services/data/v{org.api_version}/jobs/ingest"
    upload.flush()
    # No assignmentRuleId: an ingest job runs an assignment rule only when it names one
    # (unlike REST's Sforce-Auto-Assign, which defaults to TRUE), and the owners are revsync's.
    job = org.request("POST", base, expect=dict, data=json.dumps({"object": object, "operation": "update",
                                                                  "contentType": "CSV", "lineEnding": "LF"}),
                      headers={"Content-Type": "application/json"})
    # A file: streamed, and read from its top again on a retry (salesforce_http.py).
    org.raw("PUT", f"{base}/{job['id']}/batches", data=upload, headers={"Content-Type": "text/csv"})
    org.request("PATCH", f"{base}/{job['id']}", data=json.dumps({"state": "UploadComplete"}),
                headers={"Content-Type": "application/json"})
    try:
        _wait(org, f"{base}/{job['id']}", poll, timeout, sleep)
    except BulkJobFailed:
        pass  # records are still mapped back below: failed and unprocessed ones are kept for retry
    for kind in ("successfulResults", "failedResults", "unprocessedrecords"):
        path = f"{base}/{job['id']}/{kind}"
        response = org.raw("GET", path, headers={"Accept": "text/csv"}, stream=True)
        chunk: list[WriteResult] = []
        try:
            for row in csv.DictReader(_lines(response)):
                chunk.append(_result(kind, row))
                if len(chunk) >= RESULTS_CHUNK:
                    record(chunk)
                    chunk = []
        except requests.RequestException as exc:  # the answer broke off while it was read
            raise BackendError(f"GET {path}: {exc.__class__.__name__} while reading the results") from None
        finally:
            response.close()
        if chunk:
            record(chunk)


def _lines(response: requests.Response) -> Iterator[str]:
    """An answer's text line by line as it arrives (the csv module joins a quoted value's lines).
    UTF-8, as Bulk API 2.0 writes it (requests would guess Latin-1 for text/csv without a charset)."""
    decode = codecs.getincrementaldecoder("utf-8")().decode
    pending = ""
    for block in response.iter_content(65536):
        pending += decode(block)
        *lines, pending = pending.split("\n")
        yield from (line + "\n" for line in lines)
    pending += decode(b"", True)
    if pending:
        yield pending


def _result(kind: str, row: dict) -> WriteResult:
    rid = row.get("sf__Id") or row.get("Id") or ""
    if kind == "successfulResults":
        return WriteResult(rid, True)
    if kind == "failedResults":
        code, _, message = (row.get("sf__Error") or "UNKNOWN:").partition(":")
        return WriteResult(rid, False, code.strip(), message.strip(), code.strip() == "UNABLE_TO_LOCK_ROW")
    return WriteResult(rid, False, "UNPROCESSED", "the bulk job did not process it", True)
