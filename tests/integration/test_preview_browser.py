"""The HTML preview as a browser shows it: a real headless Chromium lays the page out, a script
added to a copy of it measures what was rendered, and a screenshot of the page itself is kept
(in $REVSYNC_ARTIFACTS when set, for CI to upload). Skipped where no Chromium is installed."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_preview import NOW, revsync, ws  # noqa: F401 - ws is a fixture

BROWSER = next((found for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
                if (found := shutil.which(name))), None)
WIDTH, HEIGHT = 1600, 1200

# Added to a copy of the page only: the report itself carries no script.
MEASURE = """<script>
const vw = window.innerWidth, main = document.querySelector("main").getBoundingClientRect();
const cards = [...document.querySelectorAll("section.card")].map(c => {
  const r = c.getBoundingClientRect();
  return {title: c.querySelector("h2").innerText, top: r.top, width: r.width,
          overflows: c.scrollWidth > c.clientWidth + 1};
});
const bars = [...document.querySelectorAll("section.card svg rect")].filter(r => r.getBoundingClientRect().width > 0);
const shareRows = [...document.querySelectorAll("section.card")].find(c => c.querySelector("h2").innerText === "Owner share")
  .querySelectorAll("tr");
const firstShare = shareRows.length > 1 ? shareRows[1].innerText : "";
const out = document.createElement("pre");
out.id = "measured";
out.textContent = JSON.stringify({vw, main: main.width, scroll: document.documentElement.scrollWidth, cards,
                                  bars: bars.length, firstShare, text: document.body.innerText});
document.body.appendChild(out);
</script>"""


def browser(*args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--no-first-run", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(BROWSER is None, reason="no Chromium on PATH")
def test_html_preview_renders_full_width_with_every_section(ws, tmp_path):  # noqa: F811 - the fixture
    artifacts = Path(os.environ.get("REVSYNC_ARTIFACTS") or tmp_path)
    artifacts.mkdir(parents=True, exist_ok=True)
    page = artifacts / "preview.html"
    args = ("preview", "--baseline", "baseline", "--org", "local:org.db", "--now", NOW)
    assert revsync(ws, *args, "--format", "html", "--output", str(page)).returncode == 0
    data = json.loads(revsync(ws, *args, "--format", "json").stdout)

    shot = artifacts / "preview.png"
    browser(f"--screenshot={shot}", page.resolve().as_uri(), profile=tmp_path / "profile-shot")
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (WIDTH, HEIGHT)
    assert len(png) > 20_000  # a rendered page, not a blank one

    measured_page = tmp_path / "measured.html"
    measured_page.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    dom = browser("--dump-dom", measured_page.as_uri(), profile=tmp_path / "profile-dom").stdout
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    m = json.loads(html.unescape(found.group(1)))

    # The page uses the window's width, and nothing spills out of it or out of a card.
    assert m["main"] >= 0.95 * m["vw"] and m["scroll"] <= m["vw"]
    assert not [c["title"] for c in m["cards"] if c["overflows"]]
    assert len({round(c["top"]) for c in m["cards"]}) < len(m["cards"])  # cards side by side, not one column
    titles = [c["title"] for c in m["cards"]]
    for wanted in ("Stages", "Owner share", "Owner moves", "SLA load", "Score bands", "Rules matching nothing",
                   "Teams", "Changed records"):
        assert any(t.startswith(wanted) for t in titles), (wanted, titles)
    assert m["bars"] >= 10
    text = m["text"]
    assert "Stage flows" in text and "Nurture" in text and "MQL" in text
    # Changed records with their names; owners by username and queues by name, as in the table.
    assert data["records"] and all(r["name"] and r["name"] in text for r in data["records"][:5])
    assert "queue Inbound Nurture" in text and "user:" not in text and "team:" not in text
    # Owners whose share changes come first.
    changed = {o for o, b in data["owner_share"]["baseline"].items()
               if b != data["owner_share"]["candidate"].get(o, 0)} | \
        (set(data["owner_share"]["candidate"]) - set(data["owner_share"]["baseline"]))
    shown = {o.replace("queue:", "queue ", 1).removeprefix("user:") for o in changed}
    assert m["firstShare"].split("\t")[0] in shown, m["firstShare"]
    # The per-member team table: every member of the candidate's round robins, by name.
    for team in data["teams"]["candidate"]["teams"].values():
        for member in team["members"]:
            assert member["owner"].split(":", 1)[1] in text
    assert data["showing"]["note"] in text
