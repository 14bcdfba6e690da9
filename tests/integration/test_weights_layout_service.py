"""The service role refuses an instance whose kt-kernel weights are cut for another count of thread
pools than it starts, before any change, naming the host, the weight path and the conversion to run
(the role's own checks, tasks_from: validate, on localhost against a fixture 2-socket NPS2 host: 4
nodes). Weight directories are shaped as kt-kernel's converter writes them (tests/unit/kt_weight_tree.py)."""

from test_sharded_validation import k2, run

from ansible_collections.ktune.inference.tests.unit.kt_weight_tree import write_folders, write_merged


def test_weights_cut_for_two_pools_are_refused_on_a_four_node_host(tmp_path):
    weights = write_merged(str(tmp_path / "models" / "k2-AMXINT4-NUMA2"), 2)
    instance = k2(tmp_path, kt_weight_path=weights, kt_cpuinfer=60)
    del instance["replicas"]  # one instance with a pool on each of the 4 nodes
    rc, output = run(tmp_path, [instance])
    assert rc == 2, output
    assert ("localhost: k2: expected kt-kernel weights cut for 4 thread pools (--kt-threadpool-count 4, nodes "
            "0 1 2 3), found 2 thread pools in %s. Fix: convert the weights again for 4 pools on the host: python "
            "kt-kernel/scripts/convert_cpu_weights.py --input-path %s" % (weights, tmp_path / "models" / "k2")) in output
    assert "--threadpool-count 4; then set kt_weight_path: %s. Nothing was changed." % weights.replace(
        "NUMA2", "NUMA4") in output


def test_each_replica_on_one_node_needs_weights_cut_for_one_pool(tmp_path):
    weights = write_folders(str(tmp_path / "models" / "k2-AMXINT4-NUMA1"), 1)
    rc, output = run(tmp_path, [k2(tmp_path, kt_weight_path=weights)])
    assert rc == 0, output
    assert "k2-node0, k2-node1, k2-node2, k2-node3: settings, paths, ports, CPU sets and memory checked" in output
    rc, output = run(tmp_path, [k2(tmp_path, kt_weight_path=write_merged(str(tmp_path / "models" / "k2-NUMA4"), 4))])
    assert rc == 2, output
    assert "localhost: k2-node0: expected kt-kernel weights cut for 1 thread pool (--kt-threadpool-count 1, " \
           "nodes 0), found 4 thread pools in %s" % (tmp_path / "models" / "k2-NUMA4") in output
