"""The demo experiment's report, opened in a real (headless) browser: every chart is laid
out and drawn. Skipped when no Chromium or Chrome is installed (Debian: apt-get install
chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.conftest import DemoStore

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = next((b for b in map(shutil.which, BROWSERS) if b), None)

# Injected into a copy of the report (the report itself has no script): what the
# browser drew, per chart, written where --dump-dom shows it.
PROBE = """<script>
window.addEventListener("load", () => {
  const charts = [...document.querySelectorAll("svg.chart")].map((svg) => {
    const box = svg.getBoundingClientRect();
    const shapes = [...svg.querySelectorAll("rect, circle, polyline, line")].filter((s) => {
      const b = s.getBBox();
      return b.width > 0 || b.height > 0;
    });
    return {w: box.width, h: box.height, shapes: shapes.length};
  });
  const pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(charts);
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(BROWSER is None, reason="no headless browser (apt-get install chromium)")
def test_the_demo_report_draws_its_charts_in_a_browser(demo_store: DemoStore, tmp_path) -> None:
    report = tmp_path / "report.html"
    demo_store.run(80, "report", demo_store.experiment, "-o", str(report))
    page = report.read_text(encoding="utf-8")
    expected = page.count('<svg class="chart"')
    # The guide table, two trade-offs, the per-layer SQNR and each run's histograms.
    assert expected >= 3 + 4 * 2 and "The guide's table, measured" in page
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dom = subprocess.run(
        [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         f"--user-data-dir={tmp_path / 'profile'}", probed.as_uri()],
        capture_output=True, text=True, timeout=180,
    ).stdout  # fmt: skip
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"the browser showed no probe: {dom[:300]!r}"
    charts = json.loads(found.group(1).replace("&quot;", '"'))
    assert len(charts) == expected
    assert all(c["w"] > 100 and c["h"] > 100 for c in charts), charts
    assert all(c["shapes"] >= 3 for c in charts), charts
