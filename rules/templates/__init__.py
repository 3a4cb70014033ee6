"""The files `revsync init` scaffolds, and the example rules the demo runs."""
from __future__ import annotations

from pathlib import Path


def template_dir() -> Path:
    return Path(__file__).resolve().parent / "files"


def example_rules_dir() -> Path:
    return template_dir() / "rules"
