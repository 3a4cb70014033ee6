"""Pilots in a sync (docs/report.md, Pilots): a record in a pilot's segment is in the pilot arm or
the control arm by its Id; the pilot arm is decided by the candidate rules and everything else by
the current ones, and every record in the segment carries its arm in the pilot's CRM field, so
the journal, a record's history and the report all know it.

The candidate's teams take their turns apart from the current rules' (positions under
`pilot:<name>/<team>`), while capacity is one: both arms give work to the same people.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from rules.evaluate import Context, Evaluator
from rules.model import Decision, RevsyncError

from connector.workspace.pilots import PILOT, arm_of, candidate_workspace, segment_filter
from connector.workspace.settings import Pilot
from connector.workspace.workspace import Workspace


@dataclass
class ActivePilot:
    pilot: Pilot
    evaluator: Evaluator
    inside: Callable[[list[dict]], list[bool]]
    fingerprint: str

    @property
    def prefix(self) -> str:
        return f"pilot:{self.pilot.name}/"


Arm = tuple[ActivePilot | None, str | None]  # the pilot a record is in, and its arm


class SyncPilots:
    def __init__(self, ws: Workspace, pilots: tuple[Pilot, ...], now: datetime, engine: str = "default"):
        self.active: list[ActivePilot] = []
        for p in pilots:
            if p.ended:
                continue
            candidate = candidate_workspace(ws, p)
            key = f"{p.name}|{p.share}|{p.when}|{p.arm_field}|{candidate.ruleset.fingerprint}"
            self.active.append(ActivePilot(p, Evaluator(candidate.ruleset, engine), segment_filter(ws, p, now),
                                           hashlib.sha256(key.encode()).hexdigest()[:12]))

    def __bool__(self) -> bool:
        return bool(self.active)

    def fingerprint(self) -> str:
        """Part of the sync's rules fingerprint: starting, changing or ending a pilot re-decides
        every open record (through the change guard), as a change of the rules does."""
        return "".join(f"|pilot:{a.fingerprint}" for a in self.active)

    def fields(self) -> list[str]:
        return list(dict.fromkeys(a.pilot.arm_field for a in self.active))

    def check_fields(self, known: dict[str, Any], object: str) -> None:
        missing = [f for f in self.fields() if f not in known]
        if missing:
            raise RevsyncError(
                f"the pilots write their arm to {object}.{', '.join(missing)}, which the org does not have: "
                f"create it (Text, 40) or name another field with arm_field in [pilots.NAME]; nothing was written")

    def arms(self, records: list[dict], ids: list[str]) -> list[Arm]:
        """Each record's pilot and arm; a record in the segments of two pilots is in the first's."""
        out: list[Arm] = [(None, None)] * len(records)
        for active in self.active:
            for k, inside in enumerate(active.inside(records)):
                if inside and out[k][0] is None:
                    out[k] = (active, arm_of(ids[k], active.pilot.name, active.pilot.share))
        return out

    def decide(self, main: Evaluator, records: list[dict], ids: list[str], ctx: Context
               ) -> tuple[list[Decision], list[list[Any]], list[Arm], list[Evaluator]]:
        """Decisions (in the records' order), their facts, each record's arm and the evaluator
        that decided it."""
        arms = self.arms(records, ids)
        n = len(records)
        decisions: list[Decision | None] = [None] * n
        rows: list[list[Any]] = [[] for _ in range(n)]
        deciders: list[Evaluator] = [main] * n

        def place(evaluator: Evaluator, indexes: list[int], context: Context) -> None:
            if not indexes:
                return
            ds, rs = evaluator.evaluate_with_facts([records[k] for k in indexes], context)
            for k, d, r in zip(indexes, ds, rs):
                decisions[k], rows[k], deciders[k] = d, r, evaluator

        place(main, [k for k, (_, arm) in enumerate(arms) if arm != PILOT], ctx)
        for active in self.active:
            mine = [k for k, (a, arm) in enumerate(arms) if a is active and arm == PILOT]
            if not mine:
                continue
            prefix = active.prefix
            own = {k[len(prefix):]: v for k, v in ctx.positions.items() if k.startswith(prefix)}
            place(active.evaluator, mine, dataclasses.replace(ctx, positions=own))
            ctx.positions.update({prefix + k: v for k, v in own.items()})
        return [d for d in decisions if d is not None], rows, arms, deciders
