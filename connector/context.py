"""An org as the rules see it: its users, queues and accounts, read once, and each CRM record
turned into a rule record with its owner and account. Sync, preview, explain and the demo all
read records through this one class, so they cannot disagree on what a record looks like."""
from __future__ import annotations

import time
from datetime import datetime
from functools import cached_property
from typing import Any, Callable

from mappings import Mapping
from mappings.outbound import Directory, UnknownOwner
from rules.evaluate import Context
from rules.model import RuleSet
from rules.values import parse_bool

from connector.orgs.base import Backend
from connector.workspace.workspace import Workspace

USER_FIELDS = ["Username", "Email", "Name", "IsActive", "ManagerId"]
QUEUE_FIELDS = ["Name", "DeveloperName", "Type"]
# A converted lead or a closed opportunity is left alone: no routing, no clock, no write.
CLOSED_FLAG = {"Lead": "IsConverted", "Opportunity": "IsClosed"}
CLOSED_RULE_FIELDS = ("converted", "is_closed")  # the same flags under their rule names


def is_closed_crm(object_name: str, crm: dict) -> bool:
    flag = CLOSED_FLAG.get(object_name)
    return flag is not None and parse_bool(crm.get(flag)) is True


def is_closed_record(record: dict) -> bool:
    """As `is_closed_crm`, for a rule record (an export file has no CRM object to ask)."""
    return any(parse_bool(record.get(name)) is True for name in CLOSED_RULE_FIELDS)


def is_inactive(user: dict) -> bool:
    return parse_bool(user.get("IsActive")) is False


