"""Modules on hosts with hostile files (issue 21, item 7): fail_json naming the file, never a traceback."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import topologies
from bounded_memory import memory_ceiling
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import numa_facts, thermal_facts


@pytest.fixture
def tree(tmp_path):
    return topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "tree")


def args(tree):
    return {"sysfs_root": str(tree / "sys"), "procfs_root": str(tree / "proc")}


def test_numa_facts_fails_naming_a_binary_cpuinfo(tree):
    path = tree / "proc/cpuinfo"
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe\x00\x01" * 64)
    result, failed = run_module(numa_facts, args(tree))
    assert failed and result["path"] == str(path)
    assert result["msg"] == "cannot read NUMA facts: %s: expected UTF-8 text, found binary data (byte 0xff at offset 8)" \
        % path


def test_numa_facts_fails_naming_an_unbounded_node_cpulist(tree):
    path = tree / "sys/devices/system/node/node2/cpulist"
    path.write_text(u"0-999999999999\n")
    with memory_ceiling(256):
        result, failed = run_module(numa_facts, args(tree))
    assert failed and result["path"] == str(path)
    assert "expected CPU ids up to 65535, found 999999999999" in result["msg"]


@pytest.mark.parametrize("text", [u"0 x", u"\u0660 \u0661"])
def test_thermal_facts_fails_naming_garbage_affected_cpus(tree, text):
    path = tree / "sys/devices/system/cpu/cpufreq/policy3/affected_cpus"
    path.write_text(text, encoding="utf-8")
    result, failed = run_module(thermal_facts, dict(args(tree), ipmitool_path="/nonexistent/ipmitool"))
    assert failed and result["msg"].startswith("%s: " % path)
