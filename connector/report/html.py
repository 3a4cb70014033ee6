"""The report as one self-contained HTML file for a revenue team's screen: inline CSS and SVG,
no scripts, no fonts or styles from the network; charts stretch to the window's width."""
from __future__ import annotations

from html import escape

from connector.report.text import headline, num, pct

GREEN, AMBER, RED, GREY, BLUE, INK = "#2e9e5b", "#e0a526", "#d64541", "#c3cad3", "#2f6fde", "#1f2933"
# viewBox widths near the drawn size, so 13-unit text reads as 13px in a half-width card and a
# little larger in a full-width one, whatever the number of rows or weeks.
HALF, FULL = 760, 1200
STYLE = """
*{box-sizing:border-box}body{margin:0;padding:24px 32px;font-family:system-ui,-apple-system,"Segoe UI",sans-serif;
color:#1f2933;background:#f6f8fa}h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#52606d;margin:0 0 16px}.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px}
.tile{background:#fff;border:1px solid #d9e2ec;border-radius:8px;padding:12px 16px}.tile b{display:block;font-size:26px}
.tile span{color:#52606d;font-size:13px}.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:24px}
.card{background:#fff;border:1px solid #d9e2ec;border-radius:8px;padding:12px 16px;overflow-x:auto}
svg{width:100%;height:auto;display:block}table{border-collapse:collapse;width:100%;font-size:13px}
td,th{border-bottom:1px solid #e4e7eb;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
th{color:#52606d;font-weight:600}body>.card,.grid{margin-top:24px}.key span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
"""


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" role="img" '
            f'aria-label="{escape(label)}" font-size="13">{"".join(body)}</svg>')


