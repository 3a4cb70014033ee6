"""`revsync.toml`: settings and the defaults of command-line options, read and checked once per command.

Every key is typed and checked, and every problem is reported at once as
`revsync.toml:line:col: CODE message (fix)`, like the problems of rule files, before a command
reads or writes anything. tomllib gives values but no positions, so positions come from a scan
of the text for the key (`key =` or a table header); a key the scan cannot place is reported at
its table's header, or at 1:1.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Sequence

from connector.orgs.spec import DEFAULT_ORG, OrgSpec, OrgSpecError, SalesforceOptions
from rules.suggest import suggest
from rules.model import ConfigError, Location, Problem

SETTINGS_FILE = "revsync.toml"
TABLE = "revsync"  # settings live under [revsync]; a file without that table is read as a flat one


class SettingsError(ConfigError):
    """revsync.toml is wrong: every problem is listed; the command did nothing (exit 2)."""

    def __init__(self, problems: list[Problem]):
        super().__init__(problems)
        file = problems[0].loc.file if problems else SETTINGS_FILE
        self.args = (f"{len(problems)} problem(s) in {file}; nothing was read or written. Fix them "
                     "and run the command again",)


class _Bad(Exception):
    def __init__(self, code: str, expected: str):
        super().__init__(expected)
        self.code, self.expected = code, expected


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Bad("S003", "text in quotes")
    return value


def _path(value: Any) -> Path:
    return Path(_text(value))


def _choice(*options: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in options:
            raise _Bad("S005", "one of " + ", ".join(repr(o) for o in options))
        return value
    return check


def _org(value: Any) -> OrgSpec:
    try:
        return OrgSpec.parse(_text(value))
    except OrgSpecError:
        raise _Bad("S005", '"local:PATH" or "salesforce"') from None


def _number(low: float, high: float | None, whole: bool = False) -> Callable[[Any], Any]:
    kind = "a whole number" if whole else "a number"
    bounds = f" from {low} to {high}" if high is not None else f", {low} or more"

    def check(value: Any) -> Any:
        # bool is an int in Python, but `timeout = true` is no number of seconds.
        if isinstance(value, bool) or not isinstance(value, int if whole else (int, float)):
            raise _Bad("S003", kind)
        if not (low <= value and (high is None or value <= high)):  # also false for nan
            raise _Bad("S004", kind + bounds)
        return value if whole else float(value)
    return check


def _percent(value: Any, example: str) -> Any:
    """Text such as "5%" as the number it means; anything else as it is."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise _Bad("S003", f"a share such as {example}") from None
    return value


def _fraction(value: Any) -> float:
    """A share from 0 to 1, as a number or as text such as "5%": as the command line takes it."""
    return float(_number(0, 1)(_percent(value, '"20%" or 0.2')))


def _key(check: Callable[[Any], Any], example: str, default: Any = None, factory: Any = None) -> Any:
    meta = {"check": check, "example": example}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Pilot:
    """`[pilots.NAME]`: a trial of candidate rules on a share of a micro-segment (docs/report.md)."""

    name: str
    rules: Path  # the candidate rules directory the pilot arm is decided by
    share: float  # of the records in the segment, from 0 (exclusive) to 1
    when: str | None = None  # the segment, a condition in the rule syntax; None: every record
    arm_field: str = "Revsync_Pilot_Arm__c"  # the CRM field the arm is written to
    ended: str | None = None  # "promoted 2026-12-01" or "rolled back ...": the sync leaves it alone


PILOTS = "pilots"  # a table of tables beside [revsync]: [pilots.NAME]
PILOT_KEYS = {"rules": ("S003", '"rules-candidate"'), "share": ("S004", '"10%" or 0.1'),
              "when": ("S003", "\"{state: [CA, WA]}\""), "arm_field": ("S003", '"Revsync_Pilot_Arm__c"'),
              "ended": ("S003", '"promoted 2026-12-01"')}


def _share(value: Any) -> float:
    """A share from 0 (exclusive) to 1: a number, or text such as "10%"."""
    value = _percent(value, '"10%" or 0.1')
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad("S003", 'a share such as "10%" or 0.1')
    if not 0 < value <= 1:  # also false for nan
        raise _Bad("S004", "a share above 0 and at most 1 (100%)")
    return float(value)


