"""Previews for people and for CI: the table, the CSV of changed fields, the checks that fail
a pull request, and the lifecycle paragraph (handoffs and SLA clocks) the table ends its
summary with. Everything here reads `Preview.asdict()` only."""
from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import Any, Callable

from connector.preview.owners import display
from connector.preview.closed_loop import closed_loop_lines
from connector.preview.teams import team_lines

NOUNS = {"Lead": ("lead", "leads"), "Opportunity": ("opportunity", "opportunities")}


def summary_line(data: dict) -> str:
    """"600 records evaluated (...); 45 of 540 open change (stage 42, owner 27 of which 3 are
    round-robin reshuffles, ...)": the first line of the table and the HTML page."""
    closed = data["evaluated"] - data.get("open", data["evaluated"])
    shuffled = sum(r["count"] for r in data.get("owner_reshuffles", []))
    counts = [f"{k} {v}" + (f" ({shuffled} of them round-robin reshuffles)" if k == "owner" and shuffled else "")
              for k, v in data["changed"].items()]
    return (f"{data['evaluated']} records evaluated"
            + (f" ({closed} closed: they count for the closed loop only)" if closed else "")
            + f"; {data['changed_records']} of {data.get('open', data['evaluated'])} open change ({', '.join(counts)})")


def share_rows(data: dict) -> list[tuple[str, float, float]]:
    """(owner, baseline share, candidate share): owners whose share changes first, the largest
    change first; then the others, the largest share first."""
    b, a = data["owner_share"]["baseline"], data["owner_share"]["candidate"]
    rows = [(o, b.get(o, 0.0), a.get(o, 0.0)) for o in set(b) | set(a)]
    return sorted(rows, key=lambda r: (round(r[1], 4) == round(r[2], 4), -abs(r[2] - r[1]), -r[2], r[0]))


def change_cells(record: dict) -> list[str]:
    """A changed record's fields as `field: old -> new`, owners by name, a held record as held."""
    cells = []
    for key in record["before"]:
        old, new = record["before"][key], record["after"][key]
        if key == "owner":
            teams = record.get("teams") or {}
            held = record.get("held") or {}
            old = _owner_cell(old, teams.get("before"), held.get("before"))
            new = _owner_cell(new, teams.get("after"), held.get("after"))
            if record.get("reshuffle"):
                new += ", a round-robin reshuffle"
        cells.append(f"{key}: {_value(old)} -> {_value(new)}")
    return cells


def _owner_cell(owner: str | None, team: str | None, held: str | None) -> str:
    if held:
        return f"held ({held})"
    return display(owner) + (f" (team {team})" if team else "")


def _value(value: Any) -> str:
    return "(none)" if value is None or value == "" else str(value)


def render_table(data: dict) -> str:
    lines = [summary_line(data)]
    if data["owner_moves"]:
        lines.append("\nowner moves (from -> to):")
        lines += [f"  {m['count']:6}  {display(m['from'])} -> {display(m['to'])}" for m in data["owner_moves"][:20]]
        if len(data["owner_moves"]) > 20:
            lines.append(f"  ... and {len(data['owner_moves']) - 20} more pairs (--format json lists them all)")
    if data.get("owner_reshuffles"):
        lines.append("\nround-robin reshuffles (same team, turns fell differently; nobody's share moves because of them):")
        lines.append("  " + ", ".join(f"team {r['team']} {r['count']}" for r in data["owner_reshuffles"]))
    lines.append("\nowner share: baseline -> candidate (changed first)")
    for owner, b, a in share_rows(data):
        lines.append(f"  {display(owner):46} {100 * b:5.1f}% -> {100 * a:5.1f}%")
    if data["stage_moves"]:
        lines.append("\nstage moves:")
        lines += [f"  {m['count']:6}  {m['from']} -> {m['to']}" for m in data["stage_moves"]]
    paragraph = lifecycle_paragraph(data)
    if paragraph:
        lines.append("\nlifecycle (candidate; the baseline's count in parentheses where it differs):")
        lines.append(f"  {paragraph}")
    lines.append("\nscore bands: baseline -> candidate")
    bands = sorted(set(data["score_bands"]["baseline"]) | set(data["score_bands"]["candidate"]))
    lines += [f"  {b:8} {data['score_bands']['baseline'].get(b, 0):6} -> {data['score_bands']['candidate'].get(b, 0):6}"
              for b in bands]
    sla_b, sla_a = data["sla_load"]["baseline"], data["sla_load"]["candidate"]
    lines.append(f"\nSLA deadlines due within a day: {sum(sla_b['due_1d'].values())} -> {sum(sla_a['due_1d'].values())}; "
                 f"within a week: {sum(sla_b['due_7d'].values())} -> {sum(sla_a['due_7d'].values())}")
    for side in ("baseline", "candidate"):
        members = team_lines(data.get("teams", {}).get(side, {}))
        if members:
            lines.append(f"\nteams ({side}): received (share, promised by weight), passed over")
            lines += members
    for side in ("baseline", "candidate"):
        if data["unmatched_rules"][side]:
            lines.append(f"rules matching nothing ({side}): " + ", ".join(data["unmatched_rules"][side]))
    lines += closed_loop_lines(data.get("closed_loop"))
    if data["changed_records"]:
        lines.append(f"\nchanged records, {showing_note(data)}:")
        for r in data["records"]:
            lines.append(f"  {r['id']}" + (f"  {r['name']}" if r.get("name") else ""))
            lines += [f"      {cell}" for cell in change_cells(r)]
    return "\n".join(lines)


