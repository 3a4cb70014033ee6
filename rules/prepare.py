"""Record -> slot list, generated per RuleSet so the per-record path is straight-line code.

Only the fields rules test are read (the facts hold nothing else). Each value is read
as its field's type once; an unreadable value leaves the slot empty, is not "missing",
and is reported in the record's problems.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from .compile import Program
from .model import FieldType
from .values import COERCE, Unreadable, coerce, from_epoch, norm_text


def _getter_code(name: str) -> list[str]:
    lines = [f"    r = g({name!r})"]
    if "." in name:
        head, _, rest = name.partition(".")
        lines += ["    if r is None:",
                  f"        a = g({head!r})",
                  f"        if a.__class__ is dict: r = a.get({rest!r})"]
    return lines


def read_field(name: str, ftype: FieldType, s: int, fold: bool = True) -> list[str]:
    """One field into its three slots, each assigned on every path (no defaults to set first).
    Folded text is made only when some test reads it."""
    x, n, m = f"v[{s}]", f"v[{s + 1}]", f"v[{s + 2}]"
    empty, unread = f"{x} = {n} = None; {m} = True", f"{x} = {n} = None; {m} = False"
    convert = f"x = C[{ftype.value!r}](r)"
    lines = _getter_code(name)
    if ftype.is_text:
        folded = "r.casefold()" if fold else "None"
        return lines + [
            "    if r.__class__ is str:",
            "        r = r.strip()",
            f"        if r: {x} = r; {n} = {folded}; {m} = False",
            f"        else: {empty}",
            f"    elif r is None: {empty}",
            "    else:",
            f"        {convert}",
            f"        if x.__class__ is U: P.append(({name!r}, x)); {unread}",
            f"        elif x is None: {empty}",
            f"        else: {x} = x; {n} = {'x.casefold()' if fold else 'None'}; {m} = False",
        ]
    lines += [f"    if r is None: {empty}"]
    if ftype.is_temporal:
        # Exports repeat the same instants: each distinct text is read once per process.
        cache = "DC" if ftype is FieldType.DATE else "TC"
        lines += [
            "    else:",
            f"        x = {cache}.get(r) if r.__class__ is str else None",
            "        if x is None:",
            f"            {convert}",
            "            if x.__class__ is float and r.__class__ is str:",
            f"                if len({cache}) >= 8192: {cache}.clear()  # bounded: memory stays flat",
            f"                {cache}[r] = x",
        ]
    else:
        # NaN and infinity (JSON reads them) take the slow path, which calls them unreadable.
        fast = {FieldType.NUMBER: "r.__class__ is int or r.__class__ is float and r - r == 0.0",
                FieldType.BOOLEAN: "r.__class__ is bool"}[ftype]
        lines += [f"    elif {fast}: {x} = r; {n} = None; {m} = False", "    else:", f"        {convert}"]
    return lines + [
        f"        if x.__class__ is U: P.append(({name!r}, x)); {unread}",
        f"        elif x is None: {empty}",
        f"        else: {x} = x; {n} = None; {m} = False",
    ]


class Preparer:
    def __init__(self, program: Program):
        self.program = program
        template: list[Any] = [None] * program.width
        for name, s in program.slots.items():
            template[s + 2] = name not in program.inputs  # outputs start missing
        lines = ["def prepare(rec):", "    v = TEMPLATE[:]", "    P = []", "    g = rec.get"]
        for name in program.inputs:
            lines += read_field(name, program.types[name], program.slots[name])
        lines.append("    return v, P")
        self.source = "\n".join(lines)
        namespace: dict[str, Any] = {"TEMPLATE": template, "C": {t.value: f for t, f in COERCE.items()},
                                     "U": Unreadable, "DC": {}, "TC": {}}
        exec(compile(self.source, f"<revsync prepare {program.ruleset.file}>", "exec"), namespace)
        # prepare(record) -> (slot list, [(field, Unreadable)]), as the source above writes it
        self._prepare: Callable[[dict[str, Any]], tuple[list[Any], list[tuple[str, Unreadable]]]] = \
            namespace["prepare"]

    def prepare(self, record: dict[str, Any]) -> tuple[list[Any], list[str]]:
        v, problems = self._prepare(record)
        return v, [bad.note(name) for name, bad in problems]

    def set(self, v: list[Any], name: str, value: Any) -> None:
        s = self.program.slots.get(name)
        if s is None:
            return
        v[s] = value
        v[s + 1] = norm_text(value) if isinstance(value, str) else None
        v[s + 2] = value is None

    @staticmethod
    def raw(record: dict[str, Any], name: str) -> Any:
        value = record.get(name)
        if value is None and "." in name:
            head, _, rest = name.partition(".")
            nested = record.get(head)
            if isinstance(nested, dict):
                value = nested.get(rest)
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def instant(self, record: dict[str, Any], name: str) -> datetime | None:
        value = coerce(self.raw(record, name), FieldType.DATETIME)
        return from_epoch(value) if isinstance(value, float) else None
