"""Lead-to-account matching by domain, pure: the caller reads the accounts once per run.

Leads have no account lookup in Salesforce, so a lead is matched to the account whose domain
(by default: the domain of its Website) equals one of the lead's domain fields, tried in the
order the mapping's `match.on` lists them (email_domain, then website_domain):

1. exact domain: `bob@eu.acme.com` matches an account at `eu.acme.com`;
2. else a parent domain: `bob@eu.acme.com` matches an account at `acme.com` (never a bare
   public suffix such as `co.uk`, and never through shared hosting such as `github.io`);
3. free-mail domains (gmail.com, yahoo.com, outlook.com, ...) never match, on either side.

When several accounts share the domain: the account whose owner is active (when known: from
`inactive_owners`, or the account's own `Owner.IsActive`), then the most recently modified
(SystemModstamp, else LastModifiedDate; a missing date counts as oldest), then the lowest Id.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping as MappingABC, NamedTuple

from rules.values import parse_bool, parse_instant

from .inbound import domain_of
from .model import Mapping, Related

FREE_MAIL = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "yahoo.co.jp",
    "ymail.com", "rocketmail.com", "outlook.com", "outlook.fr", "outlook.de", "hotmail.com",
    "hotmail.co.uk", "hotmail.fr", "hotmail.de", "live.com", "live.co.uk", "msn.com", "icloud.com",
    "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com", "pm.me", "gmx.de", "gmx.net",
    "gmx.com", "web.de", "t-online.de", "mail.com", "mail.ru", "yandex.ru", "yandex.com", "qq.com",
    "163.com", "126.com", "fastmail.com", "hey.com", "tutanota.com", "zohomail.com", "comcast.net",
    "verizon.net", "att.net", "sbcglobal.net", "btinternet.com", "orange.fr", "free.fr", "laposte.net",
    "libero.it", "naver.com", "rediffmail.com",
})
# Second-level public suffixes: a parent domain is never one of these.
PUBLIC_SUFFIXES = frozenset({
    "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "com.au", "net.au", "org.au",
    "edu.au", "gov.au", "co.nz", "org.nz", "co.jp", "ne.jp", "or.jp", "co.kr", "co.in", "firm.in",
    "net.in", "org.in", "com.br", "net.br", "com.mx", "com.ar", "com.cn", "net.cn", "org.cn",
    "com.hk", "com.sg", "com.tw", "com.tr", "co.za", "co.il", "com.my", "com.ph", "com.pl",
    "co.id", "co.th", "com.vn", "com.ua", "com.co", "com.pe", "com.sa", "com.eg", "com.ng",
})
# Shared hosting: `acme.github.io` is not GitHub's, so its parent never matches.
SHARED_HOSTS = frozenset({
    "github.io", "gitlab.io", "herokuapp.com", "netlify.app", "vercel.app", "pages.dev",
    "myshopify.com", "wixsite.com", "wordpress.com", "blogspot.com", "squarespace.com",
    "webflow.io", "azurewebsites.net", "cloudfront.net", "amazonaws.com", "appspot.com",
    "firebaseapp.com", "web.app", "sites.google.com", "carrd.co", "notion.site", "substack.com",
})


class AccountMatch(NamedTuple):
    account: dict[str, Any]  # the CRM-named account record
    field: str  # the record's field that matched (e.g. email_domain)
    domain: str  # the domain looked up (the record's, or its parent)
    exact: bool


class AccountMatcher:
    """Accounts indexed by domain once; `match` is a few dict lookups per record."""

    def __init__(self, mapping: Mapping, accounts: Iterable[MappingABC[str, Any]],
                 inactive_owners: Iterable[str] = frozenset(), free_mail: Iterable[str] = FREE_MAIL):
        rel = mapping.relation("account")
        if rel is None or rel.match is None:
            raise ValueError(f"the {mapping.object} mapping has no `related: account` with `match:`")
        self.on = rel.match.on
        self.free_mail = frozenset(d.casefold() for d in free_mail)
        self._domain_source = _read_as(rel, rel.match.against)
        self._id = _crm(rel, "id", "Id")
        self._owner = _crm(rel, "owner_id", "OwnerId")
        self._stamps = tuple(dict.fromkeys([_crm(rel, "modified_at", "SystemModstamp"),
                                            "SystemModstamp", "LastModifiedDate"]))
        inactive = {str(o).strip().casefold() for o in inactive_owners}
        self._inactive = inactive | {o[:15] for o in inactive if len(o) == 18}
        by_domain: dict[str, list[tuple[tuple[bool, float, str], dict[str, Any]]]] = {}
        for account in accounts:
            account = account if isinstance(account, dict) else dict(account)
            domain = domain_of(_get(account, self._domain_source))
            if domain is None or domain in self.free_mail:
                continue
            by_domain.setdefault(domain, []).append((self._rank(account), account))
        self._candidates = {d: [a for _, a in sorted(c, key=lambda x: x[0])] for d, c in by_domain.items()}
        self.by_domain = {d: c[0] for d, c in self._candidates.items()}

    def _rank(self, account: dict[str, Any]) -> tuple[bool, float, str]:
        owner = str(_get(account, self._owner) or "").strip().casefold()
        active = _owner_active(account)
        inactive = active is False or (owner != "" and (owner in self._inactive or owner[:15] in self._inactive))
        stamp = next((s for s in (parse_instant(_get(account, f)) for f in self._stamps) if s is not None), None)
        newest_first = -stamp.timestamp() if stamp is not None else float("inf")
        return (inactive, newest_first, str(_get(account, self._id) or "\uffff"))

    def candidates(self, domain: str) -> list[dict[str, Any]]:
        """Every account at exactly this domain, best first."""
        return list(self._candidates.get(domain_of(domain) or "", ()))

    def lookup(self, rule_record: MappingABC[str, Any]) -> AccountMatch | None:
        """The matched account and how it matched, or None."""
        domains = []
        for name in self.on:
            domain = domain_of(rule_record.get(name))
            if domain is None or domain in self.free_mail:
                continue
            found = self.by_domain.get(domain)
            if found is not None:
                return AccountMatch(found, name, domain, True)
            domains.append((name, domain))
        for name, domain in domains:
            for parent in _parents(domain):
                if parent in self.free_mail:
                    break
                found = self.by_domain.get(parent)
                if found is not None:
                    return AccountMatch(found, name, parent, False)
        return None

    def match(self, rule_record: MappingABC[str, Any]) -> dict[str, Any] | None:
        """The CRM-named account for a rule record (from `Mapping.inbound`), or None."""
        found = self.lookup(rule_record)
        return found.account if found is not None else None


def _parents(domain: str) -> Iterable[str]:
    labels = domain.split(".")
    for i in range(1, len(labels) - 1):
        parent = ".".join(labels[i:])
        if parent in SHARED_HOSTS or parent in PUBLIC_SUFFIXES:
            return
        yield parent


def _read_as(rel: Related, name: str) -> str:
    """The CRM field holding a related record's rule field `name`, or the field it is derived from."""
    spec = rel.field(name)
    assert spec is not None  # the loader checks that `match.against` names a field of the record
    if spec.crm:
        return spec.crm
    base = rel.field(spec.source or "")
    assert base is not None and base.crm  # the loader derives fields only from fields read from the CRM
    return base.crm


def _crm(rel: Related, name: str, default: str) -> str:
    spec = rel.field(name)
    return spec.crm if spec is not None and spec.crm else default


def _get(record: MappingABC[str, Any], crm: str) -> Any:
    value = record.get(crm)
    if value is None and crm not in record:
        folded = crm.casefold()
        value = next((v for k, v in record.items() if isinstance(k, str) and k.casefold() == folded), None)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _owner_active(account: MappingABC[str, Any]) -> bool | None:
    value = _get(account, "Owner.IsActive")
    if value is None:
        owner = _get(account, "Owner")
        if isinstance(owner, MappingABC):
            value = _get(owner, "IsActive")
    return parse_bool(value)
