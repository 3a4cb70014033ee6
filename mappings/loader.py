"""Mapping files -> Mapping, with every problem reported at once (codes M0xx)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from rules.conditions import did_you_mean
from rules.model import ConfigError, FieldType, Location, Problem
from rules.source import Node, display_path, load_file

from .inbound import plan
from .model import DERIVATIONS, OUTPUT_NAMES, FieldSpec, Mapping, MatchSpec, OutputSpec, Related

TYPES = tuple(t.value for t in FieldType)


def default_dir() -> Path:
    return Path(__file__).resolve().parent / "defaults"


class _Parser:
    def __init__(self, file: str):
        self.file = file
        self.problems: list[Problem] = []

    def err(self, code: str, message: str, loc: Location, fix: str = "") -> None:
        self.problems.append(Problem(code, message, loc, fix))

    def keys(self, node: Node, allowed: tuple[str, ...], where: str) -> None:
        for key, _ in node.items():
            if key not in allowed:
                self.err("M001", f"unknown key '{key}' in {where}", node.key_loc(key),
                         did_you_mean(key, allowed) or f"{where} takes: {', '.join(allowed)}")

    def fields(self, node: Node | None, where: str) -> tuple[FieldSpec, ...]:
        if node is None:
            return ()
        if not node.is_map:
            self.err("M002", f"`fields` of {where} must map rule field names to CRM fields", node.loc)
            return ()
        specs = []
        for name, spec in node.items():
            parsed = self.field(name, spec, node.key_loc(name))
            if parsed is not None:
                specs.append(parsed)
        names = {s.name for s in specs}
        for s in specs:
            if s.derive and s.source not in names:
                self.err("M004", f"'{s.name}' is derived from unknown field '{s.source}'", s.loc,
                         did_you_mean(str(s.source), names) or "name a field of this mapping in `from`")
        return tuple(specs)

    def field(self, name: str, node: Node, loc: Location) -> FieldSpec | None:
        if node.is_scalar and isinstance(node.value, str):  # shorthand: `title: Title`
            return FieldSpec(name, node.value, FieldType.STRING, None, None, loc)
        if not node.is_map:
            self.err("M002", f"field '{name}' needs {{crm: Field, type: ...}}", node.loc)
            return None
        self.keys(node, ("crm", "type", "derive", "from"), f"field '{name}'")
        derive, source = node.get("derive"), node.get("from")
        ftype = FieldType.STRING
        type_node = node.get("type")
        if type_node is not None:
            if type_node.value not in TYPES:
                self.err("M003", f"unknown type {type_node.value!r} for '{name}'", type_node.loc,
                         did_you_mean(str(type_node.value), TYPES) or "types: " + ", ".join(TYPES))
                return None
            ftype = FieldType(type_node.value)
        if derive is not None:
            if derive.value not in DERIVATIONS or source is None:
                self.err("M004", f"derived field '{name}' needs derive: domain and from: <field>",
                         derive.loc, "e.g. {derive: domain, from: email}")
                return None
            return FieldSpec(name, None, ftype, str(derive.value), str(source.value), loc)
        crm = node.get("crm")
        if crm is None or not isinstance(crm.value, str) or not crm.value.strip():
            self.err("M002", f"field '{name}' has no `crm:` field", node.loc,
                     "name the CRM field, e.g. {crm: Title, type: string}")
            return None
        return FieldSpec(name, crm.value.strip(), ftype, None, None, loc)

    def related(self, node: Node | None, own: tuple[FieldSpec, ...]) -> tuple[Related, ...]:
        if node is None:
            return ()
        out = []
        names = {f.name for f in own}
        for name, rel in node.items():
            if not rel.is_map:
                self.err("M002", f"related '{name}' must be a mapping", rel.loc)
                continue
            self.keys(rel, ("object", "relationship", "lookup", "match", "fields"), f"related '{name}'")
            obj = rel.get("object")
            fields = self.fields(rel.get("fields"), f"related '{name}'")
            lookup = rel.get("lookup")
            if lookup is not None and lookup.value not in names:
                self.err("M007", f"lookup '{lookup.value}' is not a field of this mapping", lookup.loc,
                         did_you_mean(str(lookup.value), names) or "name the field holding the related Id")
            match = self.match(rel.get("match"), names, {f.name for f in fields})
            if obj is None:
                self.err("M002", f"related '{name}' needs `object:`", rel.loc, "e.g. object: Account")
                continue
            relationship = rel.get("relationship")
            out.append(Related(name, str(obj.value), str((relationship or obj).value),
                               str(lookup.value) if lookup is not None else None, match, fields, rel.loc))
        return tuple(out)

    def match(self, node: Node | None, own: set[str], theirs: set[str]) -> MatchSpec | None:
        if node is None:
            return None
        self.keys(node, ("by", "on", "against"), "match")
        by, on, against = node.get("by"), node.get("on"), node.get("against")
        if by is None or by.value != "domain":
            self.err("M008", "match supports `by: domain`", (by or node).loc)
            return None
        fields = [str(n.value) for n in on.value] if on is not None and on.is_seq else []
        for f in fields:
            if f not in own:
                self.err("M007", f"match on unknown field '{f}'", on.loc, did_you_mean(f, own))
        if against is None or against.value not in theirs:
            self.err("M007", "match `against` must name a field of the related record",
                     (against or node).loc, "e.g. against: domain")
            return None
        return MatchSpec("domain", tuple(fields), str(against.value), node.loc)

    def outputs(self, node: Node | None) -> tuple[OutputSpec, ...]:
        if node is None:
            return ()
        out = []
        seen: dict[str, str] = {}
        for name, spec in node.items():
            if name not in OUTPUT_NAMES:
                self.err("M006", f"unknown output '{name}'", node.key_loc(name),
                         did_you_mean(name, OUTPUT_NAMES) or "outputs: " + ", ".join(OUTPUT_NAMES))
                continue
            crm = spec if spec.is_scalar else spec.get("crm")
            if spec.is_map:
                self.keys(spec, ("crm", "max_length"), f"output '{name}'")
            if crm is None or not isinstance(crm.value, str):
                self.err("M002", f"output '{name}' needs `crm:`", spec.loc, "e.g. {crm: Revsync_Score__c}")
                continue
            if crm.value in seen:
                self.err("M005", f"outputs '{seen[crm.value]}' and '{name}' both write {crm.value}", crm.loc,
                         "each output needs its own CRM field")
            seen[crm.value] = name
            length = spec.get("max_length") if spec.is_map else None
            out.append(OutputSpec(name, crm.value, int(length.value) if length is not None else None, spec.loc))
        return tuple(out)


def load_file(path: Path) -> Mapping:
    from rules.source import load_file as read
    root, problems = read(path)
    file = display_path(path)
    parser = _Parser(file)
    parser.problems.extend(problems)
    if root is not None:
        if not root.is_map:
            parser.err("M002", "a mapping file must be a mapping with `object:` and `fields:`", root.loc)
        else:
            parser.keys(root, ("object", "fields", "related", "outputs", "description"), "a mapping file")
    if parser.problems or root is None:
        raise ConfigError(parser.problems)
    obj = root.get("object")
    if obj is None:
        parser.err("M002", "missing `object:`", root.loc, "e.g. object: Lead")
    fields = parser.fields(root.get("fields"), "the object")
    related = parser.related(root.get("related"), fields)
    outputs = parser.outputs(root.get("outputs"))
    if parser.problems:
        raise ConfigError(parser.problems)
    text = path.read_bytes()
    mapping = Mapping(str(obj.value), file, fields, related, outputs, hashlib.sha256(text).hexdigest()[:16])
    object.__setattr__(mapping, "_plan", plan(mapping))
    return mapping


def load(object_name: str, directory: Path | None = None) -> Mapping:
    """The mapping for an object: the directory's `<object>.yaml` if present, else the default."""
    name = f"{object_name.lower()}.yaml"
    if directory is not None:
        if not directory.is_dir():
            raise ConfigError([Problem("M009", f"mappings directory not found: {directory}",
                                       Location(str(directory), 0, 0), "pass --mappings DIR")])
        if (directory / name).is_file():
            return load_file(directory / name)
    path = default_dir() / name
    if not path.is_file():
        known = sorted(p.stem.capitalize() for p in default_dir().glob("*.yaml"))
        raise ConfigError([Problem("M010", f"no mapping for object {object_name}",
                                   Location(str(directory or default_dir()), 0, 0),
                                   f"write mappings/{name}; shipped: {', '.join(known)}")])
    return load_file(path)
