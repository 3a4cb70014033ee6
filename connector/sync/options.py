"""What a sync run is given and what it gives back: its options, its report, and the error
that stops it before writing. Kept out of connector/sync.py (which re-exports them) so that
the run itself reads in one module of reasonable length."""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from rules.model import GuardStop


class GuardTripped(GuardStop):
    """The rules would change more owners or stages than allowed: look before proceeding (exit 5)."""

    def __init__(self, message: str, moved: int = 0, decided: int = 0):
        super().__init__(message)
        self.moved, self.decided = moved, decided


@dataclass
class SyncOptions:
    object: str = "Lead"
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    dry_run: bool = False
    full: bool = False
    reroute: bool = False
    page_size: int = 200
    overlap: timedelta | None = None  # None: the backend's `late_commits` window
    max_change_share: float = 0.2  # of already-decided records whose stage or owner moves
    accept_changes: bool = False
    engine: str = "default"


@dataclass
class SyncReport:
    object: str
    run_id: int | None = None
    dry_run: bool = False
    status: str = "running"
    read: int = 0
    evaluated: int = 0
    changed: int = 0
    written: int = 0
    would_write: int = 0  # a dry run's: what a run would write
    failed: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    fields: Counter = field(default_factory=Counter)
    lifecycle: Counter = field(default_factory=Counter)  # handoffs, clocks started, escalations planned
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    recovered: int = 0
    api_calls: int | None = None  # API calls the run made, where the backend counts them
    guard: str = ""  # a dry run's: why the change guard would stop the real run, if it would
    evaluated_at: str | None = None  # the evaluation time (`--now`, or the clock when the run began)
    notes: list[str] = field(default_factory=list)  # what a person should know about this run
    held: int = 0  # records no team member could take now: left unrouted, tried again later
    # (old, new) -> records, for "owner" and "stage": what a dry run's summary names (a real
    # run's comes from the journal).
    flows: dict[str, Counter] = field(default_factory=lambda: {"owner": Counter(), "stage": Counter()})

    def asdict(self) -> dict:
        return {"object": self.object, "run_id": self.run_id, "dry_run": self.dry_run,
                "evaluated_at": self.evaluated_at,
                "status": self.status, "read": self.read, "evaluated": self.evaluated,
                "changed": self.changed, "written": self.written, "failed": self.failed,
                **({"would_write": self.would_write} if self.dry_run else {}),
                "skipped": len(self.skipped), "recovered": self.recovered, "api_calls": self.api_calls,
                **({"guard_would_stop": self.guard} if self.guard else {}),
                **({"notes": self.notes} if self.notes else {}),
                **({"held": self.held} if self.held else {}),
                "fields": dict(self.fields), "lifecycle": dict(self.lifecycle), "seconds": {k: round(v, 3) for k, v in self.seconds.items()}}

    def __str__(self) -> str:
        return self.text()

    def text(self, fields: bool = True) -> str:
        """The run for people; `fields`: with the count of each field changed (the summary after a
        sync names owner moves and stages instead, and `runs show` has the fields)."""
        verb = f"would write {self.would_write:,}" if self.dry_run else f"wrote {self.written:,}"
        text = (f"{self.object}: read {self.read:,}, evaluated {self.evaluated:,}, {self.changed:,} changed, "
                f"{verb}, {self.failed:,} failed, {len(self.skipped):,} skipped")
        if self.fields and fields:
            text += "\n  fields: " + ", ".join(f"{k} {v}" for k, v in self.fields.most_common())
        if self.held:
            text += f"\n  held: {self.held} record(s) no team member could take now (tried again next run)"
        if self.lifecycle:
            text += "\n  lifecycle: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in self.lifecycle.items())
        if self.guard:
            text += f"\n  the change guard would stop the real run: {self.guard}"
        for note in self.notes:
            text += f"\n  note: {note}"
        for rid, why in self.skipped[:20]:
            text += f"\n  skipped {rid}: {why}"
        if len(self.skipped) > 20:
            text += f"\n  ... {len(self.skipped) - 20} more skipped (see the JSON log)"
        return text
