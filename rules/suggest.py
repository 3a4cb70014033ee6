"""Suggestions for mistyped names ("did you mean ...?"): keys, fields, settings, columns."""
from __future__ import annotations

import difflib
from typing import Iterable


def suggest(word: str, choices: Iterable[str], *, typo: bool = False) -> str | None:
    """The choice `word` most likely stands for, or None when none is close.

    By default the most similar choice by difflib's ratio (at least 0.6): the choices are the
    few names a file may use, and a loose likeness there is worth a hint. With `typo`, only a
    slip of the keyboard counts, and the first such choice in order wins: a choice within one
    edit of `word` (two for choices of six characters or more), a swap of neighbours being one
    edit (`Titel` for `Title`). That is for names that may rightly be something else, such as
    an export's columns, where a looser likeness would flag columns nobody misspelt."""
    if typo:
        return next((c for c in choices if _edits(word, c) <= (1 if len(c) < 6 else 2)), None)
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`did you mean 'x'?` for the closest choice (as `suggest`), or "" when none is close."""
    found = suggest(word, choices)
    return f"did you mean '{found}'?" if found is not None else ""


def _edits(a: str, b: str) -> int:
    """Edit distance counting a swap of neighbours as one edit; 3 for lengths 3 or more apart
    (no choice that far off is a typo, and the table need not be filled)."""
    if abs(len(a) - len(b)) > 2:
        return 3
    prev2: list[int] | None = None
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i]
        for j, cb in enumerate(b, 1):
            cost = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cost = min(cost, prev2[j - 2] + 1)
            row.append(cost)
        prev2, prev = prev, row
    return prev[-1]
