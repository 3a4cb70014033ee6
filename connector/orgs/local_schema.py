"""The standard objects and fields of the embedded org, as Salesforce describes them,
plus the custom fields revsync writes (and the two account fields the examples use)."""
from __future__ import annotations

import string

from connector.orgs.base import BackendError, FieldInfo

PREFIX = {"Lead": "00Q", "Opportunity": "006", "Account": "001", "User": "005", "Group": "00G"}
READ_ONLY = {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsClosed", "IsWon"}


def _f(name: str, type: str, length: int | None = None, updateable: bool = True,
       picklist: tuple[str, ...] = ()) -> tuple[str, FieldInfo]:
    return name, FieldInfo(name, type, updateable and name not in READ_ONLY, length, picklist)


AUDIT = [_f("CreatedDate", "datetime"), _f("LastModifiedDate", "datetime"), _f("SystemModstamp", "datetime")]
REVSYNC = [
    _f("Revsync_Score__c", "double"), _f("Revsync_Grade__c", "string", 10),
    _f("Revsync_Stage__c", "string", 40), _f("Revsync_Segment__c", "string", 40),
    _f("Revsync_Routed_At__c", "datetime"), _f("Revsync_SLA_Due__c", "datetime"),
    _f("Revsync_SLA_Status__c", "picklist", 20, picklist=("pending", "at_risk", "met", "breached")),
    _f("Revsync_Reason__c", "string", 255),
    _f("Revsync_Previous_Stage__c", "string", 40), _f("Revsync_Stage_Entered_At__c", "datetime"),
    _f("Revsync_SLA_Started_At__c", "datetime"), _f("Revsync_SLA_Met_At__c", "datetime"),
    _f("Revsync_Lifecycle__c", "textarea", 1000), _f("Revsync_Pilot_Arm__c", "string", 40),
]
REVSYNC_FIELDS = tuple(name for name, _ in REVSYNC)

OBJECTS: dict[str, dict[str, FieldInfo]] = {
    "Lead": dict([
        _f("Id", "id", 18), _f("FirstName", "string", 40), _f("LastName", "string", 80),
        _f("Title", "string", 128), _f("Email", "email", 80), _f("Phone", "phone", 40),
        _f("Company", "string", 255), _f("Website", "url", 255), _f("NumberOfEmployees", "int"),
        _f("AnnualRevenue", "currency"), _f("Industry", "picklist", 255), _f("Country", "string", 80),
        _f("State", "string", 80), _f("City", "string", 40), _f("LeadSource", "picklist", 255),
        _f("Status", "picklist", 255), _f("Rating", "picklist", 255), _f("OwnerId", "reference", 18),
        _f("LastActivityDate", "date", updateable=False), _f("IsConverted", "boolean"),
        _f("ConvertedDate", "date"), _f("ConvertedAccountId", "reference", 18),
        _f("ConvertedOpportunityId", "reference", 18), _f("Description", "textarea", 32000),
        *AUDIT, *REVSYNC]),
    "Opportunity": dict([
        _f("Id", "id", 18), _f("Name", "string", 120), _f("AccountId", "reference", 18),
        _f("OwnerId", "reference", 18), _f("Amount", "currency"), _f("StageName", "picklist", 255),
        _f("Probability", "percent"), _f("CloseDate", "date"), _f("NextStep", "string", 255),
        _f("LastStageChangeDate", "datetime", updateable=False), _f("IsClosed", "boolean"),
        _f("IsWon", "boolean"), _f("Type", "picklist", 255), _f("LeadSource", "picklist", 255),
        _f("ForecastCategoryName", "picklist", 255), _f("LastActivityDate", "date", updateable=False),
        *AUDIT, *REVSYNC]),
    "Account": dict([
        _f("Id", "id", 18), _f("Name", "string", 255), _f("Website", "url", 255),
        _f("Industry", "picklist", 255), _f("NumberOfEmployees", "int"), _f("AnnualRevenue", "currency"),
        _f("OwnerId", "reference", 18), _f("Type", "picklist", 255),
        _f("Share_of_Wallet__c", "double"), _f("Potential_Revenue__c", "currency"),
        _f("BillingCountry", "string", 80), _f("BillingState", "string", 80), *AUDIT]),
    "User": dict([
        _f("Id", "id", 18), _f("Username", "string", 80), _f("Email", "email", 128),
        _f("Name", "string", 121), _f("IsActive", "boolean"), _f("ManagerId", "reference", 18),
        _f("Title", "string", 80), _f("Revsync_Paused__c", "boolean"), *AUDIT]),
    "Group": dict([
        _f("Id", "id", 18), _f("Name", "string", 40), _f("DeveloperName", "string", 80),
        _f("Type", "picklist", 40), *AUDIT]),
}


# A column the standard schema does not know (a field an admin added to the file) is described
# by its declared SQL type, as SQLite's type affinity reads it.
SQL_AFFINITY = (("INT", "int"), ("REAL", "double"), ("FLOA", "double"), ("DOUB", "double"), ("NUM", "double"),
                ("DEC", "double"), ("BOOL", "boolean"), ("DATETIME", "datetime"), ("TIMESTAMP", "datetime"),
                ("DATE", "date"))


def described(object: str, columns: list[tuple[str, str]], path: str = "") -> dict[str, FieldInfo]:
    """The fields of a table's columns (name, declared type), in the table's order: a standard
    field as Salesforce describes it, any other column from its SQL type. A column dropped from
    the file is missing here, so `doctor` names it; no table (no columns) is no object."""
    if object not in OBJECTS or not columns:
        where = f" {path}" if path else ""
        raise BackendError(f"object {object} does not exist in the embedded org{where}"
                           + (" (the file has no such table)" if object in OBJECTS else ""))
    known = OBJECTS[object]
    out = {}
    for name, declared in columns:
        kind = next((t for key, t in SQL_AFFINITY if key in (declared or "").upper()), "string")
        out[name] = known.get(name) or FieldInfo(name, kind, name not in READ_ONLY)
    return out


_B32 = string.ascii_uppercase + string.digits


def sf_id(prefix: str, n: int) -> str:
    """An 18-character Salesforce-shaped Id with the object's key prefix."""
    body = f"{prefix}{'0' * 3}{n:09d}"[:15]
    check = "".join(_B32[sum(1 << i for i, ch in enumerate(body[k:k + 5]) if ch.isupper())]
                    for k in (0, 5, 10))
    return body + check
