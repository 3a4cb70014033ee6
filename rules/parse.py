"""A rule file's Node tree -> RuleSet, collecting every problem instead of stopping at the first."""
from __future__ import annotations

import hashlib
from typing import Any

from .availability import parse_availability
from .definitions import DefinitionsParser
from .scoring import ScoreParser
from .conditions import ConditionParser, FieldScope, fields_of
from .model import (
    PRODUCED, SECTION_ORDER, Assignment, AssignKind, Calendar, Condition, FieldType, Location,
    Problem, Rule, RuleSet, Section, Severity, Team,
)
from .source import Node
from .suggest import did_you_mean
from .values import bad_duration, parse_duration

TOP_KEYS = ("object", "description", "calendars", "teams", "availability", "funnel",
            *(s.value for s in SECTION_ORDER))
ENTRY_KEYS = {
    Section.SEGMENT: ("name", "when", "segment", "description"),
    Section.SCORE: ("name", "when", "points", "category", "description"),
    Section.QUALIFY: ("name", "when", "stage", "description"),
    Section.ROUTE: ("name", "when", "assign", "description"),
    Section.SLA: ("name", "when", "within", "calendar", "met_when", "met_at", "warn_before", "escalate", "from",
                  "description"),
}
# What the sections produce, as rules of later sections test them.
PRODUCED_TYPES = {"segment": FieldType.STRING, "score": FieldType.NUMBER, "grade": FieldType.STRING,
                  "stage": FieldType.STRING, "previous_stage": FieldType.STRING,
                  "stage_entered_at": FieldType.DATETIME, "owner": FieldType.STRING}


