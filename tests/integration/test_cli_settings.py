"""revsync.toml through the command line: a wrong file stops a command with exit 2 and every
problem, before anything is read or written; a good one supplies the options' defaults."""
from __future__ import annotations

import json

import pytest

from tests.integration.test_sync import NOW, outputs, revsync, sync, workspace  # noqa: F401

MISTAKES = {  # line appended to the scaffolded [revsync] table -> what stderr must say of it
    "lag_seconds = \"soon\"": "S003 lag_seconds = 'soon': expected a number (e.g. lag_seconds = 30)",
    "objekt = \"Lead\"": "S002 unknown setting 'objekt' (did you mean 'object'?)",
    "page_size = 0": "S004 page_size = 0: expected a whole number from 1 to 10000 (e.g. page_size = 200)",
    "  api_floor = true": "S003 api_floor = true: expected a whole number (e.g. api_floor = 1000)",
}


@pytest.fixture()
def broken(workspace):
    settings = workspace / "revsync.toml"
    first = len(settings.read_text().splitlines()) + 1
    settings.write_text(settings.read_text() + "\n".join(MISTAKES) + "\n")
    expected = [f"revsync.toml:{first + i}:{len(line) - len(line.lstrip()) + 1}: {said}"
                for i, (line, said) in enumerate(MISTAKES.items())]
    return workspace, expected


@pytest.mark.parametrize("args", [
    ("sync", "--org", "local:org.db", "--now", NOW),
    # Every option given: the file is still checked, so a wrong setting never waits for the run to need it.
    ("sync", "--org", "local:org.db", "--rules", "rules", "--mappings", "mappings", "--object", "Lead",
     "--state", "s.db", "--max-change-share", "0.2", "--engine", "default", "--now", NOW),
    ("revert", "1", "--org", "local:org.db"),
    ("rules", "validate"),
    ("runs",),
])
def test_every_settings_problem_at_once_with_line_col_and_fix_and_nothing_written(broken, args):
    workspace, expected = broken
    before, files = outputs(workspace / "org.db"), sorted(workspace.rglob("*"))
    proc = revsync(workspace, *args)
    assert proc.returncode == 2, proc.stderr
    problems = [line for line in proc.stderr.splitlines() if line.startswith("revsync.toml:")]
    assert problems == expected
    assert "error: 4 problem(s) in revsync.toml; nothing was read or written" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert outputs(workspace / "org.db") == before
    assert sorted(workspace.rglob("*")) == files  # no state, no lock file, nothing


def test_a_good_settings_file_supplies_the_org_the_state_and_the_page_size(workspace):
    with (workspace / "revsync.toml").open("a") as fh:
        fh.write('org = "local:org.db"\nstate = "custom/state.db"\npage_size = 50\nmax_change_share = 0.5\n')
    proc = revsync(workspace, "sync", "-v", "--now", NOW)
    assert proc.returncode == 0, proc.stderr
    pages = [json.loads(line) for line in proc.stderr.splitlines() if '"event": "page_done"' in line]
    assert len(pages) > 10 and max(p["records"] for p in pages) == 50  # 700 leads, 50 a page
    assert (workspace / "custom" / "state.db").is_file() and not (workspace / ".revsync").exists()
    assert revsync(workspace, "runs").stdout.count("Lead") == 1  # the state file from the settings


def test_commands_that_read_no_setting_still_work_beside_a_broken_file(broken, tmp_path):
    workspace, _ = broken
    made = revsync(workspace, "init", str(tmp_path / "new"))
    assert made.returncode == 0 and (tmp_path / "new" / "revsync.toml").is_file(), made.stderr
    assert revsync(workspace, "rules", "schema").returncode == 0
