"""Mapping files -> Mapping, with every problem reported at once (codes M0xx).

Codes: M001 unknown key; M002 missing or malformed value (`object`, `fields`, `crm`, the `id`
field, a related record's `object`); M003 unknown type; M004 bad derived field; M005 two outputs
write one CRM field; M006 unknown output; M007 a `lookup` or `match` names an unknown field;
M008 unsupported match; M009 mappings directory not found; M010 no mapping for the object;
M011 bad or clashing rule field name; M012 wrong object in a mapping file (or two files for one
object); M013 bad `max_length`.
"""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from rules.model import ConfigError, FieldType, Location, Problem
from rules.source import Node, display_path, load_file as read_yaml, parse_text as parse_yaml
from rules.suggest import did_you_mean

from .inbound import plan
from .model import (DERIVATIONS, OUTPUT_NAMES, PRODUCED_NAMES, READ_BACK, FieldSpec, Mapping,
                    MatchSpec, OutputSpec, Related)

TYPES = tuple(t.value for t in FieldType)
TEXT_TYPES = (FieldType.STRING, FieldType.PICKLIST, FieldType.ID)
ROOT_KEYS = ("object", "description", "fields", "related", "outputs")
FIELD_KEYS = ("crm", "type", "derive", "from")
RELATED_KEYS = ("object", "relationship", "lookup", "match", "fields")
MATCH_KEYS = ("by", "on", "against")
OUTPUT_KEYS = ("crm", "max_length")
SUFFIXES = (".yaml", ".yml")

