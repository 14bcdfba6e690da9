"""Sharded serving (issue 25): an entry with replicas expands into one pinned instance per node or socket."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import parse_cpulist
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import (
    InstanceError,
    instance_problems,
    memory_fit_problems,
    memory_not_checked,
    placement_problem,
    promised_nodes,
    resolve_instances,
)


def sglang(**extra):
    instance = {"name": "k2", "backend": "sglang", "model_path": "/srv/models/k2",
                "kt_weight_path": "/srv/models/k2-cpu", "replicas": "per_numa_node"}
    instance.update(extra)
    return instance


def legacy(**extra):
    instance = {"name": "r1", "model_path": "/srv/models/r1", "gguf_path": "/srv/models/r1-gguf",
                "replicas": "per_numa_node"}
    instance.update(extra)
    return instance


def flag(argv, name, count=1):
    index = argv.index(name)
    return argv[index + 1:index + 1 + count]


def with_gpus(facts, nodes):
    """The facts with one NVIDIA GPU on each of the nodes, in PCI bus order."""
    gpus = [{"address": "0000:%02x:00.0" % (0x41 + index), "vendor": "0x10de", "device": "0x2684", "numa_node": node}
            for index, node in enumerate(nodes)]
    return dict(facts, gpus=gpus)


def test_one_replica_per_node_each_pinned_to_its_node(numa):
    facts = numa("epyc-2s-nps2")
    replicas = resolve_instances([sglang()], facts)
    assert [replica["name"] for replica in replicas] == ["k2-node0", "k2-node1", "k2-node2", "k2-node3"]
    assert [replica["unit"] for replica in replicas][1] == "ktransformers@k2-node1.service"
    # The router takes the entry's port (30000, the SGLang default); the replicas the ports after it.
    assert [replica["port"] for replica in replicas] == [30001, 30002, 30003, 30004]
    assert all(replica["router_port"] == 30000 and replica["replica_of"] == "k2" for replica in replicas)
    for replica, node in zip(replicas, facts["nodes"]):
        assert replica["numactl_argv"] == ["/usr/bin/numactl", "--physcpubind=%s" % node["cpulist"],
                                           "--membind=%d" % node["id"]]
        assert replica["argv"][:3] == replica["numactl_argv"]
        argv = replica["argv"]
        assert flag(argv, "--kt-threadpool-count") == ["1"]
        assert flag(argv, "--kt-cpuinfer") == ["8"]  # the node's physical cores
        assert flag(argv, "--port") == [str(replica["port"])]
        # kt-kernel puts pool 0 on node 0 by itself: the other replicas name their node.
        assert ("--kt-numa-nodes" in argv) == (node["id"] != 0)
        if node["id"]:
            assert flag(argv, "--kt-numa-nodes") == [str(node["id"])]


def test_cpu_sets_are_disjoint_and_ports_distinct(numa):
    for name in ("epyc-2s-nps4", "xeon-2s-snc2-interleaved", "epyc-2s-nps1-hbm-sparse", "epyc-2s-nps2-memoryless"):
        replicas = resolve_instances([sglang()], numa(name))
        cpus = [set(parse_cpulist(replica["numactl_argv"][1].split("=", 1)[1])) for replica in replicas]
        assert sum(len(one) for one in cpus) == len(set().union(*cpus)), name
        assert len(set(replica["port"] for replica in replicas)) == len(replicas)


def test_per_socket_replicas_take_the_sockets_nodes(numa):
    replicas = resolve_instances([sglang(replicas="per_socket", port=31000)], numa("epyc-2s-nps2"))
    assert [(replica["name"], replica["port"]) for replica in replicas] == [
        ("k2-socket0", 31001), ("k2-socket1", 31002)]
    second = replicas[1]["argv"]
    assert replicas[1]["numactl_argv"][2] == "--membind=2-3"
    assert flag(second, "--kt-threadpool-count") == ["2"] and flag(second, "--kt-numa-nodes", 2) == ["2", "3"]
    assert flag(second, "--kt-cpuinfer") == ["16"]


def test_memory_only_and_memoryless_nodes_take_no_replica(numa):
    names = [replica["name"] for replica in resolve_instances([sglang()], numa("xeon-2s-cxl-memory-only"))]
    assert names == ["k2-node0", "k2-node1"]
    facts = numa("epyc-2s-nps2-memoryless")
    names = [replica["name"] for replica in resolve_instances([sglang()], facts)]
    assert "k2-node%d" % facts["memoryless_cpu_nodes"][0] not in names and len(names) == 3


def test_legacy_replicas_get_their_nodes_cores(numa):
    replicas = resolve_instances([legacy()], numa("epyc-2s-nps1"))
    assert [replica["port"] for replica in replicas] == [10003, 10004]
    assert [flag(replica["argv"], "--cpu_infer") for replica in replicas] == [["14"], ["14"]]  # 16 cores - 2


def test_each_replica_gets_the_gpus_on_its_node(numa):
    facts = with_gpus(numa("epyc-2s-nps1"), [1, 0])  # PCI order: GPU 0 sits on node 1
    replicas = resolve_instances([sglang(tensor_parallel_size=1)], facts)
    assert [replica["environment"]["CUDA_VISIBLE_DEVICES"] for replica in replicas] == ["1", "0"]


def test_a_replica_without_a_gpu_on_its_node_is_refused(numa):
    problems = instance_problems([sglang()], with_gpus(numa("epyc-2s-nps2"), [0, 3]))
    assert problems == [
        "ktune_service_instances[0] (k2): replicas = per_numa_node: replica k2-node1 has no GPU on NUMA node 1, and "
        "every replica needs its own (the host's GPUs are on nodes 0,3). Fix: use replicas: per_socket, or one "
        "instance per GPU without replicas",
        "ktune_service_instances[0] (k2): replicas = per_numa_node: replica k2-node2 has no GPU on NUMA node 2, and "
        "every replica needs its own (the host's GPUs are on nodes 0,3). Fix: use replicas: per_socket, or one "
        "instance per GPU without replicas"]
    assert instance_problems([sglang(replicas="per_socket")], with_gpus(numa("epyc-2s-nps2"), [0, 3])) == []


def test_an_unknown_layout_is_refused_naming_the_closest(numa):
    problems = instance_problems([sglang(replicas="per_node")], numa("epyc-2s-nps2"))
    assert problems == ["ktune_service_instances[0] (k2): replicas = 'per_node' is not a replica layout: expected "
                        "per_numa_node or per_socket (or unset for one instance). Fix: did you mean per_numa_node?"]
    with pytest.raises(InstanceError, match="replicas = 'per_node'"):
        resolve_instances([sglang(replicas="per_node")], numa("epyc-2s-nps2"))


@pytest.mark.parametrize("field, value", [("numactl", "interleave"), ("numa_node", 1), ("kt_numa_nodes", [0]),
                                          ("kt_threadpool_count", 2), ("cuda_visible_devices", [0])])
def test_what_the_expansion_decides_may_not_be_set(numa, field, value):
    problems = instance_problems([sglang(**{field: value})], numa("epyc-2s-nps2"))
    assert problems == ["ktune_service_instances[0] (k2): %s is set, and replicas = per_numa_node decides it for "
                        "each replica from the NUMA facts. Fix: remove it" % field]


def test_sgl_project_sglang_cannot_pin_a_replica(numa):
    problems = instance_problems([sglang(sglang_variant="sglang")], numa("epyc-2s-nps2"))
    assert len(problems) == 1 and problems[0].startswith(
        "ktune_service_instances[0] (k2): replicas = per_numa_node needs sglang_variant: sglang-kt")


def test_a_host_without_numa_cannot_take_replicas(numa):
    assert instance_problems([sglang()], numa("no-numa-kernel")) == [
        "ktune_service_instances[0] (k2): replicas = per_numa_node cannot be laid out: the host shows no NUMA node "
        "with CPUs and memory (the kernel has no NUMA support). Fix: remove replicas"]
    assert instance_problems([sglang(replicas="per_socket")], numa("epyc-2s-nps0")) == [
        "ktune_service_instances[0] (k2): replicas = per_socket cannot be laid out: NUMA node 0 spans sockets 0-1 "
        "(an interleaved layout). Fix: remove replicas"]


def test_the_replicas_ports_must_fit_below_65536(numa):
    assert instance_problems([sglang(port=65531)], numa("epyc-2s-nps2")) == [
        "ktune_service_instances[0] (k2): port = 65531: expected the router's port in 1024-65530, the 4 replicas "
        "and the router's metrics taking the ports after it. Fix: pick a lower port"]
    assert instance_problems([sglang(port=65530)], numa("epyc-2s-nps2")) == []


def test_ports_colliding_with_another_entry_are_refused(numa):
    other = {"name": "r1", "model_path": "/srv/models/r1", "gguf_path": "/srv/models/r1-gguf", "numactl": "bind",
             "numa_node": 0}
    problems = instance_problems([sglang(numa_node=None), dict(other, port=30002)], numa("epyc-2s-nps2"))
    assert ("ktune_service_instances[1] (r1): port = 30002 is also the port of ktune_service_instances[0]: expected a "
            "different port per instance. Fix: give this instance another port") in problems
    problems = instance_problems([dict(other, port=30000), sglang()], numa("epyc-2s-nps2"))
    assert [problem for problem in problems if "port" in problem] == [
        "ktune_service_instances[1] (k2): port = 30000 (its router's) is also the port of ktune_service_instances[0]: "
        "expected a different port per instance, a sharded entry taking its port and the ports after it. Fix: give "
        "one of them another port"]


def test_an_absent_sharded_entry_removes_every_replica(numa):
    resolved = resolve_instances([{"name": "k2", "state": "absent", "replicas": "per_numa_node"}], numa("epyc-2s-nps2"))
    assert [(item["unit"], item["state"]) for item in resolved] == [
        ("ktransformers@k2-node%d.service" % node, "absent") for node in range(4)]
    # Removal is never refused for the layout: a host without NUMA had no replicas to remove.
    assert instance_problems([{"name": "k2", "state": "absent", "replicas": "per_socket"}], numa("no-numa-kernel")) == []


def test_unset_replicas_keeps_one_instance(numa):
    resolved = resolve_instances([sglang(replicas=None)], numa("epyc-2s-nps2"))
    assert [item["name"] for item in resolved] == ["k2"] and resolved[0]["port"] == 30000


def test_the_audit_expects_a_socket_replicas_memory_on_its_nodes(numa):
    facts = numa("epyc-2s-nps2")
    replica = resolve_instances([sglang(replicas="per_socket")], facts)[1]
    assert promised_nodes(replica, facts, False) == ([2, 3], "numactl --membind=2-3")
    assert placement_problem(dict(replica, unit="u"), {2: 500, 3: 500}, facts, False) is None
    assert "nodes 3 hold less than half" in placement_problem(dict(replica, unit="u"), {2: 900, 3: 100}, facts, False)


# --- host-wide fit: CPUs --------------------------------------------------------------------


def r1(**extra):
    instance = {"name": "r1", "model_path": "/srv/models/r1", "gguf_path": "/srv/models/r1-gguf"}
    instance.update(extra)
    return instance


def test_two_unbound_instances_share_every_cpu_and_are_refused(numa):
    problems = instance_problems([r1(), sglang(replicas=None)], numa("epyc-2s-nps2"))
    assert problems == [
        "ktune_service_instances[0] (r1) and ktune_service_instances[1] (k2) share CPUs 0-63 (r1: every online CPU, "
        "without numactl bind; k2: every online CPU, without numactl bind): expected disjoint CPU sets, since each "
        "sizes its thread pools for all of its CPUs. Fix: bind each to its own node(s) (numactl: bind with "
        "numa_node, or replicas), or, to share on purpose, set share_cpus_with: [r1] on k2"]
    with pytest.raises(InstanceError, match="share CPUs 0-63"):
        resolve_instances([r1(), sglang(replicas=None)], numa("epyc-2s-nps2"))


def test_sharing_said_by_name_on_either_side_is_allowed(numa):
    facts = numa("epyc-2s-nps2")
    assert instance_problems([r1(), sglang(replicas=None, share_cpus_with=["r1"])], facts) == []
    assert instance_problems([r1(share_cpus_with="k2"), sglang(replicas=None)], facts) == []
    assert instance_problems([r1(share_cpus_with=["v3"]), sglang(replicas=None)], facts) != []


def test_an_instance_on_a_replicas_node_is_refused_naming_both(numa):
    problems = instance_problems([sglang(), r1(numactl="bind", numa_node=2)], numa("epyc-2s-nps2"))
    assert problems == [
        "ktune_service_instances[0] (k2-node2) and ktune_service_instances[1] (r1) share CPUs 16-23,48-55 (k2-node2: "
        "numactl --physcpubind=16-23,48-55; r1: numactl --physcpubind=16-23,48-55): expected disjoint CPU sets, "
        "since each sizes its thread pools for all of its CPUs. Fix: bind each to its own node(s) (numactl: bind "
        "with numa_node, or replicas), or, to share on purpose, set share_cpus_with: [k2] on r1"]
    # The entry's name covers all its replicas.
    assert instance_problems([sglang(), r1(numactl="bind", numa_node=2, share_cpus_with=["k2"])],
                             numa("epyc-2s-nps2")) == []


def test_instances_bound_to_different_nodes_fit(numa):
    facts = numa("epyc-2s-nps2")
    assert instance_problems([r1(numactl="bind", numa_node=0), sglang(replicas=None, numactl="bind", numa_node=1)],
                             facts) == []
    assert instance_problems([sglang(replicas="per_socket"), sglang(name="v3", replicas="per_socket", port=31000)],
                             facts) != []


def test_share_cpus_with_must_name_instances(numa):
    assert instance_problems([r1(share_cpus_with=[3])], numa("epyc-2s-nps2")) == [
        "ktune_service_instances[0] (r1): share_cpus_with = [3] is not a list of instance names: expected such "
        "as [r1]"]


# --- host-wide fit: memory ------------------------------------------------------------------

GIB = 1024 ** 3


def host_fit(facts, instances, sizes=None, settings=None):
    assert instance_problems(instances, facts, settings) == []
    return memory_fit_problems(resolve_instances(instances, facts, settings), facts, sizes or {}, settings)


def test_two_models_that_each_fit_but_not_together_are_refused(numa):
    """Issue 25: two 10 GiB models on a host with 15.5 GiB usable passed one at a time."""
    facts = numa("epyc-2s-nps2")  # 4 nodes of 64 GiB
    pair = [r1(numactl="bind", numa_node=1, model_size_gb=40),
            sglang(replicas=None, numactl="bind", numa_node=1, model_size_gb=23, share_cpus_with=["r1"])]
    problems = host_fit(facts, pair)
    assert problems == [
        "host-wide memory: NUMA node 1 would hold 63.0 GiB of weights (ktune_service_instances[0] (r1) 40.0 GiB, "
        "ktune_service_instances[1] (k2) 23.0 GiB), and has 64.0 GiB less 2.0 GiB kept for the system (its share "
        "of ktune_service_memory_reserve_mb): expected the instances on a node to fit in its memory. Fix: run "
        "fewer models or replicas on this host, bind the models to different nodes, or use smaller quantizations"]
    assert host_fit(facts, [pair[0], dict(pair[1], model_size_gb=25)], settings={"memory_reserve_mb": 0}) != []
    assert host_fit(facts, [pair[0], dict(pair[1], model_size_gb=24)], settings={"memory_reserve_mb": 0}) == []


def test_every_replica_holds_a_full_copy_on_its_node(numa):
    facts = numa("epyc-2s-nps2")
    sharded = [sglang(model_size_gb=40), r1(numactl="bind", numa_node=3, model_size_gb=30, share_cpus_with=["k2"])]
    problems = host_fit(facts, sharded)
    assert len(problems) == 1 and problems[0].startswith(
        "host-wide memory: NUMA node 3 would hold 70.0 GiB of weights (ktune_service_instances[0] (k2-node3) 40.0 "
        "GiB, ktune_service_instances[1] (r1) 30.0 GiB)")
    # A replica alone larger than its node is the per-instance finding.
    alone = host_fit(facts, [sglang(model_size_gb=70)])
    assert len(alone) == 4 and all("does not fit in memory" in problem for problem in alone)


def test_the_measured_size_wins_over_the_declared_one(numa):
    facts = numa("epyc-2s-nps2")
    pair = [r1(numactl="bind", numa_node=1, model_size_gb=1),
            sglang(replicas=None, numactl="bind", numa_node=1, model_size_gb=1, share_cpus_with=["r1"])]
    assert host_fit(facts, pair) == []
    assert host_fit(facts, pair, {"/srv/models/r1-gguf": 40 * GIB, "/srv/models/k2-cpu": 30 * GIB}) != []
    # The host's ktune_model_size_gb stands in where neither is known.
    bare = [dict(pair[0], model_size_gb=None), dict(pair[1], model_size_gb=None)]
    assert host_fit(facts, bare) == []
    assert host_fit(facts, bare, settings={"model_size_gb": 35}) != []


def test_an_unknown_size_is_not_checked_not_refused(numa):
    facts = numa("epyc-2s-nps2")
    bound = r1(numactl="bind", numa_node=0, share_cpus_with=["k2"], model_size_gb=10)
    resolved = resolve_instances([sglang(), bound], facts)
    assert memory_fit_problems(resolved, facts, {}, None) == []
    assert memory_not_checked(resolved, {}) == ["ktransformers@k2-node%d.service" % node for node in range(4)]
    assert memory_not_checked(resolved, {"/srv/models/k2-cpu": GIB}) == []


def test_a_bad_declared_size_is_refused_naming_the_variable(numa):
    assert instance_problems([r1(model_size_gb="big")], numa("epyc-2s-nps2")) == [
        "ktune_service_instances[0] (r1): model_size_gb = 'big' is not a size: expected the model weights' GiB, a "
        "number >= 0"]
    assert instance_problems([r1()], numa("epyc-2s-nps2"), {"model_size_gb": -1}) == [
        "ktune_model_size_gb = -1 is not a size: expected the model weights' GiB, a number >= 0, or null"]


def test_the_two_model_host_of_the_guide_fits_and_a_bigger_model_does_not(numa):
    """docs/sharded-serving.md, "A two-model host whose numbers fit"."""
    facts = numa("epyc-2s-nps2")
    layout = [sglang(name="kimi", kt_weight_path="/srv/models/kimi-cpu", replicas="per_socket"),
              sglang(name="small", kt_weight_path="/srv/models/small-cpu", replicas=None, numactl="bind",
                     numa_node=3, port=31000, share_cpus_with=["kimi"])]
    assert host_fit(facts, layout, {"/srv/models/kimi-cpu": 40 * GIB, "/srv/models/small-cpu": 20 * GIB}) == []
    problems = host_fit(facts, layout, {"/srv/models/kimi-cpu": 40 * GIB, "/srv/models/small-cpu": 45 * GIB})
    assert len(problems) == 1 and problems[0].startswith("host-wide memory: NUMA node 3 would hold 65.0 GiB")


@pytest.mark.parametrize("size", ["nan", "inf", -1, True, "big"])
def test_sizes_that_are_not_gib_are_refused(numa, size):
    problems = instance_problems([r1(model_size_gb=size)], numa("epyc-2s-nps2"))
    assert len(problems) == 1 and "model_size_gb = %r is not a size" % (size,) in problems[0]
