"""The Salesforce connector's requests and its reading of responses, pinned with `responses`
to the shapes Salesforce documents (REST query pages, sObject Collections, errors, limits)."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import pytest
import requests
import responses

from connector.orgs.base import AuthError, BackendError, BudgetExhausted, Patch
from connector.orgs.salesforce import API_VERSION, Credentials, SalesforceOrg, soql_quote
from rules.model import RevsyncError

INSTANCE = "https://acme.my.salesforce.com"
BASE = f"{INSTANCE}/services/data/v{API_VERSION}"
LIMITS = {"Sforce-Limit-Info": "api-usage=120/15000"}
DESCRIBE = {"name": "Lead", "fields": [
    {"name": "Id", "type": "id", "updateable": False, "length": 18},
    {"name": "Title", "type": "string", "updateable": True, "length": 128},
    {"name": "SystemModstamp", "type": "datetime", "updateable": False},
    {"name": "Revsync_Score__c", "type": "double", "updateable": True},
    {"name": "Revsync_SLA_Status__c", "type": "picklist", "updateable": True, "length": 20,
     "picklistValues": [{"value": "pending", "active": True}, {"value": "met", "active": True}]},
]}


def session_org(**kw) -> SalesforceOrg:
    return SalesforceOrg(Credentials("session", instance_url=INSTANCE, access_token="00Dxx!secret"),
                         max_wait=0.01, **kw)


def query_q(call) -> str:
    return parse_qs(urlparse(call.request.url).query)["q"][0]


def test_credentials_from_the_environment_and_secrets_not_in_repr():
    c = Credentials.from_env({"SF_USERNAME": "int@acme.example", "SF_CONSUMER_KEY": "3MVG9",
                              "SF_PRIVATE_KEY_FILE": "/run/secrets/sf.key", "SF_DOMAIN": "acme.my"})
    assert c.kind == "jwt" and c.domain == "acme.my"
    cc = Credentials.from_env({"SF_CONSUMER_KEY": "k", "SF_CONSUMER_SECRET": "s3cr3t", "SF_DOMAIN": "acme.my"})
    assert cc.kind == "client_credentials" and "s3cr3t" not in repr(cc)
    s = Credentials.from_env({"SF_INSTANCE_URL": INSTANCE, "SF_ACCESS_TOKEN": "00D!tok"})
    assert s.kind == "session" and "00D!tok" not in repr(s)
    with pytest.raises(AuthError, match="no Salesforce credentials"):
        Credentials.from_env({})


@responses.activate
def test_client_credentials_login_posts_to_my_domain():
    responses.post("https://acme.my.salesforce.com/services/oauth2/token",
                   json={"access_token": "00D!new", "instance_url": INSTANCE, "token_type": "Bearer"})
    responses.get(f"{BASE}/sobjects/Lead/describe", json=DESCRIBE, headers=LIMITS)
    org = SalesforceOrg(Credentials("client_credentials", "acme.my", consumer_key="k", consumer_secret="s"))
    assert org.instance_url == INSTANCE
    login = responses.calls[0].request
    assert "grant_type=client_credentials" in login.body
    assert login.headers["Authorization"].startswith("Basic ")
    org.describe("Lead")
    assert responses.calls[1].request.headers["Authorization"] == "Bearer 00D!new"


@responses.activate
def test_wrong_credentials_give_one_clear_error():
    responses.post("https://acme.my.salesforce.com/services/oauth2/token", status=400,
                   json={"error": "invalid_client", "error_description": "invalid client credentials"})
    with pytest.raises(AuthError, match="invalid client credentials"):
        SalesforceOrg(Credentials("client_credentials", "acme.my", consumer_key="k", consumer_secret="wrong"))


@responses.activate
def test_changed_since_builds_soql_and_follows_next_records_url():
    responses.get(f"{BASE}/sobjects/Lead/describe", json=DESCRIBE, headers=LIMITS)
    first = {"totalSize": 3, "done": False, "nextRecordsUrl": f"/services/data/v{API_VERSION}/query/01gxx-2000",
             "records": [{"attributes": {"type": "Lead", "url": "/x"}, "Id": "00Q1", "Title": "CEO",
                          "SystemModstamp": "2026-11-23T15:00:00.000+0000"},
                         {"attributes": {"type": "Lead"}, "Id": "00Q2", "Title": None,
                          "SystemModstamp": "2026-11-23T15:00:01.000+0000"}]}
    second = {"totalSize": 3, "done": True, "records": [{"attributes": {"type": "Lead"}, "Id": "00Q3",
                                                         "SystemModstamp": "2026-11-23T15:00:02.000+0000"}]}
    responses.get(f"{BASE}/query", json=first, headers=LIMITS)
    responses.get(f"{BASE}/query/01gxx-2000", json=second, headers=LIMITS)
    org = session_org()
    org.now = lambda: datetime(2026, 11, 23, 15, 0, 30, tzinfo=timezone.utc)
    since = datetime(2026, 11, 23, 14, 55, tzinfo=timezone.utc)
    pages = list(org.changed_since("Lead", ["Title", "Nonexistent__c"], since, page_size=1))
    assert [[r["Id"] for r in p] for p in pages] == [["00Q1"], ["00Q2"], ["00Q3"]]
    soql = query_q(responses.calls[1])
    # The window: from the watermark (less the overlap, applied by the sync) to 30 s ago.
    assert soql == ("SELECT Id, Title, SystemModstamp FROM Lead WHERE SystemModstamp >= "
                    "2026-11-23T14:55:00.000Z AND SystemModstamp <= 2026-11-23T15:00:00.000Z "
                    "ORDER BY SystemModstamp, Id")
    assert org.api_used == 120 and org.api_max == 15000 and org.calls == 3


@responses.activate
def test_ids_are_quoted_safely():
    assert soql_quote("O'Brien\\") == "'O\\'Brien\\\\'"
    responses.get(f"{BASE}/sobjects/Lead/describe", json=DESCRIBE)
    responses.get(f"{BASE}/query", json={"done": True, "records": []})
    session_org().read_ids("Lead", ["Title"], ["00Q1", "x' OR Name != '"])
    assert query_q(responses.calls[1]).endswith("WHERE Id IN ('00Q1', 'x\\' OR Name != \\'')")


@responses.activate
def test_writes_use_sobject_collections_and_map_every_result():
    saved = [{"id": "00Q1", "success": True, "errors": []},
             {"success": False, "errors": [{"statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                             "message": "Status must be set", "fields": []}]},
             {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW",
                                             "message": "unable to obtain exclusive access", "fields": []}]}]
    responses.patch(f"{BASE}/composite/sobjects", json=saved, headers=LIMITS)
    responses.patch(f"{BASE}/composite/sobjects", json=[{"id": "00Q3", "success": True, "errors": []}])
    org = session_org()
    due = datetime(2026, 11, 24, 19, tzinfo=timezone.utc)
    results = org.write([Patch("Lead", "00Q1", {"Revsync_Score__c": 65, "Revsync_SLA_Due__c": due}),
                         Patch("Lead", "00Q2", {"Revsync_Grade__c": None}),
                         Patch("Lead", "00Q3", {"Revsync_Stage__c": "MQL"})])
    body = json.loads(responses.calls[0].request.body)
    assert body["allOrNone"] is False
    assert body["records"][0] == {"attributes": {"type": "Lead"}, "id": "00Q1", "Revsync_Score__c": 65,
                                  "Revsync_SLA_Due__c": "2026-11-24T19:00:00.000+0000"}
    assert body["records"][1]["Revsync_Grade__c"] is None
    # Only the transient UNABLE_TO_LOCK_ROW record is sent again.
    assert [r["id"] for r in json.loads(responses.calls[1].request.body)["records"]] == ["00Q3"]
    assert [(r.id, r.ok, r.code) for r in results] == [
        ("00Q1", True, ""), ("00Q2", False, "FIELD_CUSTOM_VALIDATION_EXCEPTION"), ("00Q3", True, "")]


@responses.activate
def test_at_most_200_records_per_collection_call():
    responses.patch(f"{BASE}/composite/sobjects",
                    json=[{"id": f"00Q{i}", "success": True, "errors": []} for i in range(200)])
    responses.patch(f"{BASE}/composite/sobjects",
                    json=[{"id": f"00Q{i}", "success": True, "errors": []} for i in range(50)])
    results = session_org().write([Patch("Lead", f"00Q{i}", {"Revsync_Score__c": i}) for i in range(250)])
    assert len(responses.calls) == 2 and all(r.ok for r in results)
    assert [len(json.loads(c.request.body)["records"]) for c in responses.calls] == [200, 50]


@responses.activate
def test_expired_session_logs_in_again_and_replays_with_headers():
    responses.post("https://acme.my.salesforce.com/services/oauth2/token",
                   json={"access_token": "00D!one", "instance_url": INSTANCE})
    responses.post("https://acme.my.salesforce.com/services/oauth2/token",
                   json={"access_token": "00D!two", "instance_url": INSTANCE})
    responses.patch(f"{BASE}/composite/sobjects", status=401,
                    json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}])
    responses.patch(f"{BASE}/composite/sobjects", json=[{"id": "00Q1", "success": True, "errors": []}])
    org = SalesforceOrg(Credentials("client_credentials", "acme.my", consumer_key="k", consumer_secret="s"))
    assert org.write([Patch("Lead", "00Q1", {"Revsync_Score__c": 1})])[0].ok
    replay = responses.calls[3].request
    assert replay.headers["Authorization"] == "Bearer 00D!two"
    assert replay.headers["Content-Type"] == "application/json"
    assert replay.body == responses.calls[1].request.body


@responses.activate
def test_5xx_and_connection_errors_are_retried_with_backoff():
    responses.get(f"{BASE}/sobjects/Lead/describe", status=503, body="Service Unavailable")
    responses.get(f"{BASE}/sobjects/Lead/describe", body=requests.ConnectionError("reset"))
    responses.get(f"{BASE}/sobjects/Lead/describe", json=DESCRIBE)
    assert "Title" in session_org().describe("Lead")
    assert len(responses.calls) == 3


@responses.activate
def test_daily_limit_and_validation_errors_are_not_retried():
    responses.get(f"{BASE}/sobjects/Lead/describe", status=403,
                  json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    with pytest.raises(BudgetExhausted):
        session_org().describe("Lead")
    assert len(responses.calls) == 1
    responses.get(f"{BASE}/query", status=400,
                  json=[{"message": "unexpected token: FORM", "errorCode": "MALFORMED_QUERY"}])
    with pytest.raises(BackendError, match="MALFORMED_QUERY"):
        list(session_org().query("SELECT Id FORM Lead"))
    assert len(responses.calls) == 2


@responses.activate
def test_concurrent_request_limit_is_retried():
    responses.get(f"{BASE}/sobjects/Lead/describe", status=403, json=[
        {"message": "ConcurrentPerOrgLongTxn Limit exceeded", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    responses.get(f"{BASE}/sobjects/Lead/describe", json=DESCRIBE)
    assert session_org().describe("Lead")


@responses.activate
def test_budget_floor_stops_between_pages():
    responses.get(f"{BASE}/query", json={"done": False, "nextRecordsUrl": "/services/data/next", "records": [{"Id": "1"}]},
                  headers={"Sforce-Limit-Info": "api-usage=14950/15000"})
    org = session_org(api_floor=100)
    pages = org.query("SELECT Id FROM Lead")
    assert next(pages) == [{"Id": "1"}]
    with pytest.raises(BudgetExhausted, match="50 API calls left"):
        next(pages)


@responses.activate
def test_every_request_has_a_timeout(monkeypatch):
    responses.get(f"{BASE}/sobjects/Lead/describe", body=requests.Timeout("read timed out"))
    seen = []
    original = requests.Session.request

    def spy(self, method, url, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(self, method, url, **kwargs)
    monkeypatch.setattr(requests.Session, "request", spy)
    with pytest.raises(BackendError, match="Timeout"):
        session_org(attempts=2).describe("Lead")
    assert seen == [60.0, 60.0]


@responses.activate
def test_jwt_bearer_login_signs_an_assertion_with_the_private_key(tmp_path):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "revsync.key"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    responses.post("https://login.salesforce.com/services/oauth2/token",
                   json={"access_token": "00D!jwt", "instance_url": INSTANCE})
    org = SalesforceOrg(Credentials("jwt", "login", username="int@acme.example", consumer_key="3MVG9",
                                    private_key_file=str(key_file)))
    assert org.instance_url == INSTANCE
    form = parse_qs(responses.calls[0].request.body)
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    claims = jwt.decode(form["assertion"][0], key.public_key(), algorithms=["RS256"],
                        audience="https://login.salesforce.com")
    assert claims["iss"] == "3MVG9" and claims["sub"] == "int@acme.example"


# -- who, when, how many: the org's Id, its clock, calls by kind ----------------------------------
ORG, USER = "00D5g000004FAKEEA4", "0055g00000AbCdEAAV"  # valid 18-character Ids
SANDBOX = "https://acme--uat.sandbox.my.salesforce.com"
SOAP_OK = (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/'
           f'soap/envelope/" xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
           f"<serverUrl>{INSTANCE}/services/Soap/u/{API_VERSION}/00D5g000004FAKE</serverUrl><sessionId>00D!soap"
           f"</sessionId><userId>{USER}</userId><userInfo><organizationId>{ORG}</organizationId>"
           f"<userId>{USER}</userId></userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>")


def token_answer(token: str = "00D!new") -> dict:
    return {"access_token": token, "instance_url": INSTANCE, "token_type": "Bearer",
            "id": f"https://login.salesforce.com/id/{ORG}/{USER}", "issued_at": "1764000000000"}


@responses.activate
def test_org_id_comes_from_the_logins_identity_url_or_its_soap_user_info():
    responses.post(f"{SANDBOX}/services/oauth2/token", json=token_answer())
    responses.post(f"{SANDBOX}/services/Soap/u/{API_VERSION}", body=SOAP_OK, content_type="text/xml")
    oauth = SalesforceOrg(Credentials("client_credentials", consumer_key="k", consumer_secret="s", login_url=SANDBOX))
    soap = SalesforceOrg(Credentials("password", username="u@acme.example", password="p", security_token="t",
                                     login_url=SANDBOX))
    assert oauth.org_id == soap.org_id == ORG and oauth._user_id == soap._user_id == USER
    assert len(responses.calls) == 2 and oauth.calls == soap.calls == 0  # no call beyond the logins


@responses.activate
def test_org_id_with_an_access_token_is_asked_of_userinfo_once_else_of_the_organization():
    info = responses.get(f"{INSTANCE}/services/oauth2/userinfo",
                         json={"organization_id": ORG, "user_id": USER, "sub": f"{INSTANCE}/id/{ORG}/{USER}"})
    org = session_org()
    assert org.org_id == ORG and org.org_id == ORG and info.call_count == 1
    assert org.calls_by_kind["identity"] == 1
    responses.replace(responses.GET, f"{INSTANCE}/services/oauth2/userinfo", status=403, body="Forbidden")
    responses.get(f"{BASE}/query", json={"done": True, "totalSize": 1, "records": [{"Id": ORG[:15]}]})
    assert session_org().org_id == ORG  # a 15-character Id gains its checksum


@responses.activate
def test_server_time_is_the_date_header_and_the_read_window_follows_it():
    org_clock = "Tue, 24 Nov 2026 15:00:30 GMT"
    responses.get(f"{BASE}/sobjects/Lead/describe", json=DESCRIBE, headers={"Date": org_clock})
    responses.get(f"{BASE}/query", json={"done": True, "records": []}, headers={"Date": org_clock})
    org = session_org()
    assert org.server_time is None
    list(org.changed_since("Lead", ["Title"], datetime(2026, 11, 23, tzinfo=timezone.utc)))
    assert org.server_time == datetime(2026, 11, 24, 15, 0, 30, tzinfo=timezone.utc)
    # The lag is taken from the org's clock, whatever this machine's says.
    assert "SystemModstamp <= 2026-11-24T15:00:00." in query_q(responses.calls[1])
    assert abs((org.now() - org.server_time).total_seconds()) < 5


@responses.activate
def test_calls_are_counted_by_kind():
    responses.get(f"{BASE}/sobjects/Lead/describe", json=DESCRIBE)
    responses.get(f"{BASE}/query", json={"done": False, "nextRecordsUrl": f"/services/data/v{API_VERSION}/query/01g-2",
                                         "records": [{"Id": "00Q1"}]})
    responses.get(f"{BASE}/query/01g-2", json={"done": True, "records": [{"Id": "00Q2"}]})
    responses.patch(f"{BASE}/composite/sobjects", json=[{"id": "00Q1", "success": True, "errors": []}])
    responses.post(f"{BASE}/jobs/ingest", json={"id": "750x"})
    org = session_org()
    list(org.read_all("Lead", ["Title"]))
    org.write([Patch("Lead", "00Q1", {"Title": "CEO"})])
    org.request("POST", f"/services/data/v{API_VERSION}/jobs/ingest", data="{}")
    assert org.calls_by_kind == {"describe": 1, "query": 1, "queryMore": 1, "write": 1, "bulk": 1}
    assert org.calls == sum(org.calls_by_kind.values()) == 5


# -- certificates, login URLs, assignment rules ------------------------------------------------------
@responses.activate
def test_a_certificate_that_does_not_verify_is_not_retried_and_says_how_to_trust_it():
    from connector.orgs.base import CertificateError
    refused = requests.exceptions.SSLError("HTTPSConnectionPool(host='acme.my.salesforce.com', port=443): Max retries "
                                           "exceeded (Caused by SSLError(SSLCertVerificationError(1, '[SSL: "
                                           "CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed "
                                           "certificate in certificate chain (_ssl.c:1006)')))")
    responses.get(f"{BASE}/sobjects/Lead/describe", body=refused)
    with pytest.raises(CertificateError, match="REQUESTS_CA_BUNDLE") as caught:
        session_org().describe("Lead")
    assert len(responses.calls) == 1 and not caught.value.retryable and caught.value.exit_code == 3
    assert "could not be verified (self-signed certificate in certificate chain)" in str(caught.value)
    responses.post(f"{SANDBOX}/services/oauth2/token", body=refused)
    with pytest.raises(CertificateError, match="cannot log in to Salesforce: the TLS certificate of " + SANDBOX):
        SalesforceOrg(Credentials("client_credentials", consumer_key="k", consumer_secret="s", login_url=SANDBOX))


@responses.activate
def test_sf_login_url_is_used_by_every_login_flow_and_the_login_again(tmp_path):
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    env = {"SF_LOGIN_URL": f"{SANDBOX}/", "SF_DOMAIN": "test", "SF_CONSUMER_KEY": "3MVG9"}
    token = responses.post(f"{SANDBOX}/services/oauth2/token", json=token_answer())
    soap = responses.post(f"{SANDBOX}/services/Soap/u/{API_VERSION}", body=SOAP_OK)
    SalesforceOrg(Credentials.from_env({**env, "SF_USERNAME": "u@acme.example", "SF_PRIVATE_KEY_FILE": str(tmp_path / "k.pem")}))
    claims = jwt.decode(parse_qs(token.calls[0].request.body)["assertion"][0], key.public_key(), algorithms=["RS256"],
                        audience="https://test.salesforce.com")  # a sandbox's audience, asked of its My Domain
    assert claims["sub"] == "u@acme.example"
    SalesforceOrg(Credentials.from_env({**env, "SF_USERNAME": "u@acme.example", "SF_PASSWORD": "p"}))
    assert soap.call_count == 1
    # Client credentials, and the login again after the session expires mid-run.
    responses.patch(f"{BASE}/composite/sobjects", status=401, json=[{"errorCode": "INVALID_SESSION_ID", "message": "x"}])
    responses.patch(f"{BASE}/composite/sobjects", json=[{"id": "00Q1", "success": True, "errors": []}])
    org = SalesforceOrg(Credentials.from_env({**env, "SF_CONSUMER_SECRET": "s"}))
    assert org.write([Patch("Lead", "00Q1", {"Title": "CEO"})])[0].ok
    assert token.call_count == 3 and not any("test.salesforce.com" in c.request.url for c in responses.calls)
    with pytest.raises(RevsyncError, match="https"):
        Credentials.from_env({"SF_LOGIN_URL": "http://acme.my.salesforce.com", "SF_CONSUMER_KEY": "k",
                              "SF_CONSUMER_SECRET": "s"})


@responses.activate
def test_every_rest_write_turns_off_the_orgs_assignment_rules():
    collection = responses.patch(f"{BASE}/composite/sobjects", json=[{"id": "00Q1", "success": True, "errors": []}])
    one = responses.patch(f"{BASE}/sobjects/Lead/00Q1", status=204)
    org = session_org()
    org.write([Patch("Lead", "00Q1", {"OwnerId": "005A"})])
    org.request("PATCH", f"/services/data/v{API_VERSION}/sobjects/Lead/00Q1", data=json.dumps({"OwnerId": "005A"}),
                headers={"Content-Type": "application/json"})
    for sent in (collection.calls[0].request, one.calls[0].request):
        assert sent.headers["Sforce-Auto-Assign"] == "FALSE"
