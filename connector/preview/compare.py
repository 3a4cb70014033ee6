"""Dry-run previews: the same records through the baseline and the candidate rules.

Nothing is written to the org and no sync state is touched: records are read once (from an
export or, read-only, from an org) and evaluated by both versions side by side.
"""
from __future__ import annotations

import random
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from rules.evaluate import Context, Evaluator
from rules.loader import parse_rules
from rules.model import ConfigError, Decision, Location, Problem
from rules.prepare import Preparer

from connector.context import OrgContext, is_closed_record
from connector.files import DEFAULT_ENCODING, BadRow, display_name, read_numbered
from connector.preview.lifecycle import LifecycleTally
from connector.preview.owners import Namer, offline_name, org_namer, owner_key, round_robin_team
from connector.preview.closed_loop import ClosedLoop
from connector.preview.tally import Outcome, Side, outcome_of, record_label
from connector.preview.teams import TeamTally
from connector.workspace.workspace import Workspace, load_workspace

COMPARED = ("segment", "score", "grade", "stage", "owner", "sla_due")


def baseline_workspace(candidate: Workspace, baseline: str, mappings_dir: Path | None) -> Workspace:
    """The baseline rules from a directory, or from a git ref without touching the work tree."""
    path = Path(baseline)
    if path.exists():
        return load_workspace(path, mappings_dir, candidate.object)
    rules_dir = candidate.rules_dir.resolve()
    rules_dir = rules_dir if rules_dir.is_dir() else rules_dir.parent

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", str(rules_dir), *args], capture_output=True, text=True)
        if proc.returncode != 0:
            raise ConfigError([Problem("P001", f"--baseline {baseline}: {proc.stderr.strip() or 'git failed'}",
                                       Location(str(rules_dir), 0, 0),
                                       "pass a directory or a git ref such as HEAD or main")])
        return proc.stdout
    prefix = git("rev-parse", "--show-prefix").strip()
    top = git("rev-parse", "--show-toplevel").strip()
    rules_dir = Path(top)  # ls-tree lists relative to the working directory: ask from the top
    names = [n for n in git("ls-tree", "--name-only", f"{baseline}:{prefix}").splitlines()
             if n.endswith((".yaml", ".yml")) and ".cases." not in n]
    for name in names:
        text = git("show", f"{baseline}:{prefix}{name}")
        if f"object: {candidate.object}" in text:
            loaded = parse_rules(text, f"{baseline}:{prefix}{name}", candidate.mapping.rule_fields())
            return Workspace(candidate.object, candidate.mapping, loaded.ruleset, loaded.warnings, rules_dir)
    raise ConfigError([Problem("P002", f"no {candidate.object} rule file at {baseline}:{prefix}",
                               Location(str(rules_dir), 0, 0), "check the ref and the rules directory")])


def where_filter(ws: Workspace, text: str | None) -> Callable[[list[dict]], list[bool]] | None:
    """`--where` in the rule syntax, compiled like a one-entry segment section."""
    if not text:
        return None
    loaded = parse_rules(f"object: {ws.object}\nsegment:\n  - name: where\n    when: {text}\n    segment: 'yes'\n",
                         "--where", ws.mapping.rule_fields())
    evaluator = Evaluator(loaded.ruleset)

    def keep(records: list[dict]) -> list[bool]:
        decisions = evaluator.evaluate_batch(records, Context(now=datetime.now()))
        return [d.segment == "yes" for d in decisions]
    return keep


