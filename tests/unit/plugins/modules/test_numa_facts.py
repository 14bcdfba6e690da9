from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import topologies
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import numa_facts


@pytest.fixture
def nps4_tree(tmp_path):
    topologies.write_tree(topologies.catalog()["epyc-2s-64c-nps4"], tmp_path)
    return tmp_path


def args_for(tree):
    return {"sysfs_root": str(tree / "sys"), "procfs_root": str(tree / "proc")}


@pytest.mark.parametrize("check_mode", [False, True])
def test_returns_ktune_numa_fact_and_never_changes(nps4_tree, check_mode):
    result, failed = run_module(numa_facts, args_for(nps4_tree), check_mode=check_mode)
    assert not failed
    assert result["changed"] is False
    facts = result["ansible_facts"]["ktune_numa"]
    assert facts["layout"] == "NPS4"
    assert facts["cpu_node_count"] == 8


def test_broken_file_fails_with_its_path(nps4_tree):
    broken = nps4_tree / "sys/devices/system/node/node3/distance"
    broken.write_text("10 12\n")
    result, failed = run_module(numa_facts, args_for(nps4_tree))
    assert failed
    assert str(broken) in result["msg"]
    assert "expected 8 distances" in result["msg"]
    assert result["path"] == str(broken)


def test_unknown_option_is_rejected(nps4_tree):
    result, failed = run_module(numa_facts, dict(args_for(nps4_tree), sysfs="/sys"))
    assert failed
    assert "sysfs" in result["msg"]


def test_new_facts_come_in_the_same_call(nps4_tree):
    result, failed = run_module(numa_facts, args_for(nps4_tree))
    assert not failed
    facts = result["ansible_facts"]["ktune_numa"]
    assert {"avx2", "avx512f", "avx512bw"} <= set(facts["cpu_flags"])
    assert facts["kernel_release"] == "6.1.0-27-amd64"
    assert facts["transparent_hugepage"] == "madvise"
    assert facts["gpus"] == []
    assert facts["nodes"][0]["hugepages_total"] == 0 and facts["nodes"][0]["mem_free_mb"] > 0
    assert facts["physical_cores"] == 128 and facts["cores_from"] == "core_cpus_list"


def test_wrong_sysfs_root_fails_naming_the_path(tmp_path):
    result, failed = run_module(numa_facts, {"sysfs_root": str(tmp_path / "nonexistent/sys"),
                                             "procfs_root": "/proc"})
    assert failed
    assert result["path"] == str(tmp_path / "nonexistent/sys/devices/system/cpu")
    assert "not a sysfs tree" in result["msg"]
