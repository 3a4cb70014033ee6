"""revsync's memory on a record: which rule gave the owner, which owner, whose SLA clock runs,
whether it escalated, and the owners the record has had (one compact text field).

Owners are compared as the CRM means them: a label (`team:sdr/ann@x`, `queue:Q`) names the
same owner as its bare name, and 15- and 18-character Ids name the same record.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from .model import Decision
from .values import same_id

MAX_OWNERS = 10  # owners remembered on the record, newest last: the field stays small


@dataclass(frozen=True)
class Memory:
    """What revsync keeps on the record about its own decisions (one text field)."""

    by: str | None = None  # "route/<rule>" or "sla/<entry>": what gave the current owner
    owner: str | None = None  # the owner it gave
    sla: str | None = None  # the SLA entry whose clock runs
    escalated: bool = False  # that clock has escalated
    owners: tuple[str, ...] = ()  # owners the record has had, oldest first

    def text(self, limit: int | None = None) -> str:
        """Compact JSON, keys in a fixed order, so an unchanged memory is an unchanged text.
        The oldest owners are dropped first when the field cannot hold them all."""
        owners = list(self.owners[-MAX_OWNERS:])
        while True:
            data: dict[str, Any] = {"v": 1}
            for key, value in (("by", self.by), ("owner", self.owner), ("sla", self.sla)):
                if value is not None:
                    data[key] = value
            if self.escalated:
                data["esc"] = 1
            if owners:
                data["owners"] = owners
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
            if limit is None or len(text) <= limit or not owners:
                return text
            owners.pop(0)


def read_memory(value: Any) -> Memory | None:
    """The memory a record carries: None when it has none; ValueError when it cannot be read.
    Case files may give it as a mapping ({by: route/Nurture, owner: "queue:Inbound Nurture"})."""
    if value is None or isinstance(value, Memory):
        return value
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            data = json.loads(value)
        except ValueError:
            raise ValueError("is not revsync's lifecycle text (JSON)") from None
    else:
        data = value
    if not isinstance(data, dict):
        raise ValueError(f"is not revsync's lifecycle text (got {type(data).__name__})")
    owners = data.get("owners") or ()
    if isinstance(owners, str):
        owners = (owners,)
    if not isinstance(owners, (list, tuple)):
        raise ValueError("has `owners` that are not a list")

    def text(key: str) -> str | None:
        found = data.get(key)
        return None if found is None or str(found).strip() == "" else str(found).strip()

    return Memory(text("by"), text("owner"), text("sla"), bool(data.get("esc")),
                  tuple(str(o).strip() for o in owners if o is not None and str(o).strip()))


def bare(owner: Any) -> str:
    """An owner without its label's kind: `team:sdr/ann@x` -> `ann@x`, `queue:Q` -> `Q`."""
    text = str(owner).strip()
    kind, sep, rest = text.partition(":")
    if sep and kind in ("user", "queue", "field", "team"):
        text = rest.split("/", 1)[1] if kind == "team" and "/" in rest else rest
    return text.strip()


def same_owner(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    return a == b or same_id(bare(a), bare(b))


def is_queue(owner: Any) -> bool:
    text = str(owner).strip()
    return text.startswith("queue:") or bare(text).startswith("00G")


def passed_to(owners: tuple[str, ...], current: Any, new: str | None) -> tuple[str, ...]:
    """The owners a record has had, once revsync passes it from `current` to `new`: whoever
    held it (a person's choice included) is history from then on."""
    out = list(owners)
    for owner in (current, new):
        if owner is not None and str(owner).strip() and not (out and same_owner(out[-1], owner)):
            out.append(str(owner).strip())
    return tuple(out)


def memory_of(d: Decision, sla_entry: str | None, resolve_owner: Callable[[str], str | None] | None = None) -> Memory:
    """What the record should carry after this decision. Owner labels become the Ids they were
    written as when `resolve_owner` can say (a sync); offline they stay labels."""
    def written(owner: str | None) -> str | None:
        if owner is None or resolve_owner is None or ":" not in owner:
            return owner
        return resolve_owner(owner) or owner

    owners: list[str] = []
    for owner in d.owners:
        w = written(owner)
        if w is not None and not (owners and same_owner(owners[-1], w)):
            owners.append(w)
    return Memory(d.owner_by, written(d.owner_given), sla_entry, d.clock_escalated, tuple(owners))
