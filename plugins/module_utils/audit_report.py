# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit's report: the JSON document, JUnit XML, a self-contained HTML page and a
compact text table, all rendered on the controller from graded controls.

``build_report`` makes the document every renderer reads:
``{"hosts": {name: {"status": pass|fail|unknown|not managed, "controls": [...]}}, "summary": {...}}``.
The summary's ``tuned_by`` is, per host, its record of which ktune version tuned it
(module_utils/tune_record.py ``record_verdict``; null for a host that was not read): beside the
host entries, whose keys stay status and controls.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import CONTROL_IDS, NOT_MANAGED, host_status
from ansible_collections.ktune.inference.plugins.module_utils.report_encoding import (
    html_text,
    json_value,
    line_text,
    xml_attr,
    xml_text,
)
from ansible_collections.ktune.inference.plugins.module_utils.svg_allowlist import UnsafeSvg, rebuild

STATUSES = ("pass", "fail", "unknown", NOT_MANAGED)


def build_report(results, groups, generated_at, unknown_reasons=None, tuned_by=None):
    """results: {host: [controls]} for graded hosts; unknown_reasons: {host: why it was not graded};
    tuned_by: {host: its tune record's verdict} for the hosts that were read.

    groups: {host: inventory group shown in the matrix}. Hosts keep the order they come in
    (graded then unknown), sorted by group then name.
    """
    unknown_reasons = dict((host, " ".join(str(why).split())) for host, why in (unknown_reasons or {}).items())
    names = sorted(set(results) | set(unknown_reasons), key=lambda host: (groups.get(host, ""), host))
    hosts = {}
    per_control = dict((cid, {"pass": 0, "fail": 0, "skip": 0, "unknown": 0}) for cid in CONTROL_IDS)
    error_failures = warning_failures = 0
    for host in names:
        if host in unknown_reasons or host not in results:
            hosts[host] = {"status": "unknown", "controls": []}
            for counts in per_control.values():
                counts["unknown"] += 1
            continue
        controls = results[host]
        hosts[host] = {"status": host_status(controls), "controls": controls}
        for item in controls:
            per_control.setdefault(item["id"], {"pass": 0, "fail": 0, "skip": 0, "unknown": 0})[item["status"]] += 1
            if item["status"] == "fail":
                if item["severity"] == "error":
                    error_failures += 1
                else:
                    warning_failures += 1
    by_group = {}
    for host in names:
        by_group.setdefault(groups.get(host, "ungrouped"), []).append(host)
    summary = {
        "generated_at": generated_at,
        "hosts": len(names),
        "pass": sum(1 for h in hosts.values() if h["status"] == "pass"),
        "fail": sum(1 for h in hosts.values() if h["status"] == "fail"),
        "unknown": sum(1 for h in hosts.values() if h["status"] == "unknown"),
        "not_managed": sum(1 for h in hosts.values() if h["status"] == NOT_MANAGED),
        "failed_hosts": [host for host in names if hosts[host]["status"] == "fail"],
        "unknown_hosts": dict((host, unknown_reasons.get(host, "no facts returned"))
                              for host in names if hosts[host]["status"] == "unknown"),
        "error_failures": error_failures,
        "warning_failures": warning_failures,
        "controls": per_control,
        "groups": by_group,
        "tuned_by": dict((host, (tuned_by or {}).get(host)) for host in names),
    }
    return {"hosts": hosts, "summary": summary}


def verdicts(report):
    """{host: why it fails} for every host that fails an error control or was not audited."""
    found = {}
    for host, entry in report["hosts"].items():
        if entry["status"] == "unknown":
            found[host] = "not audited: %s" % line_text(report["summary"]["unknown_hosts"].get(host, "no facts returned"))
        elif entry["status"] == "fail":
            found[host] = "fails error controls: %s" % "; ".join(
                "%s (%s; fix: %s)" % (item["id"], line_text(item["finding"]), line_text(item["fix"] or "see the report"))
                for item in entry["controls"] if item["status"] == "fail" and item["severity"] == "error")
    return found


def to_json(report):
    return json.dumps(json_value(report), indent=2, sort_keys=False) + "\n"


# --- JUnit -------------------------------------------------------------------------


