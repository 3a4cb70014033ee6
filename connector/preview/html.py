"""One self-contained HTML file (inline SVG, no scripts, no network) a sales leader can open
from an email."""
from __future__ import annotations

from html import escape

BEFORE, AFTER = "#9aa5b1", "#2f6fde"


def _bars(title: str, rows: list[tuple[str, float, float]], unit: str = "") -> str:
    """Paired horizontal bars: baseline (grey) and candidate (blue) per row."""
    if not rows:
        return ""
    top = max(max(b, a) for _, b, a in rows) or 1
    height = 30 * len(rows) + 30
    parts = [f'<h2>{escape(title)}</h2><svg width="760" height="{height}" role="img" '
             f'aria-label="{escape(title)}">']
    for i, (label, b, a) in enumerate(rows):
        y = 20 + 30 * i
        parts.append(f'<text x="0" y="{y + 12}" font-size="12">{escape(label[:40])}</text>')
        parts.append(f'<rect x="300" y="{y}" width="{380 * b / top:.1f}" height="11" fill="{BEFORE}"/>')
        parts.append(f'<rect x="300" y="{y + 12}" width="{380 * a / top:.1f}" height="11" fill="{AFTER}"/>')
        parts.append(f'<text x="{305 + 380 * max(a, b) / top:.1f}" y="{y + 17}" font-size="11">'
                     f'{b:g}{unit} → {a:g}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _table(title: str, head: list[str], rows: list[list]) -> str:
    if not rows:
        return ""
    cells = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<h2>{escape(title)}</h2><table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head)
            + f"</tr>{cells}</table>")


def render_html(data: dict, title: str) -> str:
    sb, sa = data["owner_share"]["baseline"], data["owner_share"]["candidate"]
    owners = sorted(set(sb) | set(sa), key=lambda o: -max(sb.get(o, 0), sa.get(o, 0)))[:15]
    bands = sorted(set(data["score_bands"]["baseline"]) | set(data["score_bands"]["candidate"]))
    changed = ", ".join(f"{k} {v}" for k, v in data["changed"].items())
    body = [
        f"<h1>{escape(title)}</h1>",
        f"<p>{data['evaluated']:,} records evaluated; <b>{data['changed_records']:,}</b> change ({escape(changed)}). "
        f'<span style="color:{BEFORE}">■ baseline</span> <span style="color:{AFTER}">■ candidate</span></p>',
        _bars("Owner share", [(o, round(100 * sb.get(o, 0), 1), round(100 * sa.get(o, 0), 1)) for o in owners], "%"),
        _bars("Score distribution", [(b, data["score_bands"]["baseline"].get(b, 0),
                                      data["score_bands"]["candidate"].get(b, 0)) for b in bands]),
        _table("Stage flows", ["from", "to", "records"],
               [[m["from"], m["to"], m["count"]] for m in data["stage_moves"]]),
        _table("Owner moves", ["from", "to", "records"],
               [[m["from"], m["to"], m["count"]] for m in data["owner_moves"][:30]]),
    ]
    loop = data.get("closed_loop")
    if loop:
        body.append(_table("Closed loop: what each version would have predicted",
                           ["version", "MQLs", "MQLs converted", "won revenue from MQLs"],
                           [[side, loop[side]["mql"],
                             "n/a" if loop[side]["mql_converted_share"] is None
                             else f"{100 * loop[side]['mql_converted_share']:.1f}%",
                             f"{loop[side]['won_revenue_from_mqls']:,.0f}"] for side in ("baseline", "candidate")]))
    unmatched = data["unmatched_rules"]["candidate"]
    if unmatched:
        body.append(f"<p><b>Rules that match nothing in the candidate:</b> {escape(', '.join(unmatched))}</p>")
    body.append(_table("Changed records (sample)", ["id", "before", "after"],
                       [[r["id"], r["before"], r["after"]] for r in data["records"]]))
    style = ("body{font-family:system-ui,sans-serif;max-width:820px;margin:2em auto;color:#1f2933}"
             "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #cbd2d9;padding:3px 8px;text-align:left}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n")
