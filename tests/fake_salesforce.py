"""A stateful fake Salesforce org served through `responses`: the REST shapes Salesforce
documents, over an embedded org's SQLite file, with faults on demand. It logs in by OAuth
(the answer's identity URL names the org and user) and by SOAP (userInfo), answers userinfo,
stamps every answer with a Date header from its own clock (`clock`, settable; `advance` moves it
and the backing org's stamps on together), applies its active lead assignment rule to REST
writes that do not turn it off, refuses Bulk ingest jobs that ask for one (Bulk API 2.0 jobs:
tests/fake_salesforce_bulk.py), and counts the updates of each record (`record_writes`)."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Callable
from urllib.parse import parse_qs, urlparse

import requests
import responses

from connector.orgs.base import Patch
from connector.orgs.local import LocalOrg
from connector.orgs.salesforce import API_VERSION
from connector.orgs.salesforce_auth import id18
from connector.orgs.local_schema import OBJECTS
from tests.fake_salesforce_bulk import _BulkMixin, _refusal

INSTANCE = "https://fake.my.salesforce.com"
BASE = f"/services/data/v{API_VERSION}"
SELECT = re.compile(r"^SELECT (?P<cols>.+?) FROM (?P<obj>\w+)(?: WHERE (?P<where>.+?))?(?: ORDER BY (?P<order>.+))?$")


@dataclass
class Faults:
    unavailable: int = 0  # the next N calls answer 503
    expire_after: int | None = None  # the session expires after this many calls
    lock_rows: set[str] = field(default_factory=set)  # ids answering UNABLE_TO_LOCK_ROW once each
    daily_left: int | None = None  # API calls left today
    # The org's active lead assignment rule: a Lead updated through REST without
    # `Sforce-Auto-Assign: FALSE` (the header defaults to TRUE) goes to this owner.
    lead_assignment_owner: str | None = None
    # Fields deleted from the org (object, field): gone from describes, refused by queries and
    # writes with INVALID_FIELD, as a describe cached before the deletion does not know.
    deleted_fields: set[tuple[str, str]] = field(default_factory=set)
    bulk_boolean_case: str = "lower"  # how Bulk API CSV spells booleans: lower (true) or upper (TRUE)
    bulk_unreported: set[str] = field(default_factory=set)  # ids an ingest job writes but lists in no result
    bulk_upload_unavailable: int = 0  # the next N ingest uploads answer 503 (after reading the body)


def _origin(request) -> str:
    url = urlparse(request.url)
    return f"{url.scheme}://{url.netloc}"


class FakeSalesforce(_BulkMixin):
    def __init__(self, org: LocalOrg, rsps: responses.RequestsMock | None, batch: int = 2000):
        self.org, self.batch = org, batch
        self.faults = Faults()
        self.calls: list[str] = []
        self.writes = 0
        self.token = "00Dfake!1"  # the latest session's
        self.sessions = {self.token}  # as in Salesforce, a login leaves the other sessions valid
        self.org_id, self.user_id = id18("00D5g000004FAKE"), id18("0055g00000AbCdE")
        # The org's clock: this machine's, moved on by `advance` (a scheduler's runs minutes apart,
        # played in seconds), and never behind a stamp the org has given (a bulk insert stamps a
        # millisecond a record, ahead of the wall clock). Answers' Date headers and the backing
        # org's stamps follow it; tests may set `clock` (the Date headers) alone.
        self.offset = max(timedelta(0), _newest_stamp(org) + timedelta(seconds=1) - datetime.now(timezone.utc))
        self.clock: Callable[[], datetime] = self.org_clock
        org.clock = self.org_clock
        self.record_writes: Counter[str] = Counter()  # how many times each record was updated
        self.logins = 0
        self.cursors: dict[str, tuple[list[dict], int]] = {}
        self.jobs: dict[str, dict] = {}
        jobs = rf"{BASE}/jobs/(query|ingest)"
        w = self._wrap
        # (method, pattern over path and query string, callback): served through `responses`
        # in-process, or over HTTPS on loopback for tests that run the CLI as a subprocess.
        self.routes = [
            ("POST", r"/services/oauth2/token$", self._login),
            ("POST", r"/services/Soap/u/[\d.]+/?$", self._soap_login),
            ("GET", r"/services/oauth2/userinfo$", w(self._userinfo)),
            ("GET", rf"{BASE}/sobjects/\w+/describe$", w(self._describe)),
            ("PATCH", rf"{BASE}/sobjects/\w+/\w+$", w(self._patch_one)),
            ("GET", rf"{BASE}/query/[\w-]+$", w(self._more)),
            ("GET", rf"{BASE}/query\?.*", w(self._query)),
            ("PATCH", rf"{BASE}/composite/sobjects$", w(self._patch)),
            ("POST", jobs + "$", w(self._job_create)),
            ("GET", jobs + r"/\w+$", w(self._job_info)),
            ("PATCH", jobs + r"/\w+$", w(self._job_close)),
            ("PUT", jobs + r"/\w+/batches$", w(self._job_upload)),
            ("GET", jobs + r"/\w+/results.*", w(self._job_results)),
            ("GET", jobs + r"/\w+/(successfulResults|failedResults|unprocessedrecords)/?$", w(self._job_outcome)),
        ]
        if rsps is not None:
            for method, pattern, callback in self.routes:
                rsps.add_callback(method, re.compile(re.escape(INSTANCE) + pattern), callback=callback)

    def dispatch(self, method: str, path_and_query: str):
        for m, pattern, callback in self.routes:
            if m == method and re.match(pattern, path_and_query):
                return callback
        return None

    # -- plumbing ------------------------------------------------------------------------------
    def org_clock(self) -> datetime:
        return datetime.now(timezone.utc) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta

    def _date(self) -> dict:
        return {"Date": format_datetime(self.clock().astimezone(timezone.utc), usegmt=True)}

    def _login(self, request):
        self.logins += 1
        self.token = f"00Dfake!{self.logins}"
        self.sessions.add(self.token)
        origin = _origin(request)
        return 200, self._date(), json.dumps({
            "access_token": self.token, "instance_url": origin, "token_type": "Bearer", "scope": "api",
            "id": f"{origin}/id/{self.org_id}/{self.user_id}", "issued_at": str(int(self.clock().timestamp() * 1000)),
            "signature": "ZmFrZQ=="})

    def _soap_login(self, request):
        self.logins += 1
        self.token = f"00Dfake!{self.logins}"
        self.sessions.add(self.token)
        origin, org15 = _origin(request), self.org_id[:15]
        body = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                f'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
                f"<soapenv:Body><loginResponse><result>"
                f"<metadataServerUrl>{origin}/services/Soap/m/{API_VERSION}/{org15}</metadataServerUrl>"
                f"<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
                f"<serverUrl>{origin}/services/Soap/u/{API_VERSION}/{org15}</serverUrl>"
                f"<sessionId>{self.token}</sessionId><userId>{self.user_id}</userId>"
                f"<userInfo><organizationId>{self.org_id}</organizationId><organizationName>Fake</organizationName>"
                f"<userId>{self.user_id}</userId><userName>integration@fake.example</userName></userInfo>"
                f"</result></loginResponse></soapenv:Body></soapenv:Envelope>")
        return 200, {**self._date(), "Content-Type": "text/xml;charset=UTF-8"}, body

    def _wrap(self, handler):
        def call(request):
            self.calls.append(f"{request.method} {urlparse(request.url).path}")
            f = self.faults
            if f.unavailable > 0:
                f.unavailable -= 1
                return 503, {}, "Service Unavailable"
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[len("Bearer "):] not in self.sessions:
                return 401, {}, json.dumps([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
            if f.expire_after is not None:
                f.expire_after -= 1
                if f.expire_after < 0:
                    f.expire_after = None
                    self.token = "00Dfake!expired"
                    self.sessions.clear()
                    return 401, {}, json.dumps([{"message": "Session expired or invalid",
                                                 "errorCode": "INVALID_SESSION_ID"}])
            if f.daily_left is not None:
                if f.daily_left <= 0:
                    return 403, {}, json.dumps([{"message": "TotalRequests Limit exceeded.",
                                                 "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
                f.daily_left -= 1
            answer = handler(request)
            status, body = answer[0], answer[1]
            headers = answer[2] if len(answer) > 2 else {}
            used = len(self.calls)
            total = used + (f.daily_left if f.daily_left is not None else 100000)
            headers = {"Sforce-Limit-Info": f"api-usage={used}/{total}", **self._date(), **headers}
            return status, headers, body if isinstance(body, str) else json.dumps(body)
        return call

    # -- resources -------------------------------------------------------------------------------
    def _userinfo(self, request):
        origin = _origin(request)
        return 200, {"sub": f"{origin}/id/{self.org_id}/{self.user_id}", "user_id": self.user_id,
                     "organization_id": self.org_id, "preferred_username": "integration@fake.example",
                     "urls": {"rest": f"{origin}/services/data/v{{version}}/"}}

    def _describe(self, request):
        obj = urlparse(request.url).path.split("/")[-2]
        if obj not in OBJECTS:
            return _refusal(404, "NOT_FOUND", "The requested resource does not exist")
        fields = [{"name": f.name, "type": f.type, "updateable": f.updateable, "length": f.length or 0,
                   "label": f.name, "picklistValues": [{"value": v, "active": True} for v in f.picklist]}
                  for f in OBJECTS[obj].values() if (obj, f.name) not in self.faults.deleted_fields]
        return 200, {"name": obj, "fields": fields}

    def _unknown(self, obj: str, names) -> tuple | None:
        """The refusal Salesforce answers for an object or fields it does not have."""
        if obj not in OBJECTS:
            return _refusal(400, "INVALID_TYPE", f"sObject type '{obj}' is not supported.")
        for name in names:
            if name not in OBJECTS[obj] or (obj, name) in self.faults.deleted_fields:
                return _refusal(400, "INVALID_FIELD", f"No such column '{name}' on entity '{obj}'.")
        return None

    def _query(self, request):
        status, body = self._query_rows(parse_qs(urlparse(request.url).query)["q"][0])
        if status != 200:
            return status, body
        rows, _ = body
        return 200, self._page(rows, 0, len(rows))

    def _query_rows(self, soql: str):
        if soql.endswith(" GROUP BY OwnerId"):
            return self._owner_counts(soql[:-len(" GROUP BY OwnerId")])
        m = SELECT.match(soql)
        if not m:
            return 400, [{"message": f"cannot parse {soql}", "errorCode": "MALFORMED_QUERY"}]
        obj, cols, where = m["obj"], [c.strip() for c in m["cols"].split(",")], m["where"]
        unknown = self._unknown(obj, [c for c in cols if c != "COUNT()"])
        if unknown:
            return unknown
        rows = list(self.org.read_all(obj, cols))
        if where and where.startswith("SystemModstamp "):
            low = re.search(r"SystemModstamp >= (\S+)", where)
            high = re.search(r"SystemModstamp <= (\S+)", where)
            if low:
                rows = [r for r in rows if (r.get("SystemModstamp") or "")[:23] >= low.group(1)[:23]]
            if high:
                rows = [r for r in rows if (r.get("SystemModstamp") or "")[:23] <= high.group(1)[:23]]
        elif where and where.startswith("Id IN ("):
            ids = set(re.findall(r"'([^']*)'", where))
            rows = [r for r in rows if r["Id"] in ids]
        elif where and where.startswith("OwnerId IN ("):
            owners = set(re.findall(r"'([^']*)'", where.split(")", 1)[0]))
            rows = [r for r in self.org.read_all(obj, [*cols, "OwnerId", *re.findall(r"AND (\w+) = false", where)])
                    if r.get("OwnerId") in owners]
            for flag in re.findall(r"AND (\w+) = false", where):
                rows = [r for r in rows if not r.get(flag)]
            rows = [{c: r.get(c) for c in cols} for r in rows]
        elif where and where.startswith("Type = "):
            rows = [r for r in rows if r.get("Type") == "Queue"]
        if m["order"]:
            rows.sort(key=lambda r: (r.get("SystemModstamp") or "", r["Id"]))
        for r in rows:
            r["attributes"] = {"type": obj, "url": f"{BASE}/sobjects/{obj}/{r['Id']}"}
        return 200, (rows, [c for c in cols if c != "COUNT()"] or ["Id"])

    def _owner_counts(self, soql: str):
        """`SELECT OwnerId, COUNT(Id) n FROM ... WHERE OwnerId IN (...) GROUP BY OwnerId`: AggregateResult
        rows keyed by the alias, as Salesforce answers them."""
        m = re.match(r"^SELECT OwnerId, COUNT\(Id\) (\w+) FROM (\w+) WHERE (OwnerId IN \(.+)$", soql)
        if not m:
            return 400, [{"message": f"cannot parse {soql}", "errorCode": "MALFORMED_QUERY"}]
        alias, obj, where = m.groups()
        status, body = self._query_rows(f"SELECT Id FROM {obj} WHERE {where}")
        if status != 200:
            return status, body
        owners: dict[str, int] = {}
        for r in self.org.read_all(obj, ["OwnerId"]):
            if r["Id"] in {row["Id"] for row in body[0]}:
                owners[r["OwnerId"]] = owners.get(r["OwnerId"], 0) + 1
        rows = [{"attributes": {"type": "AggregateResult"}, "OwnerId": o, alias: n} for o, n in sorted(owners.items())]
        return 200, (rows, ["OwnerId", alias])

    def _page(self, rows, start, total):
        chunk = rows[start:start + self.batch]
        body = {"totalSize": total, "done": start + self.batch >= len(rows), "records": chunk}
        if not body["done"]:
            cursor = f"01gFAKE{len(self.cursors)}-{start + self.batch}"
            self.cursors[cursor] = (rows, start + self.batch)
            body["nextRecordsUrl"] = f"{BASE}/query/{cursor}"
        return body

    def _more(self, request):
        rows, start = self.cursors.pop(urlparse(request.url).path.split("/")[-1])
        return 200, self._page(rows, start, len(rows))

    def _assigned(self, request, obj: str, values: dict) -> dict:
        """The org's active lead assignment rule, as REST runs it unless told not to."""
        auto = request.headers.get("Sforce-Auto-Assign", "TRUE").strip().upper() != "FALSE"
        if auto and self.faults.lead_assignment_owner and obj == "Lead":
            return {**values, "OwnerId": self.faults.lead_assignment_owner}
        return values

    def _patch_one(self, request):
        obj, rid = urlparse(request.url).path.split("/")[-2:]
        values = json.loads(request.body)
        unknown = self._unknown(obj, values)
        if unknown:
            return unknown
        self.writes += 1
        result = self.org.write([Patch(obj, rid, self._assigned(request, obj, values))])[0]
        self.record_writes[rid] += result.ok
        if not result.ok:
            return _refusal(400, result.code, result.message)
        return 204, ""

    def _patch(self, request):
        body = json.loads(request.body)
        if len(body["records"]) > 200:
            return 400, [{"message": "too many records", "errorCode": "EXCEEDED_ID_LIMIT"}]
        for rec in body["records"]:  # a field the org lacks fails the whole request, as JSON binding does
            unknown = self._unknown(rec["attributes"]["type"], [k for k in rec if k not in ("attributes", "id")])
            if unknown:
                return unknown
        self.writes += 1
        out: list[dict | None] = []
        patches, at = [], []  # saved in one transaction of the backing org: each record on its own
        for rec in body["records"]:
            rid = rec["id"]
            if rid in self.faults.lock_rows:
                self.faults.lock_rows.discard(rid)
                out.append({"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW",
                                                          "message": "unable to obtain exclusive access", "fields": []}]})
                continue
            values = {k: v for k, v in rec.items() if k not in ("attributes", "id")}
            patches.append(Patch(rec["attributes"]["type"], rid, self._assigned(request, rec["attributes"]["type"], values)))
            at.append(len(out))
            out.append(None)
        for i, result in zip(at, self.org.write(patches) if patches else []):
            self.record_writes[result.id] += result.ok
            out[i] = ({"id": result.id, "success": True, "errors": []} if result.ok else
                      {"success": False, "errors": [{"statusCode": result.code, "message": result.message, "fields": []}]})
        return 200, out


def _newest_stamp(org: LocalOrg) -> datetime:
    stamps = [org.db.execute(f'SELECT max(SystemModstamp) FROM "{obj}"').fetchone()[0] or ""
              for obj, fields in OBJECTS.items() if "SystemModstamp" in fields]
    newest = max(stamps, default="")
    return datetime.fromisoformat(newest.replace("+0000", "+00:00")) if newest else datetime.min.replace(tzinfo=timezone.utc)


def connect(fake: FakeSalesforce, **kw):
    from connector.orgs.salesforce import Credentials, SalesforceOrg
    # No lag: the fake's records were all written moments ago.
    return SalesforceOrg(Credentials("client_credentials", "fake.my", consumer_key="k", consumer_secret="s"),
                         max_wait=0.01, **{"lag_seconds": 0, **kw})


__all__ = ["FakeSalesforce", "connect", "requests"]
