"""A command that writes an org: a sync run or a revert, with the org opened, its state file
chosen and the one-writer lock held around them."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import structlog

from rules.model import Problem, RevsyncError

from connector.context import OrgContext
from connector.orgs.spec import LEGACY_SALESFORCE_STATE, OrgSpec, state_dir, state_path
from connector.sync.digest import RunDigest, digest, planned_digest, save_names
from connector.sync.journal import State, StateCache, adopt_state, check_file
from connector.sync.options import SyncOptions, SyncReport
from connector.sync.preflight import preflight
from connector.sync.quiet import fold
from connector.sync.revert import RevertReport, revert, written_records
from connector.sync.run import SyncRun
from connector.workspace.lock import org_lock
from connector.workspace.settings import Settings
from connector.workspace.workspace import Workspace

log = structlog.get_logger()
# A progress display: a context manager yielding the callback told of each page written, with
# the run's report so far.
Progress = Callable[[], ContextManager[Callable[[int, SyncReport], None]]]


@contextlib.contextmanager
def writing(spec: OrgSpec, state: Path) -> Iterator[None]:
    """The lock of a command that writes the org and its state. A state file that is not
    revsync's is refused (exit 2) first: the lock file would be created beside it."""
    check_file(state, writable=True)
    with org_lock(spec, state):
        yield


def sync_once(spec: OrgSpec, ws: Workspace | None, state_file: Path | None, settings: Settings, now: datetime, *,
              dry_run: bool, progress: Progress, on_problems: Callable[[list[Problem]], None],
              **flags: Any) -> Synced:
    """One sync run; `flags` are the rest of SyncOptions (full, reroute, engine, ...). `ws` is
    None when the rules no longer validate (`sync --every` reads them again before each run)."""
    if ws is None:
        raise RevsyncError("the rules do not validate; this run did nothing (see the problems above)")
    org = spec.open(salesforce=settings.salesforce)
    if hasattr(org, "known_orgs"):  # an access token names no org: remembered beside the states
        from connector.orgs.salesforce_identity import KNOWN_ORGS, KnownOrgs
        org.known_orgs = KnownOrgs(state_dir(settings.state_dir) / KNOWN_ORGS, save=not dry_run)
    org_id = getattr(org, "org_id", None)  # Salesforce: from the login, or remembered; else userinfo once
    path = state_path(spec, state_file, org_id, settings.state_dir)
    # A dry run writes nothing, state included: it takes no lock and reads a copy in memory.
    with contextlib.nullcontext() if dry_run else writing(spec, path):
        if org_id and state_file is None and not dry_run:
            adopt_state(path.with_name(LEGACY_SALESFORCE_STATE), path, org_id, getattr(org, "instance_url", ""))
        # An existing state holds the org's describes: a quiet run does not describe it again.
        state = State.for_reading(path) if dry_run else State(path) if path.exists() else None
        if state is not None and org_id:
            state.claim_org(org_id, getattr(org, "instance_url", ""))  # before it is read or written
        if state is not None and hasattr(org, "metadata_cache"):
            org.metadata_cache = StateCache(state)
        context = OrgContext.of(org, ws)  # users and queues, read once for preflight and the run
        # A dry run checks too: it must not promise writes the real run would refuse.
        problems = [p for p in preflight(org, ws.mapping, ws.ruleset, context) if p.severity.value == "error"]
        if problems:
            on_problems(problems)
            raise RevsyncError("the org is missing what revsync writes, or users and queues the rules name; "
                               "nothing was written. `revsync doctor` lists what to create.")
        if state is None:
            state = State(path)
            if hasattr(org, "metadata_cache"):
                org.metadata_cache = StateCache(state)
        opts = SyncOptions(object=ws.object, now=now, dry_run=dry_run, page_size=settings.page_size, **flags)
        with progress() as advance:
            run = SyncRun(org, ws, state, opts, on_page=lambda page: advance(page, run.report), context=context,
                          pilots=settings.pilots if ws.object == "Lead" else ())
            report = run.run()
        folded = fold(state, report)
        if folded is not None:
            log.info("run_folded", object=ws.object, into=folded, note="nothing changed; counted with that run")
            report.run_id = None
        return Synced(report, _digest(state, report, ws, context), folded)


@dataclass(frozen=True)
class Synced:
    """A sync's report, and the digest of what it wrote with owners by name (None for a dry run
    or a run that wrote nothing)."""
    report: SyncReport
    digest: RunDigest | None
    folded_into: int | None = None  # a quiet run counted with the quiet run before it (connector/sync/quiet.py)


def _digest(state: State, report: SyncReport, ws: Workspace, context: OrgContext) -> RunDigest | None:
    run_id = report.run_id
    if report.dry_run and report.changed:
        return planned_digest(report, {o.name: o.crm for o in ws.mapping.outputs}, context.names())
    if run_id is None or not report.changed:
        return None
    names = context.names()  # the users and queues this run has read: no further org call
    save_names(state, names)
    return digest(state, run_id, {o.name: o.crm for o in ws.mapping.outputs}, names)


def revert_run(spec: OrgSpec, state_file: Path | None, settings: Settings, run_id: int, *, dry_run: bool = False,
               confirm: Callable[[int], None] | None = None) -> RevertReport:
    """Revert run `run_id`. A dry run reads the records and writes nothing: no lock, no run
    journalled. `confirm(records)` is called before the lock is taken (a person may take their
    time to answer) with the number of records the run wrote; it raises to stop."""
    path = state_path(spec, state_file, directory=settings.state_dir)
    if not path.exists():
        raise RevsyncError(f"no runs recorded in {path} (use the same --org as the sync, or pass --state)")
    if dry_run:
        return revert(spec.open(salesforce=settings.salesforce), State(path), run_id, dry_run=True)
    state = State(path)
    if confirm is not None:
        confirm(written_records(state, run_id))
    with writing(spec, path):
        return revert(spec.open(salesforce=settings.salesforce), state, run_id)
