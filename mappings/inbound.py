"""CRM record -> rule record, planned once per mapping so each record is a few dict lookups.

Values pass through as found (the engine reads them as their field's type, and reports what
it cannot read); empty strings become None; derived fields are computed; related records
come from dotted columns ("Account.OwnerId"), nested objects ({"Account": {...}}) or records
passed explicitly.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

from .model import READ_BACK, FieldSpec, Mapping

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.I)


@lru_cache(maxsize=65536)
def _domain(text: str) -> str | None:
    s = text.strip().lower()
    if not s:
        return None
    if "@" in s and "/" not in s:
        s = s.rsplit("@", 1)[1]
    else:
        s = _SCHEME.sub("", s)
        s = s.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
        s = s.rsplit("@", 1)[-1].split(":", 1)[0]
    s = s.strip(".")
    if s.startswith("www."):
        s = s[4:]
    return s if "." in s else None


def domain_of(value: Any) -> str | None:
    """The domain of an email address or URL, lower case, without `www.`."""
    if value is None or not isinstance(value, str):
        return None
    return _domain(value)


DERIVE: dict[str, Callable[[Any], Any]] = {"domain": domain_of}


def _clean(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _read_related(crm: dict, relationship: str, field: str) -> Any:
    value = crm.get(f"{relationship}.{field}")
    if value is None:
        nested = crm.get(relationship)
        if isinstance(nested, dict):
            value = nested.get(field)
    return value


def _apply(specs: tuple[FieldSpec, ...], get: Callable[[str], Any], out: dict, prefix: str) -> None:
    for spec in specs:
        if spec.crm:
            out[prefix + spec.name] = _clean(get(spec.crm))
    for spec in specs:
        if spec.derive:
            out[prefix + spec.name] = DERIVE[spec.derive](out.get(prefix + spec.source))


def plan(mapping: Mapping) -> Callable[[dict, dict | None], dict]:
    own = tuple(mapping.fields)
    read_back = [(o.crm, READ_BACK[o.name][0]) for o in mapping.outputs if o.name in READ_BACK]
    related = [(r.name + ".", r.relationship, r.fields) for r in mapping.related]

    def inbound(crm: dict, explicit: dict[str, dict] | None = None) -> dict:
        out: dict[str, Any] = {}
        _apply(own, crm.get, out, "")
        for crm_field, name in read_back:
            out[name] = _clean(crm.get(crm_field))
        for prefix, relationship, specs in related:
            record = (explicit or {}).get(prefix[:-1])
            if record is not None:
                _apply(specs, record.get, out, prefix)
            elif relationship in crm or any(k.startswith(relationship + ".") for k in crm):
                _apply(specs, lambda f: _read_related(crm, relationship, f), out, prefix)
        return out

    return inbound