class RuleFileParser(DefinitionsParser, ScoreParser):
    def __init__(self, root: Node, file: str, text: str, fields: dict[str, FieldType]):
        self.root = root
        self.file = file
        self.text = text
        self.fields = dict(fields)
        self.problems: list[Problem] = []
        self.categories: set[str] = set()
        self.broken_calendars: set[str] = set()  # defined with problems: not also "unknown"
        self.broken_teams: set[str] = set()
        self.object_name = ""

    def err(self, code: str, message: str, loc: Location, fix: str = "",
            severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(code, message, loc, fix, severity))

    def unknown_keys(self, node: Node, allowed: tuple[str, ...], where: str) -> None:
        for key, _ in node.items():
            if key not in allowed:
                hint = did_you_mean(key, allowed) or f"{where} takes: {', '.join(allowed)}"
                self.err("E101", f"unknown key '{key}' in {where}", node.key_loc(key), hint)

    def parse(self) -> RuleSet | None:
        root = self.root
        if not root.is_map:
            self.err("E102", "a rule file must be a mapping with `object:` and sections", root.loc,
                     "start the file with `object: Lead`")
            return None
        self.unknown_keys(root, TOP_KEYS, "a rule file")
        obj = root.get("object")
        if obj is None or not isinstance(obj.value, str) or not obj.value.strip():
            self.err("E103", "missing `object:`", root.loc, "name the CRM object, e.g. `object: Lead`")
        self.object_name = str(obj.value).strip() if obj is not None and isinstance(obj.value, str) else ""
        calendars = self.calendars(root.get("calendars"))
        teams = self.teams(root.get("teams"), calendars)
        qualified = self.funnel(root.get("funnel"))
        availability = parse_availability(root.get("availability"), self.file, teams, self.err)
        self.categories = self.score_categories(root.get("score"))
        sections = []
        section_locs = []
        score_config = None
        for index, section in enumerate(SECTION_ORDER):
            node = root.get(section.value)
            if node is None:
                continue
            scope = self.scope_for(index, section)
            if section is Section.SCORE:
                score_config, rules = self.score(node, scope)
            else:
                rules = self.entries(section, node, scope, calendars, teams)
            sections.append((section, tuple(rules)))
            section_locs.append((section, root.key_loc(section.value)))
        if obj is None or any(p.severity is Severity.ERROR for p in self.problems):  # no `object:` is an error
            return None
        return RuleSet(
            object=str(obj.value).strip(), file=self.file,
            fingerprint=hashlib.sha256(self.text.encode()).hexdigest()[:16],
            fields=tuple(sorted(self.all_fields().items())), calendars=tuple(calendars.values()),
            teams=tuple(teams.values()), score_config=score_config, sections=tuple(sections),
            section_locs=tuple(section_locs), qualified_stages=qualified,
            availability=availability)

    def funnel(self, node: Node | None) -> tuple[str, ...]:
        """`funnel: {qualified: [MQL, SQL]}`: the stages that count as qualified in reports."""
        if node is None:
            return ()
        example = "e.g. funnel: {qualified: [MQL, SQL]}"
        if not node.is_map:
            self.err("E102", "`funnel` must be a mapping with `qualified:`", node.loc, example)
            return ()
        self.unknown_keys(node, ("qualified",), "`funnel`")
        stages = node.get("qualified")
        items = [stages] if stages is not None and stages.is_scalar else (stages.value if stages is not None
                                                                          and stages.is_seq else None)
        if not items or not all(isinstance(i.value, str) and i.value.strip() for i in items):
            self.err("E102", "`funnel.qualified` must list stage names", (stages or node).loc, example)
            return ()
        return tuple(dict.fromkeys(str(i.value).strip() for i in items))

    def all_fields(self) -> dict[str, FieldType]:
        out = dict(self.fields)
        out.update(PRODUCED_TYPES)
        out.update({f"scores.{c}": FieldType.NUMBER for c in self.categories})
        return out

    def scope_for(self, index: int, section: Section) -> FieldScope:
        types = dict(self.fields)
        later: dict[str, str] = {}
        for i, sec in enumerate(SECTION_ORDER):
            produced = list(PRODUCED[sec])
            if sec is Section.SCORE:
                produced += [f"scores.{c}" for c in self.categories]
            for name in produced:
                if i < index:
                    types[name] = PRODUCED_TYPES.get(name, FieldType.NUMBER)  # scores.<category>
                else:
                    later[name] = sec.value
        return FieldScope(types, later, section.value)

    # -- sections ------------------------------------------------------------------
    def entry_list(self, node: Node, what: str) -> list[Node]:
        if not node.is_seq:
            self.err("E102", f"'{what}' must be a list of entries", node.loc,
                     f"write each entry as `- name: ...` under `{what}:`")
            return []
        entries: list[Node] = node.value
        return entries

    def entries(self, section: Section, node: Node, scope: FieldScope, calendars: dict[str, Calendar],
                teams: dict[str, Team]) -> list[Rule]:
        rules: list[Rule] = []
        names: dict[str, Location] = {}
        catch_all: Rule | None = None
        any_catch_all = False
        for index, entry in enumerate(self.entry_list(node, section.value)):
            rule = self.entry(section, entry, index, scope, calendars, teams, names)
            if rule is None:
                continue
            if catch_all is not None:
                self.err("E119", f"'{rule.name}' can never match: it comes after the catch-all "
                         f"'{catch_all.name}' ({catch_all.loc.short})", rule.loc,
                         "move it above the catch-all, or give the catch-all a `when`")
            elif rule.is_catch_all:
                any_catch_all = True
                catch_all = None if self.falls_through(rule, teams) else rule
            rules.append(rule)
        if section is Section.ROUTE and not any_catch_all:
            self.err("W201", "route has no catch-all: a record that matches no entry stays "
                     "unassigned, and nobody follows it up", node.loc,
                     "add a last entry without `when`, e.g. assign: {queue: Inbound SDR}",
                     Severity.WARNING)
            holding = sorted({r.assign.target for r in rules if r.assign is not None and r.assign.kind is
                              AssignKind.TEAM and r.assign.target in teams and teams[r.assign.target].when_full
                              == "hold"})
            for team in holding:
                self.err("W203", f"team '{team}' holds records when it is full, and route has no catch-all: "
                         "a held record and one that matches nothing both wait unassigned", teams[team].loc,
                         "add a catch-all entry, or let the team overflow: when_full: {queue: Overflow}",
                         Severity.WARNING)
        return rules

    @staticmethod
    def falls_through(rule: Rule, teams: dict[str, Team]) -> bool:
        """A catch-all route to a team that passes full records on (`when_full: next`) lets the
        entries after it take them: they can still route."""
        assign = rule.assign
        return assign is not None and assign.kind is AssignKind.TEAM and assign.target in teams \
            and teams[assign.target].when_full == "next"

    def entry(self, section: Section, entry: Node, index: int, scope: FieldScope, calendars: dict[str, Calendar],
              teams: dict[str, Team], names: dict[str, Location]) -> Rule | None:
        if not entry.is_map:
            self.err("E102", f"each {section.value} entry must be a mapping", entry.loc,
                     "e.g. - name: ...\n    when: {...}")
            return None
        self.unknown_keys(entry, ENTRY_KEYS[section], f"a {section.value} entry")
        name = self.name(entry, section, names)
        when_node = entry.get("when")
        when = self.condition(when_node, scope)
        # `when: {}` holds for every record (all of no tests): a catch-all, like no `when`.
        unreadable = when_node is not None and when is None and not (when_node.is_map and not when_node.value)
        kwargs: dict[str, Any] = {}
        ok = True
        if section in (Section.SEGMENT, Section.QUALIFY):
            key = "segment" if section is Section.SEGMENT else "stage"
            value = entry.get(key)
            if value is None or not value.is_scalar or value.value in (None, ""):
                self.err("E122", f"missing `{key}:`", entry.loc, f"say which {key} this entry sets")
                ok = False
            else:
                kwargs["value"] = str(value.value)
        elif section is Section.SCORE:
            ok = self.points(entry, kwargs)
        elif section is Section.ROUTE:
            assign = self.assignment(entry.get("assign"), "assign", entry, teams, scope)
            ok = assign is not None
            kwargs["assign"] = assign
        else:
            ok = self.sla(entry, scope, calendars, teams, kwargs)
        if name is None or not ok or unreadable:
            return None
        return Rule(section=section, name=name, when=when, loc=entry.loc, index=index, **kwargs)

    def name(self, entry: Node, section: Section, names: dict[str, Location]) -> str | None:
        node = entry.get("name")
        if node is None or not isinstance(node.value, str) or not node.value.strip():
            self.err("E122", f"{section.value} entry without `name:`", entry.loc,
                     "every entry needs a name: explanations, audits and previews cite it")
            return None
        name = node.value.strip()
        if name in names:
            self.err("E118", f"duplicate name '{name}' in {section.value} (first at "
                     f"{names[name].short})", node.loc, "names must be unique within a section")
            return None
        names[name] = node.loc
        return name

    def condition(self, node: Node | None, scope: FieldScope) -> Condition | None:
        if node is None or (node.is_map and not node.value):
            return None
        return ConditionParser(scope, self.problems).parse(node)

    # -- routing and SLAs -------------------------------------------------------------
    def assignment(self, node: Node | None, key: str, entry: Node, teams: dict[str, Team],
                   scope: FieldScope) -> Assignment | None:
        forms = tuple(k.value for k in AssignKind)
        if node is None:
            self.err("E122", f"missing `{key}:`", entry.loc, "one of {user: ...}, {queue: ...}, "
                     "{team: ...}, {field: ...}")
            return None
        if not node.is_map or len(node.value) != 1:
            self.err("E112", f"`{key}` takes exactly one of: {', '.join(forms)}", node.loc,
                     "e.g. {queue: Inbound SDR}")
            return None
        (kind, target), = node.items()
        if kind not in forms:
            self.err("E101", f"unknown assignment '{kind}'", node.key_loc(kind),
                     did_you_mean(kind, forms) or f"use one of: {', '.join(forms)}")
            return None
        if not target.is_scalar or target.value in (None, ""):
            self.err("E112", f"`{kind}` needs a name", target.loc)
            return None
        text = str(target.value).strip()
        if kind == "queue" and self.object_name.casefold() == "opportunity":
            self.err("E124", f"an opportunity cannot be owned by queue '{text}' (Salesforce allows queues to "
                     "own leads and cases, not opportunities)", target.loc,
                     "assign a user or a team, e.g. {user: sales.ops@acme.example}")
            return None
        if kind == "team" and text in self.broken_teams:
            return None  # defined, with its own problems already reported
        if kind == "team" and text not in teams:
            self.err("E116", f"unknown team '{text}'", target.loc,
                     did_you_mean(text, teams) or "define it under `teams:`")
            return None
        if kind == "field":
            scope.check(text, target.loc, self.problems)
            if text not in scope.types:
                return None
        return Assignment(AssignKind(kind), text, target.loc)

    def sla(self, entry: Node, scope: FieldScope, calendars: dict[str, Calendar], teams: dict[str, Team],
            kwargs: dict[str, Any]) -> bool:
        ok = True
        within = entry.get("within")
        duration = parse_duration(within.value) if within is not None and within.is_scalar else None
        if duration is None and within is not None:
            message, fix = bad_duration(within.plain())
            self.err("E114", message, within.loc, fix)
            ok = False
        elif duration is None:
            self.err("E122", "missing `within:`", entry.loc, "write a number and a unit: 30m, 4h, 2d, 1w")
            ok = False
        kwargs["within"] = duration
        warn = entry.get("warn_before")
        if warn is not None:
            kwargs["warn_before"] = parse_duration(warn.value) if warn.is_scalar else None
            if kwargs["warn_before"] is None:
                message, fix = bad_duration(warn.plain())
                self.err("E114", message, warn.loc, fix)
                ok = False
            elif duration is not None and within is not None and kwargs["warn_before"].seconds >= duration.seconds:
                self.err("W202", f"warn_before {warn.value} is not shorter than within {within.value}: "
                         "every clock is at risk from its start", warn.loc,
                         "warn a few hours before the due, e.g. warn_before: 2h", Severity.WARNING)
        cal = entry.get("calendar")
        if cal is not None:
            name = str(cal.value)
            if name in self.broken_calendars:
                ok = False  # defined, with its own problems already reported
            elif name not in calendars:
                self.err("E117", f"unknown calendar '{name}'", cal.loc,
                         did_you_mean(name, calendars) or "define it under `calendars:`")
                ok = False
            kwargs["calendar"] = name
        met = entry.get("met_when")
        if met is not None:
            sla_scope = FieldScope({**scope.types, "owner": FieldType.STRING}, {}, "sla")
            kwargs["met_when"] = self.condition(met, sla_scope)
            ok = ok and (kwargs["met_when"] is not None or (met.is_map and not met.value))
        esc = entry.get("escalate")
        if esc is not None:
            kwargs["escalate"] = self.assignment(esc, "escalate", entry, teams, scope)
            ok = ok and kwargs["escalate"] is not None
        start = entry.get("from")
        if start is not None:
            fname = str(start.value)
            ftype = scope.check(fname, start.loc, self.problems)
            if ftype is not None and not ftype.is_temporal:
                self.err("E112", f"`from` needs a date or datetime field; '{fname}' is {ftype.value}",
                         start.loc)
                ftype = None
            ok = ok and ftype is not None
            kwargs["start_field"] = fname
        met_at = entry.get("met_at")
        if met_at is not None:
            fname = str(met_at.value)
            ftype = scope.check(fname, met_at.loc, self.problems)
            if ftype is not None and not ftype.is_temporal:
                self.err("E112", f"`met_at` needs a date or datetime field; '{fname}' is {ftype.value}",
                         met_at.loc)
                ftype = None
            if met is None:
                self.err("E122", "`met_at` without `met_when`: it says when the SLA was met, "
                         "`met_when` says whether", met_at.loc, "add met_when: {...}")
                ftype = None
            ok = ok and ftype is not None
            kwargs["met_at_field"] = fname
        return ok

def used_fields(ruleset: RuleSet) -> set[str]:
    out: set[str] = set()
    for rule in ruleset.all_rules():
        out |= fields_of(rule.when) | fields_of(rule.met_when)
        for a in (rule.assign, rule.escalate):
            if a is not None and a.kind is AssignKind.FIELD:
                out.add(a.target)
        out |= {f for f in (rule.start_field, rule.met_at_field) if f}
    return out
