"""One self-contained HTML file (inline SVG and CSS, no scripts, no network) a sales leader can
open from an email: the page uses the window's whole width, each section is a card, and every
number the table prints is on it, owners under the same names."""
from __future__ import annotations

from html import escape
from typing import Iterable

from connector.preview.owners import display
from connector.preview.render import change_cells, lifecycle_paragraph, share_rows, showing_note, summary_line

BEFORE, AFTER = "#9aa5b1", "#2f6fde"
SHOWN_UNCHANGED = 10  # owners whose share does not change, listed after the changed ones

STYLE = (
    "*{box-sizing:border-box}"
    "body{font-family:system-ui,sans-serif;margin:0;color:#1f2933;background:#f5f7fa}"
    "main{width:100%;padding:20px 28px}"
    "h1{font-size:22px;margin:0 0 6px}h2{font-size:16px;margin:0 0 10px}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:16px;margin-top:16px}"
    ".card{background:#fff;border:1px solid #d9e2ec;border-radius:6px;padding:14px 18px;min-width:0}"
    ".wide{grid-column:1/-1}"
    "table{border-collapse:collapse;font-size:13px;width:100%}"
    "td,th{border-bottom:1px solid #e4e7eb;padding:4px 8px;text-align:left;vertical-align:top}"
    "td.n,th.n{text-align:right;white-space:nowrap}td.bar{width:40%}"
    ".up{color:#0b6e4f}.down{color:#b42318}.note{color:#52606d;font-size:13px}"
    "ul.cells{margin:0;padding-left:16px}"
    ".key span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px}"
)


def _bar(b: float, a: float, top: float) -> str:
    """Baseline (grey) over candidate (blue), as shares of the row with the largest value."""
    top = top or 1
    return (f'<svg width="100%" height="22" role="img" aria-label="{b:g} to {a:g}">'
            f'<rect x="0" y="1" width="{100 * b / top:.2f}%" height="9" fill="{BEFORE}"/>'
            f'<rect x="0" y="12" width="{100 * a / top:.2f}%" height="9" fill="{AFTER}"/></svg>')


def _delta(b: float, a: float, unit: str = "") -> str:
    if round(a - b, 6) == 0:
        return '<td class="n note">same</td>'
    cls = "up" if a > b else "down"
    return f'<td class="n {cls}">{a - b:+,.{1 if unit else 0}f}{unit}</td>'


