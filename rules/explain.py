"""One record's full story: each section, each rule, matched or not and why not."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from .compile import Program
from .evaluate import Context, Evaluator
from .model import All, Condition, Decision, Not, Rule, Section, Test
from .values import from_epoch

# Owners as decisions and traces label them (`queue:00G...`), and Ids quoted as values read.
OWNER_LABEL = re.compile(r"\b(?:user|queue):([A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)\b")
QUOTED_ID = re.compile(r"'([A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)'")

SECTION_KIND = {
    Section.SEGMENT: "first match sets segment",
    Section.SCORE: "every match adds its points",
    Section.QUALIFY: "first match sets stage",
    Section.ROUTE: "first match picks the owner",
    Section.SLA: "first match sets the follow-up deadline",
}


class Explainer:
    def __init__(self, evaluator: Evaluator, names: dict[str, str] | None = None):
        self.ev = evaluator
        self.program: Program = evaluator.program
        self.names = names or {}  # owner Id -> how people know it, where an org can say

    def who(self, owner: str | None) -> str:
        """An owner label as people know it: `queue Inbound Nurture` for `queue:00G...`."""
        if owner is None:
            return "nobody"
        kind, _, rest = owner.partition(":")
        named = self.names.get(rest.strip()) or self.names.get(rest.strip()[:15])
        return f"{named}" if named else owner

    def actual(self, v: list[Any], field: str) -> str:
        s = self.program.slots[field]
        value = v[s]
        if value is None:
            return "missing" if v[s + 2] else "unreadable"
        if self.program.types[field].is_temporal and isinstance(value, float):
            return from_epoch(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return repr(value)

    def why(self, cond: Condition, v: list[Any], T: list[float]) -> tuple[bool, list[str]]:
        """Whether `cond` holds and the tests that decided it, each with the actual value."""
        if isinstance(cond, Test):
            ok = self.program.test_function(cond)(v, T)
            return ok, [f"{cond.describe()} [{cond.loc.line}:{cond.loc.col}]: "
                        f"{'yes' if ok else 'no'}, {cond.field} is {self.actual(v, cond.field)}"]
        if isinstance(cond, Not):
            ok, reasons = self.why(cond.item, v, T)
            return (not ok), [f"not ({'; '.join(reasons)})"]
        results = [self.why(c, v, T) for c in cond.items]
        if isinstance(cond, All):
            failing = [r for ok, rs in results if not ok for r in rs]
            if failing:
                return False, failing
            return True, [r for _, rs in results for r in rs]
        passing = [r for ok, rs in results if ok for r in rs]
        if passing:
            return True, passing
        return False, ["none of: " + " | ".join(r for _, rs in results for r in rs)]

    def explain(self, record: dict[str, Any], ctx: Context) -> str:
        decisions, rows = self.ev.evaluate_with_facts([record], ctx)
        d, v = decisions[0], rows[0]
        T = self.program.thresholds(ctx.now.timestamp())
        rs = self.ev.ruleset
        lines = [f"{rs.object} {d.id} at {ctx.now.strftime('%Y-%m-%dT%H:%M:%SZ')} "
                 f"(rules {rs.file}, engine {self.ev.engine})"]
        read = ", ".join(f"{f}={self.actual(v, f)}" for f in self.program.inputs)
        lines.append(f"values read: {read or 'none'}")
        for problem in d.problems:
            lines.append(f"unreadable: {problem} (tests on it fail)")
        story = self.lifecycle(d, ctx)
        if story:
            lines += ["", "lifecycle:"] + [f"  {line}" for line in story]
        for section, rules in rs.sections:
            lines.append("")
            lines.append(f"{section.value}: {SECTION_KIND[section]}")
            lines += self.section(section, rules, d, v, T)
        lines.append("")
        lines.append("decision: " + ", ".join(f"{k}={val}" for k, val in d.outputs().items()
                                             if val not in (None, {})))
        return self.named("\n".join(lines))

    def named(self, text: str) -> str:
        """Owners by name where the org told them: `queue:00G...` becomes `queue Inbound Nurture`,
        and a quoted owner Id among the values read is followed by its name."""
        if not self.names:
            return text
        text = OWNER_LABEL.sub(lambda m: self.who(m.group(0)), text)

        def quoted(m: re.Match[str]) -> str:
            named = self.names.get(m.group(1)) or self.names.get(m.group(1)[:15])
            return f"{m.group(0)} ({named})" if named else m.group(0)
        return QUOTED_ID.sub(quoted, text)

    def section(self, section: Section, rules: tuple[Rule, ...], d: Decision, v: list[Any], T: list[float]
                ) -> list[str]:
        out = []
        winner = d.matched.get(section.value)
        decided = section is not Section.SCORE and winner is not None
        sticky = [h for h in d.trace if h.section is section and h.rule == "(sticky)"]
        if sticky:
            out.append(f"  = {sticky[0].effect} (routing is sticky; --reroute to route again)")
        for rule in rules:
            where = rule.loc.short
            if rule.when is None:
                ok, reasons = True, ["no `when`: matches every record"]
            else:
                ok, reasons = self.why(rule.when, v, T)
            effect = "; ".join(h.effect for h in d.trace if h.section is section and h.rule == rule.name)
            if section is Section.SCORE:
                mark = "+" if ok else "-"
                tail = f" -> {rule.points:+g} {rule.category}" if ok else ""
            elif rule.name == winner:
                mark, tail = "*", f" -> {effect}"
            elif decided and rule.index > rules_index(rules, winner):
                out.append(f"  . {rule.name} ({where}): not reached")
                continue
            else:
                mark, tail = ("+" if ok else "-"), (f" ({effect})" if ok and effect else "")
            out.append(f"  {mark} {rule.name} ({where}){tail}")
            out += [f"      {r}" for r in reasons]
            if section is Section.SLA and rule.name == winner:
                out += self.deadline(rule, d)
        if section is Section.SCORE:
            out += [f"  = {h.effect}" for h in d.trace if h.section is section and h.rule in ("grade",)
                    or (h.section is section and h.rule.startswith("cap "))]
            scores = ", ".join(f"{k} {val:g}" for k, val in d.scores.items())
            out.append(f"  = score {d.score:g} ({scores or 'no points'})")
        if section is not Section.SCORE and winner is None and not sticky:
            out.append("  = nothing matched: output stays empty")
        return out

    def lifecycle(self, d: Decision, ctx: Context) -> list[str]:
        """The record's story across runs: its stage entry, who gave the owner and why, its clock."""
        rs, now = self.ev.ruleset, ctx.now
        out = []
        if d.stage is not None:
            since = "now" if _same_instant(d.stage_entered_at, now) else f"since {_at(d.stage_entered_at)}"
            was = f" (was {d.previous_stage})" if d.previous_stage else ""
            out.append(f"stage {d.stage} {since}{was}")
        route = rs.rules(Section.ROUTE)
        if d.route_rule >= 0:
            rule = route[d.route_rule]
            how = f"handoff from {self.who(d.handoff_from)} to" if d.handoff_from else "routed to"
            out.append(f"{how} {self.who(d.routed_owner)} by rule '{rule.name}' at {rule.loc.short}")
        elif d.kept_owner:
            if not d.owner_by:
                by = ", given before revsync recorded by which rule"
            elif d.owner_given is None:  # revsync's memory says a person took it
                by = f"; a person set it after {d.owner_by} routed the record: handoffs leave it alone"
            else:
                by = f", given by {d.owner_by}"
            out.append(f"owner {self.who(d.routed_owner)} kept (routed {_at(d.routed_at)}{by})")
        if d.escalated:
            out.append(f"escalated to {self.who(d.owner)} by SLA '{rs.rules(Section.SLA)[d.sla_rule].name}'")
        if d.sla_rule >= 0 and d.sla_due is not None:
            sla = rs.rules(Section.SLA)[d.sla_rule]
            # An SLA entry has `within`, and a clock that ran has its status.
            assert sla.within is not None and d.sla_status is not None
            started = "now" if d.clock_started else _at(d.sla_started_at)
            span = f"{sla.within.text} on {sla.calendar}" if sla.calendar else sla.within.text
            status = d.sla_status + (f" at {_at(d.sla_met_at)}" if d.sla_met_at is not None else "")
            if d.sla_status == "met" and d.sla_met_at is not None and d.sla_met_at > d.sla_due:
                status += " (late)"
            out.append(f"SLA '{sla.name}' started {started} ({d.sla_basis}), due {_at(d.sla_due)} ({span}), {status}"
                       + ("; escalated already" if d.clock_escalated and not d.escalated else ""))
        return out

    def deadline(self, rule: Rule, d: Decision) -> list[str]:
        lines = [f"      {h.effect}" for h in d.trace
                 if h.section is Section.SLA and h.rule == rule.name and h.effect.startswith("breached")]
        if rule.calendar and d.sla_due is not None:
            cal = self.ev.calendars[rule.calendar]
            start = d.sla_started_at
            if start is not None:
                w = rule.within
                assert w is not None  # the parser gives every SLA entry its `within`
                lines += [f"      {s}" for s in cal.steps(start, weeks=w.weeks, days=w.days, minutes=w.minutes)]
        return lines


def _at(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "at a time not recorded"


def _same_instant(a: datetime | None, b: datetime) -> bool:
    return a is not None and b is not None and abs((a - b).total_seconds()) < 1e-3


def rules_index(rules: tuple[Rule, ...], name: str | None) -> int:
    return next((r.index for r in rules if r.name == name), len(rules))
