"""`revsync init`: a rules repository to start from."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from mappings import default_dir
from rules.templates import template_dir

# What the scaffold's README and CI workflow install until someone says where revsync lives:
# no package index serves it, so `pip install revsync` would fail in every rules repository.
PLACEHOLDER = "revsync @ git+https://github.com/CHANGE-ME/revsync.git"
NAMES_SOURCE = ("README.md", "rules.yml")  # the scaffold's files that say how to install revsync


def requirement(direct_url: str | None) -> str | None:
    """pip's requirement for this revsync when it was installed from a git URL, read from the
    installation's `direct_url.json` (PEP 610): `revsync @ git+https://...@<ref>`. None for
    any other installation (a local path means nothing on a CI runner)."""
    try:
        info = json.loads(direct_url or "null")
    except ValueError:
        return None
    vcs = info.get("vcs_info") if isinstance(info, dict) else None
    if not isinstance(vcs, dict) or vcs.get("vcs") != "git" or not info.get("url"):
        return None
    ref = vcs.get("requested_revision") or vcs.get("commit_id")
    return f"revsync @ git+{info['url']}" + (f"@{ref}" if ref else "")


def installed_requirement() -> str | None:
    """`requirement()` of the revsync running now, if it came from git."""
    from importlib.metadata import PackageNotFoundError, distribution
    try:
        return requirement(distribution("revsync").read_text("direct_url.json"))
    except PackageNotFoundError:
        return None


def scaffold(directory: Path, force: bool = False, source: str | None = None) -> tuple[list[Path], list[Path]]:
    """Copy the templates and the shipped mappings into `directory`; keep existing files
    unless `force`. `source`: how the README and CI install revsync (a pip requirement or a
    path), instead of the placeholder they say to replace. Returns (written, skipped)."""
    written: list[Path] = []
    skipped: list[Path] = []
    sources = [(p, p.relative_to(template_dir())) for p in sorted(template_dir().rglob("*")) if p.is_file()]
    sources += [(p, Path("mappings") / p.name) for p in sorted(default_dir().glob("*.yaml"))]
    for origin, relative in sources:
        if "__pycache__" in relative.parts:
            continue
        target = directory / relative
        if target.exists() and not force:
            skipped.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        if source and relative.name in NAMES_SOURCE:
            target.write_text(origin.read_text(encoding="utf-8").replace(PLACEHOLDER, source), encoding="utf-8")
        else:
            shutil.copyfile(origin, target)
        written.append(target)
    return written, skipped