@dataclass
class Preview:
    baseline: Workspace
    candidate: Workspace
    now: datetime
    limit: int = 50  # changed records listed; 0 lists them all
    sample: int | None = None
    seed: int = 0
    evaluated: int = 0
    open: int = 0  # evaluated and not closed: what a sync may change, and what shares divide by
    changed: Counter = field(default_factory=Counter)
    changed_records: int = 0
    owner_moves: Counter = field(default_factory=Counter)
    # Owner changes within one team's round robin: the turns fell differently because other
    # records took or left turns. Nobody's share moves, so they are counted apart from moves.
    reshuffles: Counter = field(default_factory=Counter)
    stage_moves: Counter = field(default_factory=Counter)
    before: Side = field(default_factory=Side)
    after: Side = field(default_factory=Side)
    records: list[dict] = field(default_factory=list)
    with_outcomes: int = 0
    closed_loop: ClosedLoop | None = field(default=None, repr=False)  # made with the first batch
    bad_rows: list[BadRow] = field(default_factory=list)
    # One name per owner, however a decision names it (a kept owner by Id, a routed one by
    # name, a round robin by team and member): the org's names when the records come from one.
    owner_name: Namer | None = field(default=None, repr=False)
    # Users the org knows inactive (set when records come from an org): routing passes over
    # them and re-routes their records, as a sync does.
    inactive: frozenset[str] = frozenset()
    lifecycle: LifecycleTally | None = field(default=None, repr=False)  # handoffs and SLA clocks
    paused: frozenset[str] = frozenset()  # users whose pause checkbox is set (records from an org)
    # Open records of capped team members by folded name, counted in the org (records from an
    # org); None: caps count only what the preview routes, as offline.
    open_counts: dict[str, int] | None = None
    teams: tuple[TeamTally, TeamTally] = field(default_factory=lambda: (TeamTally(), TeamTally()))

    def add_batch(self, d0s: list[Decision], d1s: list[Decision], outcomes: list[Outcome | None],
                  closed: list[bool] | None = None, written: list | None = None,
                  records: list[dict] | None = None) -> None:
        """`closed`: converted leads and closed opportunities, which a sync leaves alone: they
        count for the closed loop, not as changes, owners, stages or the lifecycle. `written`:
        each record's stage as revsync wrote it last (`previous.stage`), where known.
        `records`: the rule records decided, for the names of the changed ones listed."""
        self.evaluated += len(d0s)
        written = written if written is not None else [None] * len(d0s)
        recs: list = records if records is not None else [None] * len(d0s)
        if closed is None or not any(closed):
            open0, open1 = d0s, d1s
        else:
            open0 = [d for d, c in zip(d0s, closed) if not c]
            open1 = [d for d, c in zip(d1s, closed) if not c]
            written = [w for w, c in zip(written, closed) if not c]
            recs = [r for r, c in zip(recs, closed) if not c]
        self.open += len(open0)  # once per open record, on either path
        name = self.owner_name or offline_name
        self.before.add_batch(self._day, self._week, open0, name)
        self.after.add_batch(self._day, self._week, open1, name)
        assert self.lifecycle is not None  # made with the first batch, above
        self.lifecycle.add(open0, open1, written, name)
        self.teams[0].add(open0)
        self.teams[1].add(open1)
        self.with_outcomes += sum(o is not None for o in outcomes)
        for d0, d1, rec in zip(open0, open1, recs):
            # Raw attributes compare as the formatted outputs would; formatting only what changed.
            if (d0.score == d1.score and d0.stage == d1.stage and d0.owner == d1.owner
                    and d0.segment == d1.segment and d0.grade == d1.grade and d0.sla_due == d1.sla_due):
                continue
            diff = [k for k in COMPARED if getattr(d0, k) != getattr(d1, k)]
            owners = (owner_key(d0, name), owner_key(d1, name))
            if "owner" in diff and owners[0] == owners[1]:  # one person, named by Id and by username
                diff.remove("owner")
                if not diff:
                    continue
            for k in diff:
                self.changed[k] += 1
            team = round_robin_team(d0)
            reshuffled = "owner" in diff and team is not None and team == round_robin_team(d1)
            if reshuffled:
                self.reshuffles[team] += 1
            elif "owner" in diff:
                self.owner_moves[owners] += 1
            if "stage" in diff:
                self.stage_moves[(d0.stage, d1.stage)] += 1
            self.changed_records += 1
            self._keep(d0, d1, diff, owners, reshuffled, rec)

    def _keep(self, d0: Decision, d1: Decision, diff: list[str], owners: tuple[str, str], reshuffled: bool,
              rec: dict | None) -> None:
        if self.sample:
            # Reservoir sampling: a fair, seeded sample of any number of changes in bounded memory.
            slot = len(self.records) if len(self.records) < self.sample else self._rng.randrange(self.changed_records)
            if slot >= self.sample:
                return
        elif self.limit and len(self.records) >= self.limit:
            return
        else:
            slot = len(self.records)
        o0, o1 = d0.outputs(), d1.outputs()
        before, after = {k: o0[k] for k in diff}, {k: o1[k] for k in diff}
        entry: dict[str, Any] = {"id": d0.id, "name": record_label(rec) if rec is not None else None,
                                 "before": before, "after": after,
                                 "rules": {"before": _cited(d0), "after": _cited(d1)}}
        if "owner" in diff:
            before["owner"], after["owner"] = owners
            entry["teams"] = {"before": round_robin_team(d0), "after": round_robin_team(d1)}
            entry["reshuffle"] = reshuffled
            held = {side: d.held for side, d in (("before", d0), ("after", d1)) if d.held}
            if held:
                entry["held"] = held
        if slot < len(self.records):
            self.records[slot] = entry
        else:
            self.records.append(entry)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        # Clamped: a --now within a week of the end of year 9999 has no later datetime.
        left = datetime.max.replace(tzinfo=self.now.tzinfo) - self.now
        self._day, self._week = self.now + min(timedelta(days=1), left), self.now + min(timedelta(days=7), left)
        if self.lifecycle is None:
            self.lifecycle = LifecycleTally(self.baseline.ruleset, self.candidate.ruleset)

    def showing(self) -> dict:
        """How many changed records are listed, of how many, and the sentence every format says."""
        shown, total = len(self.records), self.changed_records
        how = "sample" if self.sample else ("all" if shown == total else "first")
        if how == "sample":
            note = f"showing a seeded sample of {shown} of {total} changed records"
        else:
            note = f"showing {shown} of {total} changed records"
        if shown < total:
            note += " (--limit 0 lists all)"
        return {"records": shown, "of": total, "how": how, "note": note}

    def asdict(self) -> dict:
        def shares(c: Counter) -> dict:
            total = sum(c.values()) or 1
            return {k: round(v / total, 4) for k, v in c.most_common()}

        rules_b = {f"{sec}/{name}": n for (sec, name), n in self.before.rules.items()}
        rules_a = {f"{sec}/{name}": n for (sec, name), n in self.after.rules.items()}
        all_b = {r.key for r in self.baseline.ruleset.all_rules()}
        all_a = {r.key for r in self.candidate.ruleset.all_rules()}
        name = self.owner_name or offline_name

        def again(c: Counter) -> dict:
            """Owners named once more: an export may name an Id only after it was counted."""
            out: Counter = Counter()
            for key, n in c.most_common():
                out[tuple(map(name, key)) if isinstance(key, tuple) else name(key)] += n
            return dict(out.most_common())

        def named(values: dict) -> dict:
            return {**values, "owner": name(values["owner"])} if values.get("owner") else values
        records = [{**r, "before": named(r["before"]), "after": named(r["after"])} for r in self.records]
        return {
            "object": self.candidate.object,
            "evaluated": self.evaluated,
            "open": self.open,
            "changed": {k: self.changed.get(k, 0) for k in COMPARED},
            "changed_records": self.changed_records,
            "owner_moves": [{"from": f, "to": t, "count": n} for (f, t), n in again(self.owner_moves).items()],
            "owner_reshuffles": [{"team": t, "count": n} for t, n in self.reshuffles.most_common()],
            "stage_moves": [{"from": f, "to": t, "count": n} for (f, t), n in self.stage_moves.most_common()],
            "owner_share": {"baseline": shares(Counter(again(self.before.owners))),
                            "candidate": shares(Counter(again(self.after.owners)))},
            "stages": {"baseline": dict(self.before.stages), "candidate": dict(self.after.stages)},
            "score_bands": {"baseline": dict(sorted(self.before.scores.items())),
                            "candidate": dict(sorted(self.after.scores.items()))},
            "sla_load": {"baseline": {"due_1d": again(self.before.due_day), "due_7d": again(self.before.due_week)},
                         "candidate": {"due_1d": again(self.after.due_day), "due_7d": again(self.after.due_week)}},
            "rules": {"baseline": rules_b, "candidate": rules_a},
            "lifecycle": self.lifecycle.asdict(again) if self.lifecycle is not None else {},
            "teams": {"baseline": self.teams[0].asdict(self.baseline.ruleset, name),
                      "candidate": self.teams[1].asdict(self.candidate.ruleset, name)},
            "unmatched_rules": {"baseline": sorted(all_b - set(rules_b)), "candidate": sorted(all_a - set(rules_a))},
            "closed_loop": self.closed_loop.asdict() if self.closed_loop is not None else None,
            "showing": self.showing(),
            "records": records,
        }


