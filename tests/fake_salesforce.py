"""A stateful fake Salesforce org served through `responses`: the REST shapes Salesforce
documents, over an embedded org's SQLite file, with faults on demand."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlparse

import requests
import responses

from connector.base import Patch
from connector.local import LocalOrg
from connector.salesforce import API_VERSION
from connector.schema import OBJECTS

INSTANCE = "https://fake.my.salesforce.com"
BASE = f"/services/data/v{API_VERSION}"
SELECT = re.compile(r"^SELECT (?P<cols>.+?) FROM (?P<obj>\w+)(?: WHERE (?P<where>.+?))?(?: ORDER BY (?P<order>.+))?$")


@dataclass
class Faults:
    unavailable: int = 0  # the next N calls answer 503
    expire_after: int | None = None  # the session expires after this many calls
    lock_rows: set[str] = field(default_factory=set)  # ids answering UNABLE_TO_LOCK_ROW once each
    daily_left: int | None = None  # API calls left today


class FakeSalesforce:
    def __init__(self, org: LocalOrg, rsps: responses.RequestsMock, batch: int = 2000):
        self.org, self.batch = org, batch
        self.faults = Faults()
        self.calls: list[str] = []
        self.writes = 0
        self.token = "00Dfake!1"
        self.logins = 0
        self.cursors: dict[str, tuple[list[dict], int]] = {}
        rsps.add_callback(responses.POST, f"{INSTANCE}/services/oauth2/token", callback=self._login)
        rsps.add_callback(responses.GET, re.compile(rf"{INSTANCE}{BASE}/sobjects/\w+/describe"), callback=self._wrap(self._describe))
        rsps.add_callback(responses.GET, re.compile(rf"{INSTANCE}{BASE}/query/[\w-]+"), callback=self._wrap(self._more))
        rsps.add_callback(responses.GET, re.compile(rf"{INSTANCE}{BASE}/query\?.*"), callback=self._wrap(self._query))
        rsps.add_callback(responses.PATCH, f"{INSTANCE}{BASE}/composite/sobjects", callback=self._wrap(self._patch))

    # -- plumbing ------------------------------------------------------------------------------
    def _login(self, request):
        self.logins += 1
        self.token = f"00Dfake!{self.logins}"
        return 200, {}, json.dumps({"access_token": self.token, "instance_url": INSTANCE, "token_type": "Bearer"})

    def _wrap(self, handler):
        def call(request):
            self.calls.append(f"{request.method} {urlparse(request.url).path}")
            f = self.faults
            if f.unavailable > 0:
                f.unavailable -= 1
                return 503, {}, "Service Unavailable"
            if request.headers.get("Authorization") != f"Bearer {self.token}":
                return 401, {}, json.dumps([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
            if f.expire_after is not None:
                f.expire_after -= 1
                if f.expire_after < 0:
                    f.expire_after = None
                    self.token = "00Dfake!expired"
                    return 401, {}, json.dumps([{"message": "Session expired or invalid",
                                                 "errorCode": "INVALID_SESSION_ID"}])
            if f.daily_left is not None:
                if f.daily_left <= 0:
                    return 403, {}, json.dumps([{"message": "TotalRequests Limit exceeded.",
                                                 "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
                f.daily_left -= 1
            status, body = handler(request)
            used = len(self.calls)
            total = used + (f.daily_left if f.daily_left is not None else 100000)
            return status, {"Sforce-Limit-Info": f"api-usage={used}/{total}"}, json.dumps(body)
        return call

    # -- resources -------------------------------------------------------------------------------
    def _describe(self, request):
        obj = urlparse(request.url).path.split("/")[-2]
        fields = [{"name": f.name, "type": f.type, "updateable": f.updateable, "length": f.length or 0,
                   "label": f.name, "picklistValues": [{"value": v, "active": True} for v in f.picklist]}
                  for f in OBJECTS[obj].values()]
        return 200, {"name": obj, "fields": fields}

    def _query(self, request):
        soql = parse_qs(urlparse(request.url).query)["q"][0]
        m = SELECT.match(soql)
        if not m:
            return 400, [{"message": f"cannot parse {soql}", "errorCode": "MALFORMED_QUERY"}]
        obj, cols, where = m["obj"], [c.strip() for c in m["cols"].split(",")], m["where"]
        rows = list(self.org.read_all(obj, cols))
        if where and where.startswith("SystemModstamp >= "):
            stamp = where.split(">= ")[1].replace("Z", "")
            rows = [r for r in rows if (r.get("SystemModstamp") or "")[:23] >= stamp[:23]]
        elif where and where.startswith("Id IN ("):
            ids = set(re.findall(r"'([^']*)'", where))
            rows = [r for r in rows if r["Id"] in ids]
        elif where and where.startswith("Type = "):
            rows = [r for r in rows if r.get("Type") == "Queue"]
        if m["order"]:
            rows.sort(key=lambda r: (r.get("SystemModstamp") or "", r["Id"]))
        for r in rows:
            r["attributes"] = {"type": obj, "url": f"{BASE}/sobjects/{obj}/{r['Id']}"}
        return 200, self._page(rows, 0, len(rows))

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

    def _patch(self, request):
        body = json.loads(request.body)
        if len(body["records"]) > 200:
            return 400, [{"message": "too many records", "errorCode": "EXCEEDED_ID_LIMIT"}]
        self.writes += 1
        out = []
        for rec in body["records"]:
            rid = rec["id"]
            if rid in self.faults.lock_rows:
                self.faults.lock_rows.discard(rid)
                out.append({"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW",
                                                          "message": "unable to obtain exclusive access", "fields": []}]})
                continue
            values = {k: v for k, v in rec.items() if k not in ("attributes", "id")}
            result = self.org.write([Patch(rec["attributes"]["type"], rid, values)])[0]
            out.append({"id": rid, "success": True, "errors": []} if result.ok else
                       {"success": False, "errors": [{"statusCode": result.code, "message": result.message,
                                                      "fields": []}]})
        return 200, out


def connect(fake: FakeSalesforce, **kw):
    from connector.salesforce import Credentials, SalesforceOrg
    return SalesforceOrg(Credentials("client_credentials", "fake.my", consumer_key="k", consumer_secret="s"),
                         max_wait=0.01, **kw)


__all__ = ["FakeSalesforce", "connect", "requests"]
