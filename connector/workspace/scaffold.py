"""`revsync init`: a rules repository to start from."""
from __future__ import annotations

import shutil
from pathlib import Path

from mappings import default_dir
from rules.templates import template_dir


def scaffold(directory: Path, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Copy the templates and the shipped mappings into `directory`; keep existing files
    unless `force`. Returns (written, skipped)."""
    written: list[Path] = []
    skipped: list[Path] = []
    sources = [(p, p.relative_to(template_dir())) for p in sorted(template_dir().rglob("*")) if p.is_file()]
    sources += [(p, Path("mappings") / p.name) for p in sorted(default_dir().glob("*.yaml"))]
    for source, relative in sources:
        if "__pycache__" in relative.parts:
            continue
        target = directory / relative
        if target.exists() and not force:
            skipped.append(target)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        written.append(target)
    return written, skipped
