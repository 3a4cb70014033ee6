"""`availability:` in a rule file: the out-of-office file beside it and the User checkbox that
pauses a member. The file is read when the rules are loaded, so that its problems are reported
with the rule file's, before a run reads or writes anything."""
from __future__ import annotations

import csv
import re
from datetime import date
from pathlib import Path
from typing import Callable

from .model import Absence, Availability, Location, Team
from .source import Node
from .suggest import did_you_mean

MAX_BYTES = 1024 * 1024  # thousands of absences; anything bigger is not an out-of-office list
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
Report = Callable[[str, str, Location, str], None]  # code, message, where, fix


def parse_availability(node: Node | None, rule_file: str, teams: dict[str, Team], err: Report) -> Availability:
    if node is None:
        return Availability()
    example = "e.g. availability: {out_of_office: out-of-office.csv, paused_field: Revsync_Paused__c}"
    if not node.is_map:
        err("E102", "`availability` must be a mapping", node.loc, example)
        return Availability()
    for key, _ in node.items():
        if key not in ("out_of_office", "paused_field"):
            err("E101", f"unknown key '{key}' in `availability`", node.key_loc(key),
                did_you_mean(key, ("out_of_office", "paused_field")) or "it takes out_of_office, paused_field")
    paused = node.get("paused_field")
    paused_field = None
    if paused is not None:
        text = paused.value.strip() if isinstance(paused.value, str) else ""
        if API_NAME.match(text):
            paused_field = text
        else:
            err("E102", f"paused_field must be a User field's API name, got {paused.plain()!r}", paused.loc,
                "e.g. paused_field: Revsync_Paused__c (a checkbox on User)")
    ooo = node.get("out_of_office")
    absences: tuple[Absence, ...] = ()
    if ooo is not None:
        name = ooo.value.strip() if isinstance(ooo.value, str) else ""
        if not name or Path(name).is_absolute() or ".." in Path(name).parts:
            err("E128", f"out_of_office must name a CSV file beside the rule file, got {ooo.plain()!r}", ooo.loc,
                "e.g. out_of_office: out-of-office.csv (columns user,from,to)")
        else:
            absences = read_absences(Path(rule_file).parent / name, ooo.loc, teams, err)
    return Availability(absences, paused_field)


def read_absences(path: Path, named_at: Location, teams: dict[str, Team], err: Report) -> tuple[Absence, ...]:
    shown = str(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            err("E128", f"{shown} is larger than {MAX_BYTES // 1024} KB", named_at,
                "keep only current and future absences in it")
            return ()
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        err("E128", f"out-of-office file not found: {shown}", named_at,
            "create it beside the rule file with the header user,from,to")
        return ()
    except (OSError, UnicodeDecodeError) as exc:
        err("E128", f"cannot read {shown}: {exc}", named_at, "save it as UTF-8 CSV")
        return ()
    lines = text.splitlines()
    rows = list(csv.reader(lines))
    header = [h.strip().casefold() for h in rows[0]] if rows else []
    if header[:3] != ["user", "from", "to"]:
        err("E128", f"{shown} must start with the header user,from,to", Location(shown, 1, 1),
            "e.g.\n  user,from,to\n  bob@acme.example,2026-11-23,2026-11-27")
        return ()
    members = {u.casefold(): u for t in teams.values() for u, _ in t.members}
    out: list[Absence] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        line = lines[number - 1] if number - 1 < len(lines) else ""

        def at(cell: str, column: int) -> Location:
            found = line.find(cell) if cell else -1
            return Location(shown, number, found + 1 if found >= 0 else column)

        cells = [c.strip() for c in row] + ["", "", ""]
        user, first_text, last_text = cells[:3]
        if not user:
            err("E128", "a row without a user", at("", 1), "write user,from,to on every row")
            continue
        if user.casefold() not in members:
            err("E128", f"unknown user '{user}': no team in the rule file has this member", at(user, 1),
                did_you_mean(user, list(members.values())) or "write the member as the team lists them")
            continue
        first, last = _date(first_text), _date(last_text)
        if first is None or last is None:
            bad = first_text if first is None else last_text
            err("E128", f"not a date: {bad!r}", at(bad, 1), "write dates as YYYY-MM-DD, e.g. 2026-11-23")
            continue
        if last < first:
            err("E129", f"the range {first_text}..{last_text} ends before it starts", at(last_text, 1),
                "swap the dates: from is the first day out, to the last (inclusive)")
            continue
        out.append(Absence(members[user.casefold()], first, last, at(user, 1)))
    _overlaps(out, err)
    return tuple(out)


def _overlaps(absences: list[Absence], err: Report) -> None:
    by_user: dict[str, list[Absence]] = {}
    for a in absences:
        by_user.setdefault(a.user.casefold(), []).append(a)
    for spans in by_user.values():
        spans.sort(key=lambda a: a.first)
        for before, after in zip(spans, spans[1:]):
            if after.first <= before.last:
                err("E129", f"{after.user}: {after.first}..{after.last} overlaps {before.first}..{before.last} "
                    f"(line {before.loc.line})", after.loc, "merge the two rows into one range")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        return None


def absent(availability: Availability, user: str, day: date) -> Absence | None:
    """The absence that keeps `user` (as a team lists them) out on `day`, if any."""
    key = user.casefold()
    return next((a for a in availability.out_of_office
                 if a.user.casefold() == key and a.first <= day <= a.last), None)
