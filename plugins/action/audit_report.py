# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action ktune.inference.audit_report: grade every host on the controller and write the report.

Runs once (run_once, delegated to localhost); reads each host's registered host state (the
managed_state module's host_state read) and variables through hostvars, so hosts that returned
nothing (unreachable, failed) are still listed, as unknown. The settings come from the inventory
over the roles' own defaults files, the same layering tune.yml gets from its roles.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import io
import os

import yaml

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import (
    evaluate,
    host_settings,
    load_role_defaults,
    with_bmc,
)
from ansible_collections.ktune.inference.plugins.module_utils.audit_report import (
    build_report,
    to_html,
    to_json,
    to_junit,
    to_table,
    verdicts,
)
from ansible_collections.ktune.inference.plugins.module_utils.report_encoding import path_component
from ansible_collections.ktune.inference.plugins.module_utils.tune_record import record_verdict
from ansible_collections.ktune.inference.plugins.plugin_utils.collection_version import collection_version
from ansible_collections.ktune.inference.plugins.plugin_utils.fix_hints import tune_command, with_copy_paste_fixes

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def primary_group(host_vars):
    names = [name for name in (host_vars.get("group_names") or []) if name not in ("all", "ungrouped")]
    return sorted(names)[0] if names else "ungrouped"


def not_graded_reason(result):
    """Why a host's registered result cannot be graded, or None when it can."""
    if not isinstance(result, dict):
        return "no facts returned (the host did not run the fact task)"
    if result.get("unreachable"):
        return "unreachable: %s" % to_text(result.get("msg", "")).strip()
    if result.get("failed"):
        return "fact gathering failed: %s" % to_text(result.get("msg", "")).strip()
    if result.get("skipped"):
        return "skipped: %s" % to_text(result.get("skip_reason", "")).strip()
    if "ktune_host_state" not in (result.get("ansible_facts") or {}):
        return "no ktune_host_state in the registered result"
    return None


def read_baselines(baseline_dir, hosts):
    """{host: its curve.svg} from <baseline_dir>/<host as path_component>/, where the
    performance_baseline role writes it; a host whose name makes no file name has none.
    Where a rate sweep also drew slo-curve.svg, the host's entry is [(caption, svg), ...]."""
    found = {}
    if not baseline_dir:
        return found
    for host in hosts:
        try:
            folder = os.path.join(baseline_dir, path_component(host))
        except ValueError:
            continue
        charts = [(caption, _read(os.path.join(folder, name))) for name, caption in BASELINE_CHARTS]
        charts = [(caption, text) for caption, text in charts if text is not None]
        if len(charts) == 1 and charts[0][0] == BASELINE_CHARTS[0][1]:
            found[host] = charts[0][1]
        elif charts:
            found[host] = charts
    return found


BASELINE_CHARTS = (("curve.svg", "performance baseline"), ("slo-curve.svg", "p99 against the request rate"))


def _read(path):
    if not os.path.isfile(path):
        return None
    with io.open(path, "r", encoding="utf-8", errors="replace") as handle:
        return handle.read()


def write_report(report_dir, report, baselines):
    os.makedirs(report_dir, exist_ok=True)
    files = {}
    for name, text in (("audit.json", to_json(report)), ("audit.xml", to_junit(report)),
                       ("audit.html", to_html(report, baselines))):
        path = os.path.join(report_dir, name)
        with io.open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
        files[name.split(".")[1]] = os.path.abspath(path)
    return files


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("hosts", "facts", "report_dir", "baseline_dir"))

    def run(self, tmp=None, task_vars=None):
        super(ActionModule, self).run(tmp, task_vars)
        self._supports_check_mode = True
        args = self._task.args
        hosts = args.get("hosts")
        if not isinstance(hosts, list) or not all(isinstance(host, str) for host in hosts):
            raise AnsibleActionFail("audit_report: hosts must be a list of inventory hostnames, got %r" % (hosts,))
        facts_var = args.get("facts", "ktune_audit_facts")
        hostvars = task_vars["hostvars"]
        defaults = load_role_defaults(COLLECTION_ROOT, yaml.safe_load)
        results, unknown, groups, tuned_by = {}, {}, {}, {}
        running = collection_version()
        for host in hosts:
            host_vars = hostvars[host]
            groups[host] = primary_group(host_vars)
            result = host_vars.get(facts_var)
            reason = not_graded_reason(result)
            if reason:
                unknown[host] = reason
                continue
            results[host] = with_copy_paste_fixes(evaluate(with_bmc(result["ansible_facts"], host_vars),
                                                           host_settings(defaults, host_vars)),
                                                  tune_command(host, task_vars.get("ansible_inventory_sources")))
            tuned_by[host] = record_verdict((result["ansible_facts"].get("ktune_host_state") or {}).get("tune_record"),
                                            running)
        generated = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        report = build_report(results, groups, generated, unknown, tuned_by)
        files = {}
        if args.get("report_dir"):
            files = write_report(args["report_dir"], report, read_baselines(args.get("baseline_dir"), hosts))
        summary = report["summary"]
        return {
            "changed": False,
            "report": report,
            "summary": summary,
            "table": to_table(report),
            "files": files,
            "failed_hosts": summary["failed_hosts"],
            "unknown_hosts": sorted(summary["unknown_hosts"]),
            "verdicts": verdicts(report),
            "msg": "%d hosts: %d pass, %d fail, %d unknown" % (summary["hosts"], summary["pass"], summary["fail"],
                                                               summary["unknown"]),
        }
