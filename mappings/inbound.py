"""CRM record -> rule record, planned once per mapping so each record is a few dict lookups.

Values pass through as found (the engine reads them as their field's type and reports what it
cannot read); empty or blank strings become None; derived fields are computed. Related records
come from records passed explicitly, dotted columns ("Account.OwnerId") or nested objects
({"Account": {...}}, as the Salesforce REST API returns them); a related record that is absent
gives None for each of its fields.

The plan is Python source generated from the mapping and compiled once: the per-record path
does no parsing, no loops over the mapping and no per-field function calls except derivations.
CRM names are matched exactly (as the REST API and most exports spell them); a record whose
keys are spelled otherwise (Data Loader writes upper-case headers such as "NUMBEROFEMPLOYEES")
goes through a second plan that matches names ignoring case.
"""
from __future__ import annotations

import re
from collections.abc import Mapping as MappingABC
from functools import lru_cache
from typing import Any, Callable

from .model import READ_BACK, FieldSpec, Inbound, Mapping, Related

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
_LABEL = re.compile(r"^(?!-)[a-z0-9\-\u00a1-\uffff]+(?<!-)$")


@lru_cache(maxsize=8192)
def _domain(text: str) -> str | None:
    s = text.strip().lower()
    if not s:
        return None
    if "<" in s and ">" in s:  # "Ann Lee <ann@acme.com>"
        s = s[s.rfind("<") + 1:s.rfind(">")].strip()
    if s.startswith("mailto:"):
        s = s[7:]
    if "@" in s and "/" not in s.split("@", 1)[0]:
        s = s.rsplit("@", 1)[1]  # an email address
    else:
        s = _SCHEME.sub("", s)
        if s.startswith("//"):
            s = s[2:]
        s = re.split(r"[/?#\\]", s, maxsplit=1)[0]
        s = s.rsplit("@", 1)[-1]  # user:password@host
    s = s.split(":", 1)[0].strip().strip(".")
    if s.startswith("www."):
        s = s[4:]
    labels = s.split(".")
    if len(labels) < 2 or labels[-1].isdigit() or not all(_LABEL.match(x) for x in labels):
        return None  # no dot, an IP address, spaces or other characters no host name has
    return s


def domain_of(value: Any) -> str | None:
    """The domain of an email address or URL: lower case, without `www.`, port, path or user.

    `bob@Sub.Acme.com` -> `sub.acme.com`; `https://www.Acme.com/x?y` -> `acme.com`;
    `acme.com` -> `acme.com`; anything without a dotted host name (or not text) -> None.
    Subdomains are kept: without the public suffix list, cutting them is guesswork
    (`acme.co.uk` vs `acme.github.io`); lead-to-account matching tries parent domains itself.
    """
    if value is None or not isinstance(value, str):
        return None
    return _domain(value)


DERIVE: dict[str, Callable[[Any], Any]] = {"domain": domain_of}


# -- the plan -----------------------------------------------------------------------------------

def _fold(record: MappingABC[Any, Any]) -> dict[Any, Any]:
    out = {}
    for k, v in record.items():
        if isinstance(k, str):
            k = k.casefold()
        if isinstance(v, MappingABC) and not isinstance(v, dict):
            v = dict(v)
        out[k] = v
    return out


def _fold_deep(record: MappingABC[Any, Any]) -> dict[Any, Any]:
    out = _fold(record)
    for k, v in out.items():
        if isinstance(v, dict):
            out[k] = _fold(v)
    return out


