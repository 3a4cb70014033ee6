"""`make demo`: a demo org, a sync with the example rules, and what a sales or marketing lead
would want to read about it."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

from rules.evaluate import Context, Evaluator
from rules.explain import Explainer
from rules.templates import example_rules_dir

from .demo import create_demo_org
from .local import LocalOrg
from .state import State
from .sync import SyncOptions, SyncRun
from .workspace import load_workspace

NOW = datetime.fromisoformat("2026-11-24T15:00:00+00:00")  # Tuesday 10:00 in New York


def _names(org: LocalOrg) -> dict[str, str]:
    names = {u["Id"]: u["Username"] for u in org.read_all("User", ["Username"])}
    names.update({g["Id"]: f"queue {g['Name']}" for g in org.read_all("Group", ["Name"])})
    return names


def run(directory: Path, leads: int = 5000) -> Iterator[str]:
    directory.mkdir(parents=True, exist_ok=True)
    org_path, state_path = directory / "revsync-demo.db", directory / "state.db"
    for path in (org_path, state_path):
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    counts = create_demo_org(org_path, leads=leads)
    yield (f"1. Created a demo org at {org_path}: " + ", ".join(f"{n} {o}" for o, n in counts.items())
           + ".\n   Leads arrive owned by the marketing automation user, as from forms and lists.")
    ws = load_workspace(example_rules_dir(), None, "Lead")
    org = LocalOrg(org_path)
    state = State(state_path)
    report = SyncRun(org, ws, state, SyncOptions(object="Lead", now=NOW)).run()
    body = "\n".join("   " + line for line in str(report).splitlines())
    yield f"\n2. revsync sync with the example rules ({ws.ruleset.file}), at {NOW:%a %Y-%m-%d %H:%M} UTC:\n{body}"

    fields = ["OwnerId", "Revsync_Stage__c", "Revsync_Score__c", "Revsync_Grade__c", "Revsync_SLA_Due__c",
              "Revsync_SLA_Status__c", "IsConverted"]
    open_leads = [r for r in org.read_all("Lead", fields) if not r["IsConverted"]]
    names = _names(org)
    stages = Counter(r["Revsync_Stage__c"] for r in open_leads)
    lines = ["\n3. What the rules decided for the open leads:", "   leads per stage: "
             + ", ".join(f"{stage} {n}" for stage, n in stages.most_common())]
    owners = Counter(names.get(r["OwnerId"], r["OwnerId"]) for r in open_leads
                     if r["Revsync_Stage__c"] in ("MQL", "SQL"))
    total = sum(owners.values()) or 1
    lines.append(f"   who follows up the {sum(owners.values())} MQLs, and their share:")
    lines += [f"     {owner:34} {n:5}  {100 * n / total:5.1f}%" for owner, n in owners.most_common()]
    due = sorted((r for r in open_leads if r["Revsync_SLA_Status__c"] == "pending"),
                 key=lambda r: r["Revsync_SLA_Due__c"])
    soon = [r for r in due if datetime.fromisoformat(r["Revsync_SLA_Due__c"]) <= NOW + timedelta(days=1)]
    lines.append(f"   SLA deadlines: {len(due)} pending, {len(soon)} due within a day; the first ones:")
    lines += [f"     due {r['Revsync_SLA_Due__c'][:16]}Z  {r['Id']}  {names.get(r['OwnerId'], r['OwnerId'])}"
              for r in due[:5]]
    yield "\n".join(lines)

    evaluator = Evaluator(ws.ruleset)
    explainer = Explainer(evaluator)
    picks = [r for r in open_leads if r["Revsync_Stage__c"] == "MQL"][:1]
    picks += [r for r in open_leads if r["Revsync_Stage__c"] == "Disqualified"][:1]
    picks += [r for r in open_leads if r["Revsync_Stage__c"] == "Nurture"][:1]
    crm_fields = ws.mapping.crm_fields()
    run_ = SyncRun(org, ws, state, SyncOptions(object="Lead", now=NOW))
    run_._load_context()
    for n, pick in enumerate(picks, 1):
        crm = org.read_ids("Lead", crm_fields, [pick["Id"]])[0]
        # Explained as decided: before this sync wrote its decision back.
        crm.update(Revsync_Routed_At__c=None, Revsync_SLA_Status__c=None)
        yield f"\n4.{n} Why {pick['Id']} is {pick['Revsync_Stage__c']}:\n" + explainer.explain(
            run_._rule_record(crm), Context(now=NOW))

    again = SyncRun(org, ws, state, SyncOptions(object="Lead", now=NOW)).run()
    yield (f"\n5. A second sync with nothing new: read {again.read}, evaluated {again.evaluated}, "
           f"wrote {again.written}. Our own writes come back as records that already hold their decision.")
    yield (f"\nTry: revsync runs --org local:{org_path} --state {state_path}\n"
           f"     revsync org export {org_path} --object Lead > leads.csv\n"
           f"     revsync evaluate --rules {example_rules_dir()} --input leads.csv --format table")