def _cited(d: Decision) -> list[str]:
    return [f"{h.section.value}/{h.rule} ({h.loc.short})" for h in d.trace if h.rule not in ("grade",)]


def run_preview(preview: Preview, records: Iterable[dict], keep=None, batch_size: int = 1000,
                on_batch: Callable[[int], None] | None = None) -> Preview:
    e0 = Evaluator(preview.baseline.ruleset)
    e1 = Evaluator(preview.candidate.ruleset)
    # Closed records are decided apart: a sync never routes them, so they must not take
    # round-robin turns from the open records the shares are about.
    contexts: list[Context] = []  # made at the first batch: reading an org's records sets `inactive`
    batch: list[dict] = []

    def decide(evaluator, records, closed, open_ctx, closed_ctx):
        if not any(closed):
            return evaluator.evaluate_batch(records, open_ctx)
        opened = iter(evaluator.evaluate_batch([r for r, c in zip(records, closed) if not c], open_ctx))
        shut = iter(evaluator.evaluate_batch([r for r, c in zip(records, closed) if c], closed_ctx))
        return [next(shut) if c else next(opened) for c in closed]

    def flush(batch: list[dict]) -> None:
        if keep is not None:
            batch = [r for r, k in zip(batch, keep(batch)) if k]
        closed = [is_closed_record(r) for r in batch]
        if not contexts:
            contexts.extend(Context(now=preview.now, inactive=preview.inactive, paused=preview.paused,
                                    open_counts=preview.open_counts)
                            for _ in range(4))
        ctx0, ctx1, closed0, closed1 = contexts
        outcomes = [outcome_of(r) for r in batch]
        preview.add_batch(decide(e0, batch, closed, ctx0, closed0), decide(e1, batch, closed, ctx1, closed1),
                          outcomes, closed, [Preparer.raw(r, "previous.stage") for r in batch], batch)
        if preview.closed_loop is None:
            preview.closed_loop = ClosedLoop(preview.baseline, preview.candidate, preview.now)
        preview.closed_loop.add(batch, [o is not None for o in outcomes])
        if on_batch:
            on_batch(preview.evaluated)

    for record in records:
        batch.append(record)
        if len(batch) >= batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return preview