class _Gen:
    """Writes the inbound function's source, one statement per field."""

    def __init__(self, fold: bool):
        self.fold = fold
        self.lines: list[str] = []
        self.items: list[str] = []  # "'name': var" entries of the returned dict
        self.n = 0

    def key(self, crm: str) -> str:
        return repr(crm.casefold() if self.fold else crm)

    def var(self) -> str:
        self.n += 1
        return f"v{self.n}"

    def clean(self, var: str, indent: str) -> None:
        self.lines.append(f"{indent}if {var}.__class__ is str and (not {var} or {var}.isspace()): {var} = None")

    def fields(self, specs: tuple[FieldSpec, ...], names: dict[str, str]) -> None:
        for spec in specs:
            if spec.crm is not None:
                var = names.setdefault(spec.name, self.var())
                self.lines.append(f"    {var} = g({self.key(spec.crm)})")
                self.clean(var, "    ")

    def derived(self, specs: tuple[FieldSpec, ...], names: dict[str, str]) -> None:
        for spec in specs:
            if spec.derive is not None:
                assert spec.source is not None  # the loader keeps no derived field without `from`
                var = names.setdefault(spec.name, self.var())
                self.lines.append(f"    {var} = _derive_{spec.derive}({names[spec.source]})")

    def related(self, rel: Related, index: int) -> dict[str, str]:
        """Read a related record: passed explicitly, else dotted columns, else a nested object."""
        names: dict[str, str] = {}
        r, nested = f"r{index}", f"n{index}"
        id_crm = next((f.crm for f in rel.fields if f.crm and f.name == "id"), None) or "Id"
        self.lines.append(f"    {r} = related.get({rel.name!r}) if related else None")
        self.lines.append(f"    if {r} is not None:")
        # Explicit records come from a backend, spelled exactly; anything else is matched by case.
        self.lines.append(f"        if {id_crm!r} not in {r}: {r} = _fold({r})")
        for spec in rel.fields:
            if spec.crm is None:
                continue
            var = names.setdefault(spec.name, self.var())
            key = repr(spec.crm)
            self.lines.append(f"        {var} = {r}.get({key})")
            self.lines.append(f"        if {var} is None: {var} = {r}.get({repr(spec.crm.casefold())})")
            self.clean(var, "        ")
        self.lines.append("    else:")
        self.lines.append(f"        {nested} = g({self.key(rel.relationship)})")
        self.lines.append(f"        {nested} = _none if {nested} is None else "
                          f"({nested}.get if isinstance({nested}, _MAPS) else _none)")
        for spec in rel.fields:
            if spec.crm is None:
                continue
            var = names[spec.name]
            self.lines.append(f"        {var} = g({self.key(rel.relationship + '.' + spec.crm)})")
            self.lines.append(f"        if {var} is None: {var} = {nested}({self.key(spec.crm)})")
            self.clean(var, "        ")
        return names


def _source(mapping: Mapping, fold: bool, sentinel: str, related_only: bool = False) -> str:
    gen = _Gen(fold)
    if not fold:  # records not spelled exactly go to the plan that ignores case
        gen.lines.append(f"    if {sentinel!r} not in crm: return _folded(_fold_deep(crm), related)")
    gen.lines.append("    g = crm.get")
    own: dict[str, str] = {}
    if not related_only:
        gen.fields(mapping.fields, own)
        gen.derived(mapping.fields, own)
        for spec in mapping.fields:
            gen.items.append(f"{spec.name!r}: {own[spec.name]}")
    for o in mapping.outputs:
        if o.name in READ_BACK and not related_only:
            var = gen.var()
            gen.lines.append(f"    {var} = g({gen.key(o.crm)})")
            gen.clean(var, "    ")
            gen.items.append(f"{READ_BACK[o.name][0]!r}: {var}")
    for i, rel in enumerate(mapping.related):
        names = gen.related(rel, i)
        gen.derived(rel.fields, names)
        for spec in rel.fields:
            gen.items.append(f"{rel.name + '.' + spec.name!r}: {names[spec.name]}")
    body = "\n".join(gen.lines)
    items = "".join(f"\n        {item}," for item in gen.items)
    return f"def inbound(crm, related=None):\n{body}\n    return {{{items}\n    }}\n"


def plan(mapping: Mapping, related_only: bool = False) -> Inbound:
    """The inbound function for a validated mapping: `inbound(crm, related=None) -> dict`.
    With `related_only`, the function gives only the related records' fields (`account.*`,
    `owner.*`): a sync maps a record once, finds its account, then adds what it found."""
    id_spec = mapping.field("id")
    sentinel = id_spec.crm if id_spec is not None and id_spec.crm else "Id"
    namespace: dict[str, Any] = {"_MAPS": (dict, MappingABC), "_none": {}.get, "_fold": _fold,
                                 "_fold_deep": _fold_deep}
    namespace.update({f"_derive_{name}": fn for name, fn in DERIVE.items()})
    folded_src = _source(mapping, True, sentinel, related_only)
    exact_src = _source(mapping, False, sentinel, related_only)
    exec(compile(folded_src, f"<inbound {mapping.file} (any case)>", "exec"), namespace)
    namespace["_folded"] = namespace.pop("inbound")
    exec(compile(exact_src, f"<inbound {mapping.file}>", "exec"), namespace)
    inbound: Inbound = namespace["inbound"]
    inbound.source = exact_src  # what the plan does, for debugging
    return inbound
