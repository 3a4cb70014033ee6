"""Which org an access token belongs to, without a call per run.

A login by JWT, client credentials or password names the org and the user in its answer. An
access token (SF_ACCESS_TOKEN) does not: the backend asks /services/oauth2/userinfo, and the
org's Id chooses the state file, so every run would pay a call for an answer that does not
change. KnownOrgs remembers the answer per instance URL in a small JSON file beside the state
files. A Salesforce session Id begins with its org's 15-character Id, so a remembered org that
the token contradicts (a sandbox refreshed in place keeps its URL, not its Id) is asked again.
"""
from __future__ import annotations

import json
import os
import re
from datetime import datetime, timezone
from pathlib import Path

import structlog

from connector.orgs.salesforce_auth import id18

log = structlog.get_logger()

KNOWN_ORGS = "salesforce-orgs.json"
_TOKEN_ORG = re.compile(r"^(00D[A-Za-z0-9]{12})!")


def org_in_token(token: str | None) -> str | None:
    """The 18-character org Id a session Id starts with; None for a token not shaped so."""
    match = _TOKEN_ORG.match(token or "")
    return id18(match.group(1)) if match else None


def _key(instance_url: str | None) -> str:
    return (instance_url or "").rstrip("/").lower()


class KnownOrgs:
    """The org and user found behind each instance URL. A cache: a missing, unreadable or
    damaged file only costs one userinfo call, and `save=False` (a dry run) writes nothing."""

    def __init__(self, path: Path, save: bool = True):
        self.path, self.save = Path(path), save

    def _read(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        orgs = data.get("orgs") if isinstance(data, dict) else None
        return orgs if isinstance(orgs, dict) else {}

    def get(self, instance_url: str | None, token: str | None = None) -> tuple[str, str | None] | None:
        """(org Id, user Id) remembered for this instance URL, unless the token names another org."""
        entry = self._read().get(_key(instance_url))
        if not isinstance(entry, dict):
            return None
        org = id18(entry.get("org_id"))
        if org is None:
            return None
        named = org_in_token(token)
        if named is not None and named[:15] != org[:15]:
            log.info("salesforce_org_changed", instance=_key(instance_url), remembered=org, token_org=named)
            return None
        return org, id18(entry.get("user_id"))

    def put(self, instance_url: str | None, org_id: str, user_id: str | None) -> None:
        if not self.save or not instance_url:
            return
        orgs = self._read()
        orgs[_key(instance_url)] = {"org_id": org_id, "user_id": user_id,
                                    "seen": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Written whole, then renamed: a run killed mid-write leaves the old file, not half a one.
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps({"orgs": orgs}, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # a read-only state directory: the next run asks again
            log.warning("salesforce_orgs_not_saved", path=str(self.path), error=str(exc))