_RULE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def default_dir() -> Path:
    """Where the shipped default mappings live (`lead.yaml`, `opportunity.yaml`)."""
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

    def text(self, node: Node | None) -> str | None:
        """A non-empty string value, or None."""
        if node is None or not isinstance(node.value, str) or not node.value.strip():
            return None
        return node.value.strip()

    def api_name(self, node: Node, what: str, example: str) -> str | None:
        value = self.text(node)
        if value is None:
            self.err("M002", f"{what} must be a CRM field name", node.loc, f"e.g. {example}")
            return None
        if not _API_NAME.match(value):
            hint = "a related record's fields belong under `related:`" if "." in value else \
                "API names are letters, digits and underscores (e.g. Share_of_Wallet__c)"
            self.err("M002", f"{what}: '{value}' is not a CRM API field name", node.loc, hint)
            return None
        return value

    def rule_name(self, name: str, loc: Location, where: str) -> bool:
        if _RULE_NAME.match(name):
            return True
        suggestion = re.sub(r"[^a-z0-9_]+", "_", re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()).strip("_")
        self.err("M011", f"'{name}' ({where}) is not a rule field name", loc,
                 f"rule field names are snake_case, e.g. '{suggestion or 'field_name'}'")
        return False

    # -- fields ---------------------------------------------------------------------------------
    def fields(self, node: Node | None, where: str, loc: Location) -> tuple[FieldSpec, ...]:
        if node is None:
            self.err("M002", f"{where} has no `fields:`", loc,
                     "map rule field names to CRM fields, e.g. fields: {title: {crm: Title, type: string}}")
            return ()
        if not node.is_map:
            self.err("M002", f"`fields` of {where} must map rule field names to CRM fields", node.loc,
                     "e.g. title: {crm: Title, type: string}")
            return ()
        specs: list[FieldSpec] = []
        sources: dict[str, Location] = {}
        for name, spec in node.items():
            key_loc = node.key_loc(name)
            ok = self.rule_name(name, key_loc, f"a field of {where}")
            parsed = self.field(name, spec, key_loc, sources)
            if parsed is not None and ok:
                specs.append(parsed)
        read = {s.name for s in specs if not s.derived}
        derived = {s.name for s in specs if s.derived}
        for s in specs:
            if s.derived and s.source not in read:
                loc = sources.get(s.name, s.loc)
                if s.source in derived:
                    self.err("M004", f"'{s.name}' is derived from '{s.source}', itself derived", loc,
                             f"derive from the field '{s.source}' is derived from")
                else:
                    self.err("M004", f"'{s.name}' is derived from unknown field '{s.source}'", loc,
                             did_you_mean(str(s.source), read) or f"name a field of {where} in `from`")
        return tuple(s for s in specs if not s.derived or s.source in read)

    def field(self, name: str, node: Node, loc: Location, sources: dict[str, Location]) -> FieldSpec | None:
        if node.is_scalar and isinstance(node.value, str):  # shorthand: `title: Title`
            crm = self.api_name(node, f"field '{name}'", "title: {crm: Title, type: string}")
            return FieldSpec(name, crm, FieldType.STRING, None, None, loc) if crm else None
        if not node.is_map:
            self.err("M002", f"field '{name}' needs {{crm: <CRM field>, type: <type>}}", node.loc,
                     "e.g. title: {crm: Title, type: string}")
            return None
        self.keys(node, FIELD_KEYS, f"field '{name}'")
        ok = True
        ftype: FieldType | None = None
        type_node = node.get("type")
        if type_node is not None:
            text = type_node.value.strip().lower() if isinstance(type_node.value, str) else ""
            if text not in TYPES:
                self.err("M003", f"unknown type {type_node.plain()!r} for '{name}'", type_node.loc,
                         did_you_mean(text, TYPES) or "types: " + ", ".join(TYPES))
                ok = False
            else:
                ftype = FieldType(text)
        derive, source, crm_node = node.get("derive"), node.get("from"), node.get("crm")
        if derive is not None:
            kind = self.text(derive)
            if kind not in DERIVATIONS:
                self.err("M004", f"unknown derivation {derive.plain()!r} for '{name}'", derive.loc,
                         did_you_mean(str(kind), DERIVATIONS) or "derivations: " + ", ".join(DERIVATIONS))
                ok = False
            origin = self.text(source)
            if origin is None or source is None:  # text() has no text without a node
                self.err("M004", f"derived field '{name}' needs `from: <field>`", (source or node).loc,
                         "e.g. {derive: domain, from: email}")
                ok = False
            else:
                sources[name] = source.loc
            if crm_node is not None:
                self.err("M004", f"field '{name}' is both read (`crm`) and derived", node.key_loc("crm"),
                         "remove `crm` or `derive`")
                ok = False
            if ftype is not None and ftype not in TEXT_TYPES:
                self.err("M004", f"a domain is text: '{name}' cannot be {ftype.value}", (type_node or node).loc,
                         "use type: string, or leave `type` out")
                ok = False
            return FieldSpec(name, None, ftype or FieldType.STRING, kind, origin, loc) if ok else None
        if source is not None:
            self.err("M004", f"field '{name}' has `from` but no `derive`", node.key_loc("from"),
                     "add derive: domain, or remove `from`")
            ok = False
        if crm_node is None:
            self.err("M002", f"field '{name}' has no `crm:` field", node.loc,
                     "name the CRM field, e.g. {crm: Title, type: string}")
            return None
        crm = self.api_name(crm_node, f"`crm` of '{name}'", "{crm: Title, type: string}")
        if crm is None or not ok:
            return None
        return FieldSpec(name, crm, ftype or FieldType.STRING, None, None, loc)

    # -- related records ------------------------------------------------------------------------
    def related(self, node: Node | None, own: tuple[FieldSpec, ...]) -> tuple[Related, ...]:
        if node is None:
            return ()
        if not node.is_map:
            self.err("M002", "`related` must map names (as rules write them: account, owner) to records",
                     node.loc, "e.g. related: {owner: {object: User, lookup: owner_id, fields: {...}}}")
            return ()
        out = []
        names = {f.name: f for f in own}
        for name, rel in node.items():
            where = f"related '{name}'"
            ok = self.rule_name(name, node.key_loc(name), "a related record name")
            if name in names or name in ("previous", "scores"):
                what = f"the field '{name}'" if name in names else "a name the rules produce"
                self.err("M011", f"related '{name}' clashes with {what}", node.key_loc(name),
                         "give the related record another name")
                ok = False
            if not rel.is_map:
                self.err("M002", f"{where} must be a mapping", rel.loc,
                         "e.g. {object: User, relationship: Owner, lookup: owner_id, fields: {...}}")
                continue
            self.keys(rel, RELATED_KEYS, where)
            obj = self.text(rel.get("object"))
            if obj is None or not _API_NAME.match(obj):
                self.err("M002", f"{where} needs `object:`", (rel.get("object") or rel).loc, "e.g. object: Account")
                ok = False
            relationship = obj
            relationship_node = rel.get("relationship")
            if relationship_node is not None:
                relationship = self.text(relationship_node)
                if relationship is None or not _API_NAME.match(relationship):
                    self.err("M002", f"`relationship` of {where} must be a relationship name",
                             relationship_node.loc, "e.g. relationship: Account (columns Account.OwnerId)")
                    ok = False
            fields = self.fields(rel.get("fields"), where, rel.loc)
            theirs = {f.name for f in fields}
            lookup_node, match_node = rel.get("lookup"), rel.get("match")
            lookup = None
            if lookup_node is not None:
                lookup = self.text(lookup_node)
                spec = names.get(lookup or "")
                if spec is None:
                    self.err("M007", f"lookup '{lookup_node.plain()}' of {where} is not a field of this mapping",
                             lookup_node.loc,
                             did_you_mean(str(lookup or ""), names) or "name the field holding the related Id")
                    ok = False
                elif spec.type not in (FieldType.ID, FieldType.STRING):
                    self.err("M007", f"lookup '{lookup}' is a {spec.type.value} field; it must hold an Id",
                             lookup_node.loc, f"declare '{lookup}' with type: id")
                    ok = False
            match = self.match(match_node, names, theirs)
            if match_node is not None and match is None:
                ok = False
            if lookup_node is not None and match_node is not None:
                self.err("M008", f"{where} has both `lookup` and `match`", rel.key_loc("match"),
                         "a related record is found one way: keep `lookup` if the record has the Id")
                ok = False
            if ok and obj is not None and relationship is not None:  # either None made `ok` false
                out.append(Related(name, obj, relationship, lookup, match, fields, node.key_loc(name)))
        return tuple(out)

    def match(self, node: Node | None, own: dict[str, FieldSpec], theirs: set[str]) -> MatchSpec | None:
        if node is None:
            return None
        if not node.is_map:
            self.err("M008", "`match` must be {by: domain, on: [fields], against: field}", node.loc,
                     "e.g. match: {by: domain, on: [email_domain, website_domain], against: domain}")
            return None
        self.keys(node, MATCH_KEYS, "match")
        ok = True
        by, on, against = node.get("by"), node.get("on"), node.get("against")
        if by is None or by.value != "domain":
            self.err("M008", "match supports only `by: domain`", (by or node).loc, "write by: domain")
            ok = False
        fields: list[str] = []
        if on is None or not (on.is_seq and on.value) and not isinstance(on.value, str):
            self.err("M008", "match needs `on:` with the record's domain fields", (on or node).loc,
                     "e.g. on: [email_domain, website_domain]")
            ok = False
        else:
            items = on.value if on.is_seq else [on]
            for item in items:
                name = item.value if isinstance(item.value, str) else str(item.plain())
                if name not in own:
                    self.err("M007", f"match on unknown field '{name}'", item.loc,
                             did_you_mean(name, own) or "name a field of this mapping")
                    ok = False
                fields.append(name)
        target = self.text(against)
        if target not in theirs:
            self.err("M007", "match `against` must name a field of the related record", (against or node).loc,
                     did_you_mean(str(target), theirs) or "e.g. against: domain")
            ok = False
        return MatchSpec("domain", tuple(fields), target, node.loc) if ok and target is not None else None

    # -- outputs --------------------------------------------------------------------------------
    def outputs(self, node: Node | None) -> tuple[OutputSpec, ...]:
        if node is None:
            return ()
        if not node.is_map:
            self.err("M002", "`outputs` must map decision outputs to CRM fields", node.loc,
                     "e.g. outputs: {score: {crm: Revsync_Score__c}}")
            return ()
        out = []
        seen: dict[str, str] = {}
        for name, spec in node.items():
            if name not in OUTPUT_NAMES:
                self.err("M006", f"unknown output '{name}'", node.key_loc(name),
                         did_you_mean(name, OUTPUT_NAMES) or "outputs: " + ", ".join(OUTPUT_NAMES))
                continue
            if spec.is_map:
                self.keys(spec, OUTPUT_KEYS, f"output '{name}'")
                crm_node = spec.get("crm")
            else:
                crm_node = spec
            if crm_node is None:
                self.err("M002", f"output '{name}' needs `crm:`", spec.loc, "e.g. {crm: Revsync_Score__c}")
                continue
            crm = self.api_name(crm_node, f"output '{name}'", "{crm: Revsync_Score__c}")
            if crm is None:
                continue
            if crm.casefold() in seen:
                self.err("M005", f"outputs '{seen[crm.casefold()]}' and '{name}' both write {crm}", crm_node.loc,
                         "each output needs its own CRM field")
                continue
            seen[crm.casefold()] = name
            length = spec.get("max_length") if spec.is_map else None
            max_length = None
            if length is not None:
                if isinstance(length.value, bool) or not isinstance(length.value, int) or length.value < 1:
                    self.err("M013", f"max_length of '{name}' must be a positive whole number",
                             length.loc, "e.g. max_length: 255, the field's length in Salesforce")
                    continue
                max_length = length.value
            out.append(OutputSpec(name, crm, max_length, node.key_loc(name)))
        return tuple(out)


