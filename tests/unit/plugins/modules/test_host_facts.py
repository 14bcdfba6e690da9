"""ktune.inference.host_facts, deprecated: managed_state's host_state read under the old option names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import yaml

import topologies
from checkout import ROOT
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import host_facts, managed_state

OPTIONS = {"cron_units": [], "sysctls": ["kernel.numa_balancing"], "extra_env_files": [], "health_timeout": 1}


def test_the_old_options_give_the_same_facts_as_managed_state_host_state(tmp_path):
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps4"], tmp_path)
    roots = {"sysfs_root": str(tree / "sys"), "procfs_root": str(tree / "proc")}
    options = dict(OPTIONS, cron_file=str(tree / "cron"), sysctl_file=str(tree / "sysctl.conf"),
                   environment_file=str(tree / "environment"), env_dir=str(tree / "kt"))
    old, failed = run_module(host_facts, dict(roots, **options))
    assert not failed
    new, failed = run_module(managed_state, dict(roots, host_state=options))
    assert not failed
    assert old["ansible_facts"] == new["ansible_facts"]
    assert old["ansible_facts"]["ktune_numa"]["layout"] == "NPS4"
    assert list(old["ansible_facts"]["ktune_host_state"]["sysctl"]["live"]) == ["kernel.numa_balancing"]


def test_a_kernel_parameter_name_that_leaves_procfs_is_refused(tmp_path):
    # host_facts read <procfs_root>/sys/<name> for any name before the two modules became one.
    result, failed = run_module(host_facts, {"procfs_root": str(tmp_path), "sysfs_root": str(tmp_path),
                                             "sysctls": ["kernel..numa_balancing"]})
    assert failed and result["msg"].startswith("sysctls: invalid kernel parameter name 'kernel..numa_balancing'")


def test_the_deprecation_is_routed_with_the_documented_removal():
    runtime = yaml.safe_load((ROOT / "meta/runtime.yml").read_text())
    routing = runtime["plugin_routing"]["modules"]["host_facts"]
    assert "redirect" not in routing  # the options differ: the thin module keeps them
    assert routing["deprecation"]["removal_version"] == yaml.safe_load(host_facts.DOCUMENTATION)["deprecated"]["removed_in"]
