"""The JSON Schema of rule files, for editors (e.g. the YAML language server) to validate
and complete as admins type. `revsync rules validate` remains the authority: it also
knows the mapping's fields and checks what a schema cannot (regexes, time zones, order)."""
from __future__ import annotations

from typing import Any

from .model import AssignKind, Op

DURATION: dict[str, Any] = {"type": "string", "pattern": r"^\s*(\d+\s*[mhdw]\s*)+$",
            "description": "30m, 4h, 2d, 1w; business time when a calendar is named"}
SCALAR: dict[str, Any] = {"type": ["string", "number", "boolean"]}


def _condition_ref() -> dict[str, Any]:
    return {"$ref": "#/$defs/condition"}


def _operators() -> dict[str, Any]:
    props: dict[str, Any] = {}
    for op in Op:
        if op in (Op.IN, Op.NOT_IN):
            props[op.value] = {"type": "array", "items": SCALAR, "minItems": 1}
        elif op is Op.BETWEEN:
            props[op.value] = {"type": "array", "items": SCALAR, "minItems": 2, "maxItems": 2}
        elif op is Op.EXISTS:
            props[op.value] = {"type": "boolean"}
        elif op in (Op.OLDER_THAN, Op.NEWER_THAN):
            props[op.value] = DURATION
        elif op is Op.MATCHES:
            props[op.value] = {"type": "string", "format": "regex",
                               "description": "RE2 regex (Python syntax less backreferences and lookaround), "
                                              "case-insensitive, searches (not anchored)"}
        else:
            props[op.value] = SCALAR
    return {"type": "object", "properties": props, "additionalProperties": False, "minProperties": 1}


def _assignment() -> dict[str, Any]:
    return {"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
            "properties": {k.value: {"type": "string"} for k in AssignKind}}


def _entry(extra: dict[str, Any], required: list[str]) -> dict[str, Any]:
    props = {"name": {"type": "string", "minLength": 1}, "description": {"type": "string"},
             "when": _condition_ref(), **extra}
    return {"type": "object", "properties": props, "required": ["name", *required],
            "additionalProperties": False}


CAP = {"type": "integer", "minimum": 0, "maximum": 1_000_000}


def schema() -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://revsync.dev/schema/rules.json",
        "title": "revsync rule file",
        "type": "object",
        "required": ["object"],
        "additionalProperties": False,
        "properties": {
            "object": {"type": "string", "examples": ["Lead", "Opportunity"]},
            "description": {"type": "string"},
            "calendars": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["timezone", "days", "hours"], "additionalProperties": False,
                "properties": {
                    "timezone": {"type": "string", "examples": ["America/New_York"]},
                    "days": {"type": "array", "items": {"enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}},
                    "hours": {"type": "array", "items": {"type": "string", "pattern": r"^\d\d:\d\d$"},
                              "minItems": 2, "maxItems": 2},
                    "holidays": {"type": "string", "description": "country code, optionally -subdivision: US, US-CA"}}}},
            "teams": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["members"], "additionalProperties": False,
                "properties": {"description": {"type": "string"}, "calendar": {"type": "string"},
                               "max_open": CAP, "max_per_day": CAP,
                               "when_full": {"oneOf": [{"enum": ["next", "hold"]}, {
                                   "type": "object", "required": ["queue"], "additionalProperties": False,
                                   "properties": {"queue": {"type": "string"}}}]},
                               "members": {"type": "array", "minItems": 1, "items": {
                    "oneOf": [{"type": "string"}, {"type": "object", "required": ["user"], "additionalProperties": False,
                              "properties": {"user": {"type": "string"}, "max_open": CAP, "max_per_day": CAP,
                                             "weight": {"type": "integer", "minimum": 1}}}]}}}}},
            "availability": {"type": "object", "additionalProperties": False, "properties": {
                "out_of_office": {"type": "string", "description": "CSV beside the rule file: user,from,to"},
                "paused_field": {"type": "string", "description": "a User checkbox: true = takes nothing new"}}},
            "funnel": {"type": "object", "additionalProperties": False, "properties": {
                "qualified": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}}},
            "segment": {"type": "array", "items": _entry({"segment": {"type": "string"}}, ["segment"])},
            "score": {"type": "object", "additionalProperties": False, "properties": {
                "caps": {"type": "object", "additionalProperties": {"type": "number"}},
                "min": {"type": "number"}, "max": {"type": "number"},
                "grade": {"type": "object", "required": ["bands"], "additionalProperties": False, "properties": {
                    "category": {"type": "string"},
                    "bands": {"type": "object", "additionalProperties": {"type": "number"}}}},
                "rules": {"type": "array", "items": _entry(
                    {"points": {"type": "number"}, "category": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}},
                    ["points"])}}},
            "qualify": {"type": "array", "items": _entry({"stage": {"type": "string"}}, ["stage"])},
            "route": {"type": "array", "items": _entry({"assign": _assignment()}, ["assign"])},
            "sla": {"type": "array", "items": _entry({
                "within": DURATION, "calendar": {"type": "string"}, "met_when": _condition_ref(),
                "escalate": _assignment(), "from": {"type": "string"}, "warn_before": DURATION,
                "met_at": {"type": "string"}}, ["within"])},
        },
        "$defs": {
            "condition": {
                "type": "object", "minProperties": 1,
                "properties": {
                    "all": {"type": "array", "items": _condition_ref(), "minItems": 1},
                    "any": {"type": "array", "items": _condition_ref(), "minItems": 1},
                    "not": _condition_ref(),
                },
                "additionalProperties": {"oneOf": [SCALAR, {"type": "array", "items": SCALAR, "minItems": 1},
                                                   _operators()]},
            },
        },
    }
