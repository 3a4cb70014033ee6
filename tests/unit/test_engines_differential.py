"""The default and durable engines must decide identically: each checks the other."""
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from connector.workspace.workspace import run_all_cases
from rules.evaluate import Context, Evaluator
from rules.templates import example_rules_dir
from tests.rulekit import NOW, ruleset

pytest.importorskip("durable.lang")

FIXTURE = (Path(__file__).parents[1] / "fixtures" / "rules" / "lead.yaml").read_text()

EVERY_OPERATOR = """
object: Lead
segment:
  - {name: s1, when: {title: {eq: CEO}}, segment: a}
  - {name: s2, when: {title: {ne: CTO}, employees: {gt: 10}}, segment: b}
  - {name: s3, when: {not: {state: [CA, NY]}}, segment: c}
  - {name: s4, segment: d}
score:
  rules:
    - {name: r1, when: {employees: {gte: 100}}, points: 1}
    - {name: r2, when: {employees: {lt: 50}}, points: 2}
    - {name: r3, when: {employees: {lte: 50}}, points: 4}
    - {name: r4, when: {employees: {between: [10, 500]}}, points: 8}
    - {name: r5, when: {state: {in: [CA, WA]}}, points: 16}
    - {name: r6, when: {state: {not_in: [CA, WA]}}, points: 32}
    - {name: r7, when: {title: {contains: sales}}, points: 64}
    - {name: r8, when: {title: {starts_with: vp}}, points: 128}
    - {name: r9, when: {title: {ends_with: er}}, points: 256}
    - {name: r10, when: {title: {matches: '\\b(vp|head of|chief)\\b'}}, points: 512}
    - {name: r11, when: {title: {exists: true}}, points: 1024}
    - {name: r12, when: {title: {exists: false}}, points: 2048}
    - {name: r13, when: {created_at: {older_than: 10d}}, points: 3}
    - {name: r14, when: {created_at: {newer_than: 2d}}, points: 5}
    - {name: r15, when: {converted: true}, points: 7}
    - {name: r16, when: {any: [{state: TX}, {employees: {gt: 1000}}]}, points: 9}
    - {name: r17, when: {all: [{state: {ne: TX}}, {not: {employees: {gte: 5}}}]}, points: 11}
    - {name: r18, when: {segment: [a, b]}, points: 13}
    - {name: r19, when: {employees: 42}, points: 17}
    - {name: r20, when: {created_at: {gte: '2026-11-01T00:00:00Z'}}, points: 19}
qualify:
  - {name: q1, when: {score: {gte: 1000}}, stage: high}
  - {name: q2, when: {score: {between: [100, 999]}}, stage: mid}
  - {name: q3, stage: low}
route:
  - {name: o1, when: {stage: high}, assign: {user: ann}}
  - {name: o2, when: {stage: {ne: low}}, assign: {queue: Q}}
sla:
  - {name: t1, when: {stage: mid}, within: 4h, met_when: {converted: true}}
"""

TITLES = st.sampled_from([None, "", "CEO", " ceo ", "CTO", "VP Sales", "vp, SALES", "Head of Growth",
                          "Engineer", "Student", "Chief of Staff", "Vpn engineer", "Geschäftsführer"])
STATES = st.sampled_from([None, "", "CA", "ca ", "WA", "NY", "TX", "OR"])
NUMBERS = st.one_of(st.none(), st.integers(-5, 3000), st.floats(0, 2000, allow_nan=False),
                    st.sampled_from(["999", "1000", " 42 ", "lots", "", "1e3", "nan"]))
DATES = st.one_of(st.none(), st.sampled_from(["2026-11-22T15:00:00Z", "2026-11-01", "2026-09-01T00:00:00.000+0000",
                                              "yesterday", "", "2026-11-23T10:00:00-05:00"]))
RECORD = st.fixed_dictionaries({
    "id": st.text("abc", min_size=1, max_size=4), "title": TITLES, "state": STATES, "employees": NUMBERS,
    "created_at": DATES, "last_activity_at": DATES, "converted": st.sampled_from([None, True, False, "true", "no", "x"]),
    "industry": st.sampled_from([None, "Software", "software ", "Financial Services", "Retail"]),
    "lead_source": st.sampled_from([None, "Demo Request", "demo request", "Web"]),
    "email_domain": st.sampled_from([None, "rival.example", "acme.com", "gmail.com"]),
    "account.share_of_wallet": st.one_of(st.none(), st.floats(0, 1, allow_nan=False), st.just("0.5")),
    "account.owner_id": st.sampled_from([None, "005000000000001AAA"]),
    "status": st.sampled_from([None, "Working - Contacted", "Open"]),
    # What revsync wrote last, read back: the lifecycle decides from it on both engines.
    "owner_id": st.sampled_from([None, "005000000000001AAA", "00G000000000002AAA"]),
    "routed_at": DATES, "previous.stage": st.sampled_from([None, "MQL", "Nurture", "Disqualified"]),
    "previous.stage_entered_at": DATES, "previous.sla_started_at": DATES, "previous.sla_due": DATES,
    "previous.sla_status": st.sampled_from([None, "pending", "met", "breached", "at_risk"]),
    "previous.lifecycle": st.sampled_from([None, "", "{}", "garbage", '{"v":1,"by":"route/Everyone","sla":"MQL"}',
                                           '{"v":1,"by":"sla/MQL","owner":"00G000000000002AAA","sla":"MQL","esc":1}']),
})


