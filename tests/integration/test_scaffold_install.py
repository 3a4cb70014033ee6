"""A rules repository made by `revsync init` says how to install revsync where no package index
serves it: from its git URL (this revsync's own, when it was installed from git) or a path, and
its CI refuses to run with the placeholder rather than failing on `pip install revsync`."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

from packaging.requirements import Requirement
from ruamel.yaml import YAML

from connector.workspace.scaffold import PLACEHOLDER, requirement, scaffold

BARE = re.compile(r"pip install\s+['\"]?revsync\b(?!\s*@)")  # the form no index serves


def install_step(target: Path) -> dict:
    workflow = YAML(typ="safe").load((target / ".github" / "workflows" / "rules.yml").read_text())
    steps = workflow["jobs"]["rules"]["steps"]
    return next(s for s in steps if "pip install" in s.get("run", "")), workflow["env"]["REVSYNC_SOURCE"]


def test_the_scaffold_installs_revsync_from_a_url_or_a_path(tmp_path: Path):
    scaffold(tmp_path / "repo")
    readme = (tmp_path / "repo" / "README.md").read_text()
    step, source = install_step(tmp_path / "repo")
    assert not BARE.search(readme) and not BARE.search(step["run"])
    assert source == PLACEHOLDER and f'pip install "{PLACEHOLDER}"' in readme
    parsed = Requirement(source)  # a requirement pip reads
    assert parsed.name == "revsync" and parsed.url.startswith("git+https://")
    # Left as it is, CI stops at the install step and says what to set.
    env = {**os.environ, "REVSYNC_SOURCE": source}
    proc = subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True)
    assert proc.returncode == 1 and "::error" in proc.stdout and "REVSYNC_SOURCE" in proc.stdout
    # A path works as well: the step hands it to pip as it is (pip stubbed, nothing installed).
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "pip").write_text("#!/bin/sh\necho \"pip $*\"\n")
    (tmp_path / "bin" / "pip").chmod(0o755)
    env = {**env, "REVSYNC_SOURCE": "./vendor/revsync", "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-c", step["run"]], env=env, capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "pip install ./vendor/revsync"


def test_a_revsync_installed_from_git_fills_in_its_own_url(tmp_path: Path):
    direct = json.dumps({"url": "https://git.example.com/ops/revsync.git",
                         "vcs_info": {"vcs": "git", "commit_id": "0123abc", "requested_revision": "v0.1.0"}})
    source = requirement(direct)
    assert source == "revsync @ git+https://git.example.com/ops/revsync.git@v0.1.0"
    assert requirement(json.dumps({"url": "file:///home/me/revsync", "dir_info": {"editable": True}})) is None
    assert requirement(None) is None and requirement("not json") is None
    scaffold(tmp_path, source=source)
    _, written = install_step(tmp_path)
    assert written == source and f'pip install "{source}"' in (tmp_path / "README.md").read_text()
    assert PLACEHOLDER not in (tmp_path / ".github" / "workflows" / "rules.yml").read_text()
