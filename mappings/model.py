"""What a mapping file says: rule field names <-> CRM fields, related records, outputs."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from rules.model import FieldType, Location

OUTPUT_NAMES = ("score", "grade", "stage", "segment", "owner", "routed_at", "sla_due", "sla_status", "reason")
DERIVATIONS = ("domain",)
# Outputs read back from the CRM, and the rule field names rules see them under.
READ_BACK = {"routed_at": ("routed_at", FieldType.DATETIME),
             "sla_status": ("previous.sla_status", FieldType.PICKLIST),
             "sla_due": ("previous.sla_due", FieldType.DATETIME),
             "stage": ("previous.stage", FieldType.STRING),
             "score": ("previous.score", FieldType.NUMBER)}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    crm: str | None
    type: FieldType
    derive: str | None
    source: str | None
    loc: Location


@dataclass(frozen=True)
class MatchSpec:
    by: str  # "domain"
    on: tuple[str, ...]  # record fields holding candidate domains
    against: str  # the related record's field holding its domain
    loc: Location


@dataclass(frozen=True)
class Related:
    name: str
    object: str
    relationship: str
    lookup: str | None
    match: MatchSpec | None
    fields: tuple[FieldSpec, ...]
    loc: Location


@dataclass(frozen=True)
class OutputSpec:
    name: str
    crm: str
    max_length: int | None
    loc: Location


@dataclass(frozen=True)
class Mapping:
    object: str
    file: str
    fields: tuple[FieldSpec, ...]
    related: tuple[Related, ...]
    outputs: tuple[OutputSpec, ...]
    fingerprint: str = ""
    _plan: Any = field(default=None, compare=False, repr=False)

    def rule_fields(self) -> dict[str, FieldType]:
        """Every name a rule may test, with its type."""
        out = {f.name: f.type for f in self.fields}
        for rel in self.related:
            out.update({f"{rel.name}.{f.name}": f.type for f in rel.fields})
        for o in self.outputs:
            if o.name in READ_BACK:
                name, ftype = READ_BACK[o.name]
                out[name] = ftype
        return out

    def crm_fields(self) -> list[str]:
        """CRM fields to read for the object itself (output fields are read back too)."""
        names = [f.crm for f in self.fields if f.crm]
        names += [o.crm for o in self.outputs]
        for rel in self.related:
            if rel.lookup:
                spec = next((f for f in self.fields if f.name == rel.lookup), None)
                if spec is not None and spec.crm:
                    names.append(spec.crm)
        return list(dict.fromkeys(["Id", *names, "SystemModstamp"]))

    def output(self, name: str) -> OutputSpec | None:
        return next((o for o in self.outputs if o.name == name), None)

    def inbound(self, crm: dict, related: dict[str, dict] | None = None) -> dict:
        return self._plan(crm, related)


Inbound = Callable[[dict, "dict[str, dict] | None"], dict]