def _pilots(tables: Any, at: Callable[[tuple[str, ...]], Location]) -> tuple[tuple[Pilot, ...], list[Problem]]:
    """Every `[pilots.NAME]` table, checked; problems located at their keys."""
    if not isinstance(tables, dict):
        return (), [Problem("S003", f"`{PILOTS}` must be tables, one per pilot", at((PILOTS,)),
                            f"write [{PILOTS}.NAME] with rules, share and when")]
    pilots, problems = [], []
    for name, spec in tables.items():
        where = (PILOTS, name)
        if not isinstance(spec, dict):
            problems.append(Problem("S003", f"pilot {name!r} must be a table", at(where),
                                    f'write [{PILOTS}.{name}] then rules = "...", share = "10%"'))
            continue
        values: dict[str, Any] = {}
        for key, value in spec.items():
            if key not in PILOT_KEYS:
                close = suggest(key, sorted(PILOT_KEYS))
                problems.append(Problem("S002", f"unknown pilot setting {key!r}", at((*where, key)),
                                        f"did you mean {close!r}?" if close else
                                        f"pilot settings: {', '.join(sorted(PILOT_KEYS))}"))
                continue
            try:
                values[key] = _share(value) if key == "share" else _text(value)
            except _Bad as bad:
                problems.append(Problem(bad.code, f"{PILOTS}.{name}.{key} = {_shown(value)}: expected {bad.expected}",
                                        at((*where, key)), f"e.g. {key} = {PILOT_KEYS[key][1]}"))
        missing = [k for k in ("rules", "share") if k not in spec]
        for key in missing:
            problems.append(Problem("S006", f"pilot {name!r} has no {key}", at(where),
                                    f"add {key} = {PILOT_KEYS[key][1]}"))
        if not problems and not missing:
            pilots.append(Pilot(name, Path(values["rules"]), values["share"], values.get("when"),
                                values.get("arm_field", Pilot.arm_field), values.get("ended")))
    return tuple(pilots), problems


@dataclass(frozen=True)
class Settings:
    """What revsync.toml may set, with the default when it does not. Command-line options win."""

    rules: Path = _key(_path, '"rules"', Path("rules"))
    mappings: Path | None = _key(_path, '"mappings"')  # None: the shipped mappings
    object: str = _key(_text, '"Lead"', "Lead")
    engine: str = _key(_choice("default", "durable"), '"default"', "default")
    org: OrgSpec = _key(_org, f'"{DEFAULT_ORG}"', factory=lambda: OrgSpec.parse(DEFAULT_ORG))
    state: Path | None = _key(_path, '".revsync/state.db"')  # None: one per org under state_dir
    state_dir: Path | None = _key(_path, '"/var/lib/revsync"')  # None: $REVSYNC_STATE_DIR, else .revsync
    max_change_share: float = _key(_fraction, '"20%" or 0.2', 0.2)
    page_size: int = _key(_number(1, 10_000, whole=True), "200", 200)
    # The Salesforce connector's (docs/salesforce.md); the embedded org ignores them.
    timeout: float = _key(_number(1, 3600), "60", 60.0)
    attempts: int = _key(_number(1, 10, whole=True), "5", 5)  # a job with a short slot: fewer, sooner failure
    api_floor: int = _key(_number(0, None, whole=True), "1000", 1000)
    lag_seconds: float = _key(_number(0, 3600), "30", 30.0)
    bulk_query_threshold: int = _key(_number(0, None, whole=True), "50000", 50_000)  # 0: never
    bulk_write_threshold: int = _key(_number(0, None, whole=True), "2000", 2_000)  # 0: never
    pilots: tuple[Pilot, ...] = ()  # the [pilots.NAME] tables, read apart from the keys above

    def pilot(self, name: str) -> Pilot | None:
        return next((p for p in self.pilots if p.name == name), None)

    @property
    def salesforce(self) -> SalesforceOptions:
        return SalesforceOptions(timeout=self.timeout, api_floor=self.api_floor, lag_seconds=self.lag_seconds,
                                 bulk_query_threshold=self.bulk_query_threshold,
                                 bulk_write_threshold=self.bulk_write_threshold, attempts=self.attempts)


KEYS = {f.name: f for f in fields(Settings) if "check" in f.metadata}


