"""Per team member, for a preview: records received, the share received against the share
the weights promise, how often the member was passed over and why, and records held."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from rules.capacity import kind_of
from rules.model import Decision, RuleSet

from connector.preview.owners import Namer, display, offline_name




@dataclass
class TeamTally:
    received: Counter = field(default_factory=Counter)  # (team, member)
    skipped: Counter = field(default_factory=Counter)  # (member, kind of reason)
    held: int = 0

    def add(self, open_ds: list[Decision]) -> None:
        for d in open_ds:
            if d.held:
                self.held += 1
            if d.skipped_members:
                self.skipped.update((m, kind_of(why)) for m, why in d.skipped_members)
            owner = d.owner
            if owner and owner.startswith("team:") and "/" in owner and not d.kept_owner:
                team, member = owner[5:].split("/", 1)
                self.received[(team, member)] += 1

    def asdict(self, ruleset: RuleSet, name: Namer = offline_name) -> dict:
        """Per team and member; `owner` is the member under the preview's one name for them
        (a rule file may name a member by email or Id, the report by username)."""
        teams = {}
        for team in ruleset.teams:
            got = {m: self.received.get((team.name, m), 0) for m, _ in team.members}
            total, weights = sum(got.values()), sum(w for _, w in team.members)
            members = []
            for member, weight in team.members:
                skips = {k: n for (m, k), n in sorted(self.skipped.items()) if m == member}
                members.append({"member": member, "owner": name(f"user:{member}"), "weight": weight,
                                "received": got[member],
                                "share": round(got[member] / total, 4) if total else None,
                                "promised_share": round(weight / weights, 4), "skipped": skips})
            teams[team.name] = {"received": total, "members": members}
        return {"held": self.held, "teams": teams}


def team_lines(side: dict) -> list[str]:
    """The text of one side's tally, members by name."""
    out = []
    for name, team in side.get("teams", {}).items():
        if not team["received"] and not any(m["skipped"] for m in team["members"]):
            continue
        parts = []
        for m in team["members"]:
            share = "" if m["share"] is None else f" ({m['share']:.0%}, promised {m['promised_share']:.0%})"
            skipped = ", ".join(f"{n} {k}" for k, n in m["skipped"].items())
            who = display(m.get("owner") or f"user:{m['member']}")
            parts.append(f"{who} {m['received']}{share}" + (f", passed over: {skipped}" if skipped else ""))
        out.append(f"  {name}: " + "; ".join(parts))
    if side.get("held"):
        out.append(f"  held: {side['held']} record(s) no member could take")
    return out
