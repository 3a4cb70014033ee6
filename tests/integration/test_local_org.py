"""The embedded org's writes answer like Salesforce's: one result per patch, in order, and
each written record gets its own, increasing SystemModstamp."""
import pytest

from connector.orgs.base import Patch
from connector.orgs.local import LocalOrg


@pytest.fixture
def org(tmp_path):
    org = LocalOrg(tmp_path / "org.db", create=True)
    org.insert("User", [{"Id": "005000000000001AAA", "Username": "ann@acme.example", "IsActive": True}])
    org.insert("Lead", [{"LastName": f"L{i}", "Company": "Acme", "Status": "Open"} for i in range(4)])
    return org


def lead_ids(org):
    return [r["Id"] for r in org.read_all("Lead", ["Id"])]


def test_every_patch_gets_its_result_in_order_and_only_good_ones_land(org):
    a, b, c, d = lead_ids(org)
    results = org.write([
        Patch("Lead", a, {"Status": "Working"}),
        Patch("Lead", b, {"NoSuchField__c": 1}),
        Patch("Lead", c, {"CreatedDate": "2020-01-01T00:00:00.000+0000"}),
        Patch("Lead", d, {"OwnerId": "005000000000009AAA"}),
        Patch("Lead", "00Q000000000999AAA", {"Status": "Working"}),
        Patch("Lead", b, {"Status": "Closed", "OwnerId": "005000000000001AAA"}),
    ])
    assert [(r.id, r.ok, r.code) for r in results] == [
        (a, True, ""), (b, False, "INVALID_FIELD"), (c, False, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        (d, False, "FIELD_INTEGRITY_EXCEPTION"), ("00Q000000000999AAA", False, "ENTITY_IS_DELETED"),
        (b, True, "")]
    rows = {r["Id"]: r for r in org.read_ids("Lead", ["Status", "OwnerId", "SystemModstamp"], [a, b, c, d])}
    assert rows[a]["Status"] == "Working" and rows[b]["Status"] == "Closed"
    assert rows[b]["OwnerId"] == "005000000000001AAA"
    assert rows[c]["Status"] == "Open" and rows[d]["OwnerId"] is None
    assert rows[a]["SystemModstamp"] < rows[b]["SystemModstamp"]


def test_the_same_record_twice_in_one_write_ends_with_the_later_values(org):
    a, b = lead_ids(org)[:2]
    results = org.write([Patch("Lead", a, {"Status": "One", "Rating": "Hot"}),
                         Patch("Lead", b, {"Status": "Other"}),
                         Patch("Lead", a, {"Status": "Two"})])
    assert all(r.ok for r in results)
    rows = {r["Id"]: r for r in org.read_ids("Lead", ["Status", "Rating", "SystemModstamp"], [a, b])}
    assert rows[a]["Status"] == "Two" and rows[a]["Rating"] == "Hot"
    assert rows[a]["SystemModstamp"] > rows[b]["SystemModstamp"]


def test_modstamps_are_distinct_across_a_batch(org):
    ids = lead_ids(org)
    org.write([Patch("Lead", i, {"Status": "Working"}) for i in ids])
    stamps = [r["SystemModstamp"] for r in org.read_ids("Lead", ["SystemModstamp"], ids)]
    assert len(set(stamps)) == len(ids)


def test_a_new_connection_never_stamps_before_what_the_org_holds(tmp_path):
    # A bulk insert runs ahead of the wall clock (a millisecond a record); a later process
    # opening the org must still stamp after it, or incremental reads would miss its writes.
    first = LocalOrg(tmp_path / "org.db", create=True)
    first.insert("Lead", [{"LastName": f"L{i}", "Company": "Acme", "Status": "Open"} for i in range(3000)])
    newest = max(r["SystemModstamp"] for r in first.read_all("Lead", ["SystemModstamp"]))
    first.close()
    later = LocalOrg(tmp_path / "org.db")
    some = lead_ids(later)[0]
    later.write([Patch("Lead", some, {"Status": "Working"})])
    (row,) = later.read_ids("Lead", ["SystemModstamp"], [some])
    assert row["SystemModstamp"] > newest


def test_importing_records_the_org_already_holds_reports_them_and_creates_the_rest(org, tmp_path):
    import csv
    import io

    from connector.orgs.transfer import export_csv, import_csv
    out = io.StringIO()
    export_csv(org, "Lead", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    fresh = {**rows[0], "Id": "00Q000000000777AAA", "LastName": "New"}
    path = tmp_path / "leads.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([rows[0], fresh, fresh])
    result = import_csv(org, "Lead", path)
    assert result.created == 1 and org.count("Lead") == 5
    assert [(b.line, b.reason.split(" is ")[0]) for b in result.bad] == [
        (2, f"Id: {rows[0]['Id']}"), (4, "Id: 00Q000000000777AAA")]


def test_patches_with_the_same_fields_are_each_checked_against_their_own_values(org):
    a, b, c, d = lead_ids(org)
    long_name = "x" * 300
    results = org.write([Patch("Lead", a, {"Status": "Working", "Company": long_name}),
                         Patch("Lead", b, {"Status": "Working", "Company": "Beta"}),
                         Patch("Lead", c, {"Status": "Working", "NoSuchField__c": 1}),
                         Patch("Lead", d, {"Status": "Working", "NoSuchField__c": 2})])
    assert [(r.id, r.ok, r.code) for r in results] == [
        (a, False, "STRING_TOO_LONG"), (b, True, ""), (c, False, "INVALID_FIELD"), (d, False, "INVALID_FIELD")]
    rows = {r["Id"]: r for r in org.read_ids("Lead", ["Company"], [a, b])}
    assert rows[a]["Company"] == "Acme" and rows[b]["Company"] == "Beta"


def test_each_write_stamps_after_the_previous_one(org):
    ids = lead_ids(org)
    org.write([Patch("Lead", i, {"Status": "Working"}) for i in ids[:2]])
    org.write([Patch("Lead", i, {"Status": "Open"}) for i in ids[2:]])
    stamps = [r["SystemModstamp"] for r in org.read_ids("Lead", ["SystemModstamp"], ids)]
    assert stamps[0] < stamps[1] < stamps[2] < stamps[3]
    assert all(len(s) == 28 and s.endswith("+0000") for s in stamps)


def test_a_patch_fails_on_its_first_bad_field_in_order(org):
    a = lead_ids(org)[0]
    (first,) = org.write([Patch("Lead", a, {"Company": "x" * 300, "CreatedDate": "2020-01-01T00:00:00.000+0000"})])
    (second,) = org.write([Patch("Lead", a, {"CreatedDate": "2020-01-01T00:00:00.000+0000", "Company": "x" * 300})])
    assert (first.code, second.code) == ("STRING_TOO_LONG", "INVALID_FIELD_FOR_INSERT_UPDATE")
