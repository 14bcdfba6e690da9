# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over benchmark results: charts, baseline comparisons (host, fleet, canary) and fingerprints."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.benchmark import (
    canary_compare,
    compare_to_baseline,
    fleet_baseline,
)
from ansible_collections.ktune.inference.plugins.module_utils.fingerprint import fingerprint_key, hardware_fingerprint
from ansible_collections.ktune.inference.plugins.module_utils.svg_chart import sweep_chart, tokens_chart
from ansible_collections.ktune.inference.plugins.plugin_utils.canary_gate import canary_gate, gate_junit, rollback_targets


def _series(value, name, what):
    """The tokens/s list of a run: a list, or a dict with tokens_per_s (module result, baseline.json)."""
    if value is None or value == "":
        return []
    if isinstance(value, dict):
        value = value.get("tokens_per_s")
    if not isinstance(value, (list, tuple)):
        raise AnsibleFilterError("%s: %s must be a list of tokens/s or a dictionary with tokens_per_s, got %r"
                                 % (name, what, type(value).__name__))
    return list(value)


def _number(value, name, what):
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise AnsibleFilterError("%s: %s = %r is not a number" % (name, what, value))


def tokens_chart_svg(latest, baseline=None, title=None, threshold=None):
    curves = [("baseline", _series(baseline, "tokens_chart_svg", "baseline")),
              ("latest", _series(latest, "tokens_chart_svg", "the input"))]
    if not any(values for _unused, values in curves):
        raise AnsibleFilterError("tokens_chart_svg: no tokens/s to draw (empty input and baseline)")
    try:
        return tokens_chart(curves, title or "tokens/s per request",
                            _number(threshold, "tokens_chart_svg", "threshold"))
    except ValueError as exc:
        raise AnsibleFilterError("tokens_chart_svg: %s" % exc)


def slo_sweep_chart_svg(run, title=None):
    if not isinstance(run, dict) or not run.get("sweep"):
        raise AnsibleFilterError("slo_sweep_chart_svg: the input must be a benchmark result with a sweep "
                                 "(inference_benchmark with request_rates, or its last.json)")
    slo = (run.get("slo_judgement") or {}).get("slo") or {}
    try:
        return sweep_chart(run["sweep"], slo, run.get("knee_rps"), title or "p99 against request rate")
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("slo_sweep_chart_svg: %s" % exc)


def baseline_compare(current, baseline, max_regression_pct, host=None):
    for value, what in ((current, "the input"), (baseline, "baseline")):
        if not isinstance(value, dict):
            raise AnsibleFilterError("baseline_compare: %s must be a dictionary (a benchmark result or baseline.json), "
                                     "got %r" % (what, type(value).__name__))
    tolerance = _number(max_regression_pct, "baseline_compare", "max_regression_pct")
    if tolerance is None or tolerance < 0:
        raise AnsibleFilterError("baseline_compare: max_regression_pct = %r: expected a percentage >= 0"
                                 % (max_regression_pct,))
    try:
        return compare_to_baseline(current, baseline, tolerance, host or current.get("host") or "this host")
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("baseline_compare: %s" % exc)


def baseline_fleet(docs):
    if not isinstance(docs, (list, tuple)) or not all(isinstance(doc, dict) for doc in docs):
        raise AnsibleFilterError("baseline_fleet: the input must be a list of recorded runs (baseline.json documents)")
    try:
        return fleet_baseline(docs)
    except ValueError as exc:
        raise AnsibleFilterError("baseline_fleet: %s" % exc)


def _canary_tolerance(name, canary, others, others_are, max_regression_pct):
    """The margin in percent, after checking the canary's run is a dictionary and the others a list of them."""
    if not isinstance(canary, dict) or not isinstance(others, (list, tuple)) or \
            not all(isinstance(doc, dict) for doc in others):
        raise AnsibleFilterError("%s: expected the canary's run (a dictionary) and a list of %s" % (name, others_are))
    tolerance = _number(max_regression_pct, name, "max_regression_pct")
    if tolerance is None or tolerance < 0:
        raise AnsibleFilterError("%s: max_regression_pct = %r: expected a percentage >= 0" % (name, max_regression_pct))
    return tolerance


def baseline_canary_compare(canary, controls, max_regression_pct, host=None):
    tolerance = _canary_tolerance("baseline_canary_compare", canary, controls, "the control hosts' runs",
                                  max_regression_pct)
    return canary_compare(canary, controls, tolerance, host or canary.get("host") or "the canary")


def baseline_canary_gate(canary, fleet_docs, max_regression_pct, host=None, baseline_dir=None, baseline_software=None):
    tolerance = _canary_tolerance("baseline_canary_gate", canary, fleet_docs, "the fleet's recorded runs",
                                  max_regression_pct)
    if baseline_software is not None and not isinstance(baseline_software, dict):
        raise AnsibleFilterError("baseline_canary_gate: baseline_software must be a dictionary of versions, got %r"
                                 % type(baseline_software).__name__)
    return canary_gate(canary, fleet_docs, tolerance, host or canary.get("host") or "the canary",
                       baseline_dir or "the baseline folder", baseline_software)


def canary_gate_junit(gate, host):
    if not isinstance(gate, dict) or "passed" not in gate:
        raise AnsibleFilterError("canary_gate_junit: the input must be the verdict of baseline_canary_gate")
    return gate_junit(gate, str(host))


def canary_gate_rollback_targets(resolved, routers):
    if not isinstance(resolved, list) or not all(isinstance(item, dict) and "unit" in item for item in resolved) or \
            not isinstance(routers, list) or not all(isinstance(item, dict) and "unit" in item for item in routers):
        raise AnsibleFilterError("canary_gate_rollback_targets: expected the output of ktransformers_instances and of "
                                 "ktransformers_routers (lists of dictionaries)")
    return rollback_targets(resolved, routers)


def baseline_fingerprint(numa, settings=None, extra=None):
    for value, what in ((numa, "the input (ktune_numa)"), (settings, "settings"), (extra, "extra")):
        if value is not None and not isinstance(value, dict):
            raise AnsibleFilterError("baseline_fingerprint: %s must be a dictionary, got %r" % (what, type(value).__name__))
    fingerprint = hardware_fingerprint(numa, extra, settings)
    fingerprint["key"] = fingerprint_key(fingerprint)
    return fingerprint


class FilterModule(object):
    def filters(self):
        return {"tokens_chart_svg": tokens_chart_svg, "slo_sweep_chart_svg": slo_sweep_chart_svg,
                "baseline_compare": baseline_compare, "baseline_fleet": baseline_fleet,
                "baseline_canary_compare": baseline_canary_compare,
                "baseline_canary_gate": baseline_canary_gate, "canary_gate_junit": canary_gate_junit,
                "canary_gate_rollback_targets": canary_gate_rollback_targets,
                "baseline_fingerprint": baseline_fingerprint}
