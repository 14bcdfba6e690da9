"""Verify the monitoring scenario: the timer, the metrics file (parsed with prometheus_client),
its updates, the host without ipmitool, node_exporter serving our file, and diagnose.yml's
bundle and summary on the controller."""

import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import testinfra
import yaml
from prometheus_client.parser import text_string_to_metric_families

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests"))
sys.path.insert(0, str(PROJECT / "molecule/monitoring"))
sys.path.insert(0, str(PROJECT / "collections"))  # tests/checkout.py links the collection there
import fixtures  # noqa: E402
import topologies  # noqa: E402
from ansible_collections.ktune.inference.plugins.module_utils.concern_registry import alert_severity  # noqa: E402

METRICS = "/var/lib/prometheus/node-exporter/ktune.prom"
DIAGNOSTICS = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "diagnostics"


def name_of(host):
    return host.backend.get_hostname()


def topology_of(host):
    return topologies.catalog()[fixtures.HOSTS[name_of(host).split("-", 1)[1]]]


def samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def read_metrics(host):
    return samples(host.file(METRICS).content_string)


def wait_for(host, condition, timeout=60):
    """Metrics once condition(metrics) holds; the timer runs every 10 s."""
    deadline = time.time() + timeout
    while True:
        metrics = read_metrics(host)
        if condition(metrics) or time.time() > deadline:
            return metrics
        time.sleep(2)


def value(metrics, metric, **labels):
    return metrics.get((metric, frozenset(labels.items())))


def test_timer_enabled_and_active(host):
    timer = host.service("ktune-metrics.timer")
    assert timer.is_enabled
    assert timer.is_running
    unit = host.file("/etc/systemd/system/ktune-metrics.timer").content_string
    assert "OnUnitActiveSec=10s" in unit


def test_last_collector_run_succeeded(host):
    result = host.run("systemctl show -p Result --value ktune-metrics.service")
    assert result.stdout.strip() == "success"


def test_metrics_file_is_complete_and_parses(host):
    metrics_file = host.file(METRICS)
    assert metrics_file.mode == 0o644
    metrics = read_metrics(host)
    topology = topology_of(host)
    nodes = {str(node.id) for node in topology.nodes}
    for metric in ("ktune_numa_hit_total", "ktune_numa_miss_total", "ktune_numa_foreign_total",
                   "ktune_numa_local_node_total", "ktune_numa_other_node_total"):
        assert {dict(labels)["node"] for name, labels in metrics if name == metric} == nodes
    assert {dict(labels)["node"] for name, labels in metrics if name == "ktune_cpu_frequency_median_hertz"} == nodes
    assert value(metrics, "ktune_cpu_frequency_max_hertz", node="0") == 2.4e9  # the fixture's scaling_cur_freq
    policies = sum(v for (name, labels), v in metrics.items() if name == "ktune_cpu_governor_policies")
    assert policies == len(topology.online)
    assert value(metrics, "ktune_cpu_thermal_throttle_events_total", node="1", counter="package_power_limit") == 0
    assert {v for (name, labels), v in metrics.items() if name == "ktune_collector_success"} == {1}
    # nothing but the metrics file in the directory: the temporary files were renamed
    assert host.run("ls -A /var/lib/prometheus/node-exporter").stdout.split() == ["ktune.prom"]


def test_metrics_update_when_a_throttle_counter_rises(host):
    before = read_metrics(host)
    stamp = value(before, "ktune_collector_last_run_timestamp_seconds")
    mtime = host.file(METRICS).mtime
    throttled = int(value(before, "ktune_cpu_thermal_throttle_events_total", node="0", counter="core_throttle")) + 7
    counter = "/sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count"
    host.run_test("echo %d > %s" % (int(host.file(counter).content_string) + 7, counter))
    after = wait_for(host, lambda m: value(m, "ktune_cpu_thermal_throttle_events_total", node="0",
                                           counter="core_throttle") == throttled)
    assert value(after, "ktune_cpu_thermal_throttle_events_total", node="0", counter="core_throttle") == throttled
    assert value(after, "ktune_collector_last_run_timestamp_seconds") > stamp
    assert host.file(METRICS).mtime > mtime


