"""audit.html in a real browser (headless Chromium, one launch for every page): hostile
performance-baseline SVGs and hostile host names, groups and findings run no script and make
the page fetch nothing. Each payload sets document.title and fetches a URL on a local server;
after the page has loaded and every link on it has been clicked, the title must be unchanged,
the server must have seen only the page itself, and the DOM Chromium built must hold only the
report's own elements and attributes. Issue 21, item 5."""

import json
import threading
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

import hostile_svg
from chromium import Chromium
from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import CONTROL_IDS, control
from ansible_collections.ktune.inference.plugins.module_utils.audit_report import build_report, to_html
from ansible_collections.ktune.inference.plugins.module_utils.svg_chart import tokens_chart

TITLE = "ktune fleet audit"
# Time for what a payload starts asynchronously (a fetch, a javascript: navigation) to arrive.
SETTLE_S = 0.5

CLICK_EVERY_LINK = """
for (const link of document.querySelectorAll('a')) {
  link.dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true, view: window}));
}
"""

# What the page may hold: the report's own HTML and the chart elements svg_chart draws.
DOM_PROBLEMS = """
(() => {
  const html = new Set(['html', 'head', 'meta', 'title', 'style', 'body', 'h1', 'h2', 'div', 'b', 'span', 'table',
    'thead', 'tbody', 'tr', 'th', 'td', 'a', 'details', 'summary', 'p']);
  const svg = new Set(['svg', 'g', 'title', 'desc', 'path', 'polyline', 'line', 'rect', 'circle', 'text', 'tspan']);
  const problems = [];
  for (const el of document.querySelectorAll('*')) {
    const inSvg = el.namespaceURI === 'http://www.w3.org/2000/svg';
    if (!(inSvg ? svg : html).has(el.localName)) problems.push('element ' + el.namespaceURI + ' ' + el.localName);
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      if (name.startsWith('on')) problems.push('handler ' + el.localName + ' ' + attr.name);
      if (/href|src|action|style/.test(name) && !(el.localName === 'a' && !inSvg && /^#/.test(attr.value)))
        problems.push('link ' + el.localName + ' ' + attr.name + '=' + attr.value);
      if (/javascript:|url\\(|data:/i.test(attr.value)) problems.push('value ' + el.localName + ' ' + attr.name);
    }
  }
  if (document.styleSheets.length !== 1) problems.push(document.styleSheets.length + ' style sheets');
  return problems;
})()
"""


class Recorder(SimpleHTTPRequestHandler):
    """Serves the report folder and notes every path asked for."""
    requests = []

    def do_GET(self):
        Recorder.requests.append(self.path)
        SimpleHTTPRequestHandler.do_GET(self)

    def do_POST(self):
        self.do_GET()

    def log_message(self, *args):
        pass


def hostile_report(svg):
    """One host with every control passing and the SVG as its performance curve."""
    report = build_report({"gpu-a": [control(cid, "pass", "error", "ok", "") for cid in CONTROL_IDS]},
                          {"gpu-a": "production"}, "2026-11-25T04:00:00Z")
    return to_html(report, baselines={"gpu-a": svg})


def hostile_text_report(beacon):
    run = hostile_svg.script(beacon)
    host = "<img src=x onerror=%s>" % run
    finding = "</td></table><script>%s</script>\x00\x1b[0m\ud800" % run
    group = "<svg/onload=%s>" % run
    results = {host: [control(cid, "fail", "error", finding, "'\"><img src=x onerror=%s>" % run)
                      for cid in CONTROL_IDS]}
    report = build_report(results, {host: group, "gone<script>%s</script>" % run: group}, "<b>%s</b>" % run,
                          {"gone<script>%s</script>" % run: "unreachable: <iframe src=javascript:%s>" % run})
    return to_html(report, baselines={host: hostile_svg.vector("unquoted-onload", beacon)})


def chart_report():
    svg = tokens_chart([("baseline", [15.0, 15.1, 14.9]), ("latest", [15.0, 12.0, 10.5])],
                       "gpu-a: tokens/s; baseline NPS2, performance", threshold=10.0)
    return hostile_report(svg)


def script_report(beacon):
    """Not sanitised at all: proves the harness sees a script that runs and a fetch that arrives."""
    return hostile_report("<svg %s/>" % hostile_svg.SVG_NS).replace(
        "</body>", "<script>%s</script></body>" % hostile_svg.script(beacon))


CASES = sorted(hostile_svg.VECTORS) + ["hostile-text"]


@pytest.fixture(scope="module")
def visits(tmp_path_factory):
    """{case: {"title", "problems", "requests", "svgs", "circles", "dialogs"}} for every page, read by one browser."""
    folder = tmp_path_factory.mktemp("audit-html")
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *args: Recorder(*args, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    renderers = dict((case, lambda case=case: hostile_report(hostile_svg.vector(case, "%s/beacon/%s" % (base, case))))
                     for case in hostile_svg.VECTORS)
    renderers["hostile-text"] = lambda: hostile_text_report(base + "/beacon/hostile-text")
    renderers["chart"] = chart_report
    renderers["harness-check"] = lambda: script_report(base + "/beacon/harness-check")
    pages, seen = [], {}
    for case, render in renderers.items():
        try:  # as the audit_report action writes audit.html
            (folder / (case + ".html")).write_text(render(), encoding="utf-8")
            pages.append(case)
        except (ValueError, UnicodeError) as exc:
            seen[case] = {"error": repr(exc)}
    Recorder.requests = []
    try:
        with Chromium() as browser:
            opened = {}
            for case in pages:
                opened[case] = browser.open("%s/%s.html" % (base, case))
                opened[case].evaluate(CLICK_EVERY_LINK)
            time.sleep(SETTLE_S)
            for case, page in opened.items():
                seen[case] = {
                    "title": page.evaluate("document.title"),
                    "problems": page.evaluate(DOM_PROBLEMS),
                    "svgs": page.evaluate("document.querySelectorAll('.curve svg').length"),
                    "circles": page.evaluate("document.querySelectorAll('.curve svg circle').length"),
                    "dialogs": page.dialogs(),
                }
    finally:
        server.shutdown()
        server.server_close()
    for case in pages:
        seen[case]["requests"] = sorted(path for path in Recorder.requests if "/beacon/%s" % case in path)
    return seen


def test_the_harness_sees_a_script_that_runs(visits):
    seen = visits["harness-check"]
    assert seen["title"] == hostile_svg.PWNED
    assert seen["requests"] == ["/beacon/harness-check"]
    assert any("element" in problem and "script" in problem for problem in seen["problems"])


@pytest.mark.parametrize("case", CASES)
def test_hostile_page_runs_no_script_and_fetches_nothing(visits, case):
    seen = visits[case]
    assert "error" not in seen, seen
    assert seen["title"] == TITLE, json.dumps(seen)
    assert seen["requests"] == [], json.dumps(seen)
    assert seen["problems"] == [], json.dumps(seen)
    assert seen["dialogs"] == []


def test_the_chart_svg_chart_draws_is_shown_inline_with_its_points(visits):
    seen = visits["chart"]
    assert seen["problems"] == [], seen["problems"]
    assert (seen["svgs"], seen["circles"]) == (1, 6)