def file_records(ws: Workspace, path: Path, bad: list[BadRow], encoding: str = DEFAULT_ENCODING) -> Iterator[dict]:
    for n, crm in read_numbered(path, encoding):
        if isinstance(crm, BadRow):
            bad.append(crm)
            continue
        try:
            record = ws.mapping.inbound(crm)
        except Exception as exc:  # noqa: BLE001 - one record the mapping cannot read is skipped
            bad.append(BadRow(display_name(path), n, f"cannot map record: {exc}"))
            continue
        for key in ("IsWon", "Amount"):
            value = crm.get(f"ConvertedOpportunity.{key}")
            if value is None and isinstance(crm.get("ConvertedOpportunity"), dict):
                value = crm["ConvertedOpportunity"].get(key)
            if value is not None:
                record[f"converted_opportunity.{'is_won' if key == 'IsWon' else 'amount'}"] = value
        yield record


def org_records(ws: Workspace, org, now: datetime, preview: Preview | None = None) -> Iterator[dict]:
    """Records read from an org, read-only, with their accounts, owners and outcomes."""
    context = OrgContext.of(org, ws)
    if preview is not None:
        preview.inactive = context.directory.inactive()
        preview.paused = context.paused
        preview.open_counts = _open_by_name(context, (preview.baseline, preview.candidate))
        preview.owner_name = org_namer(context.directory, context.users, context.groups)
    opportunities = {}
    if ws.object == "Lead":
        opportunities = {o["Id"]: o for o in org.read_all("Opportunity", ["IsWon", "Amount"])}
    for page in org.changed_since(ws.object, ws.mapping.crm_fields() + ["ConvertedOpportunityId"], None, 1000):
        for crm in page:
            record = context.rule_record(crm)
            opp = opportunities.get(crm.get("ConvertedOpportunityId") or "")
            if opp is not None:
                record["converted_opportunity.is_won"] = opp.get("IsWon")
                record["converted_opportunity.amount"] = opp.get("Amount")
            yield record


def _open_by_name(context: OrgContext, versions: tuple[Workspace, Workspace]) -> dict[str, int] | None:
    """The org's open records of every capped member of either version, keyed as a preview's
    round robin names them (it routes by name: nothing is written)."""
    out: dict[str, int] = {}
    for ws in versions:
        counts = context.open_counts(ws.ruleset, context.owner_id)
        if counts is None:
            continue
        for team in ws.ruleset.teams:
            for member, _ in team.members:
                found = context.owner_id(f"user:{member}")
                if found:
                    out[member.strip().casefold()] = counts.get(found[:15], 0)
    return out or None
