"""Hostile and broken input, end to end: poison records in an embedded org during a sync, and
export files that are streams, oversized, deeply nested, formula-laden or full of markup.

One bad record never stops a run: it is skipped and reported with its Id, the rest of its page
is written, the run ends partial (exit 1), and the record is read again only when it changes.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.orgs.base import Patch
from connector.demo.org import create_demo_org
from connector.orgs.local import LocalOrg
from connector.workspace.scaffold import scaffold
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "rules" / "templates" / "files" / "rules"
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=timezone.utc)
OUTPUTS = ["Revsync_Score__c", "Revsync_Stage__c", "Revsync_Routed_At__c", "Revsync_SLA_Due__c", "OwnerId",
           "Revsync_Reason__c", "Revsync_Lifecycle__c"]


def revsync(cwd: Path, *args: str, stdin=None, shell: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = ["bash", "-c", shell] if shell else [sys.executable, "-m", "cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, stdin=stdin)


# -- poison records in a sync ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def synced(tmp_path_factory) -> Path:
    """A small demo org synced once: every open lead decided, routed, on its clocks."""
    base = tmp_path_factory.mktemp("synced")
    scaffold(base)
    create_demo_org(base / "org.db", leads=80, seed=5)
    report = sync(base, NOW)
    assert report.status == "ok" and report.written > 40 and not report.skipped
    return base


def sync(where: Path, now: datetime, **opts) -> "SyncReport":  # noqa: F821
    ws = load_workspace(where / "rules", where / "mappings", "Lead")
    org, state = LocalOrg(where / "org.db"), State(where / "state.db")
    try:
        return SyncRun(org, ws, state, SyncOptions(object="Lead", now=now, **opts)).run()
    finally:
        org.close()
        state.close()


def copy_of(synced: Path, to: Path) -> Path:
    to.mkdir(parents=True, exist_ok=True)
    for name in ("org.db", "state.db", "rules", "mappings"):
        (shutil.copytree if (synced / name).is_dir() else shutil.copy)(synced / name, to / name)
    return to


def open_leads(where: Path) -> list[dict]:
    org = LocalOrg(where / "org.db")
    try:
        return [r for r in org.read_all("Lead", ["IsConverted", *OUTPUTS]) if not r["IsConverted"]]
    finally:
        org.close()


def write(where: Path, patches: list[Patch]) -> list[bool]:
    org = LocalOrg(where / "org.db")
    try:
        return [r.ok for r in org.write(patches)]
    finally:
        org.close()


INSTANTS = ["0001-01-01T00:00:00+0100", "9999-12-31T23:59:59-0100", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z",
            "0001-01-01", "9999-12-31", "2026-13-45", "not a date", "x" * 5000]
POISON = st.one_of(
    st.tuples(st.sampled_from(["Revsync_Routed_At__c", "Revsync_Stage_Entered_At__c", "Revsync_SLA_Due__c",
                               "Revsync_SLA_Started_At__c", "Revsync_SLA_Met_At__c"]),
              st.one_of(st.sampled_from(INSTANTS), st.floats(), st.integers(-2 ** 63, 2 ** 63 - 1))),
    st.tuples(st.sampled_from(["NumberOfEmployees", "AnnualRevenue"]),
              st.one_of(st.floats(), st.sampled_from(["nan", "inf", "1e400", "many", "-0"]))),
    st.tuples(st.sampled_from(["Title", "Email", "Website", "Status", "LeadSource", "Country", "State",
                               "Revsync_Stage__c", "Revsync_SLA_Status__c", "Revsync_Lifecycle__c"]),
              st.one_of(st.sampled_from(["[/bold]", "=HYPERLINK(\"x\")", "{" * 900, "[" * 900, "\x00", " "]),
                        st.text(st.characters(exclude_categories=("Cs",)), max_size=60))),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(poison=st.lists(POISON, min_size=1, max_size=6), picks=st.randoms(use_true_random=False))
def test_poison_records_are_skipped_with_their_ids_and_the_rest_is_written(synced, tmp_path_factory, poison, picks):
    where = copy_of(synced, tmp_path_factory.mktemp("poison"))
    leads = open_leads(where)
    chosen = picks.sample(leads, len(poison) + 3)
    targets, others = chosen[:len(poison)], chosen[len(poison):]
    oks = write(where, [Patch("Lead", lead["Id"], {field: value})
                        for lead, (field, value) in zip(targets, poison)])
    poisoned = {lead["Id"] for lead, ok in zip(targets, oks) if ok}
    # Three records whose written score is wrong: the run must write them whatever else happens.
    assert all(write(where, [Patch("Lead", lead["Id"], {"Revsync_Score__c": -1}) for lead in others]))
    before = {r["Id"]: r for r in open_leads(where)}

    report = sync(where, NOW + timedelta(hours=1))  # finishes: nothing raises out of a page

    skipped = dict(report.skipped)
    assert set(skipped) <= poisoned and all(why.strip() for why in skipped.values())
    assert report.status == ("partial" if skipped else "ok")
    after = {r["Id"]: r for r in open_leads(where)}
    for lead in others:
        assert after[lead["Id"]]["Revsync_Score__c"] not in (-1, None), "the rest of the page was not written"
    for rid in skipped:
        assert after[rid] == before[rid], "a skipped record was written"
    # Skipped records are left until they change: the next run does not read them again.
    again = sync(where, NOW + timedelta(hours=2))
    assert not again.skipped and again.status == "ok"


def test_a_record_that_cannot_be_decided_is_read_again_only_when_it_changes(synced, tmp_path):
    where = copy_of(synced, tmp_path / "org")
    lead = next(r for r in open_leads(where) if r["Revsync_SLA_Due__c"] is None)
    pending = next(r for r in open_leads(where) if r["Revsync_SLA_Due__c"] and r["Id"] != lead["Id"])
    # One record is queued for a retry (a write failed), one is due a re-check (its SLA clock runs):
    # both are read by every run until the state lets go of them.
    state = State(where / "state.db")
    state.db.execute("INSERT OR REPLACE INTO retry VALUES ('Lead', ?, 1, 'X', 'failed', '', '', NULL)", (lead["Id"],))
    state.db.execute("INSERT OR REPLACE INTO recheck VALUES ('Lead', ?, '2026-11-24T15:30:00Z')", (pending["Id"],))
    state.close()
    assert all(write(where, [Patch("Lead", rid, {"Revsync_Routed_At__c": "0001-01-01T00:00:00+0100"})
                             for rid in (lead["Id"], pending["Id"])]))
    # Someone edits another lead later. (Incremental reads include their lower bound, the newest
    # stamp read: without a later edit the newest record is read again by every run.)
    later = next(r for r in open_leads(where) if r["Id"] not in (lead["Id"], pending["Id"]))
    assert write(where, [Patch("Lead", later["Id"], {"Title": "VP Sales"})]) == [True]

    first = sync(where, NOW + timedelta(hours=1))
    assert first.status == "partial"
    assert {rid for rid, _ in first.skipped} == {lead["Id"], pending["Id"]}
    assert all("routed_at: '0001-01-01T00:00:00+0100' is an instant outside" in why for _, why in first.skipped)
    state = State(where / "state.db")
    assert state.retry_ids("Lead") == [] and state._rechecks("Lead", [lead["Id"], pending["Id"]]) == {}
    due = state.due_rechecks("Lead", NOW + timedelta(hours=2))
    state.close()

    second = sync(where, NOW + timedelta(hours=2))
    assert second.status == "ok" and not second.skipped and second.read == len(due) + 1  # + `later`

    # Someone repairs it: the next run reads it (and `later`, the lower bound) and writes it.
    repair = {"Revsync_Routed_At__c": "2026-11-24T15:00:00Z", "Revsync_Score__c": -1}
    assert write(where, [Patch("Lead", lead["Id"], repair)]) == [True]
    third = sync(where, NOW + timedelta(hours=3))
    assert third.status == "ok" and third.read == 2 and third.written == 1


def test_a_record_that_raises_in_mapping_evaluating_or_diffing_is_skipped(synced, tmp_path, monkeypatch):
    from mappings.outbound import Outbound
    from rules.lifecycle import Lifecycle
    where = copy_of(synced, tmp_path / "org")
    leads = open_leads(where)[:6]
    mapped, evaluated, diffed = (lead["Id"] for lead in leads[:3])
    assert all(write(where, [Patch("Lead", lead["Id"], {"Revsync_Score__c": -1}) for lead in leads]))

    def failing(original, rid_of, rid):
        def wrapper(self, *args):
            if rid_of(args) == rid:
                raise ValueError(f"no way to handle {rid}")
            return original(self, *args)
        return wrapper
    from connector.context import OrgContext
    monkeypatch.setattr(OrgContext, "rule_record", failing(OrgContext.rule_record, lambda a: a[0]["Id"], mapped))
    monkeypatch.setattr(Lifecycle, "remember", failing(Lifecycle.remember, lambda a: a[0].get("id"), evaluated))
    monkeypatch.setattr(Outbound, "changes", failing(Outbound.changes, lambda a: a[1]["Id"], diffed))
    report = sync(where, NOW + timedelta(hours=1))
    assert report.status == "partial"
    assert dict(report.skipped) == {
        mapped: f"cannot map record: ValueError: no way to handle {mapped}",
        evaluated: f"not evaluated: ValueError: no way to handle {evaluated}",
        diffed: f"cannot plan its changes: ValueError: no way to handle {diffed}"}
    after = {r["Id"]: r["Revsync_Score__c"] for r in open_leads(where)}
    assert [after[lead["Id"]] for lead in leads[:3]] == [-1, -1, -1]
    assert all(after[lead["Id"]] not in (-1, None) for lead in leads[3:])


# -- export files: streams, sizes, nesting -------------------------------------------------------

ROWS = "Id,Title,NumberOfEmployees\n00Q000000000001AAA,VP Sales,5000\n00Q000000000002AAA,Intern,10\n"


def ids(proc: subprocess.CompletedProcess) -> list:
    return [json.loads(line)["id"] for line in proc.stdout.splitlines()]


def test_stdin_pipes_and_fifos_are_read_once(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(ROWS)
    want = ["00Q000000000001AAA", "00Q000000000002AAA"]
    args = ("evaluate", "--rules", str(EXAMPLE), "--now", "2026-11-24T15:00:00Z")
    with path.open() as fh:
        assert ids(revsync(tmp_path, *args, "--input", "-", stdin=fh)) == want
    piped = revsync(tmp_path, shell=f"cat {path} | {sys.executable} -m cli {' '.join(args)} --input -")
    assert ids(piped) == want, piped.stderr
    substituted = revsync(tmp_path, shell=f"{sys.executable} -m cli {' '.join(args)} --input <(cat {path})")
    assert ids(substituted) == want, substituted.stderr
    fifo = tmp_path / "leads.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_text(ROWS), daemon=True)
    writer.start()
    assert ids(revsync(tmp_path, *args, "--input", str(fifo))) == want  # timeout=120: never hangs
    writer.join(5)
    # explain and preview read a stream as well
    explained = revsync(tmp_path, shell=f"cat {path} | {sys.executable} -m cli explain --rules {EXAMPLE} "
                                        f"--input - 00Q000000000001AAA --now 2026-11-24T15:00:00Z")
    assert explained.returncode == 0 and "00Q000000000001AAA" in explained.stdout, explained.stderr


def test_an_oversized_cell_and_deep_json_are_skipped_rows_and_the_rest_is_kept(tmp_path):
    from connector.files import CELL_LIMIT
    big = tmp_path / "big.csv"
    with big.open("w") as fh:
        fh.write("Id,Title\n00Q000000000001AAA,CEO\n00Q000000000002AAA,\"")
        fh.write("x" * (CELL_LIMIT + 1))
        fh.write("\"\n00Q000000000003AAA,CTO\n")
    proc = revsync(tmp_path, "evaluate", "--rules", str(EXAMPLE), "--input", str(big), "--now", "2026-11-24T15:00:00Z")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert ids(proc) == ["00Q000000000001AAA", None, "00Q000000000003AAA"]
    assert f"big.csv:3: skipped: a cell longer than {CELL_LIMIT:,} characters" in proc.stderr
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"Id": "J1"}\n' + '{"a": ' * 100_000 + "1" + "}" * 100_000 + '\n{"Id": "J3"}\n')
    proc = revsync(tmp_path, "evaluate", "--rules", str(EXAMPLE), "--input", str(deep), "--now", "2026-11-24T15:00:00Z")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert ids(proc) == ["J1", None, "J3"]
    assert "deep.jsonl:2: skipped: JSON nested deeper than" in proc.stderr


def test_evaluate_gives_a_record_that_raises_its_line_as_an_undecided_record(tmp_path, monkeypatch):
    from connector.offline import evaluate_file
    from rules.lifecycle import Lifecycle
    remember = Lifecycle.remember

    def flaky(self, rec, d):
        if rec.get("id") == "00Q000000000002AAA":
            raise ValueError("no way to decide it")
        return remember(self, rec, d)
    monkeypatch.setattr(Lifecycle, "remember", flaky)
    path = tmp_path / "leads.csv"
    path.write_text(ROWS + "00Q000000000003AAA,CTO,20\n")
    ws = load_workspace(EXAMPLE, None, "Lead")
    result = evaluate_file(ws, path, NOW)
    decisions = list(result.decisions)
    assert [d.id for d in decisions] == ["00Q000000000001AAA", "00Q000000000002AAA", "00Q000000000003AAA"]
    assert decisions[1].problems == ("not evaluated: ValueError: no way to decide it (line 3)",)
    assert decisions[0].stage and decisions[2].stage and not decisions[2].problems
    assert [str(b) for b in result.bad_rows] == [f"{path}:3: skipped: ValueError: no way to decide it"]


def test_markup_and_lone_surrogates_in_data_are_shown_not_interpreted(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"Id": "[/bold]", "Title": "CEO"}\n{"Id": "\\ud800x", "Title": ":smile: [red]CEO"}\n')
    table = revsync(tmp_path, "evaluate", "--rules", str(EXAMPLE), "--input", str(path), "--format", "table",
                    "--now", "2026-11-24T15:00:00Z")
    assert table.returncode == 0, table.stderr
    assert "[/bold]" in table.stdout and "\\ud800x" in table.stdout
    lines = revsync(tmp_path, "evaluate", "--rules", str(EXAMPLE), "--input", str(path),
                    "--now", "2026-11-24T15:00:00Z")
    assert lines.returncode == 0 and ids(lines) == ["[/bold]", "\ud800x"]


def test_table_output_holds_a_chunk_of_rows_not_the_file():
    from connector.render import TableStream as _TableStream
    from rules.model import Decision
    table, held = _TableStream(), []
    out = io.StringIO()
    table.console.file = out
    for i in range(3 * _TableStream.CHUNK + 7):
        table.add(Decision(f"00Q{i:015d}", stage="MQL"))
        held.append(len(table.rows))
    table.print()
    assert max(held) < _TableStream.CHUNK and not table.rows
    printed = out.getvalue()
    assert printed.count("00Q") == 3 * _TableStream.CHUNK + 7 and printed.count("revsync decisions") == 1


# -- CSV written for spreadsheets ------------------------------------------------------------------

def test_csv_outputs_neutralise_formulas_and_keep_negative_numbers(tmp_path):
    from connector.files import csv_cell
    from connector.preview.render import render_csv
    org_path = tmp_path / "org.db"
    create_demo_org(org_path, leads=5, seed=1)
    org = LocalOrg(org_path)
    lead = next(iter(org.read_all("Lead", ["Id"])))["Id"]
    hostile = {"Title": "=HYPERLINK(\"http://x\",\"y\")", "Phone": "+1 415 555 0100", "City": "@SUM(A1)",
               "Company": "-2+3", "State": "\tCA", "Country": "'=already quoted", "Revsync_Score__c": -15}
    assert org.write([Patch("Lead", lead, hostile)])[0].ok
    org.close()
    exported = revsync(tmp_path, "org", "export", "org.db", "--object", "Lead")
    row = next(r for r in csv.DictReader(io.StringIO(exported.stdout)) if r["Id"] == lead)
    for field in ("Title", "Phone", "City", "Company", "State", "Country"):
        assert row[field] == "'" + hostile[field], field
    assert row["Revsync_Score__c"] == "-15"  # a number column: a negative number, not a formula
    # `org import` (and every CSV read) takes revsync's own quoting back off.
    (tmp_path / "export.csv").write_text(exported.stdout.replace(lead, lead[:-3] + "ZZZ"))
    assert revsync(tmp_path, "org", "import", "copy.db", "export.csv", "--object", "Lead").returncode == 0
    copy = LocalOrg(tmp_path / "copy.db")
    (back,) = copy.read_ids("Lead", list(hostile), [lead[:-3] + "ZZZ"])
    copy.close()
    assert {k: back[k] for k in hostile} == {**hostile, "State": "CA"}  # import strips text, as before
    preview = render_csv({"records": [{"id": "=cmd|' /C calc'!A0", "before": {"score": -5, "stage": "-MQL"},
                                       "after": {"score": 10, "stage": "@x"},
                                       "rules": {"before": ["+r"], "after": ["ok"]}}]})
    rows = list(csv.reader(io.StringIO(preview)))
    assert rows[1] == ["'=cmd|' /C calc'!A0", "score", "-5", "10", "'+r", "ok"]
    assert rows[2][:4] == ["'=cmd|' /C calc'!A0", "stage", "'-MQL", "'@x"]
    assert csv_cell(-5) == -5 and csv_cell("\rx") == "'\rx"
