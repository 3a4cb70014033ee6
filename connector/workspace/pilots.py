"""Pilots: which records a pilot covers and which arm each is in, for the sync that decides them
and the report that compares the arms.

A record's arm is a pure function of its Id and the pilot's name: the same record lands in the
same arm on every run and every machine, without any state, and two pilots split independently.
"""
from __future__ import annotations

import hashlib
import re
import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Callable

from rules.evaluate import Context, Evaluator
from rules.loader import find_rule_file, load, parse_rules
from rules.model import RevsyncError
from rules.values import id18

from connector.workspace.settings import Pilot
from connector.workspace.workspace import Workspace

PILOT, CONTROL = "pilot", "control"
_SCALE = 2 ** 64


def arm_of(record_id: str, pilot: str, share: float) -> str:
    """`pilot` or `control`: where the record's hash (SHA-256 of the pilot's name and the
    record's 18-character Id, so 15- and 18-character forms agree) falls against the share."""
    digest = hashlib.sha256(f"{pilot}\n{id18(str(record_id).strip())}".encode()).digest()
    return PILOT if int.from_bytes(digest[:8], "big") < share * _SCALE else CONTROL


def assign_arm(record_id: str, pilot: str, share: float, in_segment: bool) -> str | None:
    """The record's arm, or None when it is outside the pilot's segment."""
    return arm_of(record_id, pilot, share) if in_segment else None


def segment_filter(ws: Workspace, pilot: Pilot, now: datetime) -> Callable[[list[dict]], list[bool]]:
    """The pilot's `when` compiled like a one-entry segment section (a ConfigError, exit 2, says
    what is wrong with it); no `when`: every record is in the segment."""
    if not pilot.when:
        return lambda records: [True] * len(records)
    text = (f"object: {ws.object}\nsegment:\n  - name: pilot {pilot.name}\n    when: {pilot.when}\n"
            f"    segment: 'in'\n")
    evaluator = Evaluator(parse_rules(text, f"revsync.toml [pilots.{pilot.name}] when",
                                      ws.mapping.rule_fields()).ruleset)
    return lambda records: [d.segment == "in" for d in evaluator.evaluate_batch(records, Context(now=now))]


def candidate_workspace(ws: Workspace, pilot: Pilot) -> Workspace:
    """The pilot's candidate rules for the workspace's object, read with the same mapping (a
    ConfigError, exit 2, lists their problems)."""
    loaded = load(pilot.rules, ws.mapping.object, ws.mapping.rule_fields())
    return Workspace(ws.object, ws.mapping, loaded.ruleset, loaded.warnings, pilot.rules)


def end_pilot(settings_file: Path, pilot: Pilot, rules_dir: Path, object: str, promote: bool, today: date) -> list[str]:
    """End a pilot: with `promote`, the candidate's rule file replaces the current one; either way
    `ended = "..."` goes into its `[pilots.NAME]` table (the rest of the file, comments included,
    stays as written), so the sync stops deciding by the candidate. Returns what was done."""
    if pilot.ended:
        raise RevsyncError(f"pilot {pilot.name!r} already ended ({pilot.ended})")
    done = []
    if promote:
        source = find_rule_file(pilot.rules, object)
        target = find_rule_file(rules_dir, object)
        shutil.copyfile(source, target)
        done.append(f"copied {source} over {target}: review it and commit it with the rules")
    word = "promoted" if promote else "rolled back"
    text = settings_file.read_text(encoding="utf-8")
    header = re.compile(rf"^\[\s*pilots\s*\.\s*(\"{re.escape(pilot.name)}\"|{re.escape(pilot.name)})\s*\]\s*(#.*)?$",
                        re.MULTILINE)
    found = header.search(text)
    if found is None:
        raise RevsyncError(f"{settings_file} has no [pilots.{pilot.name}] table to mark as ended; "
                           f'add ended = "{word} {today}" to where the pilot is declared')
    line = f'ended = "{word} {today}"\n'
    settings_file.write_text(text[:found.end()] + "\n" + line.rstrip("\n") + text[found.end():], encoding="utf-8")
    done.append(f"{settings_file}: [pilots.{pilot.name}] {line.strip()}")
    done.append(f"the next sync re-decides every open {object} by {rules_dir} (its change guard shows how many "
                f"move; `revsync preview` first); the arms stay on the records for `revsync report --pilot "
                f"{pilot.name}`")
    return done
