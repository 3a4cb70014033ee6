"""The score section of a rule file: points, categories, caps, bounds and grade bands.

A mixin of the rule file parser (rules/parse.py), reporting through its `err`. Every number is
finite and within MAX_SCORE either way, so sums of points can never overflow to infinity.
"""
from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

from .conditions import FieldScope
from .model import Calendar, Grade, Location, Rule, ScoreConfig, Section, Severity, Team
from .source import Node
from .suggest import did_you_mean

SCORE_KEYS = ("caps", "min", "max", "grade", "rules")
MAX_SCORE = 1e9  # points, caps, min, max and grade bands


class ScoreParser:
    categories: set[str]

    if TYPE_CHECKING:  # the rule file parser's (rules/parse.py), which this class is mixed into
        def err(self, code: str, message: str, loc: Location, fix: str = "",
                severity: Severity = Severity.ERROR) -> None: ...

        def unknown_keys(self, node: Node, allowed: tuple[str, ...], where: str) -> None: ...

        def entry_list(self, node: Node, what: str) -> list[Node]: ...

        def entry(self, section: Section, entry: Node, index: int, scope: FieldScope, calendars: dict[str, Calendar],
                  teams: dict[str, Team], names: dict[str, Location]) -> Rule | None: ...

    def points(self, entry: Node, kwargs: dict[str, Any]) -> bool:
        node = entry.get("points")
        if node is None or not _is_number(node.value):
            self.err("E122" if node is None else "E112", "score rule needs numeric `points:` (a finite number)",
                     (node or entry).loc, "e.g. points: 20 (negative numbers take points away)")
            return False
        kwargs["points"] = self.bounded(node, "points")
        if kwargs["points"] is None:
            return False
        cat = entry.get("category")
        if cat is not None:
            if not isinstance(cat.value, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", cat.value):
                self.err("E112", f"bad category {cat.value!r}", cat.loc,
                         "categories are lower-case words, e.g. fit, engagement")
                return False
            kwargs["category"] = cat.value
        return True

    def bounded(self, node: Node, what: str) -> float | None:
        """A score number within MAX_SCORE either way: the sum of every rule's points then
        stays finite (two points of 1e308 add up to inf, which JSON cannot carry)."""
        try:
            value = float(node.value)
        except OverflowError:  # an integer of hundreds of digits
            value = math.inf
        if abs(value) <= MAX_SCORE:
            return value
        shown = f"{value:g}" if math.isfinite(value) else f"a {len(str(node.value))}-digit number"
        self.err("E125", f"{what}: {shown} is beyond {MAX_SCORE:,.0f} either way", node.loc,
                 "scores add up points: use numbers such as 20 or -15")
        return None

    def score_categories(self, node: Node | None) -> set[str]:
        cats: set[str] = set()
        rules = node.get("rules") if node is not None and node.is_map else None
        for entry in (rules.value if rules is not None and rules.is_seq else []):
            cat = entry.get("category") if entry.is_map else None
            cats.add(cat.value if cat is not None and isinstance(cat.value, str) else "other")
        return cats

    def score(self, node: Node, scope: FieldScope) -> tuple[ScoreConfig | None, list[Rule]]:
        if not node.is_map:
            self.err("E102", "`score` must be a mapping with `rules:`", node.loc,
                     "write score:\n  rules:\n    - name: ...")
            return None, []
        self.unknown_keys(node, SCORE_KEYS, "score")
        rules: list[Rule] = []
        names: dict[str, Location] = {}
        rules_node = node.get("rules")
        for index, entry in enumerate(self.entry_list(rules_node, "score.rules") if rules_node else []):
            rule = self.entry(Section.SCORE, entry, index, scope, {}, {}, names)
            if rule is not None:
                rules.append(rule)
        caps = []
        caps_node = node.get("caps")
        if caps_node is not None:
            if not caps_node.is_map:
                self.err("E102", "`caps` must map category to maximum", caps_node.loc, "e.g. caps: {fit: 60}")
            for cat, cap in caps_node.items():
                if cat not in self.categories:
                    self.err("E120", f"cap on category '{cat}' that no score rule uses",
                             caps_node.key_loc(cat), did_you_mean(cat, self.categories) or
                             f"categories in use: {', '.join(sorted(self.categories)) or 'none'}")
                if not _is_number(cap.value):
                    self.err("E112", f"cap for '{cat}' must be a number", cap.loc)
                elif self.bounded(cap, f"cap for '{cat}'") is not None:
                    caps.append((cat, float(cap.value)))
        bounds = {}
        for key in ("min", "max"):
            b = node.get(key)
            if b is not None and not _is_number(b.value):
                self.err("E112", f"score `{key}` must be a number", b.loc)
            elif b is not None and self.bounded(b, f"score `{key}`") is not None:
                bounds[key] = float(b.value)
        if "min" in bounds and "max" in bounds and bounds["min"] > bounds["max"]:
            self.err("E112", "score `min` is above `max`", (node.get("min") or node).loc)
        grade = self.grade(node.get("grade"))
        return ScoreConfig(tuple(caps), bounds.get("min"), bounds.get("max"), grade), rules

    def grade(self, node: Node | None) -> Grade | None:
        if node is None:
            return None
        if not node.is_map:
            self.err("E102", "`grade` must be a mapping", node.loc,
                     "e.g. grade: {category: fit, bands: {A: 45, B: 30}}")
            return None
        self.unknown_keys(node, ("category", "bands"), "grade")
        cat_node = node.get("category")
        category = None
        if cat_node is not None:
            category = str(cat_node.value)
            if category not in self.categories:
                self.err("E120", f"grade bands on category '{category}', which no score rule uses",
                         cat_node.loc, did_you_mean(category, self.categories) or
                         "remove `category` to grade the total score, or add rules to it")
        bands_node = node.get("bands")
        if bands_node is None or not bands_node.is_map or not bands_node.value:
            self.err("E122", "grade needs `bands:` (grade: lowest score)", node.loc,
                     "e.g. bands: {A: 45, B: 30, C: 15, D: 0}")
            return None
        bands = []
        for label, threshold in bands_node.items():
            if not _is_number(threshold.value):
                self.err("E112", f"band '{label}' needs a number", threshold.loc)
            elif self.bounded(threshold, f"band '{label}'") is not None:
                bands.append((label, float(threshold.value)))
        bands.sort(key=lambda b: -b[1])
        return Grade(category, tuple(bands), node.loc)


def _is_number(value: object) -> bool:
    """A finite number: YAML's .inf and .nan would make every score infinite or unordered."""
    if isinstance(value, int) and not isinstance(value, bool):
        return True  # whatever its size: `bounded` says when it is too large
    return isinstance(value, float) and math.isfinite(value)
