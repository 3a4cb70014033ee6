"""Realistic synthetic CRM data with a fixed seed: for benchmarks and the demo org.

Records are shaped like Salesforce REST query results (CRM field names, numbers as
numbers, instants as ISO 8601 text with +0000), so they exercise the same reading code
as real exports.
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Iterator

from connector.orgs.local_schema import sf_id

FIRST = ["Ava", "Ben", "Chloe", "Dev", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jon", "Kara",
         "Liam", "Maya", "Noah", "Olga", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vik",
         "Wen", "Xavi", "Yara", "Zoe"]
LAST = ["Smith", "Garcia", "Chen", "Okafor", "Muller", "Rossi", "Tanaka", "Novak", "Silva",
        "Khan", "Dubois", "Larsen", "Patel", "Kowalski", "Haddad", "Nguyen", "Brown", "Ivanova"]
TITLES = [("VP Sales", 6), ("Vice President, Marketing", 3), ("Head of Growth", 4), ("CFO", 2),
          ("Chief Revenue Officer", 2), ("Director of Operations", 6), ("Marketing Manager", 10),
          ("Sales Manager", 8), ("Software Engineer", 10), ("Data Analyst", 6), ("Student", 4),
          ("Intern", 3), ("Founder & CEO", 3), ("Procurement Specialist", 4), ("IT Director", 5),
          ("Account Executive", 5), ("", 4)]
INDUSTRIES = [("Software", 20), ("Financial Services", 12), ("Healthcare", 10), ("Retail", 10),
              ("Manufacturing", 10), ("Education", 6), ("Media", 5), ("Government", 3), ("", 8)]
SOURCES = [("Web", 30), ("Demo Request", 10), ("Webinar", 12), ("Trade Show", 6),
           ("Partner Referral", 6), ("Content Download", 16), ("Cold Call", 8), ("Purchased List", 6)]
STATUSES = [("Open - Not Contacted", 60), ("Working - Contacted", 25), ("Qualified", 8),
            ("Unqualified", 7)]
GEO = [("US", "CA", "San Francisco"), ("US", "CA", "Los Angeles"), ("US", "WA", "Seattle"),
       ("US", "OR", "Portland"), ("US", "NY", "New York"), ("US", "TX", "Austin"),
       ("US", "MA", "Boston"), ("US", "IL", "Chicago"), ("US", "FL", "Miami"),
       ("GB", "", "London"), ("DE", "", "Berlin"), ("FR", "", "Paris"), ("CA", "ON", "Toronto")]
FREE_MAIL = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com"]
COMPETITORS = ["rival.example", "competitor.example"]
WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
         "Cyberdyne", "Tyrell", "Wonka", "Aperture", "Massive", "Pied Piper", "Dunder", "Gringotts"]
SUFFIX = ["Inc", "LLC", "Group", "Labs", "Systems", "Partners", "Holdings", "Co"]

def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs)
    return lambda: rng.choices(values, weights)[0]


def _instant(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def companies(n: int, seed: int = 7) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        name = f"{rng.choice(WORDS)} {rng.choice(SUFFIX)}" if i >= len(WORDS) else f"{WORDS[i]} Inc"
        domain = name.lower().replace(" ", "").replace("&", "") + (f"{i}" if i >= len(WORDS) else "") + ".example"
        out.append((name, domain))
    return out


def leads(n: int, seed: int = 42, now: datetime | None = None,
          owners: list[str] | None = None, company_pool: int = 2000) -> Iterator[dict]:
    """`n` Leads as REST-style records, streamed (memory does not grow with n)."""
    rng = random.Random(seed)
    now = now or datetime(2026, 11, 23, 15, tzinfo=timezone.utc)
    pool = companies(company_pool, seed + 1)
    owners = owners or [sf_id("005", i) for i in range(1, 21)]
    title, industry = _weighted(rng, TITLES), _weighted(rng, INDUSTRIES)
    source, status = _weighted(rng, SOURCES), _weighted(rng, STATUSES)
    for i in range(n):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        company, domain = pool[int(rng.paretovariate(1.2)) % len(pool)]
        roll = rng.random()
        mail_domain = rng.choice(FREE_MAIL) if roll < 0.12 else rng.choice(COMPETITORS) if roll < 0.14 else domain
        country, state, city = rng.choice(GEO)
        created = now - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
        activity = created + timedelta(days=rng.randint(0, max(0, (now - created).days)))
        size = int(rng.lognormvariate(5, 1.8))
        yield {
            "attributes": {"type": "Lead"},
            "Id": sf_id("00Q", i + 1),
            "FirstName": first, "LastName": last,
            "Title": title() or None,
            "Email": f"{first.lower()}.{last.lower()}@{mail_domain}",
            "Company": company, "Website": f"https://www.{domain}" if rng.random() < 0.7 else None,
            "NumberOfEmployees": size if rng.random() < 0.9 else None,
            "AnnualRevenue": round(size * rng.uniform(80_000, 250_000), -3) if rng.random() < 0.6 else None,
            "Industry": industry() or None,
            "Country": country, "State": state or None, "City": city,
            "LeadSource": source(), "Status": status(),
            "Rating": rng.choice(["Hot", "Warm", "Cold", None]),
            "OwnerId": rng.choice(owners),
            "CreatedDate": _instant(created),
            "LastActivityDate": activity.date().isoformat() if rng.random() < 0.8 else None,
            "SystemModstamp": _instant(max(created, activity)),
            "IsConverted": False,
        }
