"""The admin's command line, run as a real subprocess the way admins and CI run it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "fixtures" / "rules"
NOW = "2026-11-23T15:00:00Z"  # Monday 10:00 in New York

CSV = """Id,Title,Industry,LeadSource,NumberOfEmployees,State,Email,Status,LastActivityDate,Account.Share_of_Wallet__c,Account.OwnerId
00Q000000000001AAA,VP of Sales,Software,Demo Request,2500,CA,ann@acme.example,Open,2026-11-20,,
00Q000000000002AAA,Student,Retail,Web,,NY,kid@gmail.com,Open,,,
00Q000000000003AAA,Head of Growth,Financial Services,Demo Request,lots,TX,cfo@big.example,Open,2026-09-01,0.7,005000000000009AAA
00Q000000000004AAA,CTO,Software,Web,50,CA,x@rival.example,Open,2026-11-22,0.1,
"""


def run(*args: str, cwd: Path = ROOT, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stdout + proc.stderr
    return proc


@pytest.fixture()
def export(tmp_path: Path) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(CSV)
    return path


def test_evaluate_prints_the_pinned_jsonl_shape(export):
    proc = run("evaluate", "--rules", str(EXAMPLE), "--input", str(export), "--object", "Lead",
               "--now", NOW, "--format", "jsonl")
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [r["id"] for r in lines] == [f"00Q00000000000{i}AAA" for i in range(1, 5)]
    first = lines[0]
    assert {"id", "segment", "score", "scores", "grade", "stage", "owner", "sla_due",
            "sla_status", "matched"} <= set(first)
    assert first == {**first, "segment": "Acquire", "score": 65, "scores": {"fit": 35, "engagement": 30},
                     "grade": "B", "stage": "MQL", "owner": "team:enterprise-west/bob@acme.example",
                     "sla_due": "2026-11-24T15:00:00Z", "sla_status": "pending"}
    assert first["matched"] == {"segment": "Acquire", "score": ["Senior title", "Target industry", "Asked for a demo"],
                                "qualify": "Marketing qualified", "route": "Enterprise west", "sla": "MQL"}
    student = lines[1]
    assert student["stage"] == "Nurture" and student["score"] == 0 and student["sla_due"] is None
    assert student["matched"]["sla"] is None
    retain = lines[2]
    assert retain["segment"] == "Retain" and retain["owner"] == "field:005000000000009AAA"
    assert any("lots" in p for p in retain["problems"])
    assert lines[3]["stage"] == "Disqualified"


def test_evaluate_gives_every_row_its_line_even_rows_it_cannot_read(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("Id,Title,State,NumberOfEmployees\nA1,CEO\nA2,CEO,CA,10,extra\nA3,CEO,CA,lots\n")
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"Id": "J1", "Title": "CEO"}\n{broken\n[1]\n{"Id": "J4"}\n')
    for source, ids in ((path, ["A1", "A2", "A3"]), (jsonl, ["J1", None, None, "J4"])):
        proc = run("evaluate", "--rules", str(EXAMPLE), "--input", str(source), "--now", NOW, check_rc=1)
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        assert [r["id"] for r in rows] == ids  # one object per input row, in order
        for row in rows:
            unread = [p for p in row.get("problems", []) if p.startswith("not evaluated: ")]
            assert (row["stage"] is None) == bool(unread)
        assert proc.stderr.count("skipped") == sum(1 for r in rows if r["stage"] is None)
    rows = [json.loads(line) for line in run("evaluate", "--rules", str(EXAMPLE), "--input", str(path),
                                             "--now", NOW, check_rc=1).stdout.splitlines()]
    assert "wrong number of columns: 2 cells, the header has 4" in rows[0]["problems"][0]
    assert rows[2]["stage"] and any("lots" in p for p in rows[2]["problems"])  # an unreadable value: evaluated


def test_evaluate_warns_of_columns_that_look_misspelt_and_not_of_other_columns(tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("Id,Titel,LeadSource,ConvertedAccountId,Account.Share_of_Walet__c\n00Q000000000001EAA,CEO,Web,,0.3\n")
    proc = run("evaluate", "--rules", str(EXAMPLE), "--input", str(path), "--now", NOW)
    assert "Titel (did you mean Title?)" in proc.stderr
    assert "Account.Share_of_Walet__c (did you mean Account.Share_of_Wallet__c?)" in proc.stderr
    assert "ConvertedAccountId" not in proc.stderr and "LeadSource" not in proc.stderr
    assert json.loads(proc.stdout)["id"] == "00Q000000000001EAA"


def test_a_file_in_another_encoding_is_refused_before_its_first_row(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes("Id,Company,Title\n00Q000000000001AAA,Café Müller,CEO\n".encode("cp1252"))
    proc = run("evaluate", "--rules", str(EXAMPLE), "--input", str(path), "--now", NOW, check_rc=2)
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert "excel.csv:2: not UTF-8 text" in proc.stderr and "--encoding cp1252" in proc.stderr
    proc = run("evaluate", "--rules", str(EXAMPLE), "--input", str(path), "--now", NOW, "--encoding", "cp1252")
    assert json.loads(proc.stdout)["id"] == "00Q000000000001AAA"
    imported = run("org", "import", str(tmp_path / "org.db"), str(path), "--object", "Lead", "--encoding", "cp1252",
                   cwd=tmp_path)
    assert "imported 1 Lead" in imported.stdout
    from connector.orgs.local import LocalOrg
    assert next(LocalOrg(tmp_path / "org.db").read_all("Lead", ["Company"]))["Company"] == "Café Müller"


def test_evaluate_table_format(export):
    proc = run("evaluate", "--rules", str(EXAMPLE), "--input", str(export), "--now", NOW, "--format", "table")
    assert "00Q000000000001AAA" in proc.stdout and "MQL" in proc.stdout


def test_evaluate_reads_jsonl_with_nested_related_records(tmp_path):
    path = tmp_path / "leads.jsonl"
    rows = [{"attributes": {"type": "Lead"}, "Id": "00Q000000000005AAA", "Title": "Chief of Staff",
             "Account": {"Share_of_Wallet__c": 0.9, "OwnerId": "005000000000001AAA"}},
            {"Id": "00Q000000000006AAA", "NumberOfEmployees": 1200, "State": "WA"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n")
    proc = run("evaluate", "--rules", str(EXAMPLE), "--input", str(path), "--now", NOW, check_rc=1)
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out[0]["segment"] == "Retain" and out[0]["owner"] == "field:005000000000001AAA"
    assert out[1]["owner"] == "team:enterprise-west/bob@acme.example"
    assert "leads.jsonl:3: skipped" in proc.stderr


def test_validate_reports_every_problem_and_exits_2(tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "lead.yaml").write_text(
        "object: Lead\nsegment:\n  - {name: A, when: {titel: CEO}, segment: A}\n"
        "  - {name: B, when: {employees: {gte: many}}, segment: B}\n")
    proc = run("rules", "validate", "--rules", str(rules), check_rc=2)
    assert ":3:22: E110 unknown field 'titel'" in proc.stderr
    assert ":4:39: E112" in proc.stderr
    proc = run("evaluate", "--rules", str(rules), "--input", str(rules / "lead.yaml"), check_rc=2)
    assert proc.stdout == ""


def test_validate_ok_on_the_example(tmp_path):
    proc = run("rules", "validate", "--rules", str(EXAMPLE))
    assert "ok" in proc.stdout


def test_schema_is_json_schema():
    proc = run("rules", "schema")
    schema = json.loads(proc.stdout)
    assert schema["$schema"].startswith("https://json-schema.org/")
    jsonschema = pytest.importorskip("jsonschema")
    from ruamel.yaml import YAML
    doc = YAML(typ="safe").load((EXAMPLE / "lead.yaml").read_text())
    jsonschema.validate(doc, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**doc, "segmnt": []}, schema)


def test_explain_tells_the_whole_story(export):
    proc = run("explain", "--rules", str(EXAMPLE), "--input", str(export), "--now", NOW, "00Q000000000002AAA")
    out = proc.stdout
    assert "Senior title" in out and "title matches" in out
    assert "'student'" in out.lower()
    assert "Everyone else" in out


def test_explain_shows_tests_as_the_rule_file_spells_them(export):
    out = run("explain", "--rules", str(EXAMPLE), "--input", str(export), "--now", NOW, "00Q000000000001AAA").stdout
    assert "industry in ['Software', 'Financial Services']" in out  # not the case-folded set it compares


def test_explain_reads_a_record_from_the_org_with_its_account(tmp_path):
    from connector.demo.org import create_demo_org
    from connector.orgs.local import LocalOrg
    create_demo_org(tmp_path / "org.db", leads=300, seed=5)
    org = LocalOrg(tmp_path / "org.db")
    # A lead whose email domain is an account's website: the sync matches them.
    websites = {(a["Website"] or "").removeprefix("https://").removeprefix("www.").strip("/"): a
                for a in org.read_all("Account", ["Website", "Share_of_Wallet__c"]) if a["Share_of_Wallet__c"]}
    matched = next(r["Id"] for r in org.read_all("Lead", ["Email", "IsConverted"])
                   if not r["IsConverted"] and (r["Email"] or "@").split("@")[1] in websites)
    out = _explain_org(tmp_path, matched)
    assert f"Lead {matched} at 2026-11-23T15:00:00Z" in out and "account.owner_id='005" in out
    assert "account.share_of_wallet=0." in out
    assert _explain_org(tmp_path, matched[:15]) == out  # the 15-character form names the same record
    neither = run("explain", "--rules", str(EXAMPLE), "--now", NOW, "00Q000000000001AAA", cwd=tmp_path, check_rc=2)
    assert "--input FILE or --org" in neither.stderr


def _explain_org(cwd: Path, rid: str) -> str:
    return run("explain", "--rules", str(EXAMPLE), "--org", "local:org.db", "--now", NOW, rid, cwd=cwd).stdout


def test_explain_unknown_id(export):
    run("explain", "--rules", str(EXAMPLE), "--input", str(export), "--now", NOW, "00Qnope", check_rc=1)


def test_bad_now_is_a_usage_error(export):
    proc = run("evaluate", "--rules", str(EXAMPLE), "--input", str(export), "--now", "yesterday", check_rc=2)
    assert "ISO 8601" in proc.stderr


def test_init_scaffolds_a_repository_whose_rules_validate_and_pass(tmp_path):
    target = tmp_path / "revenue-rules"
    proc = run("init", str(target))
    assert "created" in proc.stdout
    for path in ("rules/lead.yaml", "rules/lead.cases.yaml", "rules/opportunity.yaml",
                 "rules/opportunity.cases.yaml", "mappings/lead.yaml", "mappings/opportunity.yaml",
                 "revsync.toml", ".github/workflows/rules.yml", "README.md", ".gitignore"):
        assert (target / path).is_file(), path
    assert ".revsync/" in (target / ".gitignore").read_text()  # state and journal stay out of git
    # Settings come from the scaffolded revsync.toml: no --rules needed inside the repository.
    assert "ok: 2 rule file(s)" in run("rules", "validate", cwd=target).stdout
    tested = run("rules", "test", cwd=target)
    assert tested.stdout.strip().endswith("23 passed, 0 failed")
    # A second init keeps the admin's edits.
    (target / "rules" / "lead.yaml").write_text("object: Lead\n")
    again = run("init", str(target))
    assert "kept existing" in again.stderr
    assert (target / "rules" / "lead.yaml").read_text() == "object: Lead\n"


def test_rules_test_reports_a_failing_case_with_a_diff(tmp_path):
    target = tmp_path / "r"
    run("init", str(target))
    cases = target / "rules" / "lead.cases.yaml"
    cases.write_text(cases.read_text().replace("score: 95", "score: 96"))
    proc = run("rules", "test", cwd=target, check_rc=1)
    assert "FAIL" in proc.stdout and "expected: 96" in proc.stdout and "actual:   95" in proc.stdout
    assert "22 passed, 1 failed" in proc.stdout
    cases.write_text(cases.read_text().replace("sla_due: 2026-11-23T19:00:00Z", "sla_due: 2026-11-23T18:00:00Z"))
    proc = run("rules", "test", cwd=target, check_rc=1)
    assert "expected: 2026-11-23T18:00:00Z" in proc.stdout and "actual:   2026-11-23T19:00:00Z" in proc.stdout


def test_rules_test_with_the_durable_engine(tmp_path):
    pytest.importorskip("durable")
    target = tmp_path / "r"
    run("init", str(target))
    proc = run("rules", "test", "--engine", "durable", cwd=target, check_rc=None)
    if "durable_engine" in proc.stderr and "No module" in proc.stderr:
        pytest.skip("durable engine not built")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "23 passed, 0 failed" in proc.stdout