def to_junit(report, title="ktune audit"):
    """One <testsuite> per inventory group, one <testcase> per host and control.

    title names the <testsuites> and prefixes each suite's group (the canary gate reuses this
    encoder with its own title).

    Only a failed error control is a <failure>; a failed warning passes with its finding in
    <system-out>; a host that could not be audited gives an <error> per control, and a control
    the audit could not read (status unknown) an <error> of its own. Text from
    hosts stays XML 1.0: control characters are written as visible escapes (xml_text, xml_attr).
    """
    hosts = report["hosts"]
    suites = []
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for group, names in report["summary"]["groups"].items():
        cases = []
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for host in names:
            entry = hosts[host]
            if entry["status"] == "unknown":
                reason = report["summary"]["unknown_hosts"].get(host, "")
                for cid in CONTROL_IDS:
                    counts["tests"] += 1
                    counts["errors"] += 1
                    cases.append('    <testcase classname=%s name=%s><error message=%s type="unknown"/></testcase>'
                                 % (xml_attr(host), xml_attr(cid), xml_attr("host not audited: " + reason)))
                continue
            for item in entry["controls"]:
                counts["tests"] += 1
                head = '    <testcase classname=%s name=%s>' % (xml_attr(host), xml_attr(item["id"]))
                if item["status"] == "fail" and item["severity"] == "error":
                    counts["failures"] += 1
                    body = '<failure message=%s type="error">%s</failure>' % (
                        xml_attr(item["finding"]), xml_text("Fix: " + item["fix"]))
                elif item["status"] == "fail":
                    # A failed warning does not fail the build: CI shows it as the case's output.
                    body = '<system-out>%s</system-out>' % xml_text(
                        "%s: %s\nFix: %s" % (item["severity"], item["finding"], item["fix"]))
                elif item["status"] == "unknown":
                    # Not judged is not passed: an error in JUnit's words, as for a host not audited.
                    counts["errors"] += 1
                    body = '<error message=%s type="unknown">%s</error>' % (
                        xml_attr(item["finding"]), xml_text("Fix: " + item["fix"]))
                elif item["status"] == "skip":
                    counts["skipped"] += 1
                    body = '<skipped message=%s/>' % xml_attr(item["finding"])
                else:
                    body = '<system-out>%s</system-out>' % xml_text(item["finding"])
                cases.append(head + body + '</testcase>')
        for key in totals:
            totals[key] += counts[key]
        suites.append('  <testsuite name=%s tests="%d" failures="%d" errors="%d" skipped="%d">\n%s\n  </testsuite>'
                      % (xml_attr(title + ": " + group), counts["tests"], counts["failures"], counts["errors"],
                         counts["skipped"], "\n".join(cases)))
    # No skipped count on <testsuites>: the JUnit schema Jenkins' xunit validates with has none there.
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name=%s tests="%d" failures="%d" '
            'errors="%d">\n%s\n</testsuites>\n'
            % (xml_attr(title), totals["tests"], totals["failures"], totals["errors"], "\n".join(suites)))


# --- text table --------------------------------------------------------------------


def to_table(report):
    """One line per host: group, status, failed error controls, failed warnings; then why each
    unknown host was not audited, then totals. Every host line has exactly five fields; text from
    hosts is shown on its line (line_text), so no control character reaches the terminal."""
    hosts = report["hosts"]
    summary = report["summary"]
    rows = [("HOST", "GROUP", "STATUS", "FAILED", "WARNINGS")]
    not_audited = []
    for group, names in summary["groups"].items():
        for host in names:
            entry = hosts[host]
            if entry["status"] == "unknown":
                rows.append((line_text(host), line_text(group), "unknown", "-", "-"))
                not_audited.append("%s: not audited: %s" % (line_text(host), line_text(summary["unknown_hosts"].get(host, ""))))
                continue
            errors = [c["id"] for c in entry["controls"] if c["status"] == "fail" and c["severity"] == "error"]
            warnings = [c["id"] for c in entry["controls"] if c["status"] == "fail" and c["severity"] != "error"] + [
                c["id"] + "(unknown)" for c in entry["controls"] if c["status"] == "unknown"]
            rows.append((line_text(host), line_text(group), entry["status"], ",".join(errors) or "-",
                         ",".join(warnings) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(widths[i]) if i < 4 else cell for i, cell in enumerate(row)).rstrip()
             for row in rows]
    lines.extend(not_audited)
    lines.append("%d hosts: %d pass, %d fail, %d unknown%s; %d error and %d warning controls failed"
                 % (summary["hosts"], summary["pass"], summary["fail"], summary["unknown"],
                    ", %d not managed" % summary["not_managed"] if summary.get("not_managed") else "",
                    summary["error_failures"], summary["warning_failures"]))
    return "\n".join(lines)