def _table(head: list[str], rows: Iterable[list[str]], numeric: Iterable[int] = ()) -> str:
    """Rows of cells that are already HTML (callers escape what they put in)."""
    nums = set(numeric)
    cols = "".join(f'<th{" class=n" if i in nums else ""}>{escape(h)}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(c if c.startswith("<td") else f'<td{" class=n" if i in nums else ""}>{c}</td>'
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{cols}</tr>{body}</table>"


def _card(title: str, body: str, wide: bool = False) -> str:
    return f'<section class="card{" wide" if wide else ""}"><h2>{escape(title)}</h2>{body}</section>'


def _counts(title: str, base: dict, cand: dict, label=str, only_changed: bool = False) -> str:
    """A count per key in both versions, with bars; changed keys first (or only those)."""
    keys = sorted(set(base) | set(cand), key=lambda k: (base.get(k, 0) == cand.get(k, 0), str(k)))
    same = [k for k in keys if base.get(k, 0) == cand.get(k, 0)]
    if only_changed:
        keys = [k for k in keys if k not in same]
    top = max([base.get(k, 0) for k in keys] + [cand.get(k, 0) for k in keys] + [1])
    rows = [[escape(label(k)), f'<td class="bar">{_bar(base.get(k, 0), cand.get(k, 0), top)}</td>',
             f"{base.get(k, 0):,}", f"{cand.get(k, 0):,}", _delta(base.get(k, 0), cand.get(k, 0))] for k in keys]
    note = ""
    if only_changed and same:
        note = f'<p class="note">{len(same)} unchanged: {escape(", ".join(label(k) for k in same))}</p>'
    if not rows:
        return _card(title, note or '<p class="note">nothing to count</p>')
    return _card(title, _table(["", "", "baseline", "candidate", "change"], rows, (2, 3, 4)) + note)


def _owner_share(data: dict) -> str:
    rows = share_rows(data)
    changed = [r for r in rows if round(r[1], 4) != round(r[2], 4)]
    unchanged = rows[len(changed):]
    shown = changed + unchanged[:SHOWN_UNCHANGED]
    top = max([max(b, a) for _, b, a in shown] + [0.0001])
    cells = [[escape(display(o)), f'<td class="bar">{_bar(b, a, top)}</td>', f"{100 * b:.1f}%", f"{100 * a:.1f}%",
              _delta(100 * b, 100 * a, " pt")] for o, b, a in shown]
    note = f'<p class="note">{len(changed)} owner(s) whose share changes, listed first'
    if len(unchanged) > SHOWN_UNCHANGED:
        note += f"; {len(unchanged) - SHOWN_UNCHANGED} more owner(s) keep their share"
    return _card("Owner share", _table(["owner", "", "baseline", "candidate", "change"], cells, (2, 3, 4))
                 + note + "</p>")


def _moves(data: dict) -> str:
    body = _table(["from", "to", "records"], [[escape(display(m["from"])), escape(display(m["to"])), f"{m['count']:,}"]
                                              for m in data["owner_moves"][:40]], (2,)) if data["owner_moves"] else \
        '<p class="note">no record moves to another owner</p>'
    if data.get("owner_reshuffles"):
        teams = ", ".join(f"team {r['team']} {r['count']}" for r in data["owner_reshuffles"])
        n = sum(r["count"] for r in data["owner_reshuffles"])
        body += (f'<p class="note">Not moves: {n} round-robin reshuffle(s), records that go to another member of '
                 f"the same team because the turns fell differently ({escape(teams)}).</p>")
    return _card("Owner moves", body)


def _stages(data: dict) -> str:
    base, cand = data["stages"]["baseline"], data["stages"]["candidate"]
    totals = _counts("Stages", base, cand)
    flows = _table(["from", "to", "records"], [[escape(str(m["from"])), escape(str(m["to"])), f"{m['count']:,}"]
                                                for m in data["stage_moves"]], (2,)) if data["stage_moves"] else \
        '<p class="note">no record changes stage</p>'
    return totals.replace("</section>", f"<h2 style='margin-top:14px'>Stage flows</h2>{flows}</section>")


def _sla(data: dict) -> str:
    """Pending deadlines per owner due within a day and a week, baseline -> candidate."""
    b, a = data["sla_load"]["baseline"], data["sla_load"]["candidate"]
    owners = sorted(set(b["due_7d"]) | set(a["due_7d"]),
                    key=lambda o: (b["due_7d"].get(o, 0) == a["due_7d"].get(o, 0), -a["due_7d"].get(o, 0), o))
    sums = {k: (sum(b[k].values()), sum(a[k].values())) for k in ("due_1d", "due_7d")}
    rows = [[escape(display(o)), *(f"{b[k].get(o, 0):,} → {a[k].get(o, 0):,}" for k in ("due_1d", "due_7d")),
             _delta(b["due_7d"].get(o, 0), a["due_7d"].get(o, 0))] for o in owners]
    rows.append(["<b>all owners</b>", *(f"<b>{sums[k][0]:,} → {sums[k][1]:,}</b>" for k in ("due_1d", "due_7d")),
                 _delta(*sums["due_7d"])])
    head = ["owner", "due within a day", "due within a week", "change (week)"]
    return _card("SLA load: deadlines coming due (baseline → candidate)", _table(head, rows, (1, 2, 3)))


def _teams(data: dict) -> str:
    teams = data.get("teams") or {}
    base, cand = teams.get("baseline", {}), teams.get("candidate", {})
    rows = []
    for name, team in cand.get("teams", {}).items():
        before = {m["member"]: m for m in base.get("teams", {}).get(name, {}).get("members", [])}
        for m in team["members"]:
            b = before.get(m["member"], {})
            skipped = ", ".join(f"{n} {k}" for k, n in m["skipped"].items())
            rows.append([escape(name), escape(display(m.get("owner") or f"user:{m['member']}")),
                         f"{m['weight']} ({m['promised_share']:.0%})",
                         f"{b.get('received', 0):,}" + ("" if b.get("share") is None else f" ({b['share']:.0%})"),
                         f"{m['received']:,}" + ("" if m["share"] is None else f" ({m['share']:.0%})"),
                         escape(skipped)])
    if not rows:
        return ""
    held = [f"{side}: {t['held']}" for side, t in (("baseline", base), ("candidate", cand)) if t.get("held")]
    note = f'<p class="note">held (no member could take them): {escape(", ".join(held))}</p>' if held else ""
    head = ["team", "member", "weight (promised share)", "baseline received", "candidate received",
            "passed over (candidate)"]
    return _card("Teams: what each member receives", _table(head, rows, (2, 3, 4)) + note, wide=True)


def _unmatched(data: dict) -> str:
    parts = []
    for side in ("baseline", "candidate"):
        names = data["unmatched_rules"][side]
        parts.append(f"<p><b>{side}:</b> " + (escape(", ".join(names)) if names else "every rule matches a record")
                     + "</p>")
    return _card("Rules matching nothing", "".join(parts))


def _closed_loop(data: dict) -> str:
    loop = data.get("closed_loop")
    if not loop:
        return ""
    if loop.get("skipped"):
        return _card("Closed loop", f"<p>not computed: {escape(loop['skipped'])}</p>")

    def rate(share: dict) -> str:
        if share.get("rate") is None:
            return "n/a"
        interval = f" ({100 * share['low']:.0f}-{100 * share['high']:.0f}%)" if share.get("low") is not None else ""
        return f"{100 * share['rate']:.1f}%{interval}"

    rows = [[side, f"{loop[side]['mql']:,}", rate(loop[side]["precision"]), rate(loop[side]["recall"]),
             f"{loop[side]['revenue_captured']['amount']:,.0f}"] for side in ("baseline", "candidate")]
    return _card(f"Closed loop, point in time: {loop['population']:,} leads decided as of their decision time "
                 f"({loop['immature']:,} too recent, {loop['approximate_records']:,} approximated)",
                 _table(["version", "MQLs", "precision (95%)", "recall (95%)", "revenue captured"], rows, (1, 2, 3, 4)))


def _records(data: dict) -> str:
    if not data["changed_records"]:
        return _card("Changed records", '<p class="note">no record changes</p>', wide=True)
    rows = [[escape(r["id"] or ""), escape(r.get("name") or ""),
             "<ul class=cells>" + "".join(f"<li>{escape(c)}</li>" for c in change_cells(r)) + "</ul>",
             escape("; ".join(x.split(" (")[0] for x in r["rules"]["after"]))] for r in data["records"]]
    return _card("Changed records", f'<p class="note">{escape(showing_note(data))}</p>'
                 + _table(["id", "name", "changes (field: baseline -> candidate)", "rules (candidate)"], rows), wide=True)


def render_html(data: dict, title: str) -> str:
    life = lifecycle_paragraph(data)
    bands = data["score_bands"]
    cards = [
        _stages(data), _owner_share(data), _moves(data), _sla(data),
        _counts("Score bands (changed bands)", bands["baseline"], bands["candidate"], only_changed=True),
        _unmatched(data), _closed_loop(data),
        _card("Lifecycle", f"<p>{escape(life)}</p>") if life else "",
        _teams(data), _records(data),
    ]
    head = (f"<h1>{escape(title)}</h1><p>{escape(summary_line(data))}.</p>"
            f'<p class="key">versions:<span style="background:{BEFORE}"></span>baseline'
            f'<span style="background:{AFTER}"></span>candidate</p>')
    return (f"<!doctype html><html lang=en><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><main>{head}<div class=grid>{''.join(c for c in cards if c)}"
            f"</div></main></body></html>\n")
