"""Bulk API 2.0: queries and updates too large for the REST path, a constant number of calls per
job whatever its size, results streamed back record by record."""
from __future__ import annotations

import csv
import io
import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Collection, Iterator

from connector.orgs.base import BackendError, Patch, WriteResult

if TYPE_CHECKING:
    from connector.orgs.salesforce import SalesforceOrg

NULL = "#N/A"  # how Bulk API 2.0 CSV sets a field to null
DONE = {"JobComplete", "Failed", "Aborted"}


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


def update(org: "SalesforceOrg", patches: list[Patch], *, poll: float = 2.0, timeout: float = 3600.0,
           sleep: Callable[[float], None] = time.sleep) -> list[WriteResult]:
    """Ingest jobs (one per object); every record comes back as successful, failed or
    unprocessed."""
    results: dict[str, WriteResult] = {}
    # Bulk API 2.0 ignores an empty cell on update (null is written as #N/A), so patches that
    # change different fields share one job: a field a patch leaves alone gets an empty cell.
    groups: dict[str, list[Patch]] = {}
    for p in patches:
        groups.setdefault(p.object, []).append(p)
    base = f"/services/data/v{org.api_version}/jobs/ingest"
    for obj, group in groups.items():
        columns = sorted({c for p in group for c in p.values})
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["Id", *columns])
        for p in group:
            writer.writerow([p.id, *(_cell(p.values[c]) if c in p.values else "" for c in columns)])
        # No assignmentRuleId: an ingest job runs an assignment rule only when it names one
        # (unlike REST's Sforce-Auto-Assign, which defaults to TRUE), and the owners are revsync's.
        job = org.request("POST", base, expect=dict, data=json.dumps({"object": obj, "operation": "update",
                                                         "contentType": "CSV", "lineEnding": "LF"}),
                          headers={"Content-Type": "application/json"})
        org.raw("PUT", f"{base}/{job['id']}/batches", data=out.getvalue().encode(), headers={"Content-Type": "text/csv"})
        org.request("PATCH", f"{base}/{job['id']}", data=json.dumps({"state": "UploadComplete"}),
                    headers={"Content-Type": "application/json"})
        try:
            _wait(org, f"{base}/{job['id']}", poll, timeout, sleep)
        except BulkJobFailed:
            pass  # records are still mapped back below: failed and unprocessed ones are kept for retry
        for kind in ("successfulResults", "failedResults", "unprocessedrecords"):
            text = org.raw("GET", f"{base}/{job['id']}/{kind}", headers={"Accept": "text/csv"}).text
            for row in csv.DictReader(io.StringIO(text)):
                rid = row.get("sf__Id") or row.get("Id") or ""
                if kind == "successfulResults":
                    results[rid] = WriteResult(rid, True)
                elif kind == "failedResults":
                    code, _, message = (row.get("sf__Error") or "UNKNOWN:").partition(":")
                    results[rid] = WriteResult(rid, False, code.strip(), message.strip(),
                                               code.strip() == "UNABLE_TO_LOCK_ROW")
                else:
                    results[rid] = WriteResult(rid, False, "UNPROCESSED", "the bulk job did not process it", True)
    return [results.get(p.id) or WriteResult(p.id, False, "UNKNOWN", "not in the bulk job's results", True)
            for p in patches]
