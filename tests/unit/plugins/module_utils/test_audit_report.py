"""audit_report: the JSON document, JUnit XML, HTML page and text table."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re
import xml.etree.ElementTree as ET

from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import CONTROL_IDS, control, evaluate, host_status
from ansible_collections.ktune.inference.plugins.module_utils.audit_report import (
    build_report,
    safe_svg,
    to_html,
    to_json,
    to_junit,
    to_table,
    verdicts,
)


def controls(**statuses):
    """Every control passing, except those given as id_with_underscores=(status, severity)."""
    result = []
    for cid in CONTROL_IDS:
        status, severity = statuses.get(cid.replace(".", "__"), ("pass", "error"))
        result.append(control(cid, status, severity, "%s is %s <b>" % (cid, status), "fix %s" % cid))
    return result


def fleet():
    results = {
        "nps2": controls(),
        "nps4": controls(numa__layout=("fail", "error"), cpufreq__epp=("fail", "warning")),
        "vm": controls(cpufreq__governor=("skip", "error"), numa__balancing=("fail", "warning")),
    }
    groups = {"nps2": "production", "nps4": "production", "vm": "development", "gone": "production"}
    return build_report(results, groups, "2026-11-25T04:00:00Z", {"gone": "unreachable:\n  ssh refused"})


def test_document_has_the_issue_shape_and_counts():
    report = json.loads(to_json(fleet()))
    assert set(report) == {"hosts", "summary"}
    assert {h: e["status"] for h, e in report["hosts"].items()} == {
        "nps2": "pass", "nps4": "fail", "vm": "pass", "gone": "unknown"}
    assert all(set(entry) == {"status", "controls"} for entry in report["hosts"].values())
    assert report["hosts"]["gone"]["controls"] == []
    summary = report["summary"]
    assert (summary["hosts"], summary["pass"], summary["fail"], summary["unknown"]) == (4, 2, 1, 1)
    assert summary["failed_hosts"] == ["nps4"]
    assert summary["unknown_hosts"] == {"gone": "unreachable: ssh refused"}
    assert (summary["error_failures"], summary["warning_failures"]) == (1, 2)
    assert summary["controls"]["numa.layout"] == {"pass": 2, "fail": 1, "skip": 0, "unknown": 1}
    assert summary["controls"]["cpufreq.governor"] == {"pass": 2, "fail": 0, "skip": 1, "unknown": 1}
    assert summary["groups"] == {"development": ["vm"], "production": ["gone", "nps2", "nps4"]}


def test_junit_has_one_case_per_host_and_control():
    root = ET.fromstring(to_junit(fleet()))
    cases = root.findall(".//testcase")
    assert len(cases) == 4 * len(CONTROL_IDS)
    assert root.get("tests") == str(4 * len(CONTROL_IDS))
    assert root.get("failures") == "1" and root.get("errors") == str(len(CONTROL_IDS))
    # Per suite only: Jenkins xunit's JUnit schema allows no skipped count on <testsuites>.
    assert sum(int(suite.get("skipped")) for suite in root.findall("testsuite")) == 1
    layout = [c for c in cases if c.get("classname") == "nps4" and c.get("name") == "numa.layout"][0]
    failure = layout.find("failure")
    assert failure.get("type") == "error"
    assert failure.get("message") == "numa.layout is fail <b>"
    assert failure.text == "Fix: fix numa.layout"
    warning = [c for c in cases if c.get("classname") == "vm" and c.get("name") == "numa.balancing"][0]
    assert warning.find("failure") is None and warning.find("error") is None
    assert warning.find("system-out").text == "warning: numa.balancing is fail <b>\nFix: fix numa.balancing"
    suites = dict((s.get("name"), s) for s in root.findall("testsuite"))
    assert suites["ktune audit: development"].get("failures") == "0"
    assert suites["ktune audit: production"].get("failures") == "1"
    assert len(root.findall(".//failure")) == 1
    unreachable = [c for c in cases if c.get("classname") == "gone"]
    assert all(c.find("error").get("message") == "host not audited: unreachable: ssh refused" for c in unreachable)
    assert [s.get("name") for s in root.findall("testsuite")] == ["ktune audit: development", "ktune audit: production"]


def test_html_is_self_contained_grouped_and_colour_coded():
    page = to_html(fleet(), baselines={"nps2": '<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" '
                                               'onload="x()"><script>alert(1)</script><path d="M0 0"/></svg>'})
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<(script|link)\b|src=\"http", page)
    assert page.index("development (1)") < page.index("production (3)")
    matrix = page[page.index("<h2>Fleet matrix</h2>"):]
    row = re.search(r"<tr><td><a href=\"#host-nps4\">nps4</a></td>.*?</tr>", matrix).group(0)
    assert row.count("class=\"s fail-error\"") == 1
    assert row.count("class=\"s fail-warning\"") == 1
    assert row.count("class=\"s pass\"") == len(CONTROL_IDS) - 2
    gone = re.search(r"<tr><td><a href=\"#host-gone\">gone</a></td>.*?</tr>", matrix).group(0)
    assert gone.count("class=\"s unknown\"") == len(CONTROL_IDS)
    assert "numa.layout is fail &lt;b&gt;" in page
    assert "is fail <b>" not in page
    assert "Not audited: unreachable: ssh refused" in page
    assert '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0"/></svg>' in page
    assert "alert(1)" not in page and "onload" not in page


def test_html_shows_the_failing_hosts_first():
    page = to_html(fleet())
    attention = page[page.index("<h2>Needs attention</h2>"):page.index("<h2>Fleet matrix</h2>")]
    assert re.findall(r'href="#host-([a-z0-9]+)"', attention) == ["nps4", "gone"]
    assert "numa.layout" in attention and "not audited: unreachable: ssh refused" in attention
    matrix = page[page.index("<h2>Fleet matrix</h2>"):page.index("<h2>Hosts</h2>")]
    # Groups by name; in a group, failing, then not audited, then passing hosts.
    assert re.findall(r'<tr><td><a href="#host-([a-z0-9]+)"', matrix) == ["vm", "nps4", "gone", "nps2"]
    calm = to_html(build_report({"nps2": controls()}, {}, "2026-11-25T04:00:00Z"))
    assert "No host fails an error control; every host was audited." in calm


def test_safe_svg_drops_the_prolog_and_refuses_a_doctype_or_what_is_no_svg_with_a_note():
    svg = '<svg xmlns="http://www.w3.org/2000/svg"><g/></svg>'
    assert safe_svg('<?xml version="1.0" encoding="UTF-8"?>\n<!-- drawn by ktune -->\n' + svg) == svg
    assert "not shown: it has a DOCTYPE" in safe_svg("<!DOCTYPE svg>" + svg)
    assert "not shown: not well-formed XML" in safe_svg("not an svg")
    assert "not shown: its root element is svg, not &lt;svg&gt; in the SVG namespace" in safe_svg("<svg><g/></svg>")


def test_table_has_one_line_per_host_and_totals():
    lines = to_table(fleet()).splitlines()
    assert lines[0].split() == ["HOST", "GROUP", "STATUS", "FAILED", "WARNINGS"]
    rows = dict((line.split()[0], line.split()[1:]) for line in lines[1:5])
    assert rows["nps4"] == ["production", "fail", "numa.layout", "cpufreq.epp"]
    assert rows["vm"] == ["development", "pass", "-", "numa.balancing"]
    assert rows["gone"] == ["production", "unknown", "-", "-"]
    assert lines[5] == "gone: not audited: unreachable: ssh refused"
    assert lines[-1] == "4 hosts: 2 pass, 1 fail, 1 unknown; 1 error and 2 warning controls failed"


def test_table_keeps_its_columns_for_an_unknown_host_with_a_long_reason():
    reason = ("unreachable: Failed to connect to the host via ssh: ssh: connect to host 10.0.0.5 port 22: "
              "Connection timed out")
    report = build_report({"nps2": controls()}, {"gone": "production", "nps2": "production"}, "t", {"gone": reason})
    lines = to_table(report).splitlines()
    header, gone, nps2 = lines[0], lines[1], lines[2]
    assert gone.split() == ["gone", "production", "unknown", "-", "-"]
    assert nps2.split() == ["nps2", "production", "pass", "-", "-"]
    # The FAILED column is as wide as its header or its control ids, not as the reason.
    assert header.index("WARNINGS") == gone.rindex("-") == nps2.rindex("-")
    assert header.index("WARNINGS") - header.index("FAILED") == len("FAILED  ")
    assert lines[3] == "gone: not audited: " + reason


def test_host_missing_from_results_is_unknown_not_dropped():
    report = build_report({}, {"a": "g"}, "t", {"a": "no facts returned"})
    assert report["hosts"]["a"]["status"] == "unknown"
    assert report["summary"]["unknown"] == 1


# --- a host ktune was removed from (playbooks/remove.yml left its marker) ---------------


REMOVED_FACTS = {"ktune_numa": {"error": "unused"}, "ktune_host_state": {
    "removal": {"marker": "/var/lib/ktune-removed", "removed": True,
                "note": "ktune removed by playbooks/remove.yml at 2026-12-07T16:00:00Z"},
    "page_cache": {"present": False}, "services": {"units": []}}}


def test_a_removed_host_is_not_managed_not_a_wall_of_failures():
    graded = evaluate(REMOVED_FACTS, {"ktune_service_instances": [{"name": "kimi", "port": 10002}]})
    assert [item["id"] for item in graded] == list(CONTROL_IDS)
    assert set(item["status"] for item in graded) == {"skip"}
    assert all(item["finding"].startswith("not managed: ktune removed by playbooks/remove.yml at 2026-12-07T16:00:00Z")
               for item in graded), graded
    report = build_report({"gone-from": graded, "nps4": controls(numa__layout=("fail", "error"))},
                          {}, "2026-12-07T16:05:00Z")
    assert report["hosts"]["gone-from"]["status"] == "not managed"
    summary = report["summary"]
    assert (summary["pass"], summary["fail"], summary["not_managed"], summary["failed_hosts"]) == (0, 1, 1, ["nps4"])
    assert (summary["error_failures"], summary["warning_failures"]) == (1, 0)
    assert verdicts(report) == {"nps4": verdicts(report)["nps4"]}
    row = [line.split() for line in to_table(report).splitlines() if line.startswith("gone-from")][0]
    assert row == ["gone-from", "ungrouped", "not", "managed", "-", "-"], row
    assert "1 not managed" in to_table(report).splitlines()[-1]
    root = ET.fromstring(to_junit(report))
    removed = [case for case in root.iter("testcase") if case.get("classname") == "gone-from"]
    assert len(removed) == len(CONTROL_IDS) and all(case.find("skipped") is not None for case in removed)
    assert '<td class="not-managed">not managed</td>' in to_html(report)


def test_without_the_marker_the_host_is_graded():
    facts = dict(REMOVED_FACTS, ktune_host_state=dict(REMOVED_FACTS["ktune_host_state"],
                                                      removal={"marker": "/var/lib/ktune-removed", "removed": False}))
    graded = evaluate(facts, {})
    assert not any(item["finding"].startswith("not managed") for item in graded)
    assert host_status(graded) == "fail"  # the layout cannot be read, page cache job missing


def test_remove_tune_and_the_audit_use_one_marker_path():
    from pathlib import Path
    from ansible_collections.ktune.inference.plugins.module_utils.host_state import REMOVED_MARKER
    root = Path(__file__).resolve().parents[4]
    for playbook in ("playbooks/remove.yml", "playbooks/tasks/apply_roles.yml"):
        text = (root / playbook).read_text()
        assert "ktune_removed_marker | default('%s', true)" % REMOVED_MARKER in text, playbook


def test_a_control_the_audit_could_not_read_is_unknown_everywhere_not_pass():
    report = build_report({"bmc-down": controls(bios__readable=("unknown", "warning"))}, {"bmc-down": "production"},
                          "2026-11-25T04:00:00Z")
    assert report["hosts"]["bmc-down"]["status"] == "pass"  # a warning: shown, not fatal
    assert report["summary"]["controls"]["bios.readable"] == {"pass": 0, "fail": 0, "skip": 0, "unknown": 1}
    root = ET.fromstring(to_junit(report))
    case = [case for case in root.findall(".//testcase") if case.get("name") == "bios.readable"][0]
    error = case.find("error")
    assert error is not None and error.get("type") == "unknown"
    assert error.get("message") == "bios.readable is unknown <b>" and error.text == "Fix: fix bios.readable"
    assert root.get("errors") == "1" and root.get("failures") == "0"
    assert "bios.readable(unknown)" in to_table(report).splitlines()[1].split()
    html = to_html(report, {})
    assert 'class="unknown">unknown</td><td>bios.readable</td>' in html
    assert "Fix: fix bios.readable" in html


def test_the_summary_says_per_host_which_ktune_tuned_it_and_the_host_entries_keep_their_keys():
    from ansible_collections.ktune.inference.plugins.module_utils.tune_record import record_verdict
    record = {"path": "/var/lib/ktune-tuned", "state": "present", "version": "0.1.0",
              "tuned_at": "2026-12-07T23:00:00Z", "reason": None}
    results = {"old": controls(), "fresh": controls()}
    tuned_by = {"old": record_verdict(record, "0.2.0"),
                "fresh": record_verdict(dict(record, state="absent", version=None, tuned_at=None), "0.2.0")}
    report = json.loads(to_json(build_report(results, {}, "2026-12-08T00:00:00Z", {"gone": "unreachable"}, tuned_by)))
    assert all(set(entry) == {"status", "controls"} for entry in report["hosts"].values())
    found = report["summary"]["tuned_by"]
    assert (found["old"]["version"], found["old"]["running"], found["old"]["comparison"]) == ("0.1.0", "0.2.0", "upgrade")
    assert (found["fresh"]["state"], found["fresh"]["comparison"]) == ("absent", "none")
    assert found["gone"] is None