def _text(x: float, y: float, text: str, anchor: str = "start", color: str = INK, size: int = 13) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="{color}" font-size="{size}">{escape(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, color: str, title: str = "") -> str:
    tip = f"<title>{escape(title)}</title>" if title else ""
    return f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" fill="{color}">{tip}</rect>'


def funnel_chart(f: dict) -> str:
    """Each stage a bar centred on one axis, as wide as its count; the step rates beside it."""
    steps = [("leads", f["leads"], None), ("MQL", f["mql"], f["mql"] / f["leads"] if f["leads"] else None),
             ("followed up", f["followed_up"], f["follow_up_rate"]),
             ("converted from MQL", f["mql_converted"], f["mql_converted"] / f["mql"] if f["mql"] else None),
             ("converted (all)", f["converted"], None), ("won", f["won"], None)]
    top = max(n for _, n, _ in steps) or 1
    left, bar = 140, 330
    body = []
    for i, (label, n, step) in enumerate(steps):
        y, w = 10 + 40 * i, max(bar * n / top, 2)
        body.append(_text(0, y + 20, label))
        body.append(_rect(left + (bar - w) / 2, y, w, 30, BLUE if i < 4 else GREEN, f"{label}: {n:,}"))
        note = f"{n:,}" + (f" ({pct(step)} of the step above)" if step is not None else "")
        if label == "won":
            note += f", {num(f['won_amount'])}"
        body.append(_text(left + bar + 12, y + 20, note))
    return _svg(HALF, 10 + 40 * len(steps), body, "funnel")


def weekly_chart(weeks: list[dict]) -> str:
    """Stacked columns per week the clocks started: met on time, late, breached, pending."""
    if not weeks:
        return "<p>No SLA clocks yet.</p>"
    top = max(w["clocks"] for w in weeks) or 1
    col, height = min((HALF - 40) / len(weeks), 90), 220
    body = []
    for i, w in enumerate(weeks):
        x, y = 20 + col * i, 30 + height
        for key, color in (("met_on_time", GREEN), ("met_late", AMBER), ("breached", RED), ("pending", GREY)):
            h = height * w[key] / top
            y -= h
            body.append(_rect(x + 4, y, col - 8, h, color, f"{w['week']}: {key.replace('_', ' ')} {w[key]}"))
        body.append(_text(x + col / 2, y - 6, pct(w["compliance"]), "middle", size=12))
        body.append(_text(x + col / 2, 30 + height + 16, w["week"][2:], "middle", size=11))
    return _svg(HALF, height + 60, body, "SLA compliance by week")


def shares_chart(team: dict) -> str:
    """Each member's promised share (grey) against the share revsync's round robin gave them (blue)."""
    members = team["members"]
    body = []
    for i, m in enumerate(members):
        y = 8 + 40 * i
        body.append(_text(0, y + 20, m["member"][:28]))
        body.append(_rect(210, y, 300 * m["promised_share"], 14, GREY, f"promised {pct(m['promised_share'])}"))
        body.append(_rect(210, y + 16, 300 * (m["share"] or 0), 14, BLUE, f"got {pct(m['share'])}"))
        body.append(_text(220 + 300 * max(m["promised_share"], m["share"] or 0), y + 20,
                          f"{pct(m['promised_share'])} promised, {pct(m['share'])} got ({m['records']:,})", size=12))
    return _svg(HALF, 16 + 40 * len(members), body, f"team {team['team']} shares")


def interval_chart(rows: list[tuple[str, float | None, float | None, float | None]], scale: float = 1.0,
                   unit: str = "%", reference: float | None = None) -> str:
    """A point and its 95% interval per row, on one axis from 0; `reference` draws a dashed
    line (a lift of 1: no better than picking at random)."""
    top = max([h for _, _, _, h in rows if h is not None] + [v for _, v, _, _ in rows if v is not None]
              + [reference or 0, 1e-9])
    body = []
    if reference is not None:
        at = 300 + 600 * reference / top
        body.append(f'<line x1="{at:.1f}" x2="{at:.1f}" y1="0" y2="{10 + 30 * len(rows)}" stroke="{GREY}" '
                    f'stroke-dasharray="4 4"/>')
    for i, (label, value, low, high) in enumerate(rows):
        y = 14 + 30 * i
        body.append(_text(0, y + 4, label))
        if value is None:
            body.append(_text(300, y + 4, "n/a"))
            continue
        x = lambda v: 300 + 600 * v / top  # noqa: E731
        if low is not None and high is not None:
            body.append(f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y}" y2="{y}" stroke="{INK}" stroke-width="2"/>')
        body.append(f'<circle cx="{x(value):.1f}" cy="{y}" r="5" fill="{BLUE}"/>')
        shown = f"{value * scale:.1f}{unit}" + (f" [{low * scale:.1f}, {high * scale:.1f}]"
                                                 if low is not None and high is not None else "")
        body.append(_text(x(max(value, high or value)) + 10, y + 4, shown, size=12))
    return _svg(FULL, 20 + 30 * len(rows), body, "estimates with 95% intervals")


def _table(head: list[str], rows: list[list]) -> str:
    cells = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + f"</tr>{cells}</table>"


def render_html(data: dict, title: str) -> str:
    f, s = data["funnel"], data["sla"]
    tiles = [("follow-up rate", pct(f["follow_up_rate"]), f"{f['followed_up']:,} of {f['mql']:,} MQLs"),
             ("SLA compliance", pct(s["compliance"]), f"{s['met_on_time']:,} met on time"),
             ("breached", num(s["breached"]), f"{s['escalated']:,} escalated"),
             ("first touch, median", f"{num(s['median_minutes_to_first_touch'])} min", "business time"),
             ("leads", num(f["leads"]), f"{f['mql']:,} MQLs"),
             ("won", num(f["won_amount"]), f"{f['won']:,} opportunities")]
    body = [f"<h1>{escape(title)}</h1><p class='sub'>{escape(headline(data))}. As of {escape(data['now'])}; "
            f"qualified stages: {escape(', '.join(data['qualified_stages']))}.</p>",
            "<div class='tiles'>" + "".join(f"<div class='tile'><span>{escape(a)}</span><b>{escape(b)}</b>"
                                            f"<span>{escape(c)}</span></div>" for a, b, c in tiles) + "</div>",
            "<div class='grid'>",
            f"<div class='card'><h2>Funnel</h2>{funnel_chart(f)}</div>",
            f"<div class='card'><h2>SLA compliance by the week clocks started</h2><p class='key'>"
            f"<span style='background:{GREEN}'></span>met on time<span style='background:{AMBER}'></span>met late"
            f"<span style='background:{RED}'></span>breached<span style='background:{GREY}'></span>pending</p>"
            f"{weekly_chart(data['weeks'])}</div>"]
    for team in data["teams"]:
        if team["members"]:
            body.append(f"<div class='card'><h2>Team {escape(team['team'])}: promised share vs got "
                        f"({team['records']:,} records)</h2>{shares_chart(team)}</div>")
    body.append("</div>")
    if data["owners"]:
        body.append("<div class='card'><h2>Owner load</h2>" + _table(
            ["owner", "MQLs", "open (load)", "followed up", "clocks", "on time", "late", "breached", "compliance"],
            [[o["owner"], o["mql"], o["load"], o["followed_up"], o["clocks"], o["met_on_time"], o["met_late"],
              o["breached"], pct(o["compliance"])] for o in data["owners"]]) + "</div>")
    if data["groups"]:
        body.append(f"<div class='card'><h2>By {escape(data['by'])}</h2>" + _table(
            ["", "leads", "MQLs", "followed up", "rate", "converted", "won amount", "clocks", "compliance"],
            [[g["group"], g["funnel"]["leads"], g["funnel"]["mql"], g["funnel"]["followed_up"],
              pct(g["funnel"]["follow_up_rate"]), g["funnel"]["converted"], num(g["funnel"]["won_amount"]),
              g["sla"]["clocks"], pct(g["sla"]["compliance"])] for g in data["groups"]]) + "</div>")
    if "backtest" in data:
        body.append(_backtest(data["backtest"]))
    if "pilot" in data:
        body.append(_pilot(data["pilot"]))
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width,initial-scale=1'><title>{escape(title)}</title><style>{STYLE}</style>"
            f"</head><body>{''.join(body)}</body></html>\n")


