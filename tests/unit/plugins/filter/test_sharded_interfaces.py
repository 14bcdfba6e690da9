"""Issue 27, "Sharded serving": the interfaces operators' scripts rely on, pinned through the filters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.filter.ktransformers import FilterModule
from ansible_collections.ktune.inference.plugins.module_utils.cpulist import format_cpulist

FILTERS = FilterModule().filters()


def entry(**extra):
    instance = {"name": "kimi", "backend": "sglang", "model_path": "/srv/models/kimi",
                "kt_weight_path": "/srv/models/kimi-cpu", "replicas": "per_numa_node", "port": 30000}
    instance.update(extra)
    return instance


def test_each_replica_is_its_own_item_with_numactl_then_the_server_line(numa):
    facts = numa("epyc-2s-nps2")
    replicas = FILTERS["ktransformers_instances"]([entry()], facts)
    assert len(replicas) == len(facts["cpu_node_ids"])
    for replica, node in zip(replicas, facts["nodes"]):
        assert replica["numactl_argv"] == ["/usr/bin/numactl", "--physcpubind=%s" % node["cpulist"],
                                           "--membind=%s" % format_cpulist([node["id"]])]
        assert replica["argv"] == replica["numactl_argv"] + replica["argv"][len(replica["numactl_argv"]):]
        assert replica["argv"][3:6] == ["/usr/bin/python3", "-m", "sglang.launch_server"]


def test_the_router_is_not_an_instance_and_listens_on_the_entrys_port(numa):
    replicas = FILTERS["ktransformers_instances"]([entry(port=31000)], numa("epyc-2s-nps4"))
    assert all(replica["name"] != "kimi" for replica in replicas)
    assert [replica["port"] for replica in replicas] == list(range(31001, 31001 + len(replicas)))
    assert set(replica["router_port"] for replica in replicas) == {31000}


def test_problems_include_the_host_wide_cpu_overlap_naming_both(numa):
    other = {"name": "r1", "model_path": "/srv/models/r1", "gguf_path": "/srv/models/r1-gguf"}
    problems = FILTERS["ktransformers_problems"]([entry(), other], numa("epyc-2s-nps2"))
    assert len(problems) == 4  # r1, unbound, shares CPUs with every replica
    assert all(problem.startswith("ktune_service_instances[0] (kimi-node") and "ktune_service_instances[1] (r1)"
               in problem and "share CPUs" in problem for problem in problems)


def test_an_unknown_size_is_not_checked_not_refused(numa):
    facts = numa("epyc-2s-nps2")
    assert FILTERS["ktransformers_problems"]([entry()], facts, None, {}, "", {}) == []
    resolved = FILTERS["ktransformers_instances"]([entry()], facts)
    assert len(FILTERS["ktransformers_memory_not_checked"](resolved, {})) == len(resolved)
