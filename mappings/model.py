"""What a mapping file says: rule field names <-> CRM fields, related records, outputs.

A Mapping is built once by the loader (which validates it and plans its inbound function)
and shared by everything that reads or writes records of its object.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping as MappingABC, Protocol

from rules.model import FieldType, Location

# Decision outputs a mapping may send to CRM fields.
OUTPUT_NAMES = ("score", "grade", "stage", "segment", "owner", "routed_at", "sla_due", "sla_status",
                "reason", "previous_stage", "stage_entered_at", "sla_started_at", "sla_met_at", "lifecycle")
# Derivations a field may declare (`derive: domain, from: email`).
DERIVATIONS = ("domain",)
# Outputs read back from the CRM, and the rule field names rules see them under. `routed_at`
# keeps routing sticky; `previous.sla_status` makes an escalation happen once.
READ_BACK: dict[str, tuple[str, FieldType]] = {
    "routed_at": ("routed_at", FieldType.DATETIME),
    "sla_due": ("previous.sla_due", FieldType.DATETIME),
    "sla_status": ("previous.sla_status", FieldType.PICKLIST),
    "stage": ("previous.stage", FieldType.STRING),
    "score": ("previous.score", FieldType.NUMBER),
    "grade": ("previous.grade", FieldType.STRING),
    "segment": ("previous.segment", FieldType.STRING),
    # The lifecycle (RULES.md): where the record stood, and revsync's memory of what it gave.
    "previous_stage": ("previous.previous_stage", FieldType.STRING),
    "stage_entered_at": ("previous.stage_entered_at", FieldType.DATETIME),
    "sla_started_at": ("previous.sla_started_at", FieldType.DATETIME),
    "sla_met_at": ("previous.sla_met_at", FieldType.DATETIME),
    "lifecycle": ("previous.lifecycle", FieldType.STRING),
}
# Names the rule sections produce: a mapped field may not shadow them.
PRODUCED_NAMES = ("segment", "score", "scores", "grade", "stage", "owner", "sla_due", "sla_status",
                  "previous", "previous_stage", "stage_entered_at")



class Inbound(Protocol):
    """A mapping's planned inbound function (mappings/inbound.py): a CRM-named record, and the
    related records found for it, -> the flat rule record."""

    source: str  # its Python source, for debugging

    def __call__(self, crm: MappingABC[str, Any], related: MappingABC[str, MappingABC[str, Any]] | None = None, /
                 ) -> dict[str, Any]: ...


@dataclass(frozen=True)
class FieldSpec:
    """One rule field: read from CRM field `crm`, or derived (`derive`) from field `source`."""

    name: str
    crm: str | None
    type: FieldType
    derive: str | None
    source: str | None
    loc: Location

    @property
    def derived(self) -> bool:
        return self.derive is not None


@dataclass(frozen=True)
class MatchSpec:
    """How records without a lookup field find their related record (lead-to-account)."""

    by: str  # "domain"
    on: tuple[str, ...]  # the record's fields holding candidate domains, in order of preference
    against: str  # the related record's field holding its domain
    loc: Location


@dataclass(frozen=True)
class Related:
    """A related record rules test as `<name>.<field>`."""

    name: str
    object: str
    relationship: str  # column prefix ("Account.OwnerId") or nested key ({"Account": {...}})
    lookup: str | None  # the record's field holding the related Id
    match: MatchSpec | None
    fields: tuple[FieldSpec, ...]
    loc: Location

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def crm_fields(self) -> list[str]:
        """CRM fields to read from the related object (Id first)."""
        names = [f.crm for f in self.fields if f.crm]
        return list(dict.fromkeys(["Id", *names]))


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
    fingerprint: str = ""  # changes when the mapping's meaning changes (not its comments)
    # Set by the loader once the mapping is valid (mappings/inbound.py plans them).
    _plan: Inbound | None = field(default=None, compare=False, repr=False)
    _plan_related: Inbound | None = field(default=None, compare=False, repr=False)

    def field(self, name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.name == name), None)

    def relation(self, name: str) -> Related | None:
        return next((r for r in self.related if r.name == name), None)

    def output(self, name: str) -> OutputSpec | None:
        return next((o for o in self.outputs if o.name == name), None)

    def rule_fields(self) -> dict[str, FieldType]:
        """Every name a rule may test, with its type: the object's fields, `<related>.<field>`,
        and the outputs read back (`routed_at`, `previous.sla_status`, `previous.sla_due`, ...)."""
        out = {f.name: f.type for f in self.fields}
        for rel in self.related:
            out.update({f"{rel.name}.{f.name}": f.type for f in rel.fields})
        for o in self.outputs:
            if o.name in READ_BACK:
                name, ftype = READ_BACK[o.name]
                out[name] = ftype
        return out

    def crm_fields(self) -> list[str]:
        """CRM fields to read for the object itself: mapped fields, lookups, output fields
        (read back), plus Id and SystemModstamp (the sync's watermark)."""
        names = [f.crm for f in self.fields if f.crm]
        names += [o.crm for o in self.outputs]
        return list(dict.fromkeys(["Id", *names, "SystemModstamp"]))

    def inbound(self, crm: MappingABC[str, Any],
                related: MappingABC[str, MappingABC[str, Any]] | None = None) -> dict[str, Any]:
        """A CRM-named record -> the flat rule record (see mappings/inbound.py)."""
        plan = self._plan
        if plan is None:
            raise _unplanned(self)
        return plan(crm, related)

    def inbound_related(self, crm: MappingABC[str, Any],
                        related: MappingABC[str, MappingABC[str, Any]]) -> dict[str, Any]:
        """Only the related records' fields of `inbound(crm, related)`, to add to a rule record
        already mapped without them."""
        plan = self._plan_related
        if plan is None:
            raise _unplanned(self)
        return plan(crm, related)


def _unplanned(mapping: Mapping) -> TypeError:
    # TypeError: the error a call to a missing (None) plan would raise, with the reason said.
    return TypeError(f"the mapping of {mapping.file} was not built by mappings.loader: it has no inbound plan")
