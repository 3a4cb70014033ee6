"""Each failure class carries its exit code (docs/operations.md), and `cli.report_error`, the one
place errors become exit codes, prints one line for each; anything that is not revsync's own is a
bug (70) unless it is about a file."""
from __future__ import annotations

import sqlite3

import pytest

import cli
from connector.orgs.base import AuthError, BackendError, BudgetExhausted
from connector.dbfile import UnusableFile
from connector.files import InputError
from connector.sync.revert import RevertRefused
from connector.orgs.salesforce import RetryableError
from connector.sync.journal import StateError
from connector.orgs.transfer import ImportRefused
from rules.model import ConfigError, GuardStop, Locked, RevsyncError


def sqlite_error(sql: str, path=":memory:") -> sqlite3.Error:
    try:
        sqlite3.connect(path).execute(sql)
    except sqlite3.Error as exc:
        return exc
    raise AssertionError("no error")


def busy(tmp_path) -> sqlite3.Error:
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(tmp_path / "busy.db", timeout=0)
    try:
        other.execute("INSERT INTO t VALUES (1)")
    except sqlite3.Error as exc:
        return exc
    raise AssertionError("not busy")


@pytest.mark.parametrize("make, code", [
    (lambda t: RevsyncError("bad input"), 2),
    (lambda t: ConfigError([]), 2),
    (lambda t: StateError("another schema"), 2),
    (lambda t: UnusableFile("empty"), 2),
    (lambda t: InputError("not UTF-8"), 2),
    (lambda t: RevertRefused("already reverted"), 2),
    (lambda t: ImportRefused("no Id column"), 2),
    (lambda t: BackendError("unreachable"), 3),
    (lambda t: AuthError("refused"), 3),
    (lambda t: RetryableError("HTTP 503"), 3),
    (lambda t: Locked("held"), 4),
    (lambda t: GuardStop("would move 40%"), 5),
    (lambda t: BudgetExhausted("12 API calls left"), 6),
    (lambda t: sqlite_error("SELECT * FROM sqlite_master", t / "text.db"), 2),  # not a database
    (lambda t: busy(t), 4),
    (lambda t: PermissionError(13, "Permission denied", "out.csv"), 2),
    (lambda t: KeyError("a bug"), 70),
    (lambda t: sqlite_error("SELEC nonsense"), 70),  # our SQL: a bug
])
def test_each_failure_class_carries_its_exit_code(tmp_path, capsys, make, code):
    (tmp_path / "text.db").write_text("not a database, a shopping list\n" * 10)
    assert cli.report_error(make(tmp_path)) == code
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")]
    assert len(lines) == 1 and lines[0].startswith(("error: ", "stopped before writing: ", "internal error"))
    if code == 70:
        assert "bug" in lines[0] and "-v" in lines[0] and "report" in lines[0]


def test_a_budget_pause_says_it_paused_and_that_the_next_run_carries_on():
    assert str(BudgetExhausted("12 API calls left today")).startswith("paused: 12 API calls left today")
    assert "next run carries on" in str(BudgetExhausted("x"))
    assert not isinstance(BudgetExhausted("x"), BackendError)  # the org answered: not exit 3