def _parse(root: Node, file: str, problems: list[Problem], expect: str | None = None) -> Mapping:
    parser = _Parser(file)
    parser.problems.extend(problems)
    if not root.is_map:
        parser.err("M002", "a mapping file must be a mapping with `object:` and `fields:`", root.loc,
                   "start from mappings/defaults/lead.yaml")
        raise ConfigError(parser.problems)
    parser.keys(root, ROOT_KEYS, "a mapping file")
    obj = parser.text(root.get("object"))
    if obj is None or not _API_NAME.match(obj):
        parser.err("M002", "missing or malformed `object:`", (root.get("object") or root).loc,
                   "name the CRM object, e.g. object: Lead")
    elif expect is not None and obj.casefold() != expect.casefold():
        parser.err("M012", f"this file maps object {obj}, but it was read as the mapping for {expect}",
                   (root.get("object") or root).loc,
                   f"set object: {expect}, or rename the file to {obj.lower()}.yaml")
    fields = parser.fields(root.get("fields"), "the mapping", root.loc)
    fields_node = root.get("fields")
    if fields_node is not None and fields_node.is_map and "id" not in fields_node.value:
        parser.err("M002", "no `id` field: revsync needs each record's Id", root.key_loc("fields"),
                   "add id: {crm: Id, type: id}")
    for spec in fields:
        if spec.name in PRODUCED_NAMES:
            parser.err("M011", f"'{spec.name}' is a name the rules produce; a field cannot use it", spec.loc,
                       f"rename it, e.g. crm_{spec.name}")
    related = parser.related(root.get("related"), fields)
    outputs = parser.outputs(root.get("outputs"))
    names = {f.name: f for f in fields}
    for o in outputs:
        read_as = READ_BACK.get(o.name, (None,))[0]
        if read_as in names:
            parser.err("M011", f"'{read_as}' is read back from output '{o.name}' ({o.crm}); "
                       f"the field '{read_as}' clashes with it", names[read_as].loc,
                       f"remove the field '{read_as}' from `fields`")
    if parser.problems or obj is None:  # no `object:` is one of the problems
        raise ConfigError(parser.problems)
    plain = json.dumps(root.plain(), sort_keys=True, default=str)
    mapping = Mapping(obj, file, fields, related, outputs, hashlib.sha256(plain.encode()).hexdigest()[:16])
    object.__setattr__(mapping, "_plan", plan(mapping))
    object.__setattr__(mapping, "_plan_related", plan(mapping, related_only=True))
    return mapping


