"""Evaluating export files: no org, no state, nothing written."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

import structlog

from rules.evaluate import Context, Evaluator
from rules.explain import Explainer
from rules.model import Decision
from rules.parse import used_fields
from rules.suggest import suggest

from connector.context import OrgContext
from connector.files import DEFAULT_ENCODING, BadRow, display_name, read_numbered
from connector.workspace.workspace import Workspace

log = structlog.get_logger()

COLUMNS = ("id", "segment", "score", "grade", "stage", "owner", "sla_due", "sla_status")  # of `evaluate`'s table


@dataclass
class FileResult:
    decisions: Iterator[Decision]
    bad_rows: list[BadRow] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)  # neither mapped nor a related record's
    missing_related: list[tuple[str, str]] = field(default_factory=list)  # (rule field, column) the rules need


def missing_related(ws: Workspace, record: dict) -> list[tuple[str, str]]:
    """Related fields the rules test (`account.share_of_wallet`) with no column in the export
    (`Account.Share_of_Wallet__c`), as (rule field, column): every test on them fails, so an
    export without them decides segments and routes unlike a sync, which reads the account."""
    used = used_fields(ws.ruleset)
    columns = {c.strip().casefold() for c in record}
    out = []
    for rel in ws.mapping.related:
        if rel.relationship.casefold() in columns:  # a nested {"Account": {...}} object (JSONL)
            continue
        for spec in rel.fields:
            source = spec if spec.crm else rel.field(spec.source or "")  # a derived field: its source
            column = f"{rel.relationship}.{source.crm}" if source is not None and source.crm else None
            if f"{rel.name}.{spec.name}" in used and column and column.casefold() not in columns:
                out.append((f"{rel.name}.{spec.name}", column))
    return out


def related_warning(ws: Workspace, source: object, missing: list[tuple[str, str]]) -> str | None:
    """What a person reads when an export lacks related columns the rules test."""
    if not missing:
        return None
    fields, columns = zip(*missing)
    return (f"warning: the rules test {', '.join(fields)}, but {source} has no column {', '.join(columns)}: "
            f"those tests fail for every row, unlike in a sync, which reads the related records. "
            f"`revsync org export PATH --object {ws.object} --related` writes them.")


def file_related_warning(ws: Workspace, path: Path, encoding: str = DEFAULT_ENCODING) -> str | None:
    """`related_warning` from a file's first row, read apart (a pipe cannot be read twice: none then)."""
    if str(path) == "-" or not Path(path).is_file():
        return None
    for _, row in read_numbered(path, encoding):
        return related_warning(ws, path, missing_related(ws, row)) if isinstance(row, dict) else None
    return None


def unknown_columns(ws: Workspace, record: dict) -> list[str]:
    """Columns of an export that look like a misspelling of a column the mapping reads
    (`Titel` for Title): the rule field would otherwise stay empty without a word. Other
    columns an export carries (real exports have many) are not the mapping's business."""
    mapping = ws.mapping
    known = {c.casefold(): c for c in mapping.crm_fields()}
    for rel in mapping.related:
        known.update({f"{rel.relationship}.{f.crm}".casefold(): f"{rel.relationship}.{f.crm}"
                      for f in rel.fields if f.crm})
    out = []
    for column in record:
        folded = column.strip().casefold()
        if folded in known:
            continue
        near = suggest(folded, known, typo=True)
        if near is not None:
            out.append(f"{column} (did you mean {known[near]}?)")
    return out


def rule_records(ws: Workspace, path: Path, bad: list[BadRow], encoding: str = DEFAULT_ENCODING) -> Iterator[dict]:
    inbound = ws.mapping.inbound
    for number, crm in read_numbered(path, encoding):
        if isinstance(crm, BadRow):
            bad.append(crm)
            continue
        try:
            yield inbound(crm)
        except Exception as exc:  # a record the mapping cannot read is skipped, not fatal
            bad.append(BadRow(display_name(path), number, f"cannot map record: {exc}"))


def evaluate_file(ws: Workspace, path: Path, now: datetime, engine: str = "default",
                  batch_size: int = 1000, encoding: str = DEFAULT_ENCODING) -> FileResult:
    """One decision per row of the file, in order. A row that cannot be read still has its
    place: an undecided record (its Id if it could be read) whose `problems` say why."""
    evaluator = Evaluator(ws.ruleset, engine)
    result = FileResult(iter(()))
    result.decisions = _in_file_order(ws, evaluator, path, Context(now=now), batch_size, result, encoding)
    return result


def _in_file_order(ws, evaluator, path, ctx, batch_size, result, encoding) -> Iterator[Decision]:
    inbound = ws.mapping.inbound
    bad = result.bad_rows
    checked = False
    id_spec = ws.mapping.field("id")
    id_column = id_spec.crm if id_spec is not None and id_spec.crm else "Id"
    batch: list[tuple[int, dict | Decision]] = []
    name = display_name(path)

    def undecided(row: BadRow) -> Decision:
        bad.append(row)
        found = {k.casefold(): v for k, v in (row.record or {}).items()}.get(id_column.casefold())
        return Decision(found, problems=(f"not evaluated: {row.reason} (line {row.line})",),
                        tracer=evaluator.tracer)

    def flush() -> Iterator[Decision]:
        decided = iter(evaluator.evaluate_batch([x for _, x in batch if x.__class__ is not Decision], ctx))
        for line, x in batch:
            if x.__class__ is Decision:
                yield x
                continue
            d = next(decided)
            # A record whose evaluation raised is as undecided as an unreadable row: reported
            # on stderr and in the exit code too.
            if d.problems and d.problems[0].startswith("not evaluated: "):
                bad.append(BadRow(name, line, d.problems[0][len("not evaluated: "):]))
                d.problems = (f"{d.problems[0]} (line {line})",)
            yield d
        batch.clear()

    for line, item in read_numbered(path, encoding):
        if isinstance(item, BadRow):
            batch.append((line, undecided(item)))
        else:
            if not checked:
                result.unknown_columns, checked = unknown_columns(ws, item), True
                result.missing_related = missing_related(ws, item)
            try:
                batch.append((line, inbound(item)))
            except Exception as exc:  # a record the mapping cannot read is reported, not fatal
                batch.append((line, undecided(BadRow(name, line, f"cannot map record: {exc}", item))))
        if len(batch) >= batch_size:
            yield from flush()
    yield from flush()


def explain_record(ws: Workspace, path: Path, record_id: str, now: datetime,
                   encoding: str = DEFAULT_ENCODING) -> str | None:
    bad: list[BadRow] = []
    wanted = record_id.strip()
    for record in rule_records(ws, path, bad, encoding):
        rid = str(record.get("id") or "")
        # 15- and 18-character Ids name the same record.
        if rid == wanted or (len(wanted) == 15 and rid[:15] == wanted) or (len(rid) == 15 and wanted[:15] == rid):
            return Explainer(Evaluator(ws.ruleset)).explain(record, Context(now=now))
    return None


def explain_org_record(ws: Workspace, org, record_id: str, now: datetime) -> str | None:
    """As `explain_record`, for a record read from an org: with the account it matches, its
    owner's User and the org's inactive users, as a sync reads it. Teams start their round
    robin at the first member (a sync continues from the state's position)."""
    from rules.values import id18
    found = org.read_ids(ws.object, ws.mapping.crm_fields(), [id18(record_id.strip())])
    if not found:
        return None
    context = OrgContext.of(org, ws)
    return Explainer(Evaluator(ws.ruleset), context.names()).explain(context.rule_record(found[0]),
                                                                      context.context(now, ruleset=ws.ruleset))
