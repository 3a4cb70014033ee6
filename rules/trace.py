"""A Decision's trace and cited rule names, built from the rule indexes the evaluator kept.

Evaluating keeps only integers per record (which segment, score and qualify entries
matched, which caps applied); the Hits and names are made here when someone reads
`Decision.trace` or `Decision.matched`.
"""
from __future__ import annotations

from typing import Any, Callable

from .model import NOWHERE, Decision, Grade, Hit, Rule, RuleSet, ScoreConfig, Section
from .values import format_instant as fmt


def rule_hit(rule: Rule) -> Hit:
    if rule.section is Section.SCORE:
        effect = f"{rule.points:+g} {rule.category}"
    elif rule.section is Section.SEGMENT:
        effect = f"segment = {rule.value}"
    elif rule.section is Section.QUALIFY:
        effect = f"stage = {rule.value}"
    else:
        effect = ""
    return Hit(rule.section, rule.name, rule.loc, effect)


class Tracer:
    def __init__(self, ruleset: RuleSet):
        self.ruleset = ruleset
        self.sections = {sec for sec, _ in ruleset.sections}
        self.rules = {sec: rules for sec, rules in ruleset.sections}
        self.hits = {sec: [rule_hit(r) for r in rules] for sec, rules in ruleset.sections}
        self.score_config = ruleset.score_config or ScoreConfig()
        self._grade_hits: dict[tuple[str | None, float], Hit] = {}
        self._citations: dict[tuple[object, ...], str] = {}
        self._cites = {sec: [_cite(h) for h in hits] for sec, hits in self.hits.items()}
        self._keys = {sec: [(sec.value, r.name) for r in rules] for sec, rules in ruleset.sections}
        route, score = self.rules.get(Section.ROUTE), self.rules.get(Section.SCORE)
        # Entries not made by one rule (sticky owners, caps) point at their section's key
        # (`route:`), or its first rule in a rule set built without locations.
        self._first_route = ruleset.section_loc(Section.ROUTE) or (route[0].loc if route else NOWHERE)
        self._first_score = ruleset.section_loc(Section.SCORE) or (score[0].loc if score else NOWHERE)
        grade = self.score_config.grade
        self._grade_cite = f"score/grade ({grade.loc.short})" if grade is not None else ""

    def trace(self, d: Decision) -> list[Hit]:
        return [hit if isinstance(hit, Hit) else hit() for _, hit in self._entries(d)]

    def citation(self, d: Decision) -> str:
        """`section/rule (file:line)` for every trace entry, joined with "; ", as the audit
        journal keeps it: the same entries as `trace`, without formatting their effects."""
        # Made once per combination of deciding rules: a sync cites every record it changes.
        key = (d.seg_rule, tuple(d.score_rules), d.capped, d.score is None, d.stage_rule, d.kept_owner,
               d.notes, d.route_rule, d.sla_rule)
        text = self._citations.get(key)
        if text is None:
            if len(self._citations) > 4096:
                self._citations.clear()
            text = self._citations[key] = "; ".join(cite for cite, _ in self._entries(d))
        return text

    def _entries(self, d: Decision) -> list[tuple[str, Hit | Callable[[], Hit]]]:
        """(citation, Hit or a function making it) per trace entry: entries whose effect must
        be formatted for this record are only formatted when `trace` asks for them."""
        hits, cites = self.hits, self._cites
        out: list[tuple[str, Hit | Callable[[], Hit]]] = []
        if d.seg_rule >= 0:
            out.append((cites[Section.SEGMENT][d.seg_rule], hits[Section.SEGMENT][d.seg_rule]))
        if Section.SCORE in self.sections:
            out += [(cites[Section.SCORE][i], hits[Section.SCORE][i]) for i in d.score_rules]
            caps = dict(self.score_config.caps)
            out += [(f"score/cap {cat} ({self._first_score.short})",
                     Hit(Section.SCORE, f"cap {cat}", self._first_score, f"{cat} {before:g} capped at {caps[cat]:g}"))
                    for cat, before in d.capped]
            grade = self.score_config.grade
            if grade is not None and d.score is not None:  # None: not evaluated

                def grade_hit() -> Hit:
                    assert d.grade_basis is not None  # graded with the score: both set together
                    return self._grade_hit(grade, d.grade, d.grade_basis)
                out.append((self._grade_cite, grade_hit))
        if d.stage_rule >= 0:
            out.append((cites[Section.QUALIFY][d.stage_rule], hits[Section.QUALIFY][d.stage_rule]))
        # Notes (sticky owners, empty targets, escalations) keep their order within a section;
        # the owner and the deadline come after their section's notes, before the escalation.
        if d.kept_owner:
            out.append((f"route/(sticky) ({self._first_route.short})", lambda: Hit(
                Section.ROUTE, "(sticky)", self._first_route,
                f"kept owner {d.routed_owner}: routed at "
                f"{fmt(d.routed_at) if d.routed_at is not None else 'a time that cannot be read'}")))
        out += [(_cite(h), h) for h in d.notes if h.section is Section.ROUTE]
        if d.route_rule >= 0:
            rule = self.rules[Section.ROUTE][d.route_rule]
            out.append((cites[Section.ROUTE][d.route_rule], lambda: Hit(
                Section.ROUTE, rule.name, rule.loc,
                (f"handoff from {d.handoff_from}: " if d.handoff_from else "") + f"owner = {d.routed_owner}")))
        if d.sla_rule >= 0:
            sla = self.rules[Section.SLA][d.sla_rule]

            def sla_hit() -> Hit:
                # An SLA entry has `within`, and a clock that ran (sla_rule set) has its start and due.
                assert sla.within is not None and d.sla_due is not None and d.sla_started_at is not None
                return Hit(Section.SLA, sla.name, sla.loc,
                           f"due {fmt(d.sla_due)} ({sla.within.text} from {d.sla_basis} {fmt(d.sla_started_at)}"
                           f"{' on ' + sla.calendar if sla.calendar else ''}): {d.sla_status}")
            out.append((cites[Section.SLA][d.sla_rule], sla_hit))
        out += [(_cite(h), h) for h in d.notes if h.section is Section.SLA]
        return out

    def _grade_hit(self, grade: Grade, label: str | None, basis: float) -> Hit:
        hit = self._grade_hits.get((label, basis))
        if hit is None:
            if len(self._grade_hits) > 4096:
                self._grade_hits.clear()
            hit = self._grade_hits[(label, basis)] = Hit(
                Section.SCORE, "grade", grade.loc, f"grade = {label} ({grade.category or 'total'} {basis:g})")
        return hit

    def matched_rules(self, d: Decision) -> list[tuple[str, str]]:
        """(section, rule name) of every deciding rule, from precomputed pairs."""
        keys = self._keys
        out = [keys[Section.SEGMENT][d.seg_rule]] if d.seg_rule >= 0 else []
        if d.score_rules:
            score = keys[Section.SCORE]
            out += [score[i] for i in d.score_rules]
        if d.stage_rule >= 0:
            out.append(keys[Section.QUALIFY][d.stage_rule])
        if d.route_rule >= 0:
            out.append(keys[Section.ROUTE][d.route_rule])
        if d.sla_rule >= 0:
            out.append(keys[Section.SLA][d.sla_rule])
        return out

    def matched(self, d: Decision) -> dict[str, Any]:
        """Every section, present or not (pinned): the deciding rule's name or None, and the
        list of scoring rules' names (empty when none matched or there is no score section)."""
        rules = self.rules
        return {
            "segment": rules[Section.SEGMENT][d.seg_rule].name if d.seg_rule >= 0 else None,
            "score": [rules[Section.SCORE][i].name for i in d.score_rules],
            "qualify": rules[Section.QUALIFY][d.stage_rule].name if d.stage_rule >= 0 else None,
            "route": rules[Section.ROUTE][d.route_rule].name if d.route_rule >= 0 else None,
            "sla": rules[Section.SLA][d.sla_rule].name if d.sla_rule >= 0 else None,
        }


def _cite(hit: Hit) -> str:
    return f"{hit.section.value}/{hit.rule} ({hit.loc.short})"