class OrgContext:
    """The org's users are read when the context is made (a sync needs them every run, to see
    who left); queues and accounts when a record first needs them, so a run that finds nothing
    to decide reads neither."""

    def __init__(self, backend: Backend, mapping: Mapping, users: list[dict] | None = None,
                 paused_field: str | None = None):
        started = time.perf_counter()
        self.backend, self.mapping = backend, mapping
        fields = USER_FIELDS + ([paused_field] if paused_field and paused_field not in USER_FIELDS else [])
        self.user_list = list(backend.read_all("User", fields)) if users is None else users
        self.users = {u["Id"]: u for u in self.user_list}
        self.inactive_ids = {u["Id"] for u in self.user_list if is_inactive(u)}
        # Every name a rule file may use for a paused user, folded, as `Directory.inactive` has them.
        self.paused = frozenset(
            str(name).strip().casefold() for u in self.user_list if paused_field and parse_bool(u.get(paused_field))
            for name in (u["Id"], u["Id"][:15], u.get("Username"), u.get("Email"), u.get("Name")) if name)
        self._open: dict[tuple[str, tuple[str, ...]], dict[str, int]] = {}
        self._ids: dict[str, str | None] = {}
        self.seconds = time.perf_counter() - started

    @classmethod
    def of(cls, backend: Backend, ws: Workspace, users: list[dict] | None = None) -> OrgContext:
        """The context a workspace's rules need: its mapping, and the User checkbox that pauses
        team members when the rule file names one."""
        return cls(backend, ws.mapping, users, ws.ruleset.availability.paused_field)

    @cached_property
    def groups(self) -> list[dict]:
        return self._timed(lambda: list(self.backend.read_all("Group", QUEUE_FIELDS)))

    @cached_property
    def directory(self) -> Directory:
        return Directory(self.user_list, [g for g in self.groups if g.get("Type") in (None, "Queue")])

    @cached_property
    def _accounts(self) -> tuple[dict[str, dict], Any, str | None]:
        account = next((r for r in self.mapping.related if r.name == "account"), None)
        if account is None:
            return {}, None, None
        accounts = self._timed(lambda: list(self.backend.read_all("Account", [f.crm for f in account.fields if f.crm])))
        matcher = None
        if account.match is not None:
            from mappings import AccountMatcher
            matcher = AccountMatcher(self.mapping, accounts)
        return {a["Id"]: a for a in accounts}, matcher, account.lookup

    def _timed(self, read: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return read()
        finally:
            self.seconds += time.perf_counter() - started

    def rule_record(self, crm: dict) -> dict:
        """The rule record of a CRM record, with its owner's User and its account."""
        rec = self.mapping.inbound(crm)
        related = self.related(crm, rec)
        if related:
            rec.update(self.mapping.inbound_related(crm, related))
        return rec

    def related(self, crm: dict, rec: dict) -> dict[str, dict]:
        """The related records of a CRM record (`rec`, its rule record): its owner's User and
        the account it matches, by the mapping's relation names."""
        related: dict[str, dict] = {}
        owner = self.users.get(crm.get("OwnerId") or "")
        if owner is not None:
            related["owner"] = owner
        accounts, matcher, lookup = self._accounts
        if matcher is not None:
            acct = matcher.match(rec)
        elif lookup:
            acct = accounts.get(rec.get(lookup) or "")
        else:
            acct = None
        if acct is not None:
            related["account"] = acct
        return related

    def related_columns(self) -> list[str]:
        """The related fields the mapping reads, as an export's dotted columns (`Account.OwnerId`)."""
        return [f"{rel.relationship}.{f.crm}" for rel in self.mapping.related for f in rel.fields if f.crm]

    def related_row(self, crm: dict) -> dict[str, Any]:
        """A CRM record's `related_columns()` values, as a sync reads them (`org export --related`),
        so an export decides segments and routes as a sync of the org would."""
        related = self.related(crm, self.mapping.inbound(crm))
        return {f"{rel.relationship}.{f.crm}": related.get(rel.name, {}).get(f.crm)
                for rel in self.mapping.related for f in rel.fields if f.crm}

    def unknown_owner(self, crm: dict) -> str | None:
        """Why a record's owner is neither a user nor a queue of the org, or None when it is one."""
        owner_id = crm.get("OwnerId")
        if owner_id and self.directory.users and owner_id not in self.users and \
                str(owner_id)[:15].casefold() not in self.directory.queues:
            return f"unknown owner id {owner_id}"
        return None

    def owner_id(self, owner: str) -> str | None:
        """The Id an owner label (`user:...`, `queue:...`) is written as, or None."""
        if owner not in self._ids:
            try:
                self._ids[owner] = self.directory.resolve(owner).id
            except UnknownOwner:
                self._ids[owner] = None
        return self._ids[owner]

    def context(self, now: Any, positions: dict[str, int] | None = None, reroute: bool = False,
                owner_id: Callable[[str], str | None] | None = None, ruleset: RuleSet | None = None,
                given_since: Callable[[str, datetime], int] | None = None) -> Context:
        """The evaluation context of records read from this org: with the rule set, the open
        records of the members of teams that cap them, counted in the org."""
        resolve = owner_id or self.owner_id
        return Context(now=now, positions=positions if positions is not None else {},
                       inactive=self.directory.inactive(), reroute=reroute, owner_id=resolve,
                       paused=self.paused, open_counts=self.open_counts(ruleset, resolve) if ruleset else None,
                       given_since=given_since)

    def open_counts(self, ruleset: RuleSet, resolve: Callable[[str], str | None]) -> dict[str, int] | None:
        """Open records per capped member (Id's first 15 characters), read once per run."""
        members = sorted({u for t in ruleset.teams for i, (u, _) in enumerate(t.members) if t.limits(i)[0] is not None})
        if not members:
            return None
        ids = tuple(sorted({i for i in map(lambda m: resolve(f"user:{m}"), members) if i}))
        key = (ruleset.object, ids)
        if key not in self._open:
            self._open[key] = self._timed(lambda: self.backend.open_counts(ruleset.object, list(ids),
                                                                           CLOSED_FLAG.get(ruleset.object)))
        return self._open[key]

    def names(self) -> dict[str, str]:
        """Owner Ids as people read them: usernames, and queues by name."""
        names = {uid: u.get("Username") or uid for uid, u in self.users.items()}
        names.update({g["Id"]: f"queue {g['Name']}" for g in self.groups if g.get("Name")})
        return names