def showing_note(data: dict) -> str:
    """"showing 50 of 312 changed records (--limit 0 lists all)"."""
    showing = data.get("showing")
    if showing:
        return showing["note"]
    return f"showing {len(data['records'])} of {data.get('changed_records', len(data['records']))} changed records"


def lifecycle_paragraph(data: dict) -> str:
    """"105 leads become MQL: 105 handoffs from queue Inbound Nurture to team sdr; 105 MQL clocks
    start". The candidate's counts, each with the baseline's in parentheses where it differs;
    a count that is zero on both sides is left out (one that is zero in the candidate only is
    kept: it is what the change removes). Empty when there is nothing to say."""
    life = data.get("lifecycle")
    if not life:
        return ""
    base, cand = life["baseline"], life["candidate"]
    one, many = NOUNS.get(data.get("object") or "", ("record", "records"))

    def pairs(key: str, group: Callable[[list[dict]], Counter]) -> list[tuple[Any, int, int]]:
        b, c = group(base[key]), group(cand[key])
        return sorted(((k, c.get(k, 0), b.get(k, 0)) for k in set(b) | set(c) if b.get(k) or c.get(k)),
                      key=lambda t: (-t[1], -t[2], str(t[0])))

    def was(n: int, b: int) -> str:
        return "" if n == b else f" (baseline {b})"

    def moves(rows: list[dict]) -> Counter:
        return Counter({(r["from"], r["to"]): r["count"] for r in rows})

    def entered(rows: list[dict]) -> Counter:
        into: Counter = Counter()
        for r in rows:
            into[r["to"]] += r["count"]
        return into

    lead = [f"{n} {one if n == 1 else many} {'becomes' if n == 1 else 'become'} {stage}{was(n, b)}"
            for stage, n, b in pairs("stage_entries", entered)]
    rest = [f"{n} handoff{'' if n == 1 else 's'} from {display(f)} to {display(t)}{was(n, b)}"
            for (f, t), n, b in pairs("handoffs", moves)]
    rest += [f"{n} {entry} clock{' starts' if n == 1 else 's start'}{was(n, b)}"
             for entry, n, b in pairs("clocks_started", Counter)]
    rest += [f"{n} {entry} clock{' escalates' if n == 1 else 's escalate'}{was(n, b)}"
             for entry, n, b in pairs("escalations", Counter)]
    rest += [f"{n} {entry} clock{' falls' if n == 1 else 's fall'} due at a different time"
             for entry, n in sorted(life.get("due_changed", {}).items())]
    rest += [f"{n} running {entry} clock{' keeps its' if n == 1 else 's keep their'} due "
             "(the candidate's `within` applies to clocks that start after the change)"
             for entry, n in sorted(life.get("running_clocks_keep_due", {}).items())]
    if lead and rest:
        return f"{', '.join(lead)}: {'; '.join(rest)}"
    return ", ".join(lead) or "; ".join(rest)


def render_csv(data: dict) -> str:
    """Changed fields, one row each. Text that a spreadsheet would run as a formula (an Id or a
    rule name starting with =, +, -, @) is quoted by csv_cell; numbers (a score of -5) are not."""
    import csv
    import io

    from connector.files import csv_cell
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "field", "before", "after", "rules_before", "rules_after"])
    for r in data["records"]:
        teams, held = r.get("teams") or {}, r.get("held") or {}
        for k in r["before"]:
            old, new = r["before"][k], r["after"][k]
            if k == "owner":  # by name, as the table and the page show owners
                old = _owner_cell(old, teams.get("before"), held.get("before"))
                new = _owner_cell(new, teams.get("after"), held.get("after"))
            writer.writerow([csv_cell(x) for x in (r["id"], k, old, new,
                                                   "; ".join(r["rules"]["before"]), "; ".join(r["rules"]["after"]))])
    showing = data.get("showing")
    if showing and showing["records"] < showing["of"]:
        # A cut list says so in the file itself: a spreadsheet has no stderr.
        writer.writerow([f"# {showing['note']}"])
    return out.getvalue()


def exceeded(data: dict, fail_on_change: bool, limits: dict[str, Fraction | float]) -> list[str]:
    """Why a CI check should fail, if it should. Shares are compared as exact fractions: 7 of
    1,000 is not above `0.7%`, as float division (0.7 / 100 < 7 / 1000) would have it."""
    reasons = []
    if fail_on_change and data["changed_records"]:
        reasons.append(f"{data['changed_records']} record(s) change (--fail-on-change)")
    total = data.get("open", data["evaluated"]) or 1  # closed records never change
    shuffled = sum(r["count"] for r in data.get("owner_reshuffles", []))
    for output, limit in limits.items():
        count = data["changed"].get(output, 0)
        # A reshuffle inside one round robin moves nobody's share: the owner gate counts moves.
        count -= shuffled if output == "owner" else 0
        share = Fraction(count, total)
        if share > Fraction(limit):
            reasons.append(f"{output} changes for {count} of {total} open records ({float(share):.1%}), "
                           f"above the {float(limit) * 100:g}% limit"
                           + (f" ({shuffled} round-robin reshuffles not counted)" if output == "owner" and shuffled else ""))
    return reasons
