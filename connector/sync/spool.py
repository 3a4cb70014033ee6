"""A run's pages between planning and writing, so that the write path is chosen by the number of
changes in the whole run, not per page.

Every planned page is journalled as pending (State.begin_page) with its plan: its records'
re-check times and the Ids it settles, which finishing it needs besides the write outcomes
(the `page_plan` table). On a backend that can write a whole run through Bulk API 2.0
(`write_many` and a `bulk_write_threshold` above 0: Salesforce), nothing is written until the
read is over; then

- below the threshold, each page is written and finished in order through commit_page, as it
  would have been when planned;
- at or above it, the run's changes are streamed from the journal, a page at a time, into
  ingest jobs (one per object, split at the upload limit); the results go to a temporary table
  of the state's connection as they are read, and each page is finished in order with its
  outcomes (failed records to the retry queue, as on the REST path).

Memory holds one page. Round-robin positions and the watermark advance only as pages finish.
A run killed or paused anywhere in between leaves its pages pending; the next run's recovery
(SyncRun._recover) finishes them from the journal and their plans, writing only what records
do not hold yet. Elsewhere (the embedded org, `bulk_write_threshold = 0`) each page is written
as soon as it is planned: holding it back could not change the path, only delay the writes.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import structlog

from connector.orgs.base import Backend, Patch, WriteResult
from connector.sync.journal import State, commit_page
from connector.sync.plan import Planned

log = structlog.get_logger()

# A finished page: (page, records read, changes, written Ids, failures by Id).
PageDone = Callable[[int, int, int, list[str], dict[str, tuple[str, str]]], None]
NOT_IN_RESULTS = ("UNKNOWN", "not in the bulk job's results")


@dataclass(frozen=True)
class PagePlan:
    """What finishing a journalled page needs besides the outcomes of its writes."""
    rechecks: dict[str, str | None]
    settled: list[str]
    records: int = 0

    def dump(self) -> str:
        return json.dumps({"rechecks": self.rechecks, "settled": self.settled, "records": self.records})


def plan_of(state: State, run_id: int, page: int) -> PagePlan:
    """A journalled page's plan; an empty one for a page journalled without (a revert's, or one an
    older revsync left pending)."""
    row = state.db.execute("SELECT plan FROM page_plan WHERE run_id=? AND page=?", (run_id, page)).fetchone()
    if row is None or not row[0]:
        return PagePlan({}, [])
    data = json.loads(row[0])
    return PagePlan(data.get("rechecks") or {}, data.get("settled") or [], data.get("records") or 0)


def bulk_threshold(backend: Backend) -> int | None:
    """The run size from which this backend writes through Bulk API 2.0; None where it never does."""
    threshold = getattr(backend, "bulk_write_threshold", None)
    if callable(getattr(backend, "write_many", None)) and isinstance(threshold, int) and threshold > 0:
        return threshold
    return None


class Spool:
    def __init__(self, state: State, backend: Backend, object: str, run_id: int, done: PageDone,
                 seconds: dict[str, float]):
        self.state, self.backend, self.object, self.run_id = state, backend, object, run_id
        self.done, self.seconds = done, seconds
        self.threshold = bulk_threshold(backend)
        self.pages: list[int] = []  # journalled, not written yet, in order
        self.changes = 0
        self.columns: set[str] = set()  # every field a spooled change writes: the ingest job's header

    @property
    def pending(self) -> int:
        return len(self.pages)

    def add(self, page: int, planned: Planned, positions: dict[str, int], watermark: str | None,
            records: int) -> None:
        """Journal a planned page; write it now unless the run may still reach the Bulk threshold."""
        started = time.perf_counter()
        # Settled: leaving the retry queue with nothing to write, skipped or decided with no
        # change (a retried record that already holds its decision, e.g. written by a Bulk job
        # whose results left it out), so that it is not read again every run.
        patched = {p.id for p in planned.patches}
        settled = dict.fromkeys([*planned.skipped, *(rid for rid in planned.rechecks if rid not in patched)])
        plan = PagePlan(planned.rechecks, list(settled), records)
        self.state.begin_page(self.run_id, page, planned.patches, positions, watermark, plan=plan.dump())
        self._time("journal", started)
        if self.threshold is None:
            self._commit(page, planned.patches, positions, watermark, plan)
            return
        self.pages.append(page)
        self.changes += len(planned.patches)
        self.columns.update(k for p in planned.patches for k in p.values)

    def flush(self) -> str | None:
        """Write and finish every spooled page, choosing the path by the run's changes. Returns
        the path taken ("rest" or "bulk"), None when nothing was spooled."""
        if not self.pages:
            return None
        bulk = self.threshold is not None and self.changes >= self.threshold
        log.info("run_writes", object=self.object, path="bulk" if bulk else "rest", pages=len(self.pages),
                 changes=self.changes, bulk_write_threshold=self.threshold)
        if bulk:
            self._bulk()
        else:
            while self.pages:
                page = self.pages[0]
                positions, watermark = self._page(page)
                self._commit(page, self._patches(page), positions, watermark, plan_of(self.state, self.run_id, page))
                self.pages.pop(0)
        return "bulk" if bulk else "rest"

    # -- the REST path: a page at a time, as commit_page writes it ------------------------------
    def _commit(self, page: int, patches: list[Patch], positions: dict[str, int], watermark: str | None,
                plan: PagePlan) -> None:
        written, failed = commit_page(self.state, self.backend, self.object, self.run_id, page, patches, positions,
                                      watermark, plan.rechecks, settled=plan.settled, journalled=True,
                                      seconds=self.seconds)
        self.done(page, plan.records, len(patches), written, failed)

    # -- the Bulk path: the whole run in ingest jobs, then every page finished in order ---------
    def _bulk(self) -> None:
        db = self.state.db
        db.execute("CREATE TEMP TABLE IF NOT EXISTS spool_outcome (record_id TEXT PRIMARY KEY, ok INTEGER, "
                   "code TEXT, message TEXT)")
        db.execute("DELETE FROM temp.spool_outcome")
        started = time.perf_counter()
        jobs = self.backend.write_many(self.object, sorted(self.columns), self._rows(),  # type: ignore[attr-defined]
                                       self._record)
        self._time("write", started)
        log.info("bulk_written", object=self.object, jobs=jobs, changes=self.changes)
        while self.pages:
            page = self.pages[0]
            started = time.perf_counter()
            written: list[str] = []
            failed: dict[str, tuple[str, str]] = {}
            kept: dict[str, Patch] = {}
            rows = db.execute("SELECT c.record_id, c.fields, c.rules, o.ok, o.code, o.message FROM changes c "
                              "LEFT JOIN temp.spool_outcome o ON o.record_id = c.record_id "
                              "WHERE c.run_id=? AND c.page=? ORDER BY c.rowid", (self.run_id, page)).fetchall()
            for rid, fields, rules, ok, code, message in rows:
                if ok:
                    written.append(rid)
                    continue
                failed[rid] = (code, message) if ok is not None else NOT_IN_RESULTS
                kept[rid] = _patch(self.object, rid, fields, rules)
            positions, watermark = self._page(page)
            plan = plan_of(self.state, self.run_id, page)
            self.state.finish_page(self.object, self.run_id, page, written + plan.settled, failed, positions,
                                   watermark, plan.rechecks, kept)
            self._time("journal", started)
            self.pages.pop(0)
            self.done(page, plan.records, len(rows), written, failed)
        db.execute("DELETE FROM temp.spool_outcome")

    def _rows(self) -> Iterator[tuple[str, dict]]:
        """The spooled changes, read from the journal a page at a time (no cursor stays open while
        a job runs and its results are recorded)."""
        for page in list(self.pages):
            rows = self.state.db.execute("SELECT record_id, fields FROM changes WHERE run_id=? AND page=? "
                                         "ORDER BY rowid", (self.run_id, page)).fetchall()
            for rid, fields in rows:
                yield rid, {k: new for k, (_, new) in json.loads(fields).items()}

    def _record(self, results: list[WriteResult]) -> None:
        with self.state.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO temp.spool_outcome VALUES (?, ?, ?, ?)",
                           [(r.id, int(r.ok), r.code, r.message) for r in results])

    # -- the journal ------------------------------------------------------------------------------
    def _page(self, page: int) -> tuple[dict[str, int], str | None]:
        positions, watermark = self.state.db.execute("SELECT positions, watermark FROM pages WHERE run_id=? AND "
                                                     "page=?", (self.run_id, page)).fetchone()
        return json.loads(positions), watermark

    def _patches(self, page: int) -> list[Patch]:
        rows = self.state.db.execute("SELECT record_id, fields, rules FROM changes WHERE run_id=? AND page=? "
                                     "ORDER BY rowid", (self.run_id, page)).fetchall()
        return [_patch(self.object, rid, fields, rules) for rid, fields, rules in rows]

    def _time(self, what: str, started: float) -> None:
        self.seconds[what] = self.seconds.get(what, 0.0) + time.perf_counter() - started


def _patch(object: str, rid: str, fields: str, rules: str | None) -> Patch:
    """A journalled change as the patch that was planned: each field's new value, and the old."""
    changes = json.loads(fields)
    return Patch(object, rid, {k: new for k, (_, new) in changes.items()},
                 {k: old for k, (old, _) in changes.items()}, rules or "")
