"""thermal_facts on fixture trees, with a fake ipmitool written into tmp_path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest

import topologies
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import thermal_facts

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "ipmitool"


def fake_ipmitool(tmp_path, output_file=None, rc=0, stderr="", sleep=0):
    script = tmp_path / "bin" / "ipmitool"
    script.parent.mkdir(exist_ok=True)
    body = ["#!/bin/sh", 'echo "$@" > "%s"' % (tmp_path / "ipmitool.args")]
    if sleep:
        body.append("sleep %d" % sleep)
    if output_file:
        body.append('cat "%s"' % output_file)
    if stderr:
        body.append('echo "%s" >&2' % stderr)
    body.append("exit %d" % rc)
    script.write_text("\n".join(body) + "\n")
    script.chmod(0o755)
    return str(script)


@pytest.fixture
def tree(tmp_path):
    root = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "tree")
    cpus = root / "sys/devices/system/cpu"
    for cpu, core_count in ((0, 5), (1, 7), (8, 100)):
        throttle = cpus / ("cpu%d" % cpu) / "thermal_throttle"
        throttle.mkdir()
        (throttle / "core_throttle_count").write_text("%d\n" % core_count)
        (throttle / "package_throttle_count").write_text("%d\n" % (core_count * 2))
        (throttle / "package_throttle_total_time_ms").write_text("1500\n")
    (cpus / "cpufreq/policy1/scaling_cur_freq").write_text("3700000\n")
    (cpus / "cpufreq/policy2/scaling_governor").write_text("performance\n")
    (root / "sys/devices/system/node/node1/numastat").write_text(
        "numa_hit 500\nnuma_miss 70\nnuma_foreign 3\ninterleave_hit 1\nlocal_node 450\nother_node 120\n")
    return root


def args(tree, **extra):
    return dict({"sysfs_root": str(tree / "sys"), "procfs_root": str(tree / "proc")}, **extra)


def test_reads_dimms_with_the_shared_parser(tree, tmp_path):
    ipmitool = fake_ipmitool(tmp_path, FIXTURES / "supermicro-dual-sensor-list-1.txt")
    result, failed = run_module(thermal_facts, args(tree, ipmitool_path=ipmitool), check_mode=True)
    assert not failed and result["changed"] is False
    ipmi = result["ansible_facts"]["ktune_thermal"]["ipmi"]
    assert ipmi["available"] is True and ipmi["reason"] is None
    assert ipmi["command"] == [ipmitool, "sensor"]
    assert len(ipmi["dimms"]) == 16
    assert ipmi["hottest"] == {"name": "P2-DIMMF1 Temp", "celsius": 30.0, "status": "ok", "upper_critical": 85.0}
    assert (tmp_path / "ipmitool.args").read_text().strip() == "sensor"
    assert "output" not in ipmi


def test_keep_output_returns_the_raw_text(tree, tmp_path):
    fixture = FIXTURES / "supermicro-x10dru-sdr-1.txt"
    ipmitool = fake_ipmitool(tmp_path, fixture)
    result, failed = run_module(thermal_facts, args(tree, ipmitool_path=ipmitool, ipmitool_args=["sdr"],
                                                    keep_output=True))
    assert not failed
    assert result["ansible_facts"]["ktune_thermal"]["ipmi"]["output"] == fixture.read_text()


def test_sysfs_sections(tree, tmp_path):
    result, failed = run_module(thermal_facts, args(tree, ipmitool_path=str(tmp_path / "none")))
    facts = result["ansible_facts"]["ktune_thermal"]
    assert not failed
    # epyc-2s-nps2: node0 = CPUs 0-7 (+ siblings), node1 = 8-15 ...
    assert facts["throttle"]["0"] == {"core_throttle_count": 12, "package_throttle_count": 14,
                                      "package_throttle_total_time_ms": 1500}
    assert facts["throttle"]["1"]["core_throttle_count"] == 100
    assert facts["frequency_hz"]["0"] == {"min": 2400000000, "median": 2400000000, "max": 3700000000}
    assert facts["numastat"]["1"]["numa_miss"] == 70
    assert facts["numastat"]["0"]["numa_hit"] == 1000
    governors = {(g["governor"], g["driver"]): g["policies"] for g in facts["governors"]}
    assert governors[("performance", "amd-pstate-epp")] == 1
    assert governors[("powersave", "amd-pstate-epp")] == sum(governors.values()) - 1
    assert facts["memory"]["mem_total_kb"] > facts["memory"]["mem_available_kb"] > 0


def test_missing_ipmitool_is_reported_not_failed(tree, tmp_path):
    result, failed = run_module(thermal_facts, args(tree, ipmitool_path="ktune-no-such-ipmitool"))
    assert not failed
    ipmi = result["ansible_facts"]["ktune_thermal"]["ipmi"]
    assert ipmi["available"] is False
    assert "ktune-no-such-ipmitool not found" in ipmi["reason"]
    assert ipmi["dimms"] == [] and ipmi["hottest"] is None and ipmi["command"] is None


def test_no_bmc_is_reported_with_ipmitools_message(tree, tmp_path):
    ipmitool = fake_ipmitool(tmp_path, rc=1, stderr="Could not open device at /dev/ipmi0 or /dev/ipmi/0 or /dev/ipmidev/0: No such file or directory")
    result, failed = run_module(thermal_facts, args(tree, ipmitool_path=ipmitool, ipmitool_args=["sdr", "elist"]))
    assert not failed
    ipmi = result["ansible_facts"]["ktune_thermal"]["ipmi"]
    assert ipmi["available"] is False
    assert ipmi["reason"] == ("%s sdr elist exited with 1: Could not open device at /dev/ipmi0 or /dev/ipmi/0 or "
                              "/dev/ipmidev/0: No such file or directory" % ipmitool)


def test_hung_ipmitool_is_cut_off(tree, tmp_path):
    ipmitool = fake_ipmitool(tmp_path, sleep=5)
    result, failed = run_module(thermal_facts, args(tree, ipmitool_path=ipmitool, ipmitool_timeout=1))
    assert not failed
    assert "did not answer within 1 s" in result["ansible_facts"]["ktune_thermal"]["ipmi"]["reason"]


def test_host_without_numa_or_cpufreq(tmp_path):
    root = topologies.write_tree(topologies.catalog()["no-numa-kernel"], tmp_path / "tree")
    result, failed = run_module(thermal_facts, args(root, ipmitool_path=str(tmp_path / "none")))
    assert not failed
    facts = result["ansible_facts"]["ktune_thermal"]
    assert facts["numastat"] == {} and facts["throttle"] == {}


def test_broken_numastat_fails_naming_the_file(tree, tmp_path):
    broken = tree / "sys/devices/system/node/node0/numastat"
    broken.write_text("numa_hit lots\n")
    result, failed = run_module(thermal_facts, args(tree, ipmitool_path=str(tmp_path / "none")))
    assert failed
    assert str(broken) in result["msg"]
