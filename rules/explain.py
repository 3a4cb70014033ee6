"""One record's full story: each section, each rule, matched or not and why not."""
from __future__ import annotations

from .compile import Program
from .evaluate import Context, Evaluator
from .model import All, AnyOf, Condition, Decision, Not, Rule, Section, Test
from .values import from_epoch

SECTION_KIND = {
    Section.SEGMENT: "first match sets segment",
    Section.SCORE: "every match adds its points",
    Section.QUALIFY: "first match sets stage",
    Section.ROUTE: "first match picks the owner",
    Section.SLA: "first match sets the follow-up deadline",
}


class Explainer:
    def __init__(self, evaluator: Evaluator):
        self.ev = evaluator
        self.program: Program = evaluator.program

    def actual(self, v: list, field: str) -> str:
        s = self.program.slots[field]
        value = v[s]
        if value is None:
            return "missing" if v[s + 2] else "unreadable"
        if self.program.types[field].is_temporal and isinstance(value, float):
            return from_epoch(value).strftime("%Y-%m-%dT%H:%M:%SZ")
        if isinstance(value, float) and value.is_integer():
            return str(int(value))
        return repr(value)

    def why(self, cond: Condition, v: list, T: list) -> tuple[bool, list[str]]:
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

    def explain(self, record: dict, ctx: Context) -> str:
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
        for section, rules in rs.sections:
            lines.append("")
            lines.append(f"{section.value}: {SECTION_KIND[section]}")
            lines += self.section(section, rules, d, v, T)
        lines.append("")
        lines.append("decision: " + ", ".join(f"{k}={val}" for k, val in d.outputs().items()
                                             if val not in (None, {})))
        return "\n".join(lines)

    def section(self, section: Section, rules: tuple[Rule, ...], d: Decision, v: list, T: list) -> list[str]:
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

    def deadline(self, rule: Rule, d: Decision) -> list[str]:
        lines = [f"      {h.effect}" for h in d.trace
                 if h.section is Section.SLA and h.rule == rule.name and h.effect.startswith("breached")]
        if rule.calendar and d.sla_due is not None:
            cal = self.ev.calendars[rule.calendar]
            start = d.sla_started_at
            if start is not None:
                w = rule.within
                lines += [f"      {s}" for s in cal.steps(start, weeks=w.weeks, days=w.days, minutes=w.minutes)]
        return lines


def rules_index(rules: tuple[Rule, ...], name: str | None) -> int:
    return next((r.index for r in rules if r.name == name), len(rules))
