"""Before anything is written: does the org have every field the mapping reads and writes,
of a type that can hold what the rules decide?"""
from __future__ import annotations

from mappings import Mapping
from mappings.outbound import Directory, UnknownOwner
from rules.model import Assignment, AssignKind, Location, Problem, RuleSet, Section, Severity

from connector.context import QUEUE_FIELDS, USER_FIELDS, OrgContext
from connector.orgs.base import Backend, BackendError

COMPATIBLE = {
    "score": {"double", "int", "currency", "percent"},
    "grade": {"string", "picklist", "textarea"},
    "stage": {"string", "picklist", "textarea"},
    "segment": {"string", "picklist", "textarea"},
    "reason": {"string", "textarea"},
    "owner": {"reference"},
    "routed_at": {"datetime"},
    "sla_due": {"datetime"},
    "sla_status": {"picklist", "string"},
    "previous_stage": {"string", "picklist", "textarea"},
    "stage_entered_at": {"datetime"},
    "sla_started_at": {"datetime"},
    "sla_met_at": {"datetime"},
    "lifecycle": {"textarea", "string"},
}
CREATE_AS = {"score": "Number(18, 2)", "grade": "Text(10)", "stage": "Text(40)", "segment": "Text(40)",
             "reason": "Text(255)", "routed_at": "Date/Time", "sla_due": "Date/Time",
             "sla_status": "Picklist: pending, met, breached (and at_risk where a rule uses warn_before)",
             "previous_stage": "Text(40)", "stage_entered_at": "Date/Time", "sla_started_at": "Date/Time",
             "sla_met_at": "Date/Time", "lifecycle": "Long Text Area(1000)"}


def _values(ruleset: RuleSet, output: str) -> list[str]:
    if output == "grade" and ruleset.score_config and ruleset.score_config.grade:
        return [label for label, _ in ruleset.score_config.grade.bands]
    section = {"stage": Section.QUALIFY, "previous_stage": Section.QUALIFY, "segment": Section.SEGMENT}.get(output)
    if section is not None:
        return [r.value for r in ruleset.rules(section) if r.value]
    if output == "sla_status":
        warns = any(r.warn_before is not None for r in ruleset.rules(Section.SLA))
        return ["pending", "met", "breached"] + (["at_risk"] if warns else [])
    return []


def preflight(backend: Backend, mapping: Mapping, ruleset: RuleSet,
              context: OrgContext | None = None) -> list[Problem]:
    """Every problem with the org's fields, as Problems (D0xx) that say what an admin must do."""
    obj = mapping.object
    where = Location(f"{backend.name}:{obj}", 0, 0)
    try:
        fields = backend.describe(obj)
    except BackendError as exc:
        if not any(code in str(exc) for code in ("NOT_FOUND", "INVALID_TYPE", "does not exist")):
            raise  # cannot reach or log in to the org: not something to fix in a field
        return [Problem("D001", f"cannot describe {obj}: {exc}", where, "check the object name and permissions")]
    problems: list[Problem] = []
    for spec in mapping.fields:
        if spec.crm and spec.crm not in fields:
            problems.append(Problem("D002", f"{obj}.{spec.crm} (rule field '{spec.name}') does not exist or "
                                    "is not visible to the integration user", spec.loc,
                                    "create the field or grant field-level security, or fix the mapping",
                                    Severity.WARNING))
    for out in mapping.outputs:
        info = fields.get(out.crm)
        create = CREATE_AS.get(out.name, "")
        if info is None:
            problems.append(Problem("D003", f"{obj}.{out.crm} (output '{out.name}') does not exist", out.loc,
                                    f"create it in Setup > Object Manager > {obj} as {create}".strip()))
            continue
        if not info.updateable:
            problems.append(Problem("D004", f"{obj}.{out.crm} is not updateable by the integration user", out.loc,
                                    "grant Edit in field-level security to the integration user's profile"))
        if info.type not in COMPATIBLE.get(out.name, {info.type}):
            problems.append(Problem("D005", f"{obj}.{out.crm} is {info.type}, which cannot hold '{out.name}'",
                                    out.loc, f"use a field of type {create or ', '.join(sorted(COMPATIBLE[out.name]))}"))
        values = _values(ruleset, out.name)
        if info.picklist and values:
            missing = [v for v in values if v not in info.picklist]
            if missing:
                problems.append(Problem("D006", f"{obj}.{out.crm} does not allow {', '.join(missing)}", out.loc,
                                        "add these values to the picklist"))
        longest = max((len(v) for v in values), default=0)
        texts = ("reason", "lifecycle")  # revsync writes up to max_length characters into these
        limit = out.max_length or (255 if out.name in texts else 0)
        if info.length and (longest > info.length or (limit and limit > info.length)):
            need = max(longest, limit if out.name in texts else 0)
            problems.append(Problem("D007", f"{obj}.{out.crm} holds {info.length} characters; revsync may "
                                    f"write {need}", out.loc, f"make it at least {need} long, or lower max_length"))
    if mapping.output("owner") is not None:
        problems += owner_problems(backend, ruleset, context)
    problems += paused_field_problems(backend, ruleset)
    return problems