def test_dimm_metrics_only_where_there_is_ipmitool(host):
    metrics = read_metrics(host)
    dimm_names = {name for name, labels in metrics if name.startswith("ktune_dimm_")}
    if name_of(host) == "monitoring-nobmc":
        assert value(metrics, "ktune_ipmi_up") == 0
        assert dimm_names == set()
        return
    assert value(metrics, "ktune_ipmi_up") == 1
    # side_effect raised P2-DIMMF1 from 30 to 83 °C in the fake BMC's table
    metrics = wait_for(host, lambda m: value(m, "ktune_dimm_temperature_max_celsius") == 83)
    assert value(metrics, "ktune_dimm_temperature_max_celsius") == 83
    assert value(metrics, "ktune_dimm_temperature_max_upper_critical_celsius") == 85
    assert value(metrics, "ktune_dimm_temperature_celsius", sensor="P1-DIMMA1 Temp") == 27
    assert value(metrics, "ktune_dimm_upper_critical_celsius", sensor="P1-DIMMA1 Temp") == 85
    assert value(metrics, "ktune_dimm_sensors_without_reading") == 12
    read = {dict(labels)["sensor"] for name, labels in metrics if name == "ktune_dimm_temperature_celsius"}
    assert read == {"P1-DIMMA1 Temp", "P1-DIMMB1 Temp", "P2-DIMME1 Temp", "P2-DIMMF1 Temp"}


def test_instances_are_probed_over_http(host):
    metrics = read_metrics(host)
    up = {dict(labels)["name"]: v for (name, labels), v in metrics.items() if name == "ktune_instance_up"}
    if name_of(host) == "monitoring-nobmc":
        assert up == {}
        return
    assert up == {"r1": 1, "down": 0}
    assert value(metrics, "ktune_instance_http_status", name="r1") == 200
    assert value(metrics, "ktune_instance_up", name="down", url="http://127.0.0.1:30001/health") == 0


def test_node_exporter_serves_our_metrics_where_installed(host):
    if name_of(host) == "monitoring-nobmc":
        assert not host.package("prometheus-node-exporter").is_installed
        return
    assert host.service("prometheus-node-exporter").is_running
    assert "--collector.textfile.directory=/var/lib/prometheus/node-exporter" in \
        host.file("/etc/default/prometheus-node-exporter").content_string
    # Loopback by default: node_exporter authenticates nobody (issue 21, item 8).
    assert host.socket("tcp://127.0.0.1:9100").is_listening
    assert not host.socket("tcp://0.0.0.0:9100").is_listening and not host.socket("tcp://:::9100").is_listening
    page = host.run_test("python3 -c \"import urllib.request; "
                         "print(urllib.request.urlopen('http://127.0.0.1:9100/metrics').read().decode())\"").stdout
    served = samples(page)
    assert value(served, "ktune_ipmi_up") == 1
    assert value(served, "node_textfile_scrape_error") == 0


def test_expected_values_come_with_what_the_host_runs(host):
    """The collector exports what the host's settings expect (the inventory's defaults here) next
    to the governor, EPP and kernel values it reads as the audit reads them."""
    metrics = read_metrics(host)
    assert value(metrics, "ktune_cpu_governor_expected", governor="performance") == 1
    assert value(metrics, "ktune_collector_interval_seconds") == 10
    for name in ("kernel.numa_balancing", "vm.zone_reclaim_mode"):
        assert value(metrics, "ktune_sysctl_expected", sysctl=name) == 0
        live = host.run("cat /proc/sys/%s" % name.replace(".", "/"))
        found = value(metrics, "ktune_sysctl_value", sysctl=name)
        assert found == (int(live.stdout) if live.rc == 0 else None)
    epp = {labels: v for (name, labels), v in metrics.items() if name.startswith("ktune_cpu_epp_")}
    if name_of(host) == "monitoring-nobmc":  # acpi-cpufreq: no EPP, nothing expected
        assert epp == {}
        return
    # amd-pstate-epp in active mode, configured for the performance governor: EPP performance
    # is what the audit expects, and the fixture runs balance_performance on every policy.
    assert epp == {frozenset({("epp", "performance")}): 1,
                   frozenset({("epp", "balance_performance"), ("driver", "amd-pstate-epp")}): len(topology_of(host).online)}