def _backtest(b: dict) -> str:
    rows = []
    for name, v in b["versions"].items():
        rows += [(f"{name}: precision", v["precision"]["rate"], v["precision"]["low"], v["precision"]["high"]),
                 (f"{name}: recall", v["recall"]["rate"], v["recall"]["low"], v["recall"]["high"]),
                 (f"{name}: revenue captured", v["revenue_captured"]["share"], v["revenue_captured"]["low"],
                  v["revenue_captured"]["high"])]
    lifts = "".join(f"<h2>{escape(name)}: lift by score band</h2>" + interval_chart(
        [(r["band"], r["lift"], r["lift_low"], r["lift_high"]) for r in v["bands"]], 1.0, "x", reference=1.0)
        for name, v in b["versions"].items())
    approx = ", ".join(f"{k} {v:,}" for k, v in b["approximations"].items()) or "none"
    return (f"<div class='card'><h2>Point-in-time backtest: {escape(b['candidate'])} against "
            f"{escape(b['baseline'])}</h2><p>{b['population']:,} leads decided as of their decision time, "
            f"{b['immature']:,} younger than {b['maturity_days']:g} days left out; {b['converted']:,} converted. "
            f"Approximations: {b['approximate_records']:,} records ({escape(approx)}).</p>"
            f"{interval_chart(rows, 100)}{lifts}</div>")


def _pilot(p: dict) -> str:
    rows = []
    for metric in ("mql_rate", "follow_up_rate", "conversion_rate"):
        for arm in ("pilot", "control"):
            a = p["arms"][arm][metric]
            rows.append((f"{metric.replace('_', ' ')}: {arm}", a["rate"], a["low"], a["high"]))
    verdicts = []
    for metric in ("mql_rate", "follow_up_rate", "conversion_rate"):
        c = p["comparison"][metric]
        if c["difference"] is not None:
            more = "" if c["significant"] or c["more_records_needed"] is None else \
                f", about {c['more_records_needed']:,} more {c['counted']} needed"
            verdicts.append(f"<li>{escape(metric.replace('_', ' '))}: {100 * c['difference']:+.1f} points, "
                            f"p = {c['p_value']}, {'significant' if c['significant'] else 'not significant yet'}"
                            f"{escape(more)}</li>")
    return (f"<div class='card'><h2>Pilot {escape(p['name'])}: {escape(p['rules'])} on {pct(p['share'])} of "
            f"{escape(p['when'] or 'every record')}</h2><p>Arms from {escape(p['arms_from'])}: "
            f"{p['arms']['pilot']['records']:,} pilot, {p['arms']['control']['records']:,} control.</p>"
            f"{interval_chart(rows, 100)}<ul>{''.join(verdicts)}</ul></div>")
