"""What a preview compares and over which records: the baseline rules (a directory or a git ref)
against the candidate, the `--where` filter, the records of an export or of an org, and the
`--max-*-changes` shares its result is checked against."""
from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

from rules.model import Problem

from connector.files import DEFAULT_ENCODING
from connector.orgs.base import Backend
from connector.preview.compare import Preview, baseline_workspace, file_records, org_records, where_filter
from connector.preview.owners import ExportNamer
from connector.sync.preflight import owner_problems as org_owner_problems
from connector.workspace.workspace import Workspace

Keep = Callable[[list[dict]], list[bool]]


class BadShare(ValueError):
    """A `--max-<key>-changes` value that is no share from 0 to 1."""

    def __init__(self, key: str, text: str):
        super().__init__(f"{text!r}: use a share from 0 to 1 such as 5% or 0.05")
        self.key = key


def share_limits(texts: dict[str, str | None]) -> dict[str, Fraction | float]:
    """The `--max-*-changes` given, by what they limit (owner, stage, score), as exact fractions
    (`12.5%` is 1/8): a float would put 0.7% a hair below 7 of 1,000. BadShare for the first
    that is no share from 0 to 1."""
    limits: dict[str, Fraction | float] = {}
    for key, text in texts.items():
        if text is None:
            continue
        stripped = text.strip()
        try:
            share = Fraction(stripped[:-1]) / 100 if stripped.endswith("%") else Fraction(stripped)
        except (ValueError, ZeroDivisionError):
            share = Fraction(-1)
        if not 0 <= share <= 1:
            raise BadShare(key, text)
        limits[key] = share
    return limits


def prepare(candidate: Workspace, baseline: str, mappings_dir: Path | None, where: str | None, now: datetime,
            limit: int = 50, sample: int | None = None, seed: int = 0) -> tuple[Preview, Keep | None]:
    """The preview of `candidate` against the `baseline` rules, and the `--where` filter (None:
    every record). A ConfigError lists every problem of either."""
    base = baseline_workspace(candidate, baseline, mappings_dir)
    keep = where_filter(candidate, where)
    return Preview(base, candidate, now, limit=limit, sample=sample, seed=seed), keep


def owner_problems(candidate: Workspace, org: Backend) -> list[Problem]:
    """Owners the candidate rules name that the org does not have (a sync would refuse them);
    none to check when the mapping writes no owner."""
    if candidate.mapping.output("owner") is None:
        return []
    return org_owner_problems(org, candidate.ruleset)


def records(preview: Preview, source: Path | Backend, encoding: str = DEFAULT_ENCODING) -> Iterator[dict]:
    """The candidate's records from an export (rows it cannot read go to `preview.bad_rows`) or,
    read-only, from an org (with accounts, owners and outcomes, as a sync reads them)."""
    if isinstance(source, Path):
        namer = ExportNamer()
        preview.owner_name = namer
        return _learning(namer, file_records(preview.candidate, source, preview.bad_rows, encoding))
    return org_records(preview.candidate, source, preview.now, preview=preview)


def _learning(namer: ExportNamer, records: Iterator[dict]) -> Iterator[dict]:
    for record in records:
        namer.learn(record)
        yield record
