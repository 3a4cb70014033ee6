"""`--org`: which org a command works on, parsed once into an OrgSpec that opens the backend,
names the files to check and lock, and says where the org's state file lives."""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from connector.orgs.base import Backend
from rules.model import RevsyncError

DEFAULT_ORG = "local:revsync-demo.db"


class OrgSpecError(RevsyncError):
    """An --org (or `org` setting) that names no org revsync knows (exit 2)."""


@dataclass(frozen=True)
class SalesforceOptions:
    """The connector's knobs from revsync.toml; credentials never come this way (environment only)."""

    timeout: float = 60.0
    api_floor: int = 1000
    lag_seconds: float = 30.0
    bulk_query_threshold: int = 50_000
    bulk_write_threshold: int = 2_000
    attempts: int = 5  # tries of a request the org answers 5xx or 429 to, or refuses


@dataclass(frozen=True)
class OrgSpec:
    kind: Literal["local", "salesforce"]
    path: Path | None  # the embedded org's file; None for Salesforce
    text: str  # as written: the default state file is named after it

    @classmethod
    def parse(cls, text: str) -> OrgSpec:
        kind, _, rest = text.partition(":")
        if kind == "local" and rest:
            return cls("local", Path(rest), text)
        if kind == "salesforce":  # `salesforce:NAME` is accepted: NAME only names the state file
            return cls("salesforce", None, text)
        raise OrgSpecError(f"{text!r}: use local:PATH or salesforce")

    def __str__(self) -> str:
        return self.text

    def open(self, salesforce: SalesforceOptions = SalesforceOptions()) -> Backend:
        """The backend; BackendError (exit 3) when it cannot be reached or logged in to."""
        if self.path is not None:
            from connector.orgs.local import LocalOrg
            return LocalOrg(self.path)
        from connector.orgs.salesforce import Credentials, SalesforceOrg
        return SalesforceOrg(Credentials.from_env(), **asdict(salesforce))

    def check_file(self) -> None:
        """Refuse (exit 2, untouched) an embedded-org file that is empty, damaged, read-only or not
        an org, before anything is created beside it. Salesforce has no file to check."""
        if self.path is not None:
            from connector.orgs.local import check_file
            check_file(self.path)


def state_dir(setting: Path | None = None) -> Path:
    """Where state files live: the `state_dir` setting, else $REVSYNC_STATE_DIR (a scheduler's
    volume), else .revsync in the working directory."""
    return setting or Path(os.environ.get("REVSYNC_STATE_DIR") or ".revsync")


def state_path(spec: OrgSpec, explicit: Path | None = None, org_id: str | None = None,
               directory: Path | None = None) -> Path:
    """The one place the state file of an org is chosen: `--state` (or the `state` setting) when
    given; for Salesforce, one per org Id (`salesforce-<15-char org Id>.state.db`), so two orgs
    synced from one directory never share watermarks; for the embedded org, one per file name.
    Without the org Id (commands that do not log in: runs, history, revert), the one Salesforce
    state there is, else the name older versions used."""
    if explicit is not None:
        return explicit
    base = state_dir(directory)
    if spec.kind == "salesforce":
        if org_id:
            return base / f"salesforce-{org_id[:15]}.state.db"
        found = sorted(base.glob("salesforce-*.state.db"))
        if len(found) > 1:
            raise OrgSpecError(f"{base} holds the states of {len(found)} Salesforce orgs "
                               f"({', '.join(p.name for p in found)}): pass --state with the one you mean")
        return found[0] if found else base / LEGACY_SALESFORCE_STATE
    slug = "".join(ch if ch.isalnum() else "_" for ch in spec.text.split(":", 1)[-1]).strip("_") or "org"
    return base / f"{slug}.state.db"


LEGACY_SALESFORCE_STATE = "salesforce.state.db"  # one file whatever the org, before states were per org
