"""Bulk API 2.0 jobs of the fake Salesforce org (tests/fake_salesforce.py): query jobs answered
as CSV pages with Sforce-Locator, ingest jobs applied to the backing org record by record."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

from connector.orgs.base import Patch


def _refusal(status: int, code: str, message: str):
    return status, [{"message": message, "errorCode": code}]


def _csv(rows: list[dict], columns: list[str], case: str = "lower") -> str:
    import csv
    import io
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    spell = str.upper if case == "upper" else str.lower
    for row in rows:
        writer.writerow({k: ("" if v is None else (spell("true") if v is True else spell("false") if v is False else v))
                         for k, v in row.items()})
    return out.getvalue()


def _job_id(request) -> str:
    parts = urlparse(request.url).path.split("/")
    return parts[parts.index("query" if "/jobs/query/" in request.url else "ingest") + 1]


class _BulkMixin:
    def _job_create(self, request):
        body = json.loads(request.body)
        if body.get("assignmentRuleId"):  # revsync's owners would be overwritten by the rule
            return _refusal(400, "INVALIDJOB", "the fake org refuses ingest jobs that run an assignment rule")
        if "query" in body:  # Salesforce checks the query when the job is created
            status, answer = self._query_rows(body["query"])
            if status != 200:
                return status, answer
        job_id = f"750FAKE{len(self.jobs):06d}"
        self.jobs[job_id] = {"id": job_id, "state": "UploadComplete" if "query" in body else "Open",
                             "polls": 0, **body}
        return 200, {"id": job_id, "state": self.jobs[job_id]["state"], "operation": body["operation"]}

    def _job_info(self, request):
        job = self.jobs[_job_id(request)]
        job["polls"] += 1
        if job["state"] == "UploadComplete":
            job["state"] = "InProgress" if job["polls"] == 1 else "JobComplete"
        elif job["state"] == "InProgress":
            job["state"] = "JobComplete"
        return 200, {"id": job["id"], "state": job["state"]}

    def _job_results(self, request):
        job = self.jobs[_job_id(request)]
        if "rows" not in job:
            status, body = self._query_rows(job["query"])
            job["rows"], job["cols"] = body
        params = parse_qs(urlparse(request.url).query)
        size = int(params.get("maxRecords", ["50000"])[0])
        start = int(params.get("locator", ["0"])[0])
        chunk = job["rows"][start:start + size]
        locator = str(start + size) if start + size < len(job["rows"]) else "null"
        return 200, _csv(chunk, job["cols"], self.faults.bulk_boolean_case), {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(len(chunk)),
                                                "Content-Type": "text/csv"}

    def _job_upload(self, request):
        import csv
        import io
        job = self.jobs[_job_id(request)]
        text = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        if self.faults.bulk_upload_unavailable > 0:
            self.faults.bulk_upload_unavailable -= 1
            return 503, "Service Unavailable"
        job["upload"] = list(csv.DictReader(io.StringIO(text)))
        return 201, ""

    def _job_close(self, request):
        job = self.jobs[_job_id(request)]
        job["state"], ok, failed = "UploadComplete", [], []
        patches, rows = [], []
        for row in job["upload"]:
            rid = row["Id"]
            # As Salesforce documents it: an empty cell leaves the field alone, #N/A nulls it.
            values = {k: (None if v == "#N/A" else v) for k, v in row.items() if k != "Id" and v != ""}
            if rid in self.faults.lock_rows:
                self.faults.lock_rows.discard(rid)
                failed.append({"sf__Id": rid, "sf__Error": "UNABLE_TO_LOCK_ROW:unable to obtain exclusive access", **row})
                continue
            patches.append(Patch(job["object"], rid, values))
            rows.append(row)
        for row, result in zip(rows, self.org.write(patches) if patches else []):
            self.record_writes[result.id] += result.ok
            if result.id in self.faults.bulk_unreported:
                continue
            (ok if result.ok else failed).append(
                {"sf__Id": result.id, "sf__Created": "false", **row} if result.ok else
                {"sf__Id": result.id, "sf__Error": f"{result.code}:{result.message}", **row})
        job["ok"], job["failed"] = ok, failed
        self.writes += 1
        return 200, {"id": job["id"], "state": job["state"]}

    def _job_outcome(self, request):
        job = self.jobs[_job_id(request)]
        kind = urlparse(request.url).path.rstrip("/").split("/")[-1]
        cols = list(job["upload"][0]) if job["upload"] else ["Id"]
        if kind == "successfulResults":
            return 200, _csv(job["ok"], ["sf__Id", "sf__Created", *cols])
        if kind == "failedResults":
            return 200, _csv(job["failed"], ["sf__Id", "sf__Error", *cols])
        return 200, _csv([], cols)
