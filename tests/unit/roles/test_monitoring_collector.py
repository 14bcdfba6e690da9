"""The monitoring role's collector (roles/monitoring/files/ktune_metrics.py) on fixture trees.

Its output is parsed with prometheus_client's text parser, as node_exporter would read it.
"""

import builtins
import errno
import http.server
import importlib.util
import os
import threading
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

import topologies

ROOT = Path(__file__).resolve().parents[3]
FIXTURES = ROOT / "tests" / "fixtures" / "ipmitool"


def load_collector():
    spec = importlib.util.spec_from_file_location("ktune_metrics", ROOT / "roles/monitoring/files/ktune_metrics.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


collector = load_collector()


def samples(text):
    """{(sample name, frozenset(labels)): value} from the exposition text."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def families(text):
    return {family.name: family for family in text_string_to_metric_families(text)}


def fake_ipmitool(tmp_path, fixture):
    script = tmp_path / "ipmitool"
    script.write_text('#!/bin/sh\ncat "%s"\n' % fixture)
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def tree(tmp_path):
    root = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "tree")
    cpus = root / "sys/devices/system/cpu"
    for cpu in (0, 1):
        throttle = cpus / ("cpu%d" % cpu) / "thermal_throttle"
        throttle.mkdir()
        (throttle / "core_throttle_count").write_text("3\n")
        (throttle / "package_throttle_count").write_text("9\n")
        (throttle / "package_throttle_total_time_ms").write_text("2500\n")
    (cpus / "cpufreq/policy0/scaling_cur_freq").write_text("1500000\n")
    (cpus / "cpufreq/policy0/scaling_governor").write_text("performance\n")
    return root / "sys"


class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d" % server.server_address[1]
    server.shutdown()
    server.server_close()


EXPECTED = {"governor": "performance", "epp": {"active_mode": "performance", "other": None},
            "sysctls": {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 0}}


def config(tree, tmp_path, **extra):
    settings = dict(collector.DEFAULTS, sysfs_root=str(tree), procfs_root=str(tree.parent / "proc"),
                    textfile_dir=str(tmp_path), ipmitool=str(tmp_path / "absent-ipmitool"), expected=EXPECTED,
                    interval=60)
    settings.update(extra)
    return settings


def test_full_run_parses_and_names_follow_conventions(tree, tmp_path, health_server):
    ipmitool = fake_ipmitool(tmp_path, FIXTURES / "supermicro-dual-sensor-list-1.txt")
    instances = [{"name": "ds", "url": health_server + "/health"},
                 {"name": "sick", "url": health_server + "/v1/models"},
                 {"name": "gone", "url": "http://127.0.0.1:9/health"}]
    text = collector.render(collector.collect(config(tree, tmp_path, ipmitool=ipmitool, instances=instances)))
    found = samples(text)
    assert found[("ktune_ipmi_up", frozenset())] == 1
    assert found[("ktune_dimm_temperature_celsius", frozenset({("sensor", "P1-DIMMA1 Temp")}))] == 27
    assert found[("ktune_dimm_upper_critical_celsius", frozenset({("sensor", "P2-DIMMF1 Temp")}))] == 85
    assert found[("ktune_dimm_temperature_max_celsius", frozenset())] == 30
    assert found[("ktune_dimm_temperature_max_upper_critical_celsius", frozenset())] == 85
    assert found[("ktune_dimm_sensors_without_reading", frozenset())] == 12
    # empty slots give no temperature sample at all
    assert ("ktune_dimm_temperature_celsius", frozenset({("sensor", "P1-DIMMA2 Temp")})) not in found
    assert found[("ktune_numa_hit_total", frozenset({("node", "1")}))] == 1000
    assert found[("ktune_numa_other_node_total", frozenset({("node", "0")}))] == 10
    assert found[("ktune_cpu_frequency_min_hertz", frozenset({("node", "0")}))] == 1.5e9
    assert found[("ktune_cpu_frequency_median_hertz", frozenset({("node", "0")}))] == 2.4e9
    assert found[("ktune_cpu_thermal_throttle_events_total",
                  frozenset({("node", "0"), ("counter", "core_throttle")}))] == 6
    assert found[("ktune_cpu_thermal_throttle_events_total",
                  frozenset({("node", "0"), ("counter", "package_throttle")}))] == 9
    assert found[("ktune_cpu_thermal_throttle_seconds_total",
                  frozenset({("node", "0"), ("counter", "package_throttle")}))] == 2.5
    assert found[("ktune_cpu_governor_policies",
                  frozenset({("governor", "performance"), ("driver", "amd-pstate-epp")}))] == 1
    assert found[("ktune_cpu_governor_expected", frozenset({("governor", "performance")}))] == 1
    assert found[("ktune_cpu_epp_policies",
                  frozenset({("epp", "balance_performance"), ("driver", "amd-pstate-epp")}))] == 64
    assert found[("ktune_cpu_epp_expected", frozenset({("epp", "performance")}))] == 1
    assert found[("ktune_sysctl_expected", frozenset({("sysctl", "vm.zone_reclaim_mode")}))] == 0
    assert found[("ktune_collector_interval_seconds", frozenset())] == 60
    assert found[("ktune_instance_up", frozenset({("name", "ds"), ("url", health_server + "/health")}))] == 1
    assert found[("ktune_instance_up", frozenset({("name", "sick"), ("url", health_server + "/v1/models")}))] == 0
    assert found[("ktune_instance_http_status", frozenset({("name", "sick")}))] == 503
    assert found[("ktune_instance_http_status", frozenset({("name", "gone")}))] == 0
    assert {value for (name, labels), value in found.items() if name == "ktune_collector_success"} == {1}
    kinds = {name: family.type for name, family in families(text).items()}
    for name, kind in kinds.items():
        assert name.startswith("ktune_")
        # prometheus_client strips _total from counter family names
        assert (kind == "counter") == (name + "_total" in text), name
    assert kinds["ktune_numa_miss"] == "counter"


def test_host_without_ipmitool_keeps_numa_and_cpu_metrics(tree, tmp_path):
    text = collector.render(collector.collect(config(tree, tmp_path)))
    names = set(families(text))
    assert not [name for name in names if name.startswith("ktune_dimm_")]
    assert samples(text)[("ktune_ipmi_up", frozenset())] == 0
    assert {"ktune_numa_hit", "ktune_numa_miss", "ktune_cpu_frequency_max_hertz",
            "ktune_cpu_thermal_throttle_events", "ktune_cpu_governor_policies"} <= names


def test_unreadable_section_is_marked_and_others_survive(tree, tmp_path):
    (tree / "devices/system/node/node0/numastat").write_text("numa_hit many\n")
    found = samples(collector.render(collector.collect(config(tree, tmp_path))))
    assert found[("ktune_collector_success", frozenset({("section", "numastat")}))] == 0
    assert found[("ktune_collector_success", frozenset({("section", "cpu")}))] == 1
    assert not [name for name, labels in found if name == "ktune_numa_hit_total"]


def test_duplicate_sensor_names_get_distinct_labels(tree, tmp_path):
    ipmitool = fake_ipmitool(tmp_path, tmp_path / "elist.txt")
    (tmp_path / "elist.txt").write_text("Temp | 0Ah | ok | 8.1 | 40 degrees C\nTemp | 0Bh | ok | 8.2 | 44 degrees C\n")
    found = samples(collector.render(collector.collect(config(tree, tmp_path, ipmitool=ipmitool))))
    assert found[("ktune_dimm_temperature_celsius", frozenset({("sensor", "Temp")}))] == 40
    assert found[("ktune_dimm_temperature_celsius", frozenset({("sensor", "Temp #2")}))] == 44


def test_label_values_are_escaped():
    family = collector.Family("ktune_test", "gauge", "test").add(1, sensor='a "b" \\ c\nd')
    parsed = list(text_string_to_metric_families(collector.render([family])))
    assert parsed[0].samples[0].labels == {"sensor": 'a "b" \\ c\nd'}


def test_main_replaces_the_file_atomically(tree, tmp_path):
    out = tmp_path / "textfile"
    out.mkdir()
    (out / "ktune.prom").write_text("old\n")
    assert collector.main(["--textfile-dir", str(out), "--sysfs-root", str(tree)]) == 0
    assert sorted(os.listdir(out)) == ["ktune.prom"]  # no temporary file left behind
    text = (out / "ktune.prom").read_text()
    assert oct((out / "ktune.prom").stat().st_mode & 0o777) == "0o644"
    assert "ktune_numa_hit_total" in text


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    (tmp_path / "ktune.prom").write_text("old\n")

    def broken_replace(source, target):
        raise OSError("disk full")
    monkeypatch.setattr(collector.os, "replace", broken_replace)
    with pytest.raises(OSError):
        collector.write_atomically(str(tmp_path), "new\n")
    assert os.listdir(tmp_path) == ["ktune.prom"]
    assert (tmp_path / "ktune.prom").read_text() == "old\n"


def test_instance_memory_per_numa_node_from_numa_maps(tmp_path, monkeypatch):
    (tmp_path / "321").mkdir()
    (tmp_path / "321" / "numa_maps").write_text(
        "7f0000000000 interleave:0-1 anon=1024 N0=512 N1=512 kernelpagesize_kB=2048\n"
        "7f8000000000 default file=/srv/m/x mapped=10 N1=10 kernelpagesize_kB=4\n")
    monkeypatch.setattr(collector, "main_pid", {"ktransformers@ds.service": 321}.get)
    instances = [{"name": "ds", "url": "http://127.0.0.1:9/health"}, {"name": "stopped", "url": "http://x/"}]
    found = samples(collector.render(collector.placement_families(instances, str(tmp_path))))
    assert found[("ktune_instance_numa_resident_bytes", frozenset({("name", "ds"), ("node", "0")}))] == 512 * 2048 * 1024
    assert found[("ktune_instance_numa_resident_bytes", frozenset({("name", "ds"), ("node", "1")}))] == \
        (512 * 2048 + 10 * 4) * 1024
    assert not [key for key in found if ("name", "stopped") in key[1]]


def test_an_inactive_policy_is_left_out_as_the_audit_leaves_it(tree, tmp_path, monkeypatch):
    """The kernel answers EBUSY to every read of a policy whose CPUs are all offline; the audit's
    reader (cpufreq.read_policies) leaves it out, and so must the governor count."""
    real_open = builtins.open

    def busy_open(path, *args, **kwargs):
        if str(path).endswith("policy3/scaling_governor"):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        return real_open(path, *args, **kwargs)
    monkeypatch.setattr(builtins, "open", busy_open)
    found = samples(collector.render(collector.collect(config(tree, tmp_path))))
    assert found[("ktune_collector_success", frozenset({("section", "cpufreq")}))] == 1
    assert found[("ktune_collector_success", frozenset({("section", "cpu")}))] == 1
    governors = dict((labels, value) for (name, labels), value in found.items()
                     if name == "ktune_cpu_governor_policies")
    assert governors == {frozenset({("governor", "performance"), ("driver", "amd-pstate-epp")}): 1,
                         frozenset({("governor", "powersave"), ("driver", "amd-pstate-epp")}): 62}


def test_the_epp_expectation_follows_the_driver_mode(tree, tmp_path):
    """Which of the role's two EPP answers applies is a host fact, read as the audit reads it."""
    expected = dict(EXPECTED, epp={"active_mode": "performance", "other": "balance_power"})
    found = samples(collector.render(collector.collect(config(tree, tmp_path, expected=expected))))
    assert [labels for name, labels in found if name == "ktune_cpu_epp_expected"] == [frozenset({("epp", "performance")})]
    for driver in (tree / "devices/system/cpu/cpufreq").glob("policy*/scaling_driver"):
        driver.write_text("amd-pstate\n")  # passive mode, EPP still there
    found = samples(collector.render(collector.collect(config(tree, tmp_path, expected=expected))))
    assert [labels for name, labels in found if name == "ktune_cpu_epp_expected"] == [
        frozenset({("epp", "balance_power")})]


def test_epp_left_alone_exports_no_expectation(tree, tmp_path):
    expected = dict(EXPECTED, epp={"active_mode": None, "other": None})
    found = samples(collector.render(collector.collect(config(tree, tmp_path, expected=expected))))
    assert not [name for name, labels in found if name == "ktune_cpu_epp_expected"]
    assert [name for name, labels in found if name == "ktune_cpu_epp_policies"]


def test_kernel_settings_live_and_expected(tree, tmp_path):
    proc = tree.parent / "proc"
    (proc / "sys/kernel").mkdir(parents=True, exist_ok=True)
    (proc / "sys/kernel/numa_balancing").write_text("1\n")
    found = samples(collector.render(collector.collect(config(tree, tmp_path))))
    assert found[("ktune_sysctl_value", frozenset({("sysctl", "kernel.numa_balancing")}))] == 1
    assert found[("ktune_sysctl_value", frozenset({("sysctl", "vm.zone_reclaim_mode")}))] == 1
    (proc / "sys/vm/zone_reclaim_mode").unlink()
    found = samples(collector.render(collector.collect(config(tree, tmp_path))))
    assert found[("ktune_sysctl_expected", frozenset({("sysctl", "kernel.numa_balancing")}))] == 0
    # The kernel lacks vm.zone_reclaim_mode here: expected, but no live value (not drift, as in the audit).
    assert ("ktune_sysctl_value", frozenset({("sysctl", "vm.zone_reclaim_mode")})) not in found
    assert found[("ktune_sysctl_expected", frozenset({("sysctl", "vm.zone_reclaim_mode")}))] == 0


def test_without_the_roles_settings_nothing_is_expected(tree, tmp_path):
    settings = dict(collector.DEFAULTS, sysfs_root=str(tree), textfile_dir=str(tmp_path),
                    ipmitool=str(tmp_path / "absent-ipmitool"))
    names = set(name for name, labels in samples(collector.render(collector.collect(settings))))
    assert "ktune_cpu_governor_policies" in names
    assert not [name for name in names if name.endswith("_expected") or name == "ktune_collector_interval_seconds"]
