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


def test_the_weights_are_judged_under_ktune_weights_root_not_the_live_tree(tmp_path):
    # The live path holds weights cut for 1 pool (right for each replica); the copy of the host's tree
    # under ktune_weights_root holds the same path cut for 4: the role judges the copy and refuses.
    weights = write_folders(str(tmp_path / "models" / "k2-AMXINT4-NUMA1"), 1)
    copy = tmp_path / "copy"
    write_merged(str(copy) + weights, 4)
    rc, output = run(tmp_path, [k2(tmp_path, kt_weight_path=weights)], ktune_weights_root=str(copy))
    assert rc == 2, output
    assert "localhost: k2-node0: expected kt-kernel weights cut for 1 thread pool (--kt-threadpool-count 1, " \
           "nodes 0), found 4 thread pools in %s" % weights in output
    write_merged(str(copy / "fixed") + weights, 1)
    rc, output = run(tmp_path, [k2(tmp_path, kt_weight_path=weights)], ktune_weights_root=str(copy / "fixed"))
    assert rc == 0, output


def test_a_bad_ktune_weights_root_is_refused_before_anything_is_read_or_changed(tmp_path):
    weights = write_folders(str(tmp_path / "models" / "k2-AMXINT4-NUMA1"), 1)
    for value, found in (("models", "'models'"), ("/srv/a\nb", "'/srv/a\\nb'"), (["/"], "a list")):
        rc, output = run(tmp_path, [k2(tmp_path, kt_weight_path=weights)], ktune_weights_root=value)
        assert rc == 2, output
        assert ("localhost: ktune_weights_root = %s: expected an absolute path without control characters or "
                "newlines, such as / (the directory kt_weight_path is read under; / on a live host). Fix: correct "
                "the variable in the inventory or on the command line; nothing was changed." % found) in output, output
        assert "Compare the kt-kernel weights" not in output