def test_the_rules_fire_on_what_node_exporter_serves(tmp_path):
    """promtool evaluates the installed rules over node_exporter's page of the host that has both:
    the fixture's powersave governor and balance_performance EPP fire against the defaults' expectations."""
    host = testinfra.get_host("podman://monitoring-bmc")
    promtool = shutil.which("promtool")
    assert promtool, "promtool is not on the PATH (tests/run-all.sh unpacks it into the venv)"
    page = host.run_test("python3 -c \"import urllib.request; "
                         "print(urllib.request.urlopen('http://127.0.0.1:9100/metrics').read().decode())\"").stdout
    series = []
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name.startswith(("ktune_cpu_governor", "ktune_cpu_epp", "ktune_sysctl")):
                labels = dict(sample.labels, instance="monitoring-bmc:9100", job="node")
                series.append({"series": "%s{%s}" % (sample.name, ", ".join(
                    '%s="%s"' % item for item in sorted(labels.items()))), "values": "%sx30" % sample.value})
    firing = [{"alertname": "KtuneCpuGovernorNotPerformance", "governor": "powersave", "driver": "amd-pstate-epp"},
              {"alertname": "KtuneCpuEppNotAsConfigured", "epp": "balance_performance", "driver": "amd-pstate-epp"}]
    for name in ("kernel.numa_balancing", "vm.zone_reclaim_mode"):  # the machine's kernel, read only
        live = host.run("cat /proc/sys/%s" % name.replace(".", "/"))
        if live.rc == 0 and int(live.stdout) != 0:
            firing.append({"alertname": "KtuneNumaSysctlNotAsConfigured", "sysctl": name})
    rules = tmp_path / "ktune.rules.yml"
    rules.write_text(host.file("/etc/prometheus/rules/ktune.rules.yml").content_string)
    expected = [{"labels": "ALERTS{%s}" % ", ".join('%s="%s"' % item for item in sorted(dict(
        labels, alertstate="firing", severity=alert_severity(labels["alertname"]), instance="monitoring-bmc:9100",
        job="node").items())),
        "value": 1} for labels in firing]
    suite = {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": series, "promql_expr_test": [{
            "expr": 'ALERTS{alertstate="firing", alertname=~"KtuneCpu.*|KtuneNumaSysctl.*"}', "eval_time": "20m",
            "exp_samples": expected}]}]}
    (tmp_path / "served.test.yml").write_text(yaml.safe_dump(suite))
    done = subprocess.run([promtool, "test", "rules", str(tmp_path / "served.test.yml")], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_alert_rules_installed_where_asked(host):
    rules = host.file("/etc/prometheus/rules/ktune.rules.yml")
    if name_of(host) == "monitoring-nobmc":
        assert not rules.exists
        return
    assert rules.content_string == (PROJECT / "roles/monitoring/files/ktune-alerts.rules.yml").read_text()


def test_diagnose_bundle_and_summary_on_the_controller(host):
    name = name_of(host)
    folder = DIAGNOSTICS / name
    summary = (folder / "summary.md").read_text()
    with tarfile.open(folder / ("%s-diagnostics.tar.gz" % name)) as bundle:
        members = {Path(member).name for member in bundle.getnames()}
        packed_summary = bundle.extractfile("%s-diagnostics/summary.md" % name).read().decode()
    assert {"meminfo.txt", "cpufreq-policies.txt", "cpu-frequency-samples.txt", "numa-facts.json",
            "thermal-facts-start.json", "thermal-facts-end.json", "kernel-thermal-mce.txt",
            "journal-ktransformers.txt", "summary.md", "missing.tsv"} <= members
    assert packed_summary == summary
    assert summary.startswith("# Diagnosis of %s\n" % name)
    # The fixtures run powersave (amd-pstate-epp) and schedutil (acpi-cpufreq) governors.
    assert "**CPU governor is not performance**" in summary
    if name == "monitoring-bmc":
        assert "**Hot DIMMs** (critical): P2-DIMMF1 Temp 83.0 °C (critical 85.0 °C)" in summary
        assert "**Wrong NUMA layout**" in summary and "NPS2" in summary
        assert "- ipmitool:" not in summary
    else:
        assert "Hot DIMMs" not in summary
        assert "- ipmitool: ipmitool not found" in summary


@pytest.mark.parametrize("variable,bad,expected", [
    ("ktune_monitoring_interval", "5", "ktune_monitoring_interval = '5': expected whole seconds from 10 to 86400"),
    ("ktune_monitoring_textfile_dir", "relative/dir", "ktune_monitoring_textfile_dir = 'relative/dir': "
                                                      "expected an absolute path"),
])
def test_bad_input_fails_before_any_change(variable, bad, expected):
    host = testinfra.get_host("podman://monitoring-nobmc")
    timer = host.file("/etc/systemd/system/ktune-metrics.timer").content_string
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    done = subprocess.run(["ansible-playbook", str(PROJECT / "molecule/monitoring/converge.yml"), "-i", inventory,
                           "--limit", "monitoring-nobmc", "-e", "%s=%s" % (variable, bad)],
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False)
    output = re.sub(r"\s+", " ", done.stdout + done.stderr)
    assert done.returncode == 2, output
    assert "monitoring-nobmc: " + expected in output
    assert re.search(r"monitoring-nobmc\s*:\s*ok=\d+\s+changed=0\s+unreachable=0\s+failed=1", output)
    assert host.file("/etc/systemd/system/ktune-metrics.timer").content_string == timer
