"""host_telemetry: the sysfs readers shared by thermal_facts and the monitoring collector."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shutil
import statistics

import pytest
from hypothesis import given, strategies as st

import topologies
from ansible_collections.ktune.inference.plugins.module_utils import host_telemetry


@given(st.lists(st.integers(min_value=0, max_value=5_000_000), min_size=1, max_size=50))
def test_median_agrees_with_statistics(values):
    assert host_telemetry.median(values) == statistics.median(values)


def test_a_policy_covering_several_cpus_counts_for_each(tmp_path):
    root = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path)
    cpufreq = root / "sys/devices/system/cpu/cpufreq"
    nodes = host_telemetry.node_cpus(str(root / "sys"))
    shared = nodes[0][:len(nodes[0]) // 2 + 1]  # just over half of node 0 in one policy
    for cpu in shared[1:]:
        shutil.rmtree(str(cpufreq / ("policy%d" % cpu)))
    (cpufreq / ("policy%d" % shared[0]) / "affected_cpus").write_text(" ".join(map(str, shared)) + "\n")
    (cpufreq / ("policy%d" % shared[0]) / "scaling_cur_freq").write_text("1000000\n")
    summary = host_telemetry.frequency_summary(host_telemetry.cpufreq_policies(str(root / "sys")), nodes)
    assert summary[0] == {"min": 1e9, "median": 1e9, "max": 2.4e9}
    assert summary[1] == {"min": 2.4e9, "median": 2.4e9, "max": 2.4e9}


def test_kernel_without_numa_is_one_node(tmp_path):
    root = topologies.write_tree(topologies.catalog()["no-numa-kernel"], tmp_path)
    nodes = host_telemetry.node_cpus(str(root / "sys"))
    assert list(nodes) == [0]
    assert nodes[0] == topologies.catalog()["no-numa-kernel"].online
    assert host_telemetry.numastat(str(root / "sys")) == {}


def test_package_counters_are_not_multiplied_by_the_cpu_count(tmp_path):
    root = topologies.write_tree(topologies.catalog()["epyc-2s-nps1"], tmp_path)
    nodes = host_telemetry.node_cpus(str(root / "sys"))
    for cpu in nodes[0]:
        throttle = root / ("sys/devices/system/cpu/cpu%d/thermal_throttle" % cpu)
        throttle.mkdir()
        (throttle / "package_throttle_count").write_text("40\n")
        (throttle / "core_throttle_count").write_text("1\n")
        (throttle / "core_throttle_max_time_ms").write_text("99\n")  # a maximum, not a counter
    counters = host_telemetry.throttle_counters(str(root / "sys"), nodes)
    assert counters == {0: {"package_throttle_count": 40, "core_throttle_count": len(nodes[0])}}


def test_unparsable_counter_names_the_file(tmp_path):
    root = topologies.write_tree(topologies.catalog()["epyc-2s-nps1"], tmp_path)
    broken = root / "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count"
    broken.parent.mkdir()
    broken.write_text("lots\n")
    with pytest.raises(host_telemetry.TelemetryError, match=str(broken)):
        host_telemetry.throttle_counters(str(root / "sys"), host_telemetry.node_cpus(str(root / "sys")))
