"""One sync run: pull -> map -> evaluate -> diff -> write -> checkpoint, page by page."""
from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field

from typing import Any, Callable, Iterator

import structlog

from mappings.outbound import Directory, Outbound, UnknownOwner
from rules.evaluate import Context, Evaluator
from rules.model import Decision
from rules.values import format_instant, parse_instant

from connector.orgs.base import BudgetExhausted, Backend, Patch
from connector.sync.journal import State
from connector.sync.options import GuardTripped, SyncOptions, SyncReport  # re-exported: cli and tests import them here
from connector.workspace.workspace import Workspace

log = structlog.get_logger()

CLOSED_FLAG = {"Lead": "IsConverted", "Opportunity": "IsClosed"}  # closed records are left alone
USER_FIELDS = ["Username", "Email", "Name", "IsActive", "ManagerId"]


@dataclass
class _Planned:
    patches: list[Patch]
    rechecks: dict[str, str | None]
    watermark: str | None
    moved: int = 0
    decided_before: int = 0
    skipped: list[str] = field(default_factory=list)  # Ids skipped on this page (reported)


class SyncRun:
    def __init__(self, backend: Backend, ws: Workspace, state: State, opts: SyncOptions,
                 on_page: Callable[[int], None] | None = None):
        self.backend, self.ws, self.state, self.opts = backend, ws, state, opts
        self.mapping = ws.mapping
        self.evaluator = Evaluator(ws.ruleset, opts.engine)
        self.report = SyncReport(opts.object, dry_run=opts.dry_run, evaluated_at=format_instant(opts.now))
        self.outputs = {o.name: (o.crm, o.max_length) for o in self.mapping.outputs}
        self.fields = self.mapping.crm_fields()
        self.on_page = on_page or (lambda n: None)
        self.fingerprint = ws.ruleset.fingerprint + ":" + getattr(self.mapping, "fingerprint", "")

    def _ensure_context(self, ctx: Context) -> None:
        """Users, queues and accounts are read once, and only when a record needs them: an
        incremental run with nothing new costs the object's query and nothing else."""
        if not hasattr(self, "directory"):
            self._load_context()
        ctx.inactive = self.directory.inactive()
        ctx.owner_id = self.outbound.written_id

    # -- context read once per run ----------------------------------------------------------
    def _load_context(self) -> None:
        t = time.perf_counter()
        users = self._read_users()
        queues = [g for g in self.backend.read_all("Group", ["Name", "DeveloperName", "Type"])
                  if g.get("Type") in (None, "Queue")]
        self.users = {u["Id"]: u for u in users}
        self.directory = Directory(users, queues)
        self.outbound = Outbound(self.ws.ruleset, self.outputs, self.directory)
        self.matcher = None
        self.accounts: dict[str, dict] = {}
        account = next((r for r in self.mapping.related if r.name == "account"), None)
        if account is not None:
            fields = [f.crm for f in account.fields if f.crm]
            accounts = list(self.backend.read_all("Account", fields))
            self.accounts = {a["Id"]: a for a in accounts}
            if account.match is not None:
                from mappings import AccountMatcher
                self.matcher = AccountMatcher(self.mapping, accounts)
        self.account_lookup = account.lookup if account is not None else None
        self.report.seconds["context"] += time.perf_counter() - t

    def _rule_record(self, crm: dict) -> dict:
        rec = self.mapping.inbound(crm)
        related: dict[str, dict] = {}
        owner = self.users.get(crm.get("OwnerId") or "")
        if owner is not None:
            related["owner"] = owner
        if self.matcher is not None:
            acct = self.matcher.match(rec)
        elif self.account_lookup:
            acct = self.accounts.get(rec.get(self.account_lookup) or "")
        else:
            acct = None
        if acct is not None:
            related["account"] = acct
        if related:
            rec.update(self.mapping.inbound_related(crm, related))
        return rec

    # -- sources ------------------------------------------------------------------------------------
    def _pages(self) -> Iterator[list[dict]]:
        obj, size = self.opts.object, self.opts.page_size
        watermark, fingerprint = self.state.watermark(obj)
        full = self.opts.full or fingerprint != self.fingerprint
        if full and fingerprint is not None and fingerprint != self.fingerprint:
            log.info("rules_changed", object=obj, note="re-evaluating every open record")
        since = None
        if watermark and not full:
            overlap = self.backend.late_commits if self.opts.overlap is None else self.opts.overlap
            since = parse_instant(watermark) - overlap
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
                yield page
        ids = list(extra)
        for start in range(0, len(ids), size):
            page = self.backend.read_ids(obj, self.fields, ids[start:start + size])
            if page:
                yield page

    def _read_users(self) -> list[dict]:
        """The org's users, read once per run: for who left, and for the run's context."""
        if not hasattr(self, "_users_read"):
            self._users_read = list(self.backend.read_all("User", USER_FIELDS))
        return self._users_read

    def _left_owners_records(self) -> list[str]:
        """Open records of users who became inactive since the last run: deactivating a user
        changes none of their records, so without this they would keep an owner who left
        until something else touched them."""
        obj = self.opts.object
        inactive = {u["Id"] for u in self._read_users() if u.get("IsActive") in (False, "false", 0)}
        self._inactive_now = inactive
        known = self.state.inactive_owners(obj) or set()
        left = sorted(inactive - known)
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

    # -- one page ----------------------------------------------------------------------------------
    def _plan(self, page: list[dict], ctx: Context) -> tuple[_Planned, list[Decision]]:
        t = time.perf_counter()
        closed = CLOSED_FLAG.get(self.opts.object)
        planned = _Planned([], {}, max((c.get("SystemModstamp") or "" for c in page), default=None))
        records, crms = [], []
        for crm in page:
            if closed and crm.get(closed) in (True, "true", 1):
                continue
            try:
                records.append(self._rule_record(crm))
                crms.append(crm)
            except Exception as exc:  # noqa: BLE001 - one record the mapping cannot read is skipped
                self._skip(planned, crm.get("Id", "?"), f"cannot map record: {_why(exc)}")
        self.report.read += len(page)
        self.report.seconds["map"] += time.perf_counter() - t
        t = time.perf_counter()
        # A record whose evaluation raises comes back undecided, with the reason as its problem.
        decisions, rows = self.evaluator.evaluate_with_facts(records, ctx)
        self.report.evaluated += len(decisions)
        self.report.seconds["evaluate"] += time.perf_counter() - t
        t = time.perf_counter()
        stage_field = self.outputs.get("stage", (None,))[0]
        owner_field = self.outputs.get("owner", (None,))[0]
        for crm, d, v in zip(crms, decisions, rows):
            rid = crm["Id"]
            if d.problems:
                self._skip(planned, rid, "; ".join(d.problems))
                continue
            try:
                owner_id = crm.get("OwnerId")
                if owner_id and self.directory.users and owner_id not in self.users and \
                        str(owner_id)[:15].casefold() not in self.directory.queues:
                    self._skip(planned, rid, f"unknown owner id {owner_id}")
                    continue
                changes = self.outbound.changes(d, crm)
                due = self.evaluator.next_change_at(d, v, self.opts.now)
                recheck = format_instant(due) if due is not None else None
                citation = d.citation()[:2000] if changes else ""
            except UnknownOwner as exc:
                self._skip(planned, rid, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - a record that cannot be diffed is skipped, not its page
                self._skip(planned, rid, f"cannot plan its changes: {_why(exc)}")
                continue
            planned.rechecks[rid] = recheck
            if crm.get(stage_field) not in (None, ""):
                planned.decided_before += 1
                if (stage_field in changes) or (owner_field in changes and d.matched.get("route")):
                    planned.moved += 1
            if not changes:
                continue
            old = {k: crm.get(k) for k in changes}
            self.report.lifecycle.update(k for k, hit in (("handoffs", d.handoff_from), ("SLA_clocks_started",
                                         d.clock_started), ("escalated", d.escalated)) if hit)
            planned.patches.append(Patch(self.opts.object, rid, changes, old, citation))
            self.report.fields.update(changes.keys())
        self.report.changed += len(planned.patches)
        self.report.seconds["diff"] += time.perf_counter() - t
        return planned, decisions

    def _skip(self, planned: _Planned, rid: str, why: str) -> None:
        """Report a record and leave it until it changes: its re-check time is cleared and it
        leaves the retry queue (see _commit_page), so a record that cannot be decided is read
        again when someone edits it, not on every run."""
        self.report.skipped.append((rid, why))
        planned.rechecks[rid] = None
        planned.skipped.append(rid)

    # -- the run ------------------------------------------------------------------------------------
    def run(self) -> SyncReport:
        obj = self.opts.object
        start = time.perf_counter()
        if not self.opts.dry_run:
            self.report.recovered = self._recover()
            self.state.close_stale_runs(obj)  # killed between pages: nothing to finish, only to say so
        positions = self.state.positions(obj)
        ctx = Context(now=self.opts.now, positions=dict(positions), reroute=self.opts.reroute)
        _, fingerprint = self.state.watermark(obj)
        if not (self.opts.accept_changes or self.opts.dry_run) and \
                (fingerprint not in (None, self.fingerprint) or self.opts.reroute):
            self._ensure_context(ctx)
            try:
                self._guard(Context(now=self.opts.now, positions=dict(positions), inactive=self.directory.inactive(),
                                    reroute=self.opts.reroute, owner_id=self.outbound.written_id))
            except GuardTripped as exc:
                # Listed with the runs, so whoever reads `revsync runs` sees why nothing changed.
                stopped = self.state.start_run(obj, self.backend.name, False, self.fingerprint)
                self.state.finish_run(stopped, "guarded", {"read": 0, "written": 0, "moved": exc.moved,
                                                           "decided": exc.decided})
                raise
        run_id = None if self.opts.dry_run else self.state.start_run(
            obj, self.backend.name, False, self.fingerprint)
        self.report.run_id = run_id
        page_no = moved = decided = 0
        try:
            for page in self._pages():
                page_no += 1
                self._ensure_context(ctx)
                planned, _ = self._plan(page, ctx)
                if self.opts.dry_run:
                    self.report.would_write += len(planned.patches)
                    moved, decided = moved + planned.moved, decided + planned.decided_before
                    continue
                written_before, failed_before = self.report.written, self.report.failed
                self._commit_page(run_id, page_no, planned, dict(ctx.positions))
                if self.opts.fault == f"kill-after-page:{page_no}":
                    os.kill(os.getpid(), signal.SIGKILL)  # a whole page written and checkpointed
                self.on_page(page_no)
                log.info("page_done", object=obj, page=page_no, records=len(page), changed=len(planned.patches),
                         written=self.report.written - written_before, failed=self.report.failed - failed_before,
                         written_total=self.report.written, failed_total=self.report.failed)
            if not self.opts.dry_run:
                self.state.set_rules_fingerprint(obj, self.fingerprint)
                self.state.set_inactive_owners(obj, self._inactive_now)
            elif (fingerprint not in (None, self.fingerprint) or self.opts.reroute) and not self.opts.accept_changes \
                    and decided and moved / decided > self.opts.max_change_share:
                self.report.guard = (f"it would move the stage or owner of {moved} of {decided} already-decided "
                                     f"records ({moved / decided:.0%}, above {self.opts.max_change_share:.0%}); "
                                     f"run with --accept-changes to proceed")
            self.report.status = "partial" if self.report.failed or self.report.skipped else "ok"
        except BaseException as exc:
            self.report.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else \
                "paused" if isinstance(exc, BudgetExhausted) else "failed"
            raise
        finally:
            self.report.seconds["total"] = time.perf_counter() - start
            self.report.api_calls = getattr(self.backend, "calls", None)
            if run_id is not None:
                self.state.finish_run(run_id, self.report.status, self.report.asdict())
        log.info("run_done", **self.report.asdict())
        return self.report

    def _commit_page(self, run_id: int, page_no: int, planned: _Planned, positions: dict) -> None:
        t = time.perf_counter()
        self.state.begin_page(run_id, page_no, planned.patches, positions, planned.watermark)
        self.report.seconds["journal"] += time.perf_counter() - t
        t = time.perf_counter()
        results = self.backend.write(planned.patches) if planned.patches else []
        self.report.seconds["write"] += time.perf_counter() - t
        if self.opts.fault == f"kill-after-write:{page_no}":
            os.kill(os.getpid(), signal.SIGKILL)  # the writes landed; the checkpoint did not
        written = [r.id for r in results if r.ok]
        failed = {r.id: (r.code, r.message) for r in results if not r.ok}
        for rid, (code, message) in failed.items():
            log.warning("write_failed", object=self.opts.object, id=rid, code=code, message=message)
        self.report.written += len(written)
        self.report.failed += len(failed)
        t = time.perf_counter()
        # finish_page clears the retry entries of the Ids it is given as written; skipped records
        # leave the queue too, to be read again when they change (not on every run).
        self.state.finish_page(self.opts.object, run_id, page_no, written + planned.skipped, failed, positions,
                               planned.watermark, planned.rechecks)
        self.report.seconds["journal"] += time.perf_counter() - t

    def _recover(self) -> int:
        """Finish a page a killed run had journalled but not marked done."""
        pending = self.state.pending_page(self.opts.object)
        count = 0
        while pending is not None:
            run_id, page_no, positions, watermark = pending
            changes = self.state.page_changes(run_id, page_no)
            by_id: dict[str, dict[str, tuple[Any, Any]]] = {}
            for c in changes:
                by_id.setdefault(c.record_id, {})[c.field] = (c.old, c.new)
            current = {r["Id"]: r for r in self.backend.read_ids(self.opts.object, self.fields, list(by_id))}
            patches = []
            for rid, fields in by_id.items():
                now_values = current.get(rid, {})
                todo = {f: new for f, (old, new) in fields.items()
                        if not _same(now_values.get(f), new) and _same(now_values.get(f), old)}
                if todo:
                    patches.append(Patch(self.opts.object, rid, todo))
            results = self.backend.write(patches) if patches else []
            failed = {r.id: (r.code, r.message) for r in results if not r.ok}
            written = [rid for rid in by_id if rid not in failed]
            self.state.finish_page(self.opts.object, run_id, page_no, written, failed, positions, watermark, {})
            self.state.finish_run(run_id, "interrupted", self.state.run(run_id).counts)
            log.info("page_recovered", run=run_id, page=page_no, rewritten=len(patches))
            count += len(patches)
            pending = self.state.pending_page(self.opts.object)
        return count

    def _guard(self, ctx: Context) -> None:
        """Before a run whose rules changed: would it move too many already-decided records?"""
        moved = decided = 0
        dry = SyncRun(self.backend, self.ws, self.state, SyncOptions(**{**self.opts.__dict__, "dry_run": True}))
        dry.users, dry.directory, dry.matcher = self.users, self.directory, self.matcher
        dry.outbound = self.outbound
        dry.accounts, dry.account_lookup = self.accounts, self.account_lookup
        for page in dry._pages():
            planned, _ = dry._plan(page, ctx)
            moved += planned.moved
            decided += planned.decided_before
        share = moved / decided if decided else 0.0
        log.info("guard_checked", object=self.opts.object, moved=moved, decided=decided, share=round(share, 4))
        if decided and share > self.opts.max_change_share:
            raise GuardTripped(
                f"the rules would change the stage or owner of {moved} of {decided} already-decided "
                f"{self.opts.object} records ({share:.0%}, above the {self.opts.max_change_share:.0%} limit). "
                f"Look with `revsync preview`, or run again with --accept-changes to proceed.", moved, decided)


def _why(exc: Exception) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text if len(text) <= 200 else text[:200] + '...'}"


def _same(current: Any, value: Any) -> bool:
    from mappings.outbound import same_value
    return same_value(current, value)
