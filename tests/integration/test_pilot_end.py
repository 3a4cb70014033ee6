"""`revsync pilot end NAME --promote|--rollback`: the candidate's rule file replaces the current
one on promotion, the pilot is marked ended in revsync.toml (comments kept), and mistakes exit 2."""
from __future__ import annotations

import shutil
from pathlib import Path

from connector.workspace.scaffold import scaffold
from connector.workspace.settings import load_settings
from tests.integration.test_preview import revsync

TOML = """# our settings
[revsync]
rules = "rules"

[pilots.fast-lane]   # EMEA SDRs first
rules = "candidate"
share = "20%"
when = "{country: [DE, FR]}"
"""


def workspace(tmp_path: Path) -> Path:
    scaffold(tmp_path)
    shutil.copytree(tmp_path / "rules", tmp_path / "candidate")
    (tmp_path / "candidate" / "lead.yaml").write_text(
        (tmp_path / "rules" / "lead.yaml").read_text().replace("stage: Nurture\n", "stage: Nurture-pilot\n"))
    (tmp_path / "revsync.toml").write_text(TOML)
    return tmp_path


def test_promote_copies_the_candidate_and_marks_the_pilot_ended(tmp_path):
    where = workspace(tmp_path)
    proc = revsync(where, "pilot", "end", "fast-lane", "--promote", "--now", "2026-11-30T10:00:00Z")
    assert proc.returncode == 0, proc.stderr
    assert "Nurture-pilot" in (where / "rules" / "lead.yaml").read_text()
    text = (where / "revsync.toml").read_text()
    assert '[pilots.fast-lane]   # EMEA SDRs first\nended = "promoted 2026-11-30"\n' in text
    assert text.startswith("# our settings\n")
    assert load_settings(where / "revsync.toml").pilot("fast-lane").ended == "promoted 2026-11-30"
    again = revsync(where, "pilot", "end", "fast-lane", "--rollback")
    assert again.returncode == 2 and "already ended (promoted 2026-11-30)" in again.stderr


def test_rollback_keeps_the_rules_and_mistakes_exit_2(tmp_path):
    where = workspace(tmp_path)
    before = (where / "rules" / "lead.yaml").read_text()
    assert revsync(where, "pilot", "end", "fast-lane").returncode == 2
    unknown = revsync(where, "pilot", "end", "fastlane", "--rollback")
    assert unknown.returncode == 2 and "pilots: fast-lane" in unknown.stderr
    assert revsync(where, "pilot", "end", "fast-lane", "--rollback").returncode == 0
    assert (where / "rules" / "lead.yaml").read_text() == before
    assert 'ended = "rolled back' in (where / "revsync.toml").read_text()
