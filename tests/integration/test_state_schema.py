"""The state file's schema: what a change's status means, upgrades, and files it must refuse."""
import re
import sqlite3

import pytest

from connector.orgs.base import Patch
from connector.sync.journal import SCHEMA, SCHEMA_VERSION, State, StateError


def journal_one_page(state: State, failed: set[str], finish: bool = True) -> int:
    run = state.start_run("Lead", "local", False, "fp")
    patches = [Patch("Lead", rid, {"Status": "Working"}, {"Status": "Open"}, "qualify/x (lead.yaml:3)")
               for rid in ("00QA", "00QB", "00QC")]
    state.begin_page(run, 1, patches, {}, None)
    if finish:
        state.finish_page("Lead", run, 1, [p.id for p in patches if p.id not in failed],
                          {rid: ("UNABLE_TO_LOCK_ROW", "busy") for rid in failed}, {}, None, {})
    return run


def statuses(state: State, run: int) -> dict[str, str]:
    return {c.record_id: c.status for c in state.changes(run)}


def test_a_finished_page_reads_as_written_except_its_failures(tmp_path):
    state = State(tmp_path / "s.db")
    run = journal_one_page(state, failed={"00QB"})
    assert statuses(state, run) == {"00QA": "written", "00QB": "failed", "00QC": "written"}
    [change] = [c for c in state.changes(run) if c.record_id == "00QA"]
    assert (change.field, change.old, change.new) == ("Status", "Open", "Working")


def test_a_page_not_finished_stays_pending(tmp_path):
    state = State(tmp_path / "s.db")
    run = journal_one_page(state, failed=set(), finish=False)
    assert set(statuses(state, run).values()) == {"pending"}


def test_a_schema_3_file_is_upgraded_and_reads_as_before(tmp_path):
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)
    db.execute("INSERT INTO runs(run_id, object, org, started_at, status, dry_run, counts) "
               "VALUES (1, 'Lead', 'local', '2026-11-01T00:00:00Z', 'ok', 0, '{}')")
    db.execute("INSERT INTO pages VALUES (1, 1, 'done', '{}', NULL)")
    db.executemany("INSERT INTO changes VALUES (1, 1, ?, ?, 'r', ?)",
                   [("00QA", '{"Status": ["Open", "Working"]}', "written"),
                    ("00QB", '{"Status": ["Open", "Working"]}', "failed")])
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    state = State(path)
    assert statuses(state, 1) == {"00QA": "written", "00QB": "failed"}
    assert state.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8


@pytest.mark.parametrize("version", [2, 9])
def test_a_file_of_another_schema_is_refused_untouched(tmp_path, version):
    path = tmp_path / "other.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE watermark (object TEXT PRIMARY KEY)")
    db.execute(f"PRAGMA user_version = {version}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match=f"state schema {version}"):
        State(path)
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == version
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["watermark"]


def test_a_schema_5_retry_queue_is_upgraded_in_place_and_keeps_its_entries(tmp_path):
    path = tmp_path / "v5.db"
    db = sqlite3.connect(path)
    # The retry table as schema 5 had it: no column for the failed patch.
    db.executescript(SCHEMA.replace("last_failed_at TEXT, patch TEXT,", "last_failed_at TEXT,"))
    db.execute("INSERT INTO retry VALUES ('Lead', '00QA', 2, 'UNABLE_TO_LOCK_ROW', 'busy', 't0', 't1')")
    db.execute("PRAGMA user_version = 5")
    db.commit()
    db.close()
    state = State(path)
    assert state.retry_ids("Lead") == ["00QA"] and state.retry_patches("Lead") == {}
    run = state.start_run("Lead", "local", False, "fp")
    failed = Patch("Lead", "00QB", {"OwnerId": "005B"}, {"OwnerId": "005A"}, "route/x (lead.yaml:9)")
    state.begin_page(run, 1, [failed], {"sdr": 2}, None)
    state.finish_page("Lead", run, 1, [], {"00QB": ("UNABLE_TO_LOCK_ROW", "busy")}, {"sdr": 2}, None, {},
                      {"00QB": failed})
    kept = state.retry_patches("Lead")["00QB"]
    assert (kept.values, kept.old, kept.reason) == ({"OwnerId": "005B"}, {"OwnerId": "005A"}, "route/x (lead.yaml:9)")


def test_a_dry_run_reads_a_schema_5_file_without_changing_it(tmp_path):
    path = tmp_path / "v5.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA.replace("last_failed_at TEXT, patch TEXT,", "last_failed_at TEXT,")
                     .replace("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);", ""))
    db.execute("INSERT INTO retry VALUES ('Lead', '00QA', 1, 'X', 'busy', 't0', 't0')")
    db.execute("PRAGMA user_version = 5")
    db.commit()
    db.close()
    before = path.read_bytes()
    assert State.for_reading(path).retry_ids("Lead") == ["00QA"]
    assert path.read_bytes() == before