# --- HTML --------------------------------------------------------------------------

_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}.muted{color:#59636e}
.cards{display:flex;gap:12px;margin:16px 0}.card{border:1px solid #d1d9e0;border-radius:8px;padding:10px 16px;
min-width:90px}.card b{display:block;font-size:24px}
table{border-collapse:collapse}th,td{border:1px solid #d1d9e0;padding:4px 6px;text-align:left;vertical-align:top}
.matrix th.c{writing-mode:vertical-rl;transform:rotate(180deg);font-weight:600;font-size:12px;padding:6px 2px}
.matrix td.s{width:22px;text-align:center;font-weight:700;font-size:12px}.matrix td.s a{color:inherit;
text-decoration:none;display:block}
.group td{background:#eef1f4;font-weight:700}
.pass{background:#d1f4d9;color:#116329}.fail-error{background:#ffd7d5;color:#a40e26}
.fail-warning{background:#fff1c2;color:#7d4e00}.skip{background:#f0f1f3;color:#59636e}
.unknown{background:#e4dcf6;color:#5a32a3}.not-managed{background:#f0f1f3;color:#59636e}
.badge{border-radius:10px;padding:1px 8px;font-size:12px;font-weight:700}
details{border:1px solid #d1d9e0;border-radius:8px;margin:8px 0;padding:6px 12px}
summary{cursor:pointer;font-weight:600}.detail td{font-size:13px}.fix{color:#0550ae}
.legend span{margin-right:10px}.curve svg{max-width:640px;height:auto;border:1px solid #d1d9e0;margin-top:8px}
"""

_SHORT = {"pass": "\u2713", "fail": "\u2717", "skip": "\u2013", "unknown": "?"}


def _css_class(item):
    if item["status"] == "fail":
        return "fail-" + ("error" if item["severity"] == "error" else "warning")
    return item["status"]


def _anchor(host):
    return "host-" + re.sub(r"[^A-Za-z0-9_.-]", "_", host)


def safe_svg(text):
    """A host's performance-baseline SVG for inline use: the allowed part of it (svg_allowlist),
    or a visible note saying why it is not shown.

    Inline, not an <img src="data:...">: the chart keeps its tooltips (each request's tokens/s),
    its text stays searchable, and it shows where a viewer's Content-Security-Policy blocks data:
    images (Jenkins serves archived HTML with img-src 'self'). The allow-list makes inline safe.
    """
    try:
        return rebuild(text)
    except UnsafeSvg as exc:
        return "<p class=\"muted\">The performance baseline chart is not shown: %s.</p>" % html_text(exc)


def to_html(report, baselines=None, title="ktune fleet audit"):
    """A self-contained page: summary cards, the hosts x controls matrix grouped by inventory
    group, and each host's controls (with its performance curve when a baseline SVG exists)."""
    baselines = baselines or {}
    hosts = report["hosts"]
    summary = report["summary"]
    out = ["<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>%s</title><style>%s</style>"
           "</head><body>" % (html_text(title), _CSS)]
    out.append("<h1>%s</h1><div class=\"muted\">generated %s &middot; %d hosts &middot; %d controls</div>"
               % (html_text(title), html_text(summary["generated_at"]), summary["hosts"], len(CONTROL_IDS)))
    out.append("<div class=\"cards\">%s</div>" % "".join(
        "<div class=\"card %s\"><b>%d</b>%s</div>" % (cls, value, label) for cls, value, label in (
            ("pass", summary["pass"], "pass"), ("fail-error", summary["fail"], "fail"),
            ("unknown", summary["unknown"], "unknown"), ("fail-warning", summary["warning_failures"], "warnings"))
        + ((("not-managed", summary["not_managed"], "not managed"),) if summary.get("not_managed") else ())))
    out.append("<div class=\"legend\"><span class=\"badge pass\">\u2713 pass</span><span class=\"badge fail-error\">"
               "\u2717 error</span><span class=\"badge fail-warning\">\u2717 warning</span><span class=\"badge skip\">"
               "\u2013 not applicable</span><span class=\"badge unknown\">? unreachable</span></div>")
    out.append(_attention(hosts, summary))
    out.append("<h2>Fleet matrix</h2><table class=\"matrix\"><thead><tr><th>host</th><th>status</th>%s</tr></thead>"
               "<tbody>" % "".join("<th class=\"c\">%s</th>" % html_text(cid) for cid in CONTROL_IDS))
    for group, names in summary["groups"].items():
        out.append("<tr class=\"group\"><td colspan=\"%d\">%s (%d)</td></tr>" % (len(CONTROL_IDS) + 2, html_text(group), len(names)))
        for host in _worst_first(names, hosts):
            out.append(_matrix_row(host, hosts[host]))
    out.append("</tbody></table><h2>Hosts</h2>")
    for group, names in summary["groups"].items():
        for host in _worst_first(names, hosts):
            out.append(_host_detail(host, group, hosts[host], summary, baselines.get(host)))
    out.append("</body></html>\n")
    return "".join(out)


# The order hosts are shown in within a group: what needs a hand first.
_ATTENTION = {"fail": 0, "unknown": 1, NOT_MANAGED: 2, "pass": 3}


def _worst_first(names, hosts):
    return sorted(names, key=lambda host: _ATTENTION.get(hosts[host]["status"], 1))


def _attention(hosts, summary):
    """Above the matrix, the failing hosts first, then those not audited, each with why: a
    50-host fleet's problems on the first screen."""
    rows = []
    for group, names in summary["groups"].items():
        for host in names:
            entry = hosts[host]
            if entry["status"] == "fail":
                why = ", ".join(item["id"] for item in entry["controls"]
                                if item["status"] == "fail" and item["severity"] == "error")
            elif entry["status"] == "unknown":
                why = "not audited: %s" % summary["unknown_hosts"].get(host, "")
            else:
                continue
            rows.append((_ATTENTION[entry["status"]], group, host, entry["status"], why))
    if not rows:
        return "<h2>Needs attention</h2><p class=\"muted\">No host fails an error control; every host was audited.</p>"
    return "<h2>Needs attention</h2><table class=\"attention\"><tr><th>host</th><th>group</th><th>status</th>" \
           "<th>why</th></tr>%s</table>" % "".join(
               "<tr><td><a href=\"#%s\">%s</a></td><td>%s</td><td class=\"%s\">%s</td><td>%s</td></tr>"
               % (_anchor(host), html_text(host), html_text(group), _status_class(status), status, html_text(why))
               for _rank, group, host, status, why in sorted(rows, key=lambda row: row[:3]))


def _matrix_row(host, entry):
    by_id = dict((item["id"], item) for item in entry["controls"])
    cells = []
    for cid in CONTROL_IDS:
        item = by_id.get(cid)
        if item is None:
            cells.append("<td class=\"s unknown\" title=\"not audited\">?</td>")
            continue
        cells.append("<td class=\"s %s\" title=\"%s\"><a href=\"#%s\">%s</a></td>" % (
            _css_class(item), html_text("%s: %s" % (cid, item["finding"])), _anchor(host), _SHORT[item["status"]]))
    status = entry["status"]
    return "<tr><td><a href=\"#%s\">%s</a></td><td class=\"%s\">%s</td>%s</tr>" % (
        _anchor(host), html_text(host), _status_class(status), status, "".join(cells))


def _status_class(status):
    return {"fail": "fail-error", NOT_MANAGED: "not-managed"}.get(status, status)


def _host_detail(host, group, entry, summary, svg):
    status = entry["status"]
    head = "<details id=\"%s\"%s><summary>%s <span class=\"badge %s\">%s</span> <span class=\"muted\">%s</span>" \
           "</summary>" % (_anchor(host), " open" if status in ("fail", "unknown") else "", html_text(host),
                           _status_class(status), status, html_text(group))
    if status == "unknown":
        body = "<p>Not audited: %s</p>" % html_text(summary["unknown_hosts"].get(host, ""))
    else:
        rows = "".join("<tr><td class=\"%s\">%s</td><td>%s</td><td>%s</td><td>%s<div class=\"fix\">%s</div></td></tr>"
                       % (_css_class(item), item["status"], html_text(item["id"]), item["severity"], html_text(item["finding"]),
                          ("Fix: " + html_text(item["fix"])) if item["fix"] and item["status"] in ("fail", "unknown") else "")
                       for item in entry["controls"])
        body = "<table class=\"detail\"><tr><th>status</th><th>control</th><th>severity</th><th>finding</th></tr>" \
               "%s</table>" % rows
    # One chart (curve.svg), or [(caption, svg), ...] with a sweep's slo-curve.svg.
    for caption, text in ([("performance baseline", svg)] if isinstance(svg, str) else svg or []):
        body += "<div class=\"curve\"><div class=\"muted\">%s</div>%s</div>" % (html_text(caption), safe_svg(text))
    return head + body + "</details>"
