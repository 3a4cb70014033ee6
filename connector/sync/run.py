"""One sync run: pull -> plan (map, evaluate, diff) -> journal -> write -> checkpoint, page by page
(spooled until the read is over where the run's size picks REST or Bulk: spool.py), with recovery
of a killed run first and the change guard before rules that changed."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import structlog

from rules.evaluate import Context, Evaluator
from rules.values import format_instant, parse_instant

from connector.context import CLOSED_FLAG, OrgContext
from connector.orgs.base import Backend, BudgetExhausted, Patch
from connector.sync.journal import State, commit_page
from connector.sync.options import GuardTripped, SyncOptions, SyncReport  # re-exported: cli and tests import them here
from connector.sync.pilots import SyncPilots
from connector.sync.plan import Planner
from connector.sync.spool import Spool, plan_of
from connector.sync.workload import given_since
from connector.workspace.settings import Pilot
from connector.workspace.workspace import Workspace

__all__ = ["GuardTripped", "SyncOptions", "SyncReport", "SyncRun"]

log = structlog.get_logger()


class SyncRun:
    def __init__(self, backend: Backend, ws: Workspace, state: State, opts: SyncOptions,
                 on_page: Callable[[int], None] | None = None, context: OrgContext | None = None,
                 pilots: tuple[Pilot, ...] = ()):
        self.backend, self.ws, self.state, self.opts = backend, ws, state, opts
        self.evaluator = Evaluator(ws.ruleset, opts.engine)
        self.report = SyncReport(opts.object, dry_run=opts.dry_run, evaluated_at=format_instant(opts.now))
        self.fields = ws.mapping.crm_fields()
        self.on_page = on_page or (lambda n: None)
        self.pilot_specs = pilots
        self.pilots = SyncPilots(ws, pilots, opts.now, opts.engine)
        if self.pilots:
            self.pilots.check_fields(backend.describe(opts.object), opts.object)
            self.fields = self.fields + [f for f in self.pilots.fields() if f not in self.fields]
        self.fingerprint = ws.ruleset.fingerprint + ":" + getattr(ws.mapping, "fingerprint", "") \
            + self.pilots.fingerprint()
        self._org: OrgContext | None = context  # a preflight's, so users and queues are read once
        self._planner: Planner | None = None
        self.read_until: str | None = None  # the upper bound of this run's read, once it is known
        self._finished = 0  # pages written and checkpointed this run

    # -- the org, read once per run -----------------------------------------------------------------
    @property
    def org(self) -> OrgContext:
        if self._org is None:
            self._org = OrgContext.of(self.backend, self.ws)
            self.report.seconds["context"] += self._org.seconds
        return self._org

    def planner(self) -> Planner:
        if self._planner is None:
            retries = {} if self.opts.dry_run else self.state.retry_patches(self.opts.object)
            self._planner = Planner(self.ws, self.org, self.evaluator, self.report, self.opts.object,
                                    self.opts.now, retries, self.pilots)
        return self._planner

    # -- sources ------------------------------------------------------------------------------------
    def _pages(self) -> Iterator[tuple[list[dict], str | None]]:
        """Pages with the watermark each one reaches: the changed records' pages in stamp order,
        then the records due a retry or a re-check, which move no watermark (one edited after
        the read began would otherwise carry it past changes not read yet)."""
        obj, size = self.opts.object, self.opts.page_size
        watermark, fingerprint = self.state.watermark(obj)
        full = self.opts.full or fingerprint != self.fingerprint
        if full and fingerprint is not None and fingerprint != self.fingerprint:
            log.info("rules_changed", object=obj, note="re-evaluating every open record")
        since: datetime | None = None
        if watermark and not full:
            overlap = self.backend.late_commits if self.opts.overlap is None else self.opts.overlap
            stamp = parse_instant(watermark)
            since = stamp - overlap if stamp is not None else None
        # Records due a retry or a recheck are read after the changed ones, unless already read.
        # Only they are remembered: memory must not grow with the org.
        extra = dict.fromkeys(self.state.retry_ids(obj) + self.state.due_rechecks(obj, self.opts.now)
                              + self._left_owners_records())
        # Backends read the records as they stand when the read starts (a query cursor), so
        # the run's own writes and later edits do not come back until the next run.
        for page in self._timed(self.backend.changed_since(obj, self.fields, since, size)):
            for r in page:
                extra.pop(r["Id"], None)
            if page:
                yield page, _newest(page)
        self.read_until = _read_until(self.backend)
        ids = list(extra)
        for start in range(0, len(ids), size):
            page = self.backend.read_ids(obj, self.fields, ids[start:start + size])
            if page:
                yield page, None

    def _left_owners_records(self) -> list[str]:
        """Open records of users who became inactive since the last run: deactivating a user
        changes none of their records, so without this they would keep an owner who left
        until something else touched them."""
        obj = self.opts.object
        known = self.state.inactive_owners(obj) or set()
        left = sorted(self.org.inactive_ids - known)
        if not left:
            return []
        ids = self.backend.owned_ids(obj, left, CLOSED_FLAG.get(obj))
        log.info("owners_left", object=obj, users=len(left), records=len(ids))
        return ids

    def _timed(self, pages: Iterator[list[dict]]) -> Iterator[list[dict]]:
        while True:
            t = time.perf_counter()
            page = next(pages, None)
            self.report.seconds["read"] += time.perf_counter() - t
            if page is None:
                return
            yield page

    # -- the run ------------------------------------------------------------------------------------
    def run(self) -> SyncReport:
        obj = self.opts.object
        start = time.perf_counter()
        self.read_until = None
        org_id = getattr(self.backend, "org_id", None)
        if org_id:
            self.state.claim_org(org_id, getattr(self.backend, "instance_url", "") or "")
        if not self.opts.dry_run:
            self.report.recovered = self._recover()
            self.state.close_stale_runs(obj)  # killed between pages: nothing to finish, only to say so
        positions = self.state.positions(obj)
        watermark_before, fingerprint = self.state.watermark(obj)
        changed_rules = fingerprint not in (None, self.fingerprint) or self.opts.reroute
        if changed_rules and not (self.opts.accept_changes or self.opts.dry_run):
            self._guard(dict(positions))
        run_id = None if self.opts.dry_run else self.state.start_run(
            obj, self.backend.name, False, self.fingerprint, format_instant(self.opts.now))
        self.report.run_id = run_id
        page_no = moved = decided = self._finished = 0
        ctx: Context | None = None
        spool = None if run_id is None else Spool(self.state, self.backend, obj, run_id, self._page_done,
                                                  self.report.seconds)
        try:
            for page, watermark in self._pages():
                page_no += 1
                if ctx is None:
                    given = given_since(self.state, obj, self.planner().owner_field, run_id)
                    ctx = self.planner().context(dict(positions), self.opts.reroute, given)
                planned = self.planner().plan(page, ctx)
                if self.opts.dry_run:
                    self.report.would_write += len(planned.patches)
                    moved, decided = moved + planned.moved, decided + planned.decided_before
                    continue
                decided += planned.decided_before
                assert spool is not None  # a run that writes was started
                # Between pages, before journalling the next: a paused run leaves no page half
                # done, only pages journalled and spooled, which the next run writes first.
                _check_budget(self.backend)
                spool.add(page_no, planned, dict(ctx.positions), watermark, len(page))
            if spool is not None:
                spool.flush()  # where pages were spooled: the run's size picks REST or Bulk
            if watermark_before is None and decided:
                # A new state on an org whose records already hold revsync's decisions: another
                # machine or directory syncs it too, or an earlier state was lost.
                self.report.notes.append(
                    f"{decided} {obj} records already hold revsync's decisions, but this state ({self.state.path}) "
                    f"had never synced them: another state file syncs this org (another machine or directory?), "
                    f"or an earlier one was lost. Keep one state per org (see docs/operations.md)")
                log.warning("org_synced_by_another_state", object=obj, records=decided, state=str(self.state.path))
            if not self.opts.dry_run:
                if self.read_until is not None:
                    self.state.set_watermark(obj, self.read_until)
                self.state.set_rules_fingerprint(obj, self.fingerprint)
                self.state.set_inactive_owners(obj, self.org.inactive_ids)
            elif changed_rules and not self.opts.accept_changes and decided and \
                    moved / decided > self.opts.max_change_share:
                self.report.guard = (f"it would move the stage or owner of {moved} of {decided} already-decided "
                                     f"records ({moved / decided:.0%}, above {self.opts.max_change_share:.0%}); "
                                     f"run with --accept-changes to proceed")
            self.report.status = "partial" if self.report.failed or self.report.skipped else "ok"
        except BudgetExhausted as exc:
            self.report.status = "paused"
            calls = getattr(self.backend, "calls", None)
            made = f", {calls} API call(s) made" if calls is not None else ""
            held = f" ({spool.pending} page(s) journalled, written by the next run)" if spool and spool.pending else ""
            raise BudgetExhausted(f"api budget after {self._finished} page(s), {self.report.written} record(s) "
                                  f"written{held}{made}; {getattr(exc, 'detail', exc)}") from None
        except BaseException as exc:
            self.report.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            raise
        finally:
            self.report.seconds["total"] = time.perf_counter() - start
            self.report.api_calls = getattr(self.backend, "calls", None)
            if run_id is not None:
                self.state.finish_run(run_id, self.report.status, self.report.asdict())
        log.info("run_done", **self.report.asdict())
        return self.report

    def _page_done(self, page_no: int, records: int, changed: int, written: list[str],
                   failed: dict[str, tuple[str, str]]) -> None:
        """A page written and checkpointed (spool.py calls this, in page order)."""
        self._finished += 1
        self.report.written += len(written)
        self.report.failed += len(failed)
        for rid, (code, message) in failed.items():
            log.warning("write_failed", object=self.opts.object, id=rid, code=code, message=message)
        self.on_page(page_no)
        log.info("page_done", object=self.opts.object, page=page_no, records=records, changed=changed,
                 written=len(written), failed=len(failed), written_total=self.report.written,
                 failed_total=self.report.failed)

    def _recover(self) -> int:
        """Finish a page a killed run had journalled but not marked done: write what the record
        does not hold yet, unless someone changed it since."""
        from mappings.outbound import same_value
        pending = self.state.pending_page(self.opts.object)
        count = 0
        while pending is not None:
            run_id, page_no, positions, watermark = pending
            by_id: dict[str, dict[str, tuple[Any, Any]]] = {}
            for c in self.state.page_changes(run_id, page_no):
                by_id.setdefault(c.record_id, {})[c.field] = (c.old, c.new)
            current = {r["Id"]: r for r in self.backend.read_ids(self.opts.object, self.fields, list(by_id))}
            patches = []
            for rid, fields in by_id.items():
                now_values = current.get(rid, {})
                todo = {f: new for f, (old, new) in fields.items()
                        if not same_value(now_values.get(f), new) and same_value(now_values.get(f), old)}
                if todo:
                    patches.append(Patch(self.opts.object, rid, todo))
            patched = {p.id for p in patches}
            plan = plan_of(self.state, run_id, page_no)  # finished as planned: re-check times, skipped Ids
            commit_page(self.state, self.backend, self.opts.object, run_id, page_no, patches, positions, watermark,
                        plan.rechecks, settled=[*plan.settled, *(rid for rid in by_id if rid not in patched)],
                        journalled=True)
            recovered = self.state.run(run_id)
            if recovered is None or recovered.status == "running":  # killed; a paused run stays paused
                self.state.finish_run(run_id, "interrupted", recovered.counts if recovered is not None else {})
            log.info("page_recovered", run=run_id, page=page_no, rewritten=len(patches))
            count += len(patches)
            pending = self.state.pending_page(self.opts.object)
        return count

    def _guard(self, positions: dict[str, int]) -> None:
        """Before a run whose rules changed: would it move too many already-decided records?
        Planned as a dry run over the same org context, with a report of its own."""
        dry = SyncRun(self.backend, self.ws, self.state, SyncOptions(**{**self.opts.__dict__, "dry_run": True}),
                      pilots=self.pilot_specs)
        dry._org = self.org
        planner = dry.planner()
        ctx = planner.context(positions, self.opts.reroute)
        moved = decided = 0
        for page, _ in dry._pages():
            planned = planner.plan(page, ctx)
            moved += planned.moved
            decided += planned.decided_before
        share = moved / decided if decided else 0.0
        log.info("guard_checked", object=self.opts.object, moved=moved, decided=decided, share=round(share, 4))
        if decided and share > self.opts.max_change_share:
            # Listed with the runs, so whoever reads `revsync runs` sees why nothing changed.
            stopped = self.state.start_run(self.opts.object, self.backend.name, False, self.fingerprint)
            self.state.finish_run(stopped, "guarded", {"read": 0, "written": 0, "moved": moved, "decided": decided})
            raise GuardTripped(
                f"the rules would change the stage or owner of {moved} of {decided} already-decided "
                f"{self.opts.object} records ({share:.0%}, above the {self.opts.max_change_share:.0%} limit). "
                f"Look with `revsync preview`, or run again with --accept-changes to proceed.", moved, decided)


def _newest(page: list[dict]) -> str | None:
    return max((c.get("SystemModstamp") or "" for c in page), default=None) or None


def _read_until(backend: Backend) -> str | None:
    """The upper bound of the read that just finished, where the backend says: the next read
    starts there (less the overlap) rather than at the newest stamp seen, so a quiet org is not
    read again and again from the last burst of writes."""
    until = getattr(backend, "last_read_until", None)
    if until is None or isinstance(until, str):
        return until
    # As SystemModstamp is written: watermarks are compared as text.
    return until.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:23] + "+0000"


def _check_budget(backend: Backend) -> None:
    check = getattr(backend, "check_budget", None)
    if check is not None:
        check()