def test_a_state_belongs_to_one_org(tmp_path):
    state = State(tmp_path / "s.db")
    assert state.claim_org("00D000000000001AAA", "https://a.my.salesforce.com") is True
    assert state.claim_org("00D000000000001", "https://a.my.salesforce.com") is False  # 15 or 18 characters
    with pytest.raises(StateError, match=r"belongs to org 00D000000000001AAA \(https://a.my.salesforce.com\), "
                                         r"not to org 00D000000000002AAA \(https://b.my.salesforce.com\)"):
        state.claim_org("00D000000000002AAA", "https://b.my.salesforce.com")
    assert StateError.exit_code == 2


def test_a_schema_6_file_gains_the_runs_evaluation_time(tmp_path):
    path = tmp_path / "v6.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA.replace(", evaluated_at TEXT)", ")"))
    db.execute("PRAGMA user_version = 6")
    db.commit()
    db.close()
    state = State(path)
    run = state.start_run("Lead", "local", False, "f", "2026-11-24T15:00:00Z")
    assert state.db.execute("SELECT evaluated_at FROM runs WHERE run_id=?", (run,)).fetchone() == \
        ("2026-11-24T15:00:00Z",)
    assert state.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    state.close()


def test_a_schema_7_file_with_a_pending_page_gains_page_plans_in_place(tmp_path):
    """A page an older revsync left pending (killed) has no plan: it is still finished, by an
    empty one; pages journalled from now on keep theirs until they are done."""
    from connector.sync.spool import PagePlan, plan_of
    path = tmp_path / "v7.db"
    db = sqlite3.connect(path)
    db.executescript(re.sub(r"CREATE TABLE IF NOT EXISTS page_plan \(.*?\);", "", SCHEMA, flags=re.S))
    db.execute("INSERT INTO runs(run_id, object, org, started_at, status, dry_run, counts) "
               "VALUES (1, 'Lead', 'local', '2026-11-01T00:00:00Z', 'running', 0, '{}')")
    db.execute("INSERT INTO pages VALUES (1, 1, 'pending', '{\"sdr\": 3}', NULL)")
    db.execute("INSERT INTO changes VALUES (1, 1, '00QA', '{\"Status\": [\"Open\", \"Working\"]}', 'r', 'pending')")
    db.execute("PRAGMA user_version = 7")
    db.commit()
    assert "page_plan" not in {r[0] for r in db.execute("SELECT name FROM sqlite_master")}
    db.close()
    state = State(path)
    assert state.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    assert state.pending_page("Lead") == (1, 1, {"sdr": 3}, None)
    assert plan_of(state, 1, 1) == PagePlan({}, [])
    run = state.start_run("Lead", "local", False, "fp")
    plan = PagePlan({"00QB": "2026-11-25T09:00:00Z"}, ["00QC"], 200)
    state.begin_page(run, 1, [Patch("Lead", "00QB", {"Status": "Working"}, {"Status": "Open"})], {}, None,
                     plan=plan.dump())
    assert plan_of(state, run, 1) == plan
    state.finish_page("Lead", run, 1, ["00QB", "00QC"], {}, {}, None, plan.rechecks)
    assert plan_of(state, run, 1) == PagePlan({}, [])  # gone with the page done
    assert state.db.execute("SELECT count(*) FROM page_plan").fetchone()[0] == 0
    state.close()