def load_file(path: Path, expect: str | None = None) -> Mapping:
    """Read and validate one mapping file; raises ConfigError listing every problem.
    `expect`: the object the file must map."""
    root, problems = read_yaml(Path(path))
    if root is None:
        raise ConfigError(problems)
    return _parse(root, display_path(Path(path)), problems, expect)


def parse_text(text: str, file: str = "<mapping>") -> Mapping:
    """A mapping from YAML text (tests, previews); raises ConfigError listing every problem."""
    root, problems = parse_yaml(text, file)
    if root is None:
        raise ConfigError(problems)
    return _parse(root, file, problems)


def find(object_name: str, directory: Path | None = None) -> Path:
    """The file `load` reads for an object: `<object>.yaml` (or .yml, any case) in `directory`,
    else the shipped default."""
    wanted = {object_name.casefold() + s for s in SUFFIXES}
    if directory is not None:
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError([Problem("M009", f"mappings directory not found: {directory}",
                                       Location(str(directory), 0, 0),
                                       "pass --mappings with an existing directory, or leave it out "
                                       "to use the shipped mappings")])
        found = sorted(p for p in directory.iterdir() if p.name.casefold() in wanted and p.is_file())
        if len(found) > 1:
            raise ConfigError([Problem("M012", f"{len(found)} mapping files for {object_name}: "
                                       + ", ".join(p.name for p in found),
                                       Location(display_path(found[1]), 0, 0), "keep one of them")])
        if found:
            return found[0]
    path = default_dir() / f"{object_name.lower()}.yaml"
    if not path.is_file():
        known = sorted(p.stem.capitalize() for p in default_dir().glob("*.yaml"))
        where = directory or default_dir()
        raise ConfigError([Problem("M010", f"no mapping for object {object_name}", Location(str(where), 0, 0),
                                   f"write {Path(where) / (object_name.lower() + '.yaml')} "
                                   f"(shipped mappings: {', '.join(known)})")])
    return path


def load(object_name: str, directory: Path | None = None) -> Mapping:
    """The mapping for an object: the directory's `<object>.yaml` if present, else the shipped
    default. Raises ConfigError listing every problem; nothing should be read or written then."""
    return load_file(find(object_name, directory), expect=object_name)
