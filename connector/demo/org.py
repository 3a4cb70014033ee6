"""A demo org with realistic, seeded data: the users, queues and accounts the example rules
name, leads that exercise every rule, opportunities, and a closed-loop history of converted
leads with won and lost opportunities."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path
from rules.loader import rule_files
from rules.source import Node, load_file

from connector.orgs.local import LocalOrg, format_stamp
from connector.demo.synthetic import FIRST, LAST, companies, leads as synthetic_leads

NOW = datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
STAGES_OPEN = [("Prospecting", 10), ("Qualification", 20), ("Needs Analysis", 35),
               ("Proposal/Price Quote", 60), ("Negotiation/Review", 80)]


def rule_names(rules_dir: Path) -> tuple[set[str], set[str]]:
    """Users and queues that rule files name (teams, assignments, escalations)."""
    users: set[str] = set()
    queues: set[str] = set()

    def walk(node: Node | None) -> None:
        if node is None:
            return
        if node.is_map:
            for key, child in node.items():
                if key in ("user", "queue") and child.is_scalar and isinstance(child.value, str):
                    (users if key == "user" else queues).add(child.value.strip())
                elif key == "members" and child.is_seq:
                    users.update(m.value.strip() for m in child.value if m.is_scalar and isinstance(m.value, str))
                walk(child)
        elif node.is_seq:
            for child in node.value:
                walk(child)

    for path in rule_files(rules_dir):
        walk(load_file(path)[0])
    return users, queues


def create_demo_org(path: Path, leads: int = 5000, seed: int = 42,
                    rules_dir: Path | None = None) -> dict[str, int]:
    leads_count = leads
    if rules_dir is None:
        from rules.templates import example_rules_dir
        rules_dir = example_rules_dir()
    rng = random.Random(seed)
    org = LocalOrg(path, create=True)
    named_users, named_queues = rule_names(rules_dir)
    stamp = NOW - timedelta(days=400)

    # Users: three managers, the people the rules name, more reps, two who left.
    managers = org.insert("User", [
        {"Username": f"{n.lower()}.manager@acme.example", "Email": f"{n.lower()}.manager@acme.example",
         "Name": f"{n} Manager", "IsActive": True, "Title": "Sales Manager", "CreatedDate": format_stamp(stamp)}
        for n in ("West", "East", "Inside")], stamp)
    people = sorted(u for u in named_users if "@" in u) + [
        f"{first.lower()}.{last.lower()}@acme.example" for first, last in zip(FIRST[:8], LAST[:8])]
    people = list(dict.fromkeys(people))
    user_rows = []
    for i, username in enumerate(people):
        name = username.split("@")[0].replace(".", " ").title()
        user_rows.append({"Username": username, "Email": username, "Name": name, "IsActive": True,
                          "ManagerId": managers[i % len(managers)], "Title": "Account Executive",
                          "CreatedDate": format_stamp(stamp)})
    for username in ("left.company@acme.example", "on.leave@acme.example"):
        user_rows.append({"Username": username, "Email": username, "Name": username.split("@")[0].title(),
                          "IsActive": False, "ManagerId": managers[0], "CreatedDate": format_stamp(stamp)})
    reps = org.insert("User", user_rows, stamp)
    active_reps = reps[:len(people)]
    inactive = reps[len(people):]
    integration = org.insert("User", [{"Username": "integration@acme.example", "Name": "Marketing Automation",
                                       "IsActive": True, "CreatedDate": format_stamp(stamp)}], stamp)[0]

    queue_names = sorted(named_queues | {"Inbound SDR", "SDR Managers"})
    org.insert("Group", [{"Name": q, "DeveloperName": q.replace(" ", "_"), "Type": "Queue"} for q in queue_names],
               stamp)

    # Accounts: the first companies of the synthetic pool, so some leads match them by domain.
    pool = companies(2000, seed + 1)
    account_rows = []
    for name, domain in pool[:max(50, leads_count // 20)]:
        customer = rng.random() < 0.45
        account_rows.append({
            "Name": name, "Website": f"https://www.{domain}", "Industry": rng.choice(
                ["Software", "Financial Services", "Healthcare", "Retail", "Manufacturing"]),
            "NumberOfEmployees": int(rng.lognormvariate(6, 1.5)),
            "OwnerId": rng.choice(active_reps + inactive[:1]),
            "Type": "Customer" if customer else "Prospect",
            "Share_of_Wallet__c": round(rng.uniform(0.05, 0.9), 2) if customer else 0.0,
            "Potential_Revenue__c": round(rng.uniform(50_000, 5_000_000), -3),
            "BillingCountry": "US", "CreatedDate": format_stamp(stamp)})
    accounts = org.insert("Account", account_rows, stamp)

    # Leads arrive unassigned (owned by the marketing automation user), as from a form or a list.
    lead_rows = []
    for rec in synthetic_leads(leads_count, seed=seed, now=NOW, owners=[integration]):
        rec.pop("attributes")
        rec.pop("Id")
        lead_rows.append(rec)
    # A history: converted leads with their won or lost opportunities.
    history = max(20, leads_count // 10)
    opp_rows = []
    for i, rec in enumerate(lead_rows[:history]):
        won = rng.random() < 0.35
        closed = NOW - timedelta(days=rng.randint(5, 300))
        rec.update(IsConverted=True, ConvertedDate=closed.date().isoformat(),
                   OwnerId=rng.choice(active_reps), Status="Qualified")
        opp_rows.append({
            "Name": f"{rec['Company']} - new business", "AccountId": rng.choice(accounts),
            "OwnerId": rec["OwnerId"], "Amount": round(rng.uniform(5_000, 250_000), -2),
            "StageName": "Closed Won" if won else "Closed Lost", "Probability": 100 if won else 0,
            "CloseDate": closed.date().isoformat(), "IsClosed": True, "IsWon": won,
            "LastStageChangeDate": format_stamp(closed), "LeadSource": rec["LeadSource"],
            "Type": "New Business", "ForecastCategoryName": "Closed" if won else "Omitted",
            "CreatedDate": format_stamp(closed - timedelta(days=rng.randint(10, 90)))})
    for _ in range(max(10, leads_count // 25)):
        stage, prob = rng.choice(STAGES_OPEN)
        changed = NOW - timedelta(hours=rng.randint(1, 24 * 40))
        opp_rows.append({
            "Name": f"{rng.choice(pool)[0]} - expansion", "AccountId": rng.choice(accounts),
            "OwnerId": rng.choice(active_reps), "Amount": round(rng.uniform(5_000, 400_000), -2),
            "StageName": stage, "Probability": prob,
            "CloseDate": (NOW + timedelta(days=rng.randint(-10, 120))).date().isoformat(),
            "NextStep": rng.choice(["Send proposal", "Book demo", None, "Security review"]),
            "IsClosed": False, "IsWon": False, "LastStageChangeDate": format_stamp(changed),
            "Type": rng.choice(["New Business", "Existing Business"]),
            "LeadSource": rng.choice(["Web", "Partner Referral", "Demo Request"]),
            "ForecastCategoryName": "Pipeline", "CreatedDate": format_stamp(changed - timedelta(days=5))})
    opp_ids = org.insert("Opportunity", opp_rows)
    for rec, opp in zip(lead_rows[:history], opp_ids):
        rec["ConvertedOpportunityId"] = opp
    for start in range(0, len(lead_rows), 1000):
        org.insert("Lead", lead_rows[start:start + 1000])
    counts = {obj: org.count(obj) for obj in ("User", "Group", "Account", "Lead", "Opportunity")}
    org.close()
    return counts