FRACTIONS = """
object: Lead
score:
  rules:
    - {name: f1, when: {employees: {gte: 10}}, points: 0.1, category: fit}
    - {name: f2, when: {employees: {gte: 100}}, points: 0.2, category: fit}
    - {name: e1, when: {title: {exists: true}}, points: 0.7, category: engagement}
    - {name: e2, when: {state: CA}, points: 25.5, category: engagement}
    - {name: o1, when: {converted: true}, points: -40}
    - {name: o2, when: {industry: software}, points: 0.3}
  caps: {engagement: 20}
  min: -10
  max: 30
  grade: {category: engagement, bands: {A: 20, B: 0.7, C: 0}}
qualify:
  - {name: q1, when: {scores.fit: {gte: 0.30000000000000004}}, stage: exact}
  - {name: q2, when: {score: {between: [0.9, 1.1]}, grade: B}, stage: near-one}
  - {name: q3, when: {scores.engagement: 20}, stage: capped}
"""


def both(rs, records, now=NOW):
    """The default engine record by record, the same section by section, and durable_rules:
    all three must agree, trace included."""
    decisions = Evaluator(rs, "default").evaluate_batch(records, Context(now=now))
    for d in decisions:  # the journal's citation is the trace, entry for entry
        assert d.citation() == "; ".join(f"{h.section.value}/{h.rule} ({h.loc.short})" for h in d.trace)
        assert d.matched_rules() == [(sec, name) for sec, m in d.matched.items()
                                     for name in (m if isinstance(m, list) else [m] if m else [])]
    a = [d.asdict() for d in decisions]
    by_section = Evaluator(rs, "default")
    by_section.fused = None
    c = [d.asdict() for d in by_section.evaluate_batch(records, Context(now=now))]
    assert a == c, "the default engine's two paths disagree"
    b = [d.asdict() for d in Evaluator(rs, "durable").evaluate_batch(records, Context(now=now))]
    return a, b


@pytest.mark.parametrize("engine", ["default", "durable"])
def test_every_shipped_rule_case_passes_on_both_engines(engine):
    results = run_all_cases(example_rules_dir(), None, engine)
    assert results and all(r.passed for r in results), "\n".join(r.render() for r in results if not r.passed)


def test_shipped_cases_decide_identically():
    a = [r.decision.asdict() for r in run_all_cases(example_rules_dir(), None, "default")]
    b = [r.decision.asdict() for r in run_all_cases(example_rules_dir(), None, "durable")]
    assert a == b


RS_FIXTURE = ruleset(FIXTURE)
RS_OPS = ruleset(EVERY_OPERATOR)
RS_FRACTIONS = ruleset(FRACTIONS)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RECORD, min_size=1, max_size=80), st.integers(0, 400))
def test_generated_records_decide_identically(records, hours):
    now = NOW + timedelta(hours=hours)
    for rs in (RS_FIXTURE, RS_OPS, RS_FRACTIONS):
        a, b = both(rs, records, now)
        assert a == b


def test_hazards_handled():
    # Text that looks like a number is not compared as text; regex alternatives search; a
    # record that matches nothing does not stop the batch; hundreds of siblings compile.
    wide = "[" + ", ".join(f"{{title: t{i}}}" for i in range(600)) + "]"
    rs = ruleset(f"""
        object: Lead
        segment:
          - {{name: big, when: {{employees: {{gte: 1000}}}}, segment: big}}
          - {{name: senior, when: {{title: {{matches: '(vp|vice president|chief|head of|cfo|ceo|cro|founder|svp|evp|director)'}}}}, segment: senior}}
          - {{name: wide, when: {{any: {wide}}}, segment: wide}}
        qualify:
""" + "\n".join(f"          - {{name: q{i}, when: {{employees: {{gte: {i}}}}}, stage: s{i}}}" for i in range(100)) + """
          - {name: rest, stage: none}
        """)
    records = [{"employees": "999"}, {"title": "Head of Growth"}, {"title": "t599"}, {"title": "nobody"},
               {"employees": 70}]
    a, b = both(rs, records)
    assert a == b
    assert [d["segment"] for d in b] == [None, "senior", "wide", None, None]
    assert b[0]["stage"] == "s0" and b[4]["stage"] == "s0"


def test_two_rule_versions_side_by_side_on_durable():
    old = ruleset(EVERY_OPERATOR)
    new = ruleset(EVERY_OPERATOR.replace("points: 1}", "points: 1000}"))
    rec = [{"employees": 150, "title": "x"}]
    d_old = Evaluator(old, "durable").evaluate_batch(rec, Context(now=NOW))[0]
    d_new = Evaluator(new, "durable").evaluate_batch(rec, Context(now=NOW))[0]
    assert d_new.score - d_old.score == 999


def test_a_long_durable_run_loses_nothing_and_agrees(tmp_path):
    """durable's host polls rulesets from background threads; left on, they took actions away
    from the main thread ("lost actions") or crashed the process within seconds of work."""
    import time

    from connector.demo.org import create_demo_org
    from connector.orgs.local import LocalOrg
    from connector.workspace.workspace import load_workspace
    create_demo_org(tmp_path / "org.db", leads=3000, seed=11)
    ws = load_workspace(example_rules_dir(), None, "Lead")
    crm = list(LocalOrg(tmp_path / "org.db").read_all("Lead", ws.mapping.crm_fields()))
    records = [ws.mapping.inbound(r) for r in crm]
    default, durable = Evaluator(ws.ruleset), Evaluator(ws.ruleset, "durable")
    started = time.monotonic()
    while time.monotonic() - started < 4:  # long enough for the host's threads to run many times
        for start in range(0, len(records), 500):
            batch = records[start:start + 500]
            a = default.evaluate_batch(batch, Context(now=NOW))
            b = durable.evaluate_batch(batch, Context(now=NOW))
            assert [(d.stage, d.score, d.owner, d.sla_due) for d in a] == \
                   [(d.stage, d.score, d.owner, d.sla_due) for d in b]