def paused_field_problems(backend: Backend, ruleset: RuleSet) -> list[Problem]:
    """A pause checkbox the org lacks would pause nobody, silently: refuse it (D011)."""
    name = ruleset.availability.paused_field
    if not name:
        return []
    where = Location(f"{backend.name}:User", 0, 0)
    try:
        info = backend.describe("User").get(name)
    except BackendError as exc:
        return [Problem("D011", f"cannot describe User to check paused_field {name}: {exc}", where,
                        "give the integration user read access to User", Severity.WARNING)]
    if info is None:
        return [Problem("D011", f"User.{name} (availability.paused_field) does not exist", where,
                        "create it in Setup > Object Manager > User as Checkbox, or remove paused_field")]
    if info.type != "boolean":
        return [Problem("D011", f"User.{name} is {info.type}; paused_field must be a checkbox", where,
                        "name a Checkbox field of User")]
    return []


def owner_problems(backend: Backend, ruleset: RuleSet, context: OrgContext | None = None) -> list[Problem]:
    """Users and queues the rules name that the org does not have: records routed to them would
    be skipped (D008). Inactive users are passed over by routing, to the next entry or the next
    team member (D009, a warning). With the run's context, its users and queues are used, so a
    sync reads each once."""
    try:
        users = context.user_list if context is not None else list(backend.read_all("User", USER_FIELDS))
    except BackendError as exc:  # an embedded org without a User table: a problem to report, like a field
        if "does not exist" not in str(exc):
            raise
        return [Problem("D001", f"cannot read User: {exc}", Location(f"{backend.name}:User", 0, 0),
                        "revsync reads users to route records; create the org with `revsync org demo` or import users")]
    if not users:  # no permission to read users, most likely: say so rather than block a run
        return [Problem("D010", "no users could be read, so the users the rules name were not checked",
                        Location(f"{backend.name}:User", 0, 0), "give the integration user read access to User",
                        Severity.WARNING)]
    if context is not None:
        directory = context.directory
    else:
        directory = Directory(users, [g for g in backend.read_all("Group", QUEUE_FIELDS) if g.get("Type") in (None, "Queue")])
    problems: list[Problem] = []
    named = [r.assign for r in ruleset.rules(Section.ROUTE) if r.assign is not None]
    named += [r.escalate for r in ruleset.rules(Section.SLA) if r.escalate is not None]
    named += [Assignment(AssignKind.QUEUE, t.overflow, t.loc) for t in ruleset.teams if t.overflow]  # when_full
    for assign in named:
        if assign.kind in (AssignKind.USER, AssignKind.QUEUE):
            why = _unresolved(directory, f"{assign.kind.value}:{assign.target}")
            if why == "user is inactive":
                problems.append(Problem("D009", f"user '{assign.target}' is inactive", assign.loc,
                                        "records it would take go to the next matching entry; name an active "
                                        "user", Severity.WARNING))
            elif why:
                problems.append(Problem("D008", f"{assign.kind.value} '{assign.target}': {why}", assign.loc,
                                        f"create the {assign.kind.value} in the org or name another "
                                        f"(records routed here would be skipped)"))
    used = {a.target.casefold() for a in named if a.kind is AssignKind.TEAM}
    for team in ruleset.teams:
        if team.name.casefold() not in used:
            continue
        for member, _ in team.members:
            why = _unresolved(directory, f"user:{member}")
            if why == "user is inactive":
                problems.append(Problem("D009", f"team '{team.name}' member '{member}' is inactive", team.loc,
                                        "round robin passes over them; remove them from the team when they leave",
                                        Severity.WARNING))
            elif why:
                problems.append(Problem("D008", f"team '{team.name}' member '{member}': {why}", team.loc,
                                        "create the user in the org or fix the name (records routed to them "
                                        "would be skipped)"))
    return problems


def _unresolved(directory: Directory, owner: str) -> str:
    try:
        directory.resolve(owner)
    except UnknownOwner as exc:
        return str(exc).split(": ", 1)[-1]
    return ""
