"""`--org`: which org a command works on, parsed once into an OrgSpec that opens the backend,
names the files to check and lock, and says where the org's state file lives."""
from __future__ import annotations

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


def state_path(spec: OrgSpec, explicit: Path | None = None) -> Path:
    """The one place the state file of an org is chosen: `--state` (or the `state` setting) when
    given, else one per org spelling under .revsync/."""
    if explicit is not None:
        return explicit
    slug = "".join(ch if ch.isalnum() else "_" for ch in spec.text.split(":", 1)[-1]).strip("_") or "org"
    return Path(".revsync") / f"{slug}.state.db"
