"""Records revsync gave each owner since an instant, from the journal: what `max_per_day`
counts. Only written changes count (a page done, the change not failed), and a revert gives
nobody anything. Runs are placed in time by their evaluation time, so a run with `--now`
counts on the day it decided, not on the day it ran."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Callable

from rules.values import format_instant

from connector.sync.journal import State


class GivenCounts:
    """`given_since(owner key, instant)` for the rules' Context: one journal query per distinct
    midnight (a run asks for one per team time zone at most), not one per member."""

    def __init__(self, state: State, object: str, owner_field: str | None, exclude_run: int | None = None):
        self.state, self.object, self.owner_field, self.exclude_run = state, object, owner_field, exclude_run
        self._by_since: dict[str, dict[str, int]] = {}

    def __call__(self, key: str, since: datetime) -> int:
        return self.counts(since).get(key[:15], 0)

    def counts(self, since: datetime) -> dict[str, int]:
        stamp = format_instant(since)
        found = self._by_since.get(stamp)
        if found is None:
            found = self._by_since[stamp] = self._read(stamp) if self.owner_field else {}
        return found

    def _read(self, since: str) -> dict[str, int]:
        out: dict[str, int] = {}
        rows = self.state.db.execute(
            "SELECT c.fields FROM changes c JOIN runs r ON r.run_id = c.run_id "
            "JOIN pages p ON p.run_id = c.run_id AND p.page = c.page "
            "WHERE r.object = ? AND r.evaluated_at >= ? AND r.reverts IS NULL AND r.run_id IS NOT ? "
            "AND p.status = 'done' AND c.status != 'failed'", (self.object, since, self.exclude_run))
        for (fields,) in rows:
            change = json.loads(fields).get(self.owner_field)
            if isinstance(change, list) and len(change) == 2 and change[1]:
                key = str(change[1])[:15]
                out[key] = out.get(key, 0) + 1
        return out


def given_since(state: State, object: str, owner_field: str | None,
                exclude_run: int | None = None) -> Callable[[str, datetime], int]:
    return GivenCounts(state, object, owner_field, exclude_run)
