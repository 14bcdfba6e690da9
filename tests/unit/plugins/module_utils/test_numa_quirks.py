"""numa facts on sysfs as real kernels write it: one test per quirk (issue 11).

Each tree starts from a generated host and then gets the quirk written byte for
byte as the kernel wrote it, so the test shows exactly what the module meets.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import topologies
from ansible_collections.ktune.inference.plugins.module_utils.layout import layout_problems
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError

AMD, INTEL = topologies.AMD, topologies.INTEL
CPU = "sys/devices/system/cpu"
NODE = "sys/devices/system/node"


def host(tmp_path, *args, **kwargs):
    """Write a synthetic host (topologies.synthetic arguments) and return its root."""
    topologies.write_tree(topologies.synthetic("quirk", *args, **kwargs), tmp_path)
    return tmp_path


def put(root, relative, data):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def remove(root, pattern):
    found = list(root.glob(pattern))
    assert found, pattern  # the quirk must really remove something
    for path in found:
        path.unlink()


def gather(root):
    return gather_numa_facts(str(root / "sys"), str(root / "proc"))


# --- 1. trailing NUL ------------------------------------------------------------------


def test_node_masks_ending_in_newline_nul_are_read(tmp_path):
    root = host(tmp_path, AMD, "AMD EPYC 7742 64-Core Processor", 2, 1, 4, smt=False)
    # Linux 2.6.3x-4.x ended these with "\n\0" (sysfs node masks printed with the NUL counted).
    for name in ("online", "possible", "has_cpu", "has_memory", "has_normal_memory"):
        put(root, "%s/%s" % (NODE, name), b"0-1\n\x00")
    put(root, NODE + "/node0/cpulist", b"0-3\n\x00")
    put(root, NODE + "/node1/cpulist", b"4-7\n\x00")
    facts = gather(root)
    assert facts["node_ids"] == [0, 1]
    assert [node["cpulist"] for node in facts["nodes"]] == ["0-3", "4-7"]
    assert facts["layout"] == "NPS1"


@pytest.mark.parametrize("relative, data", [
    (NODE + "/online", b"0-1\n\x00"),
    (NODE + "/node1/cpulist", b"4-7\n\x00"),
])
def test_each_nul_terminated_file_alone(tmp_path, relative, data):
    root = host(tmp_path, AMD, "AMD EPYC 7742 64-Core Processor", 2, 1, 4, smt=False)
    put(root, relative, data)
    assert gather(root)["cpu_node_ids"] == [0, 1]


# --- 2. cores are sibling sets, core_id repeats across dies -------------------------------


def opteron_dies(tmp_path, sibling_files):
    """One package of two 4-core dies; the kernel numbers core_id 0-3 in each die."""
    root = host(tmp_path, AMD, "AMD Opteron(tm) Processor 6128", 1, 1, 8, smt=False, dies_per_socket=2,
                cpu_family=16, sibling_files=sibling_files, smt_file=False)
    for cpu in range(8):
        put(root, "%s/cpu%d/topology/core_id" % (CPU, cpu), b"%d\n" % (cpu % 4))
        put(root, "%s/cpu%d/topology/thread_siblings_list" % (CPU, cpu), b"%d\n" % cpu)
    return root


@pytest.mark.parametrize("sibling_files, source", [("modern", "core_cpus_list"), ("old", "thread_siblings_list")])
def test_core_ids_repeating_across_dies_are_separate_cores(tmp_path, sibling_files, source):
    facts = gather(opteron_dies(tmp_path, sibling_files))
    assert facts["physical_cores"] == 8
    assert facts["threads_per_core"] == 1
    assert facts["cores_from"] == source


def test_smt_cores_counted_once_per_sibling_set(tmp_path):
    facts = gather(host(tmp_path, INTEL, "Xeon", 2, 1, 4, interleaved=True, dies_per_socket=2))
    assert (facts["physical_cores"], facts["cpus_online"], facts["threads_per_core"]) == (8, 16, 2)


# --- 3. sockets from package sibling sets -------------------------------------------------


@pytest.mark.parametrize("sibling_files, source", [("modern", "package_cpus_list"), ("old", "core_siblings_list")])
def test_package_id_minus_one_counts_sockets_from_package_lists(tmp_path, sibling_files, source):
    root = host(tmp_path, AMD, "AMD EPYC 7742 64-Core Processor", 2, 2, 2, smt=False, sibling_files=sibling_files)
    for cpu in range(8):  # s390x, PowerVM LPARs and some hypervisors
        put(root, "%s/cpu%d/topology/physical_package_id" % (CPU, cpu), b"-1\n")
    facts = gather(root)
    assert facts["sockets"] == 2
    assert facts["socket_ids"] == [0, 1]
    assert facts["sockets_from"] == source
    assert facts["nodes_per_socket"] == 2 and facts["layout"] == "NPS2"
    assert facts["topology_notes"] == ["physical_package_id is -1 or missing on CPUs 0-7: sockets counted from "
                                       + source]


def test_package_id_shared_by_two_packages_counts_sockets_from_package_lists(tmp_path):
    root = host(tmp_path, INTEL, "Intel(R) Xeon(R) CPU E7-4870", 2, 1, 4, smt=False, sibling_files="old")
    for cpu in range(8):  # old firmware: every package reports 0
        put(root, "%s/cpu%d/topology/physical_package_id" % (CPU, cpu), b"0\n")
    facts = gather(root)
    assert facts["sockets"] == 2
    assert facts["sockets_from"] == "core_siblings_list"
    assert facts["layout"] == "SNC1"
    assert "physical_package_id 0 is shared by separate packages" in facts["topology_notes"][0]


def test_valid_package_ids_are_kept(tmp_path):
    facts = gather(host(tmp_path, AMD, "AMD EPYC", 2, 1, 2))
    assert facts["sockets_from"] == "physical_package_id"
    assert facts["topology_notes"] == []


# --- 4. SMT without cpu/smt/active ---------------------------------------------------------


def test_smt_without_smt_file_comes_from_sibling_sets(tmp_path):
    root = opteron_dies(tmp_path, "old")  # no smt/ directory on 3.x kernels
    assert not (root / CPU / "smt").exists()
    assert gather(root)["smt_active"] is False


def test_smt4_without_smt_file(tmp_path):
    root = host(tmp_path, None, None, 1, 1, 2, smt=4, adjacent_threads=True, smt_file=False)
    put(root, CPU + "/cpu5/topology/thread_siblings_list", b"4-7\n")
    facts = gather(root)
    assert (facts["smt_active"], facts["threads_per_core"], facts["physical_cores"]) == (True, 4, 2)


# --- 5. missing files -----------------------------------------------------------------------


def test_node_cpumap_read_when_cpulist_is_missing(tmp_path):
    root = host(tmp_path, INTEL, "Xeon", 2, 1, 20, smt=False)
    remove(root, NODE + "/node*/cpulist")
    # Linux before 2.6.2x: only the hex mask, 32-bit words, most significant first
    put(root, NODE + "/node0/cpumap", b"00000000,000fffff\n")
    put(root, NODE + "/node1/cpumap", b"000000ff,fff00000\n")
    facts = gather(root)
    assert [node["cpulist"] for node in facts["nodes"]] == ["0-19", "20-39"]
    assert facts["layout"] == "SNC1"


def test_bad_cpumap_fails_naming_it(tmp_path):
    root = host(tmp_path, INTEL, "Xeon", 1, 1, 2, smt=False)
    remove(root, NODE + "/node0/cpulist")
    put(root, NODE + "/node0/cpumap", b"0x3\n")
    with pytest.raises(HostFileError) as err:
        gather(root)
    assert err.value.path == str(root / NODE / "node0/cpumap")


def test_node_without_cpulist_or_cpumap_fails_naming_it(tmp_path):
    root = host(tmp_path, INTEL, "Xeon", 1, 1, 2, smt=False)
    remove(root, NODE + "/node0/cpu*")
    with pytest.raises(HostFileError) as err:
        gather(root)
    assert err.value.path == str(root / NODE / "node0/cpulist") and "cpumap" in str(err.value)


def test_missing_core_id_falls_back_to_sibling_sets_and_says_so(tmp_path):
    root = host(tmp_path, AMD, "AMD EPYC", 1, 1, 4)
    remove(root, CPU + "/cpu*/topology/core_id")
    facts = gather(root)
    assert (facts["physical_cores"], facts["cpus_online"], facts["smt_active"]) == (4, 8, True)
    assert facts["topology_notes"] == ["core_id is missing on CPUs 0-7: cores counted from core_cpus_list"]


def test_without_any_core_information_each_cpu_is_a_core_and_said_so(tmp_path):
    root = host(tmp_path, AMD, "AMD EPYC", 1, 1, 4, sibling_files="none")
    remove(root, CPU + "/cpu*/topology/core_id")
    facts = gather(root)
    assert (facts["physical_cores"], facts["cores_from"]) == (8, "cpus")
    assert "each CPU counted as a core" in facts["topology_notes"][0]


def test_without_sibling_lists_cores_are_socket_die_core_triples(tmp_path):
    root = host(tmp_path, AMD, "AMD EPYC", 1, 1, 8, dies_per_socket=2, sibling_files="modern")
    remove(root, CPU + "/cpu*/topology/*_list")
    facts = gather(root)
    assert (facts["physical_cores"], facts["cores_from"]) == (8, "core_id")


# --- 6. a root that is not sysfs ------------------------------------------------------------


@pytest.mark.parametrize("sysfs", ["/nonexistent/sys", "proc"])
def test_root_without_cpu_directory_fails_naming_the_path(tmp_path, sysfs):
    root = host(tmp_path, AMD, "AMD EPYC", 1, 1, 2)
    sysfs_root = sysfs if sysfs.startswith("/") else str(root / sysfs)
    with pytest.raises(HostFileError) as err:
        gather_numa_facts(sysfs_root, str(root / "proc"))
    assert err.value.path == sysfs_root + "/devices/system/cpu"
    assert "not a sysfs tree" in str(err.value) and "sysfs_root" in str(err.value)


# --- 7. overlapping nodes -------------------------------------------------------------------


def test_cpus_listed_in_two_nodes_are_a_problem(tmp_path):
    root = host(tmp_path, AMD, "AMD EPYC 7742 64-Core Processor", 1, 2, 4, smt=False)
    put(root, NODE + "/node1/cpulist", b"2-7\n")  # buggy SRAT: 2-3 also in node0 (0-3)
    facts = gather(root)
    problems = layout_problems(facts, 2, 1)
    assert problems == ["expected every CPU in exactly one NUMA node, found CPUs 2-3 in several (node0, node1): "
                        "the firmware's ACPI SRAT table is wrong and every count built on the nodes is off. "
                        "Fix: update the BIOS (system firmware) and reboot"]
    assert layout_problems(facts) == problems  # reported even when no layout is expected
    assert facts["overlapping_cpus"] == [2, 3]
    assert facts["cpus_online"] == 8


# --- 8. several sockets in one node ---------------------------------------------------------


def test_old_amd_node_interleaving_is_not_nps0(tmp_path):
    topologies.write_tree(topologies.catalog()["opteron-2s-interleaved"], tmp_path)
    facts = gather(tmp_path)
    assert facts["cpu_family"] == 16
    assert facts["layout"] == "INTERLEAVED"
    problems = layout_problems(facts, 1)
    assert problems[0].startswith("expected 1 node per socket (2 nodes on 2 sockets), found INTERLEAVED "
                                  "(1 node with CPUs on 2 sockets). Fix: disable the BIOS option Node Interleaving")
    assert "NPS" not in problems[0]


@pytest.mark.parametrize("vendor, family, layout", [
    (AMD, 25, "NPS0"), (AMD, 23, "NPS0"), (AMD, 21, "INTERLEAVED"), (INTEL, 6, "INTERLEAVED"),
    (None, None, "INTERLEAVED"),
])
def test_socket_spanning_node_label(tmp_path, vendor, family, layout):
    facts = gather(host(tmp_path, vendor, "cpu", 2, 0, 2, cpu_family=family))
    assert facts["layout"] == layout
    assert facts["nodes"][0]["socket_ids"] == [0, 1]
