"""One name per owner in a preview, however a decision names it.

A decision names an owner by how it got it: a kept owner by Id (`user:005...`), a routed one
as the rule file writes it (`user:frank@...`, `queue:Inbound SDR`), a round robin by team and
member (`team:sdr/frank@...`). A report that printed those as they come would show one person
under two names, so every statistic keys owners by one canonical label (`user:<username>`,
`queue:<name>`), and people read them as `display()` shows them: a person by username, a queue
as `queue <name>`.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from rules.model import Decision

HELD = "(held)"  # capacity rules hold the record: nobody on the team can take it now
UNASSIGNED = "(unassigned)"

Namer = Callable[[str], str]


def offline_name(owner: str) -> str:
    """Without an org: a round robin's member is the user it names (`team:sdr/frank@...` ->
    `user:frank@...`); any other label is already the one the rule file wrote."""
    if owner.startswith("team:") and "/" in owner:
        return "user:" + owner.split("/", 1)[1]
    return owner


def org_namer(directory: Any, users: dict[str, dict], groups: Iterable[dict]) -> Namer:
    """owner label -> `user:<username>` or `queue:<name>`, the org's own names, whether the label
    names the owner by Id, username, email or name. Inactive users keep their names too: a
    preview shows the records they lose."""
    names = {u["Id"]: f"user:{u.get('Username') or u.get('Email') or u['Id']}" for u in users.values()}
    names.update({g["Id"]: f"queue:{g.get('Name') or g['Id']}" for g in groups})
    known: dict[str, str] = {}

    def name(owner: str) -> str:
        found = known.get(owner)
        if found is None:
            kind, _, rest = offline_name(owner).partition(":")
            key = rest.strip().casefold()
            if kind == "queue":
                principal = directory.queues.get(key)
            elif kind == "field":
                principal = directory.users.get(key) or directory.queues.get(key)
            else:
                principal = directory.users.get(key)
            found = known[owner] = names.get(principal.id, owner) if principal is not None else offline_name(owner)
        return found
    return name


def owner_key(d: Decision, name: Namer) -> str:
    """The owner a statistic counts a decision under: its one name, or held, or unassigned."""
    if d.owner:
        return name(d.owner)
    return HELD if d.held else UNASSIGNED


def round_robin_team(d: Decision) -> str | None:
    """The team whose round robin gave this decision's owner now (not a kept owner)."""
    owner = d.owner
    if owner and owner.startswith("team:") and "/" in owner and not d.kept_owner:
        return owner[5:].split("/", 1)[0]
    return None


def display(owner: str | None) -> str:
    """How people read an owner label: `frank@acme.example`, `queue Inbound SDR`, `team sdr`."""
    if owner is None:
        return "nobody"
    kind, sep, rest = owner.partition(":")
    if not sep:
        return owner
    if kind == "user":
        return rest
    if kind == "team" and "/" in rest:
        return rest.split("/", 1)[1]
    if kind in ("queue", "team"):
        return f"{kind} {rest}"
    return rest if kind == "field" else owner


class ExportNamer:
    """Offline, an owner given by Id is named as the export names it: a row's OwnerId with its
    `Owner.Username` (written by `org export --related`, or a Data Loader export's relationship
    column). Learned while the rows are read; `Preview.asdict` names every count once more at the
    end, so an Id seen before the row that names it is still counted under the name."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def learn(self, record: dict) -> None:
        owner, username = record.get("owner_id"), record.get("owner.username")
        if owner and username:
            self.ids[str(owner).strip()[:15].casefold()] = f"user:{username}"

    def __call__(self, owner: str) -> str:
        label = offline_name(owner)
        kind, _, rest = label.partition(":")
        if kind in ("user", "field") and len(rest.strip()) in (15, 18):
            return self.ids.get(rest.strip()[:15].casefold(), label)
        return label
