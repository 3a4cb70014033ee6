"""Small helpers for rule tests: a field schema independent of the shipped mappings."""
from __future__ import annotations

from datetime import datetime, timezone
from textwrap import dedent

from rules.evaluate import Context, Evaluator
from rules.loader import parse_rules
from rules.model import ConfigError, Decision, FieldType as F, RuleSet

FIELDS = {
    "id": F.ID, "title": F.STRING, "industry": F.PICKLIST, "lead_source": F.PICKLIST,
    "email": F.STRING, "email_domain": F.STRING, "employees": F.NUMBER, "annual_revenue": F.NUMBER,
    "state": F.PICKLIST, "country": F.PICKLIST, "status": F.PICKLIST, "rating": F.PICKLIST,
    "converted": F.BOOLEAN, "created_at": F.DATETIME, "last_activity_at": F.DATE,
    "routed_at": F.DATETIME, "owner_id": F.ID, "previous.sla_status": F.PICKLIST,
    "stage_changed_at": F.DATETIME, "owner.is_active": F.BOOLEAN,
    "account.share_of_wallet": F.NUMBER, "account.owner_id": F.ID, "account.name": F.STRING,
}

NOW = datetime(2026, 11, 23, 15, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in New York


def ruleset(text: str, fields: dict | None = None) -> RuleSet:
    return parse_rules(dedent(text), "lead.yaml", fields or FIELDS).ruleset


def problems(text: str, fields: dict | None = None) -> list:
    try:
        loaded = parse_rules(dedent(text), "lead.yaml", fields or FIELDS)
    except ConfigError as exc:
        return exc.problems
    return list(loaded.warnings)


def decide(text_or_rs, records: list[dict], now: datetime = NOW, engine: str = "default",
           **ctx) -> list[Decision]:
    rs = ruleset(text_or_rs) if isinstance(text_or_rs, str) else text_or_rs
    return Evaluator(rs, engine).evaluate_batch(records, Context(now=now, **ctx))


def matches(when: str, record: dict, now: datetime = NOW, fields: dict | None = None) -> bool:
    """Whether a single `when:` (YAML flow text) holds for a record."""
    rs = ruleset(f"""
        object: Lead
        segment:
          - name: hit
            when: {when}
            segment: yes
          - name: miss
            segment: no
        """, fields)
    return Evaluator(rs).evaluate_batch([record], Context(now=now))[0].segment == "yes"
