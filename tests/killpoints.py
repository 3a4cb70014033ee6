"""Run the revsync CLI with a SIGKILL at a named point of a sync, for the kill/resume tests:
`python -m tests.killpoints ARGS...` with REVSYNC_KILL_AT=POINT:N kills the process the N-th time
the run reaches POINT. The points wrap the state's page protocol and the spool
(connector/sync/spool.py) from outside, so production code carries no test hooks:

    before-journal  a page planned, nothing journalled or written
    after-journal   the page journalled as pending, nothing written
    after-spool     the read over and every page journalled; where pages are spooled (Salesforce)
                    none of them written yet, elsewhere all written (N is not counted)
    mid-write       the first half of the page's patches written, the rest not; on the Bulk path,
                    where one job writes every page, the first half of the run's (N not counted)
    after-write     page N's writes landed (on the Bulk path, every page's), page N not marked done
    after-page      page N written and checkpointed

N counts pages as the run journals them (before-journal, after-journal) and as it finishes them
(after-write, after-page): the same pages, as a run finishes its pages in the order it planned them.
"""
from __future__ import annotations

import os
import signal
import sys

POINTS = ("before-journal", "after-journal", "after-spool", "mid-write", "after-write", "after-page")


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str) -> None:
    from connector.orgs.salesforce import SalesforceOrg
    from connector.sync import journal, spool
    from connector.sync.journal import State
    from connector.sync.spool import Spool

    point, _, nth = spec.partition(":")
    if point not in POINTS:
        raise SystemExit(f"REVSYNC_KILL_AT: unknown point {point!r}; one of {', '.join(POINTS)}")
    target = int(nth or 1)
    seen = {"pages": 0, "finished": 0, "commits": 0}
    begin, finish, commit = State.begin_page, State.finish_page, journal.commit_page
    flush, write_many = Spool.flush, SalesforceOrg.write_many

    def begin_page(self, run_id, page, patches, *args, **kwargs):
        seen["pages"] += 1
        hit = seen["pages"] == target
        if hit and point == "before-journal":
            _kill()
        begin(self, run_id, page, patches, *args, **kwargs)
        if hit and point == "after-journal":
            _kill()

    def finish_page(self, *args, **kwargs):
        seen["finished"] += 1
        hit = seen["finished"] == target
        if hit and point == "after-write":
            _kill()
        finish(self, *args, **kwargs)
        if hit and point == "after-page":
            _kill()

    def commit_page(state, backend, object, run_id, page, patches, *args, **kwargs):
        seen["commits"] += 1
        if point == "mid-write" and seen["commits"] == target and len(patches) > 1:
            begin(state, run_id, page, patches, *args[:2])  # journalled whole, as the run does
            backend.write(patches[:len(patches) // 2])
            _kill()
        return commit(state, backend, object, run_id, page, patches, *args, **kwargs)

    def spool_flush(self):
        if point == "after-spool":
            _kill()
        return flush(self)

    def bulk_write_many(self, object, columns, rows, record):
        if point != "mid-write":
            return write_many(self, object, columns, rows, record)
        rows = list(rows)
        write_many(self, object, columns, rows[:len(rows) // 2], record)
        _kill()

    State.begin_page, State.finish_page = begin_page, finish_page
    journal.commit_page = spool.commit_page = commit_page
    Spool.flush, SalesforceOrg.write_many = spool_flush, bulk_write_many
    import connector.sync.run as run
    run.commit_page = commit_page


def main() -> None:
    spec = os.environ.get("REVSYNC_KILL_AT")
    if spec:
        install(spec)
    from cli import main as cli_main
    sys.argv[0] = "revsync"
    cli_main()


if __name__ == "__main__":
    main()
