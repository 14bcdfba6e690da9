"""The monitoring role's alert rules, checked and unit-tested with promtool.

promtool comes from Debian's prometheus package (tests/run-all.sh unpacks it into the
venv). These tests fail, not skip, without it.

The last tests follow one host's settings the whole way: the role's own vars/main.yml renders the
collector's settings (ansible-playbook, tests/unit/roles/role_vars.py), the collector reads a fixture
host with them, and promtool evaluates the rules over what it wrote.
"""

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

import topologies

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "roles/monitoring/files/ktune-alerts.rules.yml"
RULE_TESTS = ROOT / "tests/promtool/ktune-alerts.test.yml"
sys.path.insert(0, str(ROOT / "tests/unit/roles"))
from role_vars import evaluate  # noqa: E402


@pytest.fixture(scope="module")
def promtool():
    found = shutil.which("promtool")
    assert found, ("promtool is not on the PATH: apt-get download prometheus, dpkg-deb -x it and copy "
                   "usr/bin/promtool into the venv's bin (tests/run-all.sh does this)")
    return found


def run(*argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)


def test_rules_file_is_valid(promtool):
    done = run(promtool, "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout
    assert "SUCCESS: 10 rules found" in done.stdout


def test_rules_unit_tests_pass(promtool):
    done = run(promtool, "test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout


def test_every_alert_has_a_unit_test():
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    tested = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in test.get("alert_rule_test", [])}
    assert alerts == tested
    assert {"KtuneDimmTemperatureNearCritical", "KtuneDimmTemperatureHigh", "KtuneCpuThermalThrottling",
            "KtuneNumaMissRatioHigh", "KtuneCpuGovernorNotPerformance", "KtuneCpuEppNotAsConfigured",
            "KtuneNumaSysctlNotAsConfigured", "KtuneInstanceDown", "KtuneCollectorSectionFailed",
            "KtuneMetricsStale"} == alerts


def test_every_alert_has_a_case_that_fires_and_one_that_does_not():
    cases = [case for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
             for case in test.get("alert_rule_test", [])]
    alerts = {case["alertname"] for case in cases}
    firing = {case["alertname"] for case in cases if case.get("exp_alerts")}
    silent = {case["alertname"] for case in cases if not case.get("exp_alerts")}
    # A rule that fires for every series also passes a firing case: each has a quiet one too.
    assert firing == alerts and silent == alerts


def test_no_rule_names_a_configured_value():
    """The governor, EPP and kernel values come from each host's ktune_*_expected metrics."""
    for rule in (rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]):
        for value in ("performance", "schedutil", "powersave", "balance_", "numa_balancing",
                      "zone_reclaim"):
            assert value not in rule["expr"], (rule["alert"], value)


def test_a_wrong_expectation_makes_promtool_fail(promtool, tmp_path):
    suite = yaml.safe_load(RULE_TESTS.read_text())
    suite["rule_files"] = [str(RULES)]
    first = suite["tests"][0]["alert_rule_test"]
    first[1]["exp_alerts"] = []  # the DIMM at 81 of 85 °C does fire at 8m
    wrong = tmp_path / "wrong.test.yml"
    wrong.write_text(yaml.safe_dump(suite, allow_unicode=True))
    done = run(promtool, "test", "rules", str(wrong))
    assert done.returncode != 0
    assert "KtuneDimmTemperatureNearCritical" in done.stdout


# --- settings -> the role's collector settings -> the collector -> promtool ---------------------

HOST = "gpu-07"
SETTINGS_A = {"ktune_cpu_governor": "performance", "ktune_cpu_epp": None, "ktune_numa_balancing": 0,
              "ktune_zone_reclaim_mode": 0}
# The same host tuned for another group's settings: powersave with balance_performance, NUMA balancing on.
SETTINGS_B = {"ktune_cpu_governor": "powersave", "ktune_cpu_epp": "balance_performance", "ktune_numa_balancing": 1,
              "ktune_zone_reclaim_mode": 1}