def load_settings(path: Path = Path(SETTINGS_FILE)) -> Settings:
    """The settings of `path` (the defaults when there is no such file); SettingsError with every
    problem when it is not valid TOML, names a key revsync does not know, or holds a value of
    the wrong type or out of range."""
    if not path.is_file():
        return Settings()
    raw = path.read_bytes()
    file = str(path)
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        before = raw[:exc.start]
        where = Location(file, before.count(b"\n") + 1, len(before) - before.rfind(b"\n"))
        raise SettingsError([Problem("S001", "not UTF-8 text", where, "save the file as UTF-8")]) from None
    except tomllib.TOMLDecodeError as exc:
        message, line, col = _decode_error(str(exc), text)
        raise SettingsError([Problem("S001", f"not valid TOML: {message}", Location(file, line, col),
                                     "fix the line it names, or move the file aside")]) from None
    positions = key_positions(text)
    table: tuple[str, ...] = (TABLE,) if TABLE in data else ()
    values = data.get(TABLE, data)

    def at(key: str | None) -> Location:
        for scope in ([(*table, key)] if key is not None else []) + [table, (TABLE,)]:
            if scope in positions:
                return Location(file, *positions[scope])
        return Location(file, 1, 1)

    if not isinstance(values, dict):
        raise SettingsError([Problem("S003", f"`{TABLE}` must be a table", at(None),
                                     f"write the settings under a [{TABLE}] line")])
    problems: list[Problem] = []
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if key == PILOTS and not table:  # a flat file's [pilots.NAME] tables are read below
            continue
        spec = KEYS.get(key)
        if spec is None:
            problems.append(Problem("S002", f"unknown setting {key!r}", at(key), _suggest(key, bool(table))))
            continue
        try:
            converted[key] = spec.metadata["check"](value)
        except _Bad as bad:
            problems.append(Problem(bad.code, f"{key} = {_shown(value)}: expected {bad.expected}", at(key),
                                    f"e.g. {key} = {spec.metadata['example']}"))
    if PILOTS in data:
        converted[PILOTS], found = _pilots(data[PILOTS], lambda path: Location(file, *positions.get(path, (1, 1))))
        problems += found
    if problems:
        raise SettingsError(problems)
    return Settings(**converted)


def _suggest(key: str, in_table: bool) -> str:
    known = sorted(KEYS)
    # A flat file's misspelt table header is a key too: [revsynk] may mean [revsync].
    close = suggest(key, known if in_table else [*known, TABLE])
    if close:
        return f"did you mean {'[' + TABLE + ']' if close == TABLE else repr(close)}?"
    return f"known settings (under [{TABLE}]): {', '.join(known)}"


def _shown(value: Any) -> str:
    shown = str(value).lower() if isinstance(value, bool) else repr(value)  # as TOML spells it
    return shown if len(shown) <= 60 else shown[:57] + "..."


def _decode_error(message: str, text: str) -> tuple[str, int, int]:
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        return message[:found.start()], int(found[1]), int(found[2])
    if message.endswith("(at end of document)"):
        lines = text.splitlines() or [""]
        return message[:-len("(at end of document)")].rstrip(), len(lines), len(lines[-1]) + 1
    return message, 1, 1


_PART = r'(?:[A-Za-z0-9_-]+|"[^"\n]*"|\'[^\'\n]*\')'
_KEY = re.compile(rf"\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")
_HEADER = re.compile(rf"\s*\[\[?\s*({_PART}(?:\s*\.\s*{_PART})*)\s*\]\]?\s*(?:#.*)?$")


def key_positions(text: str) -> dict[tuple[str, ...], tuple[int, int]]:
    """Where each key and table of a TOML text starts, as 1-based (line, column), by its full
    dotted path: `[revsync]` then `page_size = 0` gives ("revsync", "page_size"). Lines inside
    multi-line strings are passed over; the first place wins."""
    positions: dict[tuple[str, ...], tuple[int, int]] = {}
    scope: tuple[str, ...] = ()
    in_string = False
    for number, line in enumerate(text.splitlines(), 1):
        quotes = line.count('"""') + line.count("'''")
        if in_string:
            in_string = quotes % 2 == 0
            continue
        header = _HEADER.match(line)
        found = header or _KEY.match(line)
        if found:
            path = _split(found[1])
            full = path if header else (*scope, *path)
            for end in range(len(full) - len(path) + 1, len(full) + 1):
                positions.setdefault(full[:end], (number, found.start(1) + 1))
            if header:
                scope = full
        in_string = quotes % 2 == 1
    return positions


def _split(dotted: str) -> tuple[str, ...]:
    parts: Sequence[str] = re.findall(_PART, dotted)
    return tuple(p[1:-1] if p[0] in "\"'" else p for p in parts)
