"""`make demo`: a demo org, a sync with the example rules, leads heating up and being handed
to sales, and what a sales or marketing lead would want to read about it."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterator

from rules.evaluate import Context, Evaluator
from rules.explain import Explainer
from rules.templates import example_rules_dir

from connector.orgs.base import Patch
from connector.context import OrgContext
from connector.demo.org import create_demo_org
from connector.report.build import ReportOptions, make_report
from connector.report.text import headline, pct
from connector.sync.history import owner_names, record_history
from connector.orgs.local import LocalOrg
from connector.sync.journal import State
from connector.sync.run import SyncOptions, SyncRun
from connector.workspace.workspace import load_workspace

NOW = datetime.fromisoformat("2026-11-24T15:00:00+00:00")  # Tuesday 10:00 in New York
LATER = NOW + timedelta(days=1)  # Wednesday 10:00: the day before Thanksgiving
HEATED = 40  # nurtured leads that ask for a demo overnight


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines())


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
    crm_fields = ws.mapping.crm_fields()
    before = {r["Id"]: r for r in org.read_all("Lead", crm_fields)}  # to explain decisions as made
    report = SyncRun(org, ws, state, SyncOptions(object="Lead", now=NOW)).run()
    yield (f"\n2. revsync sync with the example rules ({ws.ruleset.file}), at {NOW:%a %Y-%m-%d %H:%M} UTC "
           f"(run {report.run_id}):\n{_indent(str(report))}")

    fields = ["OwnerId", "Revsync_Stage__c", "Revsync_Score__c", "Revsync_Grade__c", "Revsync_SLA_Due__c",
              "Revsync_SLA_Status__c", "IsConverted", "LeadSource"]
    open_leads = [r for r in org.read_all("Lead", fields) if not r["IsConverted"]]
    names = owner_names(org)
    yield "\n".join(["\n3. What the rules decided for the open leads:"] + _decided(open_leads, names))

    context = OrgContext.of(org, ws)
    explainer = Explainer(Evaluator(ws.ruleset), names)
    picks = [p for stage in ("MQL", "Disqualified", "Nurture")
             for p in [r for r in open_leads if r["Revsync_Stage__c"] == stage][:1]]
    for n, pick in enumerate(picks, 1):
        yield f"\n4.{n} Why {pick['Id']} is {pick['Revsync_Stage__c']}:\n" + explainer.explain(
            context.rule_record(before[pick["Id"]]), Context(now=NOW))

    # Overnight, nurtured leads with a good fit ask for a demo: the next sync makes them MQLs,
    # hands them from marketing's nurture queue to the SDRs, and starts their clocks then.
    nurture_queue = next(i for i, n in names.items() if n == "queue Inbound Nurture")
    heated = [r["Id"] for r in open_leads if r["OwnerId"] == nurture_queue and r["Revsync_Grade__c"] in ("A", "B")
              and r["LeadSource"] != "Demo Request"][:HEATED]
    org.write([Patch("Lead", rid, {"LeadSource": "Demo Request"}) for rid in heated])
    second = SyncRun(org, ws, state, SyncOptions(object="Lead", now=LATER)).run()
    after = {r["Id"]: r for r in org.read_ids("Lead", crm_fields + ["Revsync_Previous_Stage__c"], heated)}
    handed = [rid for rid in heated if after[rid]["OwnerId"] != nurture_queue]
    to = Counter(names.get(after[rid]["OwnerId"], after[rid]["OwnerId"]) for rid in handed)
    dues = Counter(after[rid]["Revsync_SLA_Due__c"][:16] for rid in handed if after[rid]["Revsync_SLA_Due__c"])
    lines = [f"\n5. Overnight {len(heated)} nurtured leads asked for a demo. The next sync, at "
             f"{LATER:%a %Y-%m-%d %H:%M} UTC (run {second.run_id}):", _indent(str(second)),
             f"   {len(handed)} became MQLs and were handed from queue Inbound Nurture to sales: "
             + ", ".join(f"{owner} {n}" for owner, n in to.most_common()),
             "   their clocks started now, a full working day each (Thursday is Thanksgiving): due "
             + ", ".join(f"{due}Z ({n})" for due, n in sorted(dues.items())),
             f"   {len(heated) - len(handed)} stayed in the queue: a demo request alone did not make them MQLs."]
    yield "\n".join(lines)
    if handed:
        story = record_history(state, ws.mapping, handed[0], names)
        yield f"\n6. The story of {handed[0]} so far, as `revsync history` tells it from the journal:\n" \
              + _indent(str(story))

    again = SyncRun(org, ws, state, SyncOptions(object="Lead", now=LATER)).run()
    yield (f"\n7. A third sync with nothing new: read {again.read}, evaluated {again.evaluated}, "
           f"wrote {again.written}. Our own writes come back as records that already hold their decision.")
    # The headline of `revsync report`: what was promised (the SLA) against what happened.
    data = make_report(org, ws, ReportOptions(now=LATER, by="team", journal=state_path))
    teams = ", ".join(f"{g['group']} {pct(g['funnel']['follow_up_rate'])} of {g['funnel']['mql']}"
                      for g in data["groups"] if g["funnel"]["mql"])
    yield (f"\n8. revsync report, as of {LATER:%a %Y-%m-%d %H:%M} UTC: {headline(data)}.\n"
           f"   Followed up by team: {teams}.")
    revsync = ".venv/bin/revsync"
    yield (f"\nTry (or `source .venv/bin/activate` and drop the path):\n"
           f"     {revsync} report --org local:{org_path} --state {state_path} --rules {example_rules_dir()} "
           f"--now {LATER:%Y-%m-%dT%H:%M:%SZ} --format html --output report.html\n"
           f"     {revsync} runs --org local:{org_path} --state {state_path}\n"
           f"     {revsync} runs show {second.run_id} --org local:{org_path} --state {state_path}\n"
           + (f"     {revsync} history {handed[0]} --org local:{org_path} --state {state_path}\n" if handed else "")
           + f"     {revsync} org export {org_path} --object Lead --related > leads.csv\n"
           f"     {revsync} evaluate --rules {example_rules_dir()} --input leads.csv --format table "
           f"--now {LATER:%Y-%m-%dT%H:%M:%SZ}")


def _decided(open_leads: list[dict], names: dict[str, str]) -> list[str]:
    stages = Counter(r["Revsync_Stage__c"] for r in open_leads)
    lines = ["   leads per stage: " + ", ".join(f"{stage} {n}" for stage, n in stages.most_common())]
    owners = Counter(names.get(r["OwnerId"], r["OwnerId"]) for r in open_leads
                     if r["Revsync_Stage__c"] in ("MQL", "SQL"))
    total = sum(owners.values()) or 1
    lines.append(f"   who follows up the {sum(owners.values())} MQLs, and their share:")
    lines += [f"     {owner:34} {n:5}  {100 * n / total:5.1f}%" for owner, n in owners.most_common()]
    nurtured = Counter(names.get(r["OwnerId"], r["OwnerId"]) for r in open_leads
                       if r["Revsync_Stage__c"] in ("Nurture", "Recycled"))
    lines.append("   nurtured by marketing: " + ", ".join(f"{o} {n}" for o, n in nurtured.most_common(3)))
    due = sorted((r for r in open_leads if r["Revsync_SLA_Status__c"] in ("pending", "at_risk")),
                 key=lambda r: r["Revsync_SLA_Due__c"])
    soon = [r for r in due if datetime.fromisoformat(r["Revsync_SLA_Due__c"]) <= NOW + timedelta(days=1)]
    lines.append(f"   SLA deadlines: {len(due)} running, {len(soon)} due within a day; the first ones:")
    lines += [f"     due {r['Revsync_SLA_Due__c'][:16]}Z  {r['Id']}  {names.get(r['OwnerId'], r['OwnerId'])}"
              for r in due[:5]]
    return lines