TUNING_ALERTS = ("KtuneCpuGovernorNotPerformance", "KtuneCpuEppNotAsConfigured", "KtuneNumaSysctlNotAsConfigured")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """An amd-pstate-epp host running powersave with EPP balance_performance, numa_balancing and
    zone_reclaim_mode 1: as the second group's settings want it, not as the defaults do."""
    root = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path_factory.mktemp("host") / "tree")
    (root / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
    (root / "proc/sys/kernel/numa_balancing").write_text("1\n")
    assert (root / "proc/sys/vm/zone_reclaim_mode").read_text() == "1\n"
    return root


@pytest.fixture(scope="module")
def collector_settings(host, tmp_path_factory):
    """The collector's settings file as the monitoring role renders it (monitoring_settings_content),
    for each of the two settings."""
    cases = [dict(settings, ktune_sysfs_root=str(host / "sys"), ktune_procfs_root=str(host / "proc"),
                  ktune_monitoring_textfile_dir=str(tmp_path_factory.mktemp("textfile")))
             for settings in (SETTINGS_A, SETTINGS_B)]
    return [result["content"] for result in evaluate("monitoring", {"content": "monitoring_settings_content"}, cases)]


def load_collector():
    spec = importlib.util.spec_from_file_location("ktune_metrics", ROOT / "roles/monitoring/files/ktune_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def scrape(content, tmp_path):
    """Run the collector with the role's settings file; its samples as node_exporter's job would
    store them (instance and job labels added)."""
    config = tmp_path / "monitoring.json"
    config.write_text(content)
    assert load_collector().main(["--config", str(config)]) == 0
    text = (Path(json.loads(content)["textfile_dir"]) / "ktune.prom").read_text()
    series = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ktune_collector_last_run_timestamp_seconds":
                continue  # wall-clock time; promtool's clock starts at 0
            labels = dict(sample.labels, instance=HOST, job="node")
            series.append({"series": "%s{%s}" % (sample.name, ", ".join('%s="%s"' % item for item in sorted(labels.items()))),
                           "values": "%sx30" % sample.value})
    return series


SEVERITIES = dict((rule["alert"], rule["labels"]["severity"])
                  for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"])


def firing(promtool, series, expected, tmp_path):
    """promtool test rules over the series; expected: the tuning alerts' firing label sets at 20m."""
    suite = {"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series,
        "promql_expr_test": [{
            "expr": 'ALERTS{alertstate="firing", alertname=~"%s"}' % "|".join(TUNING_ALERTS), "eval_time": "20m",
            "exp_samples": [{"labels": "ALERTS{%s}" % ", ".join('%s="%s"' % item for item in sorted(dict(
                labels, alertstate="firing", severity=SEVERITIES[labels["alertname"]], instance=HOST,
                job="node").items())), "value": 1}
                for labels in expected]}]}]}
    path = tmp_path / "pipeline.test.yml"
    path.write_text(yaml.safe_dump(suite))
    return run(promtool, "test", "rules", str(path))


FIRING_UNDER_A = [
    {"alertname": "KtuneCpuGovernorNotPerformance", "governor": "powersave", "driver": "amd-pstate-epp"},
    {"alertname": "KtuneCpuEppNotAsConfigured", "epp": "balance_performance", "driver": "amd-pstate-epp"},
    {"alertname": "KtuneNumaSysctlNotAsConfigured", "sysctl": "kernel.numa_balancing"},
    {"alertname": "KtuneNumaSysctlNotAsConfigured", "sysctl": "vm.zone_reclaim_mode"},
]


def test_the_settings_decide_what_the_alerts_expect(promtool, collector_settings, tmp_path):
    """The same host, read the same way: under the defaults its powersave governor, its EPP and its
    NUMA kernel values fire; under the settings that ask for them nothing fires."""
    under_a, under_b = (scrape(content, tmp_path) for content in collector_settings)
    done = firing(promtool, under_a, FIRING_UNDER_A, tmp_path)
    assert done.returncode == 0, done.stdout
    done = firing(promtool, under_b, [], tmp_path)
    assert done.returncode == 0, done.stdout


def test_the_pipeline_test_can_fail(promtool, collector_settings, tmp_path):
    done = firing(promtool, scrape(collector_settings[1], tmp_path), FIRING_UNDER_A, tmp_path)
    assert done.returncode != 0 and "KtuneCpuEppNotAsConfigured" in done.stdout


def test_the_collector_settings_carry_the_audits_expectations(collector_settings):
    expected = [json.loads(content)["expected"] for content in collector_settings]
    assert expected == [
        {"governor": "performance", "epp": {"active_mode": "performance", "other": None},
         "sysctls": {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 0}},
        {"governor": "powersave", "epp": {"active_mode": "balance_performance", "other": "balance_performance"},
         "sysctls": {"kernel.numa_balancing": 1, "vm.zone_reclaim_mode": 1}}]
