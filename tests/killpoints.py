"""Run the revsync CLI with a SIGKILL at a named point of a sync, for the kill/resume tests:
`python -m tests.killpoints ARGS...` with REVSYNC_KILL_AT=POINT:N kills the process the N-th time
the run reaches POINT. The points wrap the state's page protocol from outside, so production
code carries no test hooks:

    before-journal  a page planned, nothing journalled or written
    after-journal   the page journalled as pending, nothing written
    mid-write       the first half of the page's patches written, the rest not
    after-write     every write landed, the page not marked done
    after-page      the page written and checkpointed
"""
from __future__ import annotations

import os
import signal
import sys

POINTS = ("before-journal", "after-journal", "mid-write", "after-write", "after-page")


def _kill() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def install(spec: str) -> None:
    from connector.sync import journal
    from connector.sync.journal import State

    point, _, nth = spec.partition(":")
    if point not in POINTS:
        raise SystemExit(f"REVSYNC_KILL_AT: unknown point {point!r}; one of {', '.join(POINTS)}")
    target = int(nth or 1)
    seen = {"pages": 0, "commits": 0}
    begin, finish, commit = State.begin_page, State.finish_page, journal.commit_page

    def begin_page(self, run_id, page, patches, *args, **kwargs):
        seen["pages"] += 1
        hit = seen["pages"] == target
        if hit and point == "before-journal":
            _kill()
        begin(self, run_id, page, patches, *args, **kwargs)
        if hit and point == "after-journal":
            _kill()

    def finish_page(self, *args, **kwargs):
        hit = seen["pages"] == target
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

    State.begin_page, State.finish_page = begin_page, finish_page
    journal.commit_page = commit_page
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
