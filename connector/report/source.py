"""The records a report reads from an org, read-only: the object's records created since a date,
as rule records (mapping, owner and account), the opportunities converted leads link to, and
owner names."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rules.values import id18, parse_bool, parse_instant

from connector.context import OrgContext
from connector.orgs.base import Backend
from connector.workspace.workspace import Workspace

OPPORTUNITY_FIELDS = ["IsWon", "IsClosed", "Amount"]


@dataclass
class Population:
    records: list[dict[str, Any]]  # rule records, in the org's order
    opportunities: dict[str, dict] = field(default_factory=dict)  # by 18-character Id
    names: dict[str, str] = field(default_factory=dict)  # owner Id -> username or `queue <Name>`
    before_since: int = 0  # records created before --since (or with no created date), left out
    context: OrgContext | None = None


def read_population(org: Backend, ws: Workspace, since: datetime | None, extra_fields: tuple[str, ...] = ()
                    ) -> Population:
    """Every record of the workspace's object created at or after `since` (all when None)."""
    context = OrgContext(org, ws.mapping)
    described = org.describe(ws.object)
    # CreatedDate for --since whatever the mapping names: every Salesforce object has it.
    fields = list(dict.fromkeys([*ws.mapping.crm_fields(), "CreatedDate", *(f for f in extra_fields if f in described)]))
    out = Population([], context=context)
    for page in org.changed_since(ws.object, fields, None, 2000):
        for crm in page:
            created = parse_instant(crm.get("CreatedDate")) if since is not None else None
            if since is not None and (created is None or created < since):
                out.before_since += 1
                continue
            rec = context.rule_record(crm)
            for name in extra_fields:
                if name in crm:
                    rec[f"crm:{name}"] = crm[name]
            out.records.append(rec)
    out.names = context.names()
    opp_ids = sorted({id18(str(r["converted_opportunity_id"])) for r in out.records
                      if r.get("converted_opportunity_id") and parse_bool(r.get("converted")) is True})
    if opp_ids:
        out.opportunities = {id18(o["Id"]): o for o in org.read_ids("Opportunity", ["Id", *OPPORTUNITY_FIELDS], opp_ids)}
    return out
