"""Lead-to-account matching by domain, pure (the caller reads the accounts once per run).

A lead matches the account whose website domain equals the lead's email or website domain.
Free-mail domains never match. Among several accounts with one domain the tie-break is: the
account whose owner is active (when known), then the most recently modified, then the lowest Id.
"""
from __future__ import annotations

from typing import Any, Iterable

from .inbound import domain_of
from .model import Mapping

FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "outlook.com",
    "hotmail.com", "hotmail.co.uk", "live.com", "msn.com", "icloud.com", "me.com", "mac.com",
    "aol.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "web.de", "mail.com",
    "yandex.ru", "qq.com", "163.com",
})


class AccountMatcher:
    def __init__(self, mapping: Mapping, accounts: Iterable[dict[str, Any]],
                 inactive_owners: frozenset[str] = frozenset()):
        rel = next((r for r in mapping.related if r.name == "account"), None)
        if rel is None or rel.match is None:
            raise ValueError(f"mapping for {mapping.object} has no account matching")
        self.on = rel.match.on
        against = next(f for f in rel.fields if f.name == rel.match.against)
        source = against.crm or next(f.crm for f in rel.fields if f.name == against.source)
        best: dict[str, dict] = {}
        for account in accounts:
            domain = domain_of(account.get(source))
            if domain is None or domain in FREE_MAIL:
                continue
            current = best.get(domain)
            if current is None or self._rank(account, inactive_owners) < self._rank(current, inactive_owners):
                best[domain] = account
        self.by_domain = best

    @staticmethod
    def _rank(account: dict, inactive: frozenset[str]) -> tuple:
        owner_inactive = str(account.get("OwnerId") or "").casefold() in inactive
        stamp = str(account.get("SystemModstamp") or account.get("LastModifiedDate") or "")
        # Sorting ascending: active owner first, newest first (negated by inverting characters), lowest Id.
        return (owner_inactive, _desc(stamp), str(account.get("Id") or ""))

    def match(self, rule_record: dict) -> dict | None:
        for name in self.on:
            domain = rule_record.get(name)
            if domain and domain not in FREE_MAIL:
                found = self.by_domain.get(domain)
                if found is not None:
                    return found
        return None


def _desc(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)
