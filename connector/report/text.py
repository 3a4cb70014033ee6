"""The report as a terminal table and as CSV (one tidy row per metric, for spreadsheets)."""
from __future__ import annotations

import csv
import io
from typing import Any, Iterator

from connector.files import csv_cell

OUTCOMES = ("met_on_time", "met_late", "breached", "pending")


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def num(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() or abs(value) >= 100 else f"{value:,.1f}"
    return f"{value:,}"


def columns(head: list[str], rows: list[list[Any]], indent: str = "  ") -> list[str]:
    """Aligned columns: the first left, the rest right (they are numbers)."""
    cells = [head] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(head))]
    return [indent + "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            .rstrip() for row in cells]


def headline(data: dict) -> str:
    """One line: follow-up rate and SLA compliance, what everybody asks first."""
    f, s = data["funnel"], data["sla"]
    decided = s["met_on_time"] + s["met_late"] + s["breached"]
    return (f"{pct(f['follow_up_rate'])} of {f['mql']:,} MQLs followed up; SLA compliance {pct(s['compliance'])} "
            f"({s['met_on_time']:,} of {decided:,} decided clocks met on time, {s['escalated']:,} escalated)")


def _group_row(key: str, f: dict, s: dict) -> list[Any]:
    return [key, num(f["leads"]), num(f["mql"]), num(f["followed_up"]), pct(f["follow_up_rate"]),
            num(f["converted"]), num(f["won"]), num(f["won_amount"]), num(s["clocks"]),
            *(num(s[k]) for k in OUTCOMES), num(s["escalated"]), pct(s["compliance"]),
            num(s["median_minutes_to_first_touch"])]


GROUP_HEAD = ["", "leads", "MQL", "followed up", "rate", "converted", "won", "won amount", "clocks", "on time",
              "late", "breached", "pending", "escalated", "compliance", "median min"]


def render_table(data: dict) -> str:
    f, s = data["funnel"], data["sla"]
    since = f"created since {data['since'][:10]}" if data["since"] else "all"
    lines = [f"revsync report: {data['object']} ({since}), as of {data['now'].replace('T', ' ')[:16]} UTC, "
             f"qualified stages {', '.join(data['qualified_stages'])}",
             headline(data), ""]
    lines += columns(["funnel", ""], [["leads", num(f["leads"])], ["MQL", num(f["mql"])],
                                      ["followed up", f"{num(f['followed_up'])} ({pct(f['follow_up_rate'])})"],
                                      ["converted", num(f["converted"])], ["opportunities", num(f["opportunities"])],
                                      ["won", f"{num(f['won'])} ({num(f['won_amount'])})"]])
    lines += columns(["SLA clocks", ""], [["clocks", num(s["clocks"])], *[[k.replace("_", " "), num(s[k])]
                                                                          for k in OUTCOMES],
                                          ["escalated", num(s["escalated"])], ["compliance", pct(s["compliance"])],
                                          ["first touch, median min", num(s["median_minutes_to_first_touch"])],
                                          ["first touch, p90 min", num(s["p90_minutes_to_first_touch"])]])
    if data["groups"]:
        lines += ["", f"by {data['by']}:"]
        lines += columns(GROUP_HEAD, [_group_row(g["group"], g["funnel"], g["sla"]) for g in data["groups"]])
    if data["owners"]:
        lines += ["", "owners of qualified leads (load: open ones):"]
        lines += columns(["", "MQL", "load", "followed up", "clocks", "on time", "late", "breached", "compliance"],
                         [[o["owner"], o["mql"], o["load"], o["followed_up"], o["clocks"], o["met_on_time"],
                           o["met_late"], o["breached"], pct(o["compliance"])] for o in data["owners"]])
    for team in data["teams"]:
        lines += ["", f"team {team['team']}: {team['records']:,} records its round robin gave, promised share -> got:"]
        lines += columns(["", "weight", "promised", "records", "got"],
                         [[m["member"], m["weight"], pct(m["promised_share"]), m["records"], pct(m["share"])]
                          for m in team["members"]])
    if data["weeks"]:
        lines += ["", "SLA by the week clocks started:"]
        lines += columns(["", "clocks", "on time", "late", "breached", "pending", "compliance"],
                         [[w["week"], w["clocks"], *(w[k] for k in OUTCOMES), pct(w["compliance"])]
                          for w in data["weeks"]])
    if "backtest" in data:
        lines += ["", *backtest_lines(data["backtest"])]
    if "pilot" in data:
        lines += ["", *pilot_lines(data["pilot"])]
    return "\n".join(lines) + "\n"


def _ci(part: dict) -> str:
    if part.get("rate") is None:
        return "n/a"
    return f"{pct(part['rate'])} [{pct(part['low'])}, {pct(part['high'])}]"


def backtest_lines(b: dict) -> list[str]:
    approx = ", ".join(f"{k} {v:,}" for k, v in b["approximations"].items()) or "none"
    lines = [f"point-in-time backtest: {b['candidate']} (candidate) against {b['baseline']} (baseline)",
             f"  {b['population']:,} leads decided as of their decision time ({_decided(b['decided_at'])}); "
             f"{b['immature']:,} decided less than {b['maturity_days']:g} days ago left out; {b['undated']:,} undated",
             f"  {b['converted']:,} converted, {b['won']:,} won ({num(b['won_amount'])}); approximations: "
             f"{b['approximate_records']:,} records ({approx})",
             f"  MQLs: both {b['agreement']['both']:,}, baseline only {b['agreement']['baseline_only']:,}, "
             f"candidate only {b['agreement']['candidate_only']:,}"]
    rows = [[name, v["mql"], _ci(v["precision"]), _ci(v["recall"]),
             f"{pct(v['revenue_captured']['share'])} [{pct(v['revenue_captured']['low'])}, "
             f"{pct(v['revenue_captured']['high'])}]"] for name, v in b["versions"].items()]
    lines += columns(["", "MQL", "precision (95%)", "recall (95%)", "revenue captured (95%)"], rows)
    for name, v in b["versions"].items():
        lines.append(f"  {name}: conversion and lift by score band")
        lines += columns(["", "records", "converted", "rate (95%)", "lift"],
                         [[r["band"], r["records"], r["converted"], _ci(r),
                           "n/a" if r["lift"] is None else f"{r['lift']:.2f}"] for r in v["bands"]], "    ")
    return lines


def _decided(counts: dict) -> str:
    return ", ".join(f"{n:,} at {how.replace('_', ' ')}" for how, n in counts.items()) or "none"


def pilot_lines(p: dict) -> list[str]:
    lines = [f"pilot {p['name']}: {p['rules']} on {pct(p['share'])} of {p['when'] or 'every record'}; "
             f"arms from {p['arms_from']}"]
    arms = p["arms"]
    rows = [[name, a["records"], _ci(a["mql_rate"]), _ci(a["follow_up_rate"]), _ci(a["conversion_rate"]),
             num(a["median_minutes_to_first_touch"]), num(a["won_amount"])] for name, a in arms.items()]
    lines += columns(["", "records", "MQL rate", "follow-up rate", "conversion", "median min", "won amount"], rows)
    for metric in ("mql_rate", "follow_up_rate", "conversion_rate"):
        c = p["comparison"][metric]
        if c["difference"] is None:
            lines.append(f"  {metric.replace('_', ' ')}: no records in one arm yet")
            continue
        verdict = "significant" if c["significant"] else "not significant yet"
        more = c["more_records_needed"]
        need = ("" if c["significant"] or more is None else
                f"; about {more:,} more {c['counted']} for a difference this large to show (95%, power 80%)")
        lines.append(f"  {metric.replace('_', ' ')}: pilot - control {100 * c['difference']:+.1f} points "
                     f"[{100 * c['low']:+.1f}, {100 * c['high']:+.1f}], p = {c['p_value'] if c['p_value'] is not None else 'n/a'}, "
                     f"{verdict}{need}")
    return lines


def rows(data: dict) -> Iterator[list[Any]]:
    """section, group, metric, value, low, high."""
    for key in ("funnel", "sla"):
        for metric, value in data[key].items():
            yield [key, "(all)", metric, value, None, None]
    for g in data["groups"]:
        for key in ("funnel", "sla"):
            for metric, value in g[key].items():
                yield [f"{key} by {data['by']}", g["group"], metric, value, None, None]
    for o in data["owners"]:
        for metric, value in o.items():
            if metric != "owner":
                yield ["owner", o["owner"], metric, value, None, None]
    for team in data["teams"]:
        for m in team["members"]:
            for metric in ("weight", "promised_share", "records", "share"):
                yield [f"team {team['team']}", m["member"], metric, m[metric], None, None]
    for w in data["weeks"]:
        for metric, value in w.items():
            if metric != "week":
                yield ["sla by week", w["week"], metric, value, None, None]
    b = data.get("backtest")
    if b:
        for name, v in b["versions"].items():
            for metric in ("precision", "recall"):
                yield [f"backtest {name}", "(all)", metric, v[metric]["rate"], v[metric]["low"], v[metric]["high"]]
            r = v["revenue_captured"]
            yield [f"backtest {name}", "(all)", "revenue_captured", r["share"], r["low"], r["high"]]
            for band in v["bands"]:
                yield [f"backtest {name}", band["band"], "conversion", band["rate"], band["low"], band["high"]]
                yield [f"backtest {name}", band["band"], "lift", band["lift"], band["lift_low"], band["lift_high"]]
    p = data.get("pilot")
    if p:
        for arm, a in p["arms"].items():
            for metric in ("mql_rate", "follow_up_rate", "conversion_rate"):
                yield [f"pilot {p['name']}", arm, metric, a[metric]["rate"], a[metric]["low"], a[metric]["high"]]
        for metric, c in p["comparison"].items():
            yield [f"pilot {p['name']}", "pilot - control", metric, c["difference"], c.get("low"), c.get("high")]


def render_csv(data: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "group", "metric", "value", "low", "high"])
    for row in rows(data):
        writer.writerow([csv_cell(c) if isinstance(c, str) else ("" if c is None else c) for c in row])
    return out.getvalue()
