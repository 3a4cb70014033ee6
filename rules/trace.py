"""A Decision's trace and cited rule names, built from the rule indexes the evaluator kept.

Evaluating keeps only integers per record (which segment, score and qualify entries
matched, which caps applied); the Hits and names are made here when someone reads
`Decision.trace` or `Decision.matched`.
"""
from __future__ import annotations

from typing import Any

from .model import NOWHERE, Decision, Hit, Rule, RuleSet, ScoreConfig, Section
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
        self._grade_hits: dict[tuple, Hit] = {}
        self._cites = {sec: [_cite(h) for h in hits] for sec, hits in self.hits.items()}
        self._keys = {sec: [(sec.value, r.name) for r in rules] for sec, rules in ruleset.sections}
        route = self.rules.get(Section.ROUTE)
        self._sticky_cite = f"route/(sticky) ({(route[0].loc if route else NOWHERE).short})"
        score = self.rules.get(Section.SCORE)
        self._first_score = score[0].loc.short if score else ""
        grade = self.score_config.grade
        self._grade_cite = f"score/grade ({grade.loc.short})" if grade is not None else ""

    def trace(self, d: Decision) -> list[Hit]:
        out: list[Hit] = []
        if d.seg_rule >= 0:
            out.append(self.hits[Section.SEGMENT][d.seg_rule])
        if Section.SCORE in self.sections:
            hits = self.hits[Section.SCORE]
            out += [hits[i] for i in d.score_rules]
            first = self.rules[Section.SCORE][0].loc if self.rules[Section.SCORE] else NOWHERE
            caps = dict(self.score_config.caps)
            out += [Hit(Section.SCORE, f"cap {cat}", first, f"{cat} {before:g} capped at {caps[cat]:g}")
                    for cat, before in d.capped]
            grade = self.score_config.grade
            if grade is not None:
                out.append(self._grade_hit(d.grade, d.grade_basis))
        if d.stage_rule >= 0:
            out.append(self.hits[Section.QUALIFY][d.stage_rule])
        # Notes (sticky owners, empty targets, escalations) keep their order within a section;
        # the owner and the deadline come after their section's notes, before the escalation.
        if d.kept_owner:
            rules = self.rules.get(Section.ROUTE)
            out.append(Hit(Section.ROUTE, "(sticky)", rules[0].loc if rules else NOWHERE,
                           f"kept owner {d.routed_owner}: routed at {fmt(d.routed_at)}"))
        out += [h for h in d.notes if h.section is Section.ROUTE]
        if d.route_rule >= 0:
            rule = self.rules[Section.ROUTE][d.route_rule]
            out.append(Hit(Section.ROUTE, rule.name, rule.loc, f"owner = {d.routed_owner}"))
        if d.sla_rule >= 0:
            rule = self.rules[Section.SLA][d.sla_rule]
            out.append(Hit(Section.SLA, rule.name, rule.loc,
                           f"due {fmt(d.sla_due)} ({rule.within.text} from {d.sla_basis} {fmt(d.sla_start)}"
                           f"{' on ' + rule.calendar if rule.calendar else ''}): {d.sla_status}"))
        out += [h for h in d.notes if h.section is Section.SLA]
        return out

    def _grade_hit(self, label: str | None, basis: float) -> Hit:
        hit = self._grade_hits.get((label, basis))
        if hit is None:
            grade = self.score_config.grade
            if len(self._grade_hits) > 4096:
                self._grade_hits.clear()
            hit = self._grade_hits[(label, basis)] = Hit(
                Section.SCORE, "grade", grade.loc, f"grade = {label} ({grade.category or 'total'} {basis:g})")
        return hit

    def citation(self, d: Decision) -> str:
        """`section/rule (file:line)` for every trace entry, joined with "; ", as the audit
        journal keeps it: the same entries as `trace`, without formatting their effects."""
        cite = self._cites
        parts: list[str] = []
        if d.seg_rule >= 0:
            parts.append(cite[Section.SEGMENT][d.seg_rule])
        if Section.SCORE in self.sections:
            score = cite[Section.SCORE]
            parts += [score[i] for i in d.score_rules]
            parts += [f"score/cap {cat} ({self._first_score})" for cat, _ in d.capped]
            if self.score_config.grade is not None:
                parts.append(self._grade_cite)
        if d.stage_rule >= 0:
            parts.append(cite[Section.QUALIFY][d.stage_rule])
        if d.notes or d.route_rule >= 0 or d.sla_rule >= 0 or d.kept_owner:
            if d.kept_owner:
                parts.append(self._sticky_cite)
            parts += [_cite(h) for h in d.notes if h.section is Section.ROUTE]
            if d.route_rule >= 0:
                parts.append(cite[Section.ROUTE][d.route_rule])
            if d.sla_rule >= 0:
                parts.append(cite[Section.SLA][d.sla_rule])
            parts += [_cite(h) for h in d.notes if h.section is Section.SLA]
        return "; ".join(parts)

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
