"""The canary gate: which fleet baseline a canary on new software is judged against, the verdict's
words, and its JUnit file read back by libxml2 against Jenkins xunit's JUnit schema."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from ansible.errors import AnsibleFilterError
from lxml import etree

from ansible_collections.ktune.inference.plugins.filter.benchmark import (
    baseline_canary_gate,
    canary_gate_junit,
    canary_gate_rollback_targets,
)
from ansible_collections.ktune.inference.plugins.module_utils.audit_report import to_junit
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import resolve_instances
from ansible_collections.ktune.inference.plugins.module_utils.router import router_plan
from ansible_collections.ktune.inference.plugins.plugin_utils.canary_gate import canary_gate, closest_group, gate_junit

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures")
JUNIT_SCHEMA = etree.XMLSchema(etree.parse(os.path.join(FIXTURES, "junit", "junit-10.xsd")))


def repetition(ttft_p99, goodput, tokens=15.0):
    return {"first_tokens_per_s": tokens, "last_tokens_per_s": tokens, "goodput_rps": goodput,
            "slo_p99": {"ttft_s": ttft_p99}}


def run(host, software, repetitions, kernel="6.8.0", key=None, at="2026-12-01T00:00:00Z"):
    fingerprint = {"cpu_model": "AMD EPYC 9375F", "kernel": kernel, "software": {"ktransformers": software},
                   "load": {"request_rate": 2, "max_tokens": 24}}
    fingerprint["key"] = key or "%s-%s" % (kernel, software)
    return {"host": host, "recorded_at": at, "fingerprint": fingerprint, "repetitions": repetitions,
            "tokens_per_s": [15.0] * 8, "slo_judgement": {"slo": {"ttft_s": 2.0}}}


FLEET = [run("h2", "0.4.0", [repetition(1.0, 2.0), repetition(1.1, 1.95)]),
         run("h3", "0.4.0", [repetition(0.95, 2.05), repetition(1.05, 2.0)])]
SAME_SPEED = [repetition(1.02, 2.0), repetition(1.08, 1.98), repetition(0.97, 2.03)]
SLOWER = [repetition(1.6, 1.5), repetition(1.7, 1.4), repetition(1.65, 1.45)]


def test_a_canary_on_the_new_version_as_fast_as_the_fleet_passes():
    gate = canary_gate(run("k1", "0.5.0", SAME_SPEED), FLEET, 10, "k1", "/b")
    assert gate["passed"] is True and gate["judged"] is True, gate["msg"]
    assert gate["baseline"] == {"key": "6.8.0-0.4.0", "hosts": ["h2", "h3"], "software": {"ktransformers": "0.4.0"}}
    assert gate["msg"].startswith("k1: passed the canary gate against the fleet baseline of fingerprint 6.8.0-0.4.0 "
                                  "(h2, h3; software ktransformers 0.4.0 -> 0.5.0): ")


def test_a_canary_that_regresses_fails_naming_expected_found_and_fix():
    gate = canary_gate(run("k1", "0.5.0", SLOWER), FLEET, 10, "k1", "/b")
    assert gate["passed"] is False and gate["judged"] is True
    assert gate["msg"].startswith("k1: failed the canary gate: expected goodput, p99 latencies and tokens/s within "
                                  "10% of the fleet baseline of fingerprint 6.8.0-0.4.0 (h2, h3; software "
                                  "ktransformers 0.4.0 -> 0.5.0), found goodput_rps fell ")
    assert "p99 ttft_s rose " in gate["msg"]
    assert gate["msg"].endswith(". Fix: keep the fleet on its version and find why the new one is slower on this host "
                                "(measure it with playbooks/baseline.yml --limit k1), then run the rollout again")
    regressed = [verdict["metric"] for verdict in gate["verdicts"] if verdict["regression"]]
    assert regressed == ["goodput_rps", "p99 ttft_s"]


def test_a_canary_of_another_kernel_is_refused_naming_the_difference():
    gate = canary_gate(run("k1", "0.5.0", SAME_SPEED, kernel="6.11.0"), FLEET, 10, "k1", "/b")
    assert gate["passed"] is False and gate["judged"] is False
    assert gate["msg"].startswith("k1: not judged: expected the hardware, kernel and load of a fleet baseline (only "
                                  "the software may differ from it), found kernel 6.8.0 -> 6.11.0 against the "
                                  "closest, fingerprint 6.8.0-0.4.0 recorded by h2, h3. Fix: ")
    assert gate["fingerprint_differences"] == ["kernel 6.8.0 -> 6.11.0"]


def test_no_fleet_baseline_is_refused_naming_the_folder():
    gate = canary_gate(run("k1", "0.5.0", SAME_SPEED), [], 10, "k1", "/b")
    assert gate["judged"] is False
    assert gate["msg"].startswith("k1: expected a fleet baseline in /b/fleet to judge the canary against, found none. "
                                  "Fix: record the fleet baseline")


def test_the_closest_group_is_the_one_differing_in_software_only_and_the_latest_of_equals():
    other_kernel = run("h9", "0.4.0", SAME_SPEED, kernel="6.11.0", at="2026-12-09T00:00:00Z")
    older = run("h5", "0.3.9", SAME_SPEED, at="2026-11-01T00:00:00Z")
    docs, differences = closest_group(run("k1", "0.5.0", SAME_SPEED), [other_kernel, older] + FLEET)
    assert sorted(doc["host"] for doc in docs) == ["h2", "h3"] and differences == []
    docs, _unused = closest_group(run("k1", "0.5.0", SAME_SPEED), [other_kernel, older] + FLEET,
                                  {"ktransformers": "0.3.9"})
    assert [doc["host"] for doc in docs] == ["h5"]


def test_a_canary_without_figures_is_not_passed():
    gate = canary_gate(dict(run("k1", "0.5.0", []), repetitions=[]), FLEET, 10, "k1", "/b")
    assert gate["passed"] is False and gate["judged"] is False
    assert "found none compared" in gate["msg"]


def cases(xml):
    root = etree.fromstring(xml.encode("utf-8"))
    JUNIT_SCHEMA.assertValid(root)
    return root, dict((case.get("name"), [child.tag for child in case]) for case in root.iter("testcase"))


def test_junit_of_a_regression_is_valid_and_fails_the_regressed_metrics():
    root, found = cases(gate_junit(canary_gate(run("k1", "0.5.0", SLOWER), FLEET, 10, "k1", "/b"), "k1"))
    assert root.get("name") == "ktune canary gate" and root.get("failures") == "2" and root.get("errors") == "0"
    assert root.find("testsuite").get("name") == "ktune canary gate: canary gate"
    assert found == {"canary.first_tokens_per_s": ["system-out"], "canary.last_tokens_per_s": ["system-out"],
                     "canary.goodput_rps": ["failure"], "canary.p99_ttft_s": ["failure"]}
    assert {case.get("classname") for case in root.iter("testcase")} == {"k1"}


def test_junit_of_a_pass_has_no_failure_and_of_a_refusal_one_error():
    root, found = cases(gate_junit(canary_gate(run("k1", "0.5.0", SAME_SPEED), FLEET, 10, "k1", "/b"), "k1"))
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "0", "0")
    refused = canary_gate(run("k1", "0.5.0", SAME_SPEED, kernel="6.11.0"), FLEET, 10, "k1", "/b")
    root, found = cases(gate_junit(refused, "k1"))
    assert found == {"canary.fingerprint": ["error"]} and root.get("errors") == "1"
    assert "kernel 6.8.0 -> 6.11.0" in root.find(".//error").get("message")


def test_the_audit_junit_keeps_its_name():
    report = {"hosts": {}, "summary": {"groups": {}, "unknown_hosts": {}}}
    assert '<testsuites name="ktune audit" tests="0"' in to_junit(report)


def test_the_filters_check_their_input():
    with pytest.raises(AnsibleFilterError, match="baseline_canary_gate: expected the canary's run"):
        baseline_canary_gate({}, "fleet", 10)
    with pytest.raises(AnsibleFilterError, match="max_regression_pct = -1: expected a percentage >= 0"):
        baseline_canary_gate({}, [], -1)
    with pytest.raises(AnsibleFilterError, match="baseline_software must be a dictionary"):
        baseline_canary_gate({}, [], 10, baseline_software="0.4.0")
    with pytest.raises(AnsibleFilterError, match="canary_gate_junit: the input must be the verdict"):
        canary_gate_junit("passed", "k1")
    gate = baseline_canary_gate(run("k1", "0.5.0", SAME_SPEED), FLEET, "10", None, "/b", {"ktransformers": "0.4.0"})
    assert gate["passed"] is True and "k1: passed the canary gate" in gate["msg"]


def test_rollback_targets_of_a_per_socket_entry_are_its_replicas_and_router(numa):
    sharded = {"name": "kimi", "backend": "sglang", "model_path": "/srv/models/kimi",
               "kt_weight_path": "/srv/models/kimi-cpu", "replicas": "per_socket", "port": 30000}
    leaving = {"name": "old", "backend": "sglang", "model_path": "/srv/models/old", "kt_weight_path": "/srv/models/old-cpu",
               "port": 32000, "state": "absent"}
    resolved = resolve_instances([sharded, leaving], numa("epyc-2s-nps2"))
    targets = canary_gate_rollback_targets(resolved, router_plan(resolved))
    assert targets["units"] == ["ktransformers@kimi-socket0.service", "ktransformers@kimi-socket1.service",
                                "ktransformers-router@kimi.service"]
    assert targets["files"] == ["/etc/systemd/system/ktransformers@.service", "/usr/local/libexec/ktune/ktransformers-exec",
                                "/etc/systemd/system/ktransformers-router@.service",
                                "/etc/ktransformers/kimi-socket0.env", "/etc/ktransformers/kimi-socket1.env",
                                "/etc/ktransformers/router-kimi.env",
                                "/etc/ktransformers/kimi-socket0.credentials", "/etc/ktransformers/kimi-socket1.credentials"]


def test_rollback_targets_of_a_per_numa_node_entry_name_each_node(numa):
    sharded = {"name": "k2", "backend": "sglang", "model_path": "/srv/models/k2", "kt_weight_path": "/srv/models/k2-cpu",
               "replicas": "per_numa_node", "port": 31000}
    resolved = resolve_instances([sharded], numa("epyc-2s-nps2"))
    targets = canary_gate_rollback_targets(resolved, router_plan(resolved))
    assert targets["units"] == ["ktransformers@k2-node%d.service" % node for node in range(4)] + [
        "ktransformers-router@k2.service"]


def test_rollback_targets_refuse_what_is_not_resolved_instances():
    with pytest.raises(AnsibleFilterError, match="expected the output of ktransformers_instances"):
        canary_gate_rollback_targets([{"name": "r1"}], [])
