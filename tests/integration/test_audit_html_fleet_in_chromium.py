"""audit.html for a fleet of 50 hosts (some failing, some with warnings, some unreachable, one
ktune was removed from) in headless Chromium: the page compiles no script and logs nothing, the
failing hosts come first, and the first screen of a 1280x900 window shows every problem without
scrolling sideways. A screenshot is kept as a test artifact (KTUNE_TEST_ARTIFACTS, default
./test-artifacts; docs/images/audit-report-50-hosts.png is one)."""

import os
import struct
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chromium import Chromium
from playbook_run import PROJECT
from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import CONTROL_IDS, control, not_managed
from ansible_collections.ktune.inference.plugins.module_utils.audit_report import build_report, to_html

WIDTH, HEIGHT = 1280, 900
GROUPS = [("production", "prod", 30), ("staging", "stag", 12), ("development", "dev", 8)]
FAILING = {"prod-07": ["numa.layout"], "prod-19": ["cpufreq.governor", "page_cache.cron"],
           "prod-23": ["service.active", "service.healthy"], "stag-04": ["use_numa.policy"], "dev-02": ["numa.layout"]}
UNREACHABLE = {"prod-11": "unreachable: ssh: connect to host prod-11 port 22: No route to host",
               "stag-09": "unreachable: Connection timed out", "dev-06": "fact gathering failed: MODULE FAILURE"}
WARNED = {"prod-02": ["numa.balancing"], "prod-15": ["cpufreq.epp"], "stag-01": ["numa.balancing", "cpufreq.epp"]}
REMOVED = "dev-08"
SEVERITY = {"numa.balancing": "warning", "cpufreq.epp": "warning", "service.numa_placement": "warning"}


def host_controls(host):
    if host == REMOVED:
        return not_managed({"removed": True, "marker": "/var/lib/ktune-removed",
                            "note": "ktune removed by playbooks/remove.yml at 2026-12-06T10:00:00Z"}, {})
    graded = []
    for cid in CONTROL_IDS:
        failed = cid in FAILING.get(host, []) or cid in WARNED.get(host, [])
        graded.append(control(cid, "fail" if failed else "pass", SEVERITY.get(cid, "error"),
                              "%s: %s on %s" % (cid, "differs" if failed else "as expected", host),
                              "ansible-playbook playbooks/tune.yml -i inventories/production --limit %s" % host
                              if failed else ""))
    return graded


def fleet_report():
    groups, results = {}, {}
    for group, prefix, count in GROUPS:
        for number in range(1, count + 1):
            host = "%s-%02d" % (prefix, number)
            groups[host] = group
            if host not in UNREACHABLE:
                results[host] = host_controls(host)
    assert len(groups) == 50
    return build_report(results, groups, "2026-12-07T04:00:00Z", UNREACHABLE)


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def page_seen(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet-html")
    (folder / "audit.html").write_text(to_html(fleet_report()), encoding="utf-8")
    # The harness's own check: a page that does run a script.
    (folder / "scripted.html").write_text("<title>t</title><p onclick=\"x()\">p</p><script>var shown = 1;</script>")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    artifacts = Path(os.environ.get("KTUNE_TEST_ARTIFACTS") or PROJECT / "test-artifacts")
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "audit-report-50-hosts.png"
    try:
        with Chromium() as browser:
            page = browser.open("http://127.0.0.1:%d/audit.html" % server.server_address[1], WIDTH, HEIGHT)
            seen = {
                "scripts": page.scripts(), "errors": page.errors(), "dialogs": page.dialogs(),
                "title": page.evaluate("document.title"),
                "attention": page.evaluate("[...document.querySelectorAll('table.attention tr')].slice(1)"
                                           ".map(row => [row.cells[0].innerText, row.cells[2].innerText])"),
                "attention_bottom": page.evaluate("document.querySelector('table.attention')"
                                                  ".getBoundingClientRect().bottom"),
                "cards": page.evaluate("[...document.querySelectorAll('.card')].map(card => card.innerText"
                                       ".split(/\\s+/).join(' '))"),
                "scroll_width": page.evaluate("document.documentElement.scrollWidth"),
                "matrix_rows": page.evaluate("[...document.querySelectorAll('table.matrix tbody tr:not(.group)')]"
                                             ".map(row => [row.cells[0].innerText, row.cells[1].innerText])"),
                "red_cells": page.evaluate("[...document.querySelectorAll('table.matrix td.s.fail-error')]"
                                           ".filter(td => getComputedStyle(td).backgroundColor === 'rgb(255, 215, 213)')"
                                           ".length"),
            }
            page.screenshot(str(shot))
            seen["screenshot"] = shot
            scripted = browser.open("http://127.0.0.1:%d/scripted.html" % server.server_address[1])
            seen["harness_scripts"] = scripted.scripts()
    finally:
        server.shutdown()
        server.server_close()
    return seen


def test_the_50_host_page_runs_no_script_and_logs_nothing(page_seen):
    assert len(page_seen["harness_scripts"]) == 1, "the harness does not see a page's script"
    assert page_seen["scripts"] == []
    assert page_seen["errors"] == [] and page_seen["dialogs"] == []
    assert page_seen["title"] == "ktune fleet audit"


def group_of(host):
    return [group for group, prefix, _count in GROUPS if host.startswith(prefix + "-")][0]


def test_the_failing_hosts_come_first_and_fit_the_first_screen(page_seen):
    # Failing, then not audited; each by group, then name.
    assert page_seen["attention"] == (
        [[host, "fail"] for host in sorted(FAILING, key=lambda host: (group_of(host), host))]
        + [[host, "unknown"] for host in sorted(UNREACHABLE, key=lambda host: (group_of(host), host))])
    assert page_seen["attention_bottom"] <= HEIGHT, "the problems do not fit the first screen"
    assert page_seen["scroll_width"] <= WIDTH, "the page scrolls sideways at %d px" % WIDTH


def test_every_host_is_in_the_matrix_worst_first_in_its_group(page_seen):
    rows = page_seen["matrix_rows"]
    assert len(rows) == 50
    rank = {"fail": 0, "unknown": 1, "not managed": 2, "pass": 3}
    for group, _prefix, count in GROUPS:
        statuses = [status for host, status in rows if group_of(host) == group]
        assert len(statuses) == count and statuses == sorted(statuses, key=rank.get), (group, statuses)
    assert dict(rows)[REMOVED] == "not managed"
    assert page_seen["cards"] == ["41 pass", "5 fail", "3 unknown", "4 warnings", "1 not managed"]
    assert page_seen["red_cells"] == sum(len(ids) for ids in FAILING.values())


def test_a_screenshot_is_kept(page_seen):
    data = page_seen["screenshot"].read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (WIDTH, HEIGHT)
