"""numa facts on fixture sysfs trees: real hosts, odd hosts and generated ones."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

import topologies
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError

CATALOG = topologies.catalog()

# Expected values come from the hardware described, not from the code:
# (layout, nodes_per_socket, sockets, cpus, physical cores, smt, node ids,
#  memory-only nodes, memoryless CPU nodes, memory balanced)
EXPECTED = {
    "epyc-2s-64c-nps4": ("NPS4", 4, 2, 256, 128, True, list(range(8)), [], [], True),
    "epyc9135-2s-nps1": ("NPS1", 1, 2, 32, 32, False, [0, 1], [], [], True),
    "epyc9375f-2s-nps1-smt-off": ("NPS1", 1, 2, 64, 64, False, [0, 1], [], [], True),
    "xeon8592-2s-snc-off": ("SNC1", 1, 2, 128, 128, False, [0, 1], [], [], True),
    "xeon-2s-cxl-memory-only": ("SNC1", 1, 2, 208, 104, True, [0, 1, 2, 3], [2, 3], [], True),
    "epyc-2s-nps1": ("NPS1", 1, 2, 64, 32, True, [0, 1], [], [], True),
    "epyc-2s-nps2": ("NPS2", 2, 2, 64, 32, True, [0, 1, 2, 3], [], [], True),
    "epyc-2s-nps2-no-cpufreq": ("NPS2", 2, 2, 64, 32, True, [0, 1, 2, 3], [], [], True),
    "epyc-2s-nps4": ("NPS4", 4, 2, 64, 32, True, list(range(8)), [], [], True),
    "epyc-2s-nps4-384": ("NPS4", 4, 2, 384, 192, True, list(range(8)), [], [], True),
    "epyc-2s-nps0": ("NPS0", 0, 2, 64, 32, True, [0], [], [], True),
    "epyc-1s-llc-numa-8": ("LLC-NUMA-8", 8, 1, 64, 32, True, list(range(8)), [], [], True),
    "xeon-2s-snc2-interleaved": ("SNC2", 2, 2, 64, 32, True, [0, 1, 2, 3], [], [], True),
    "xeon-1s-snc3": ("SNC3", 3, 1, 48, 24, True, [0, 1, 2], [], [], True),
    "vm-1node-no-cpufreq": ("SNC1", 1, 1, 4, 4, False, [0], [], [], True),
    "no-numa-kernel": (None, None, 1, 8, 4, True, [], [], [], True),
    "epyc-2s-nps1-unbalanced": ("NPS1", 1, 2, 32, 16, True, [0, 1], [], [], False),
    "epyc-2s-nps2-memoryless": ("NPS2", 2, 2, 32, 16, True, [0, 1, 2, 3], [], [1], False),
    "epyc-2s-nps1-hbm-sparse": ("NPS1", 1, 2, 32, 16, True, [0, 2, 5], [5], [], True),
    "xeon-2s-snc1-offline": ("SNC1", 1, 2, 29, 16, True, [0, 1], [], [], True),
    "epyc-2s-uneven": ("UNEVEN", None, 2, 16, 16, False, [0, 1, 2], [], [], False),
    "opteron-2s-interleaved": ("INTERLEAVED", 0, 2, 24, 24, False, [0], [], [], True),
    "power9-lpar-smt8": ("NODES-PER-SOCKET-1", 1, 2, 64, 8, True, [0, 1], [], [], True),
}


def facts_for(topology, tmp_path):
    topologies.write_tree(topology, tmp_path)
    return gather_numa_facts(str(tmp_path / "sys"), str(tmp_path / "proc"))


def test_every_catalog_topology_has_an_expectation():
    assert sorted(EXPECTED) == sorted(CATALOG)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_catalog_topology(name, tmp_path):
    facts = facts_for(CATALOG[name], tmp_path)
    layout, nps, sockets, cpus, cores, smt, node_ids, memory_only, memoryless, balanced = EXPECTED[name]
    assert facts["layout"] == layout
    assert facts["nodes_per_socket"] == nps
    assert facts["sockets"] == sockets
    assert facts["cpus_online"] == cpus
    assert facts["physical_cores"] == cores
    assert facts["smt_active"] is smt
    assert facts["node_ids"] == node_ids
    assert facts["memory_only_nodes"] == memory_only
    assert facts["memoryless_cpu_nodes"] == memoryless
    assert facts["memory_balanced"] is balanced
    assert facts["available"] is (name != "no-numa-kernel")


def test_real_nps4_host_nodes_match_numactl(tmp_path):
    facts = facts_for(CATALOG["epyc-2s-64c-nps4"], tmp_path)
    node0 = facts["nodes"][0]
    assert node0["cpulist"] == "0-15,128-143"
    assert node0["memory_mb"] == 64306
    assert node0["socket_ids"] == [0]
    assert node0["distances"] == [10, 12, 12, 12, 32, 32, 32, 32]
    assert facts["nodes"][4]["socket_ids"] == [1]
    assert facts["vendor"] == "AuthenticAMD"
    assert facts["cpu_node_count"] == 8
    assert facts["memory_node_count"] == 8


def test_cxl_host_counts_memory_only_nodes_as_copies_but_not_as_layout(tmp_path):
    facts = facts_for(CATALOG["xeon-2s-cxl-memory-only"], tmp_path)
    assert facts["cpu_node_count"] == 2
    assert facts["memory_node_count"] == 4
    assert [n["cpulist"] for n in facts["nodes"]] == ["0-51,104-155", "52-103,156-207", "", ""]
    assert facts["nodes"][3]["memory_mb"] == 131072
    assert facts["nodes"][2]["distances"] == [14, 24, 10, 26]
    assert facts["memory_total_mb"] == 64167 + 64472 + 65536 + 131072


def test_interleaved_numbering_puts_even_cpus_on_socket_zero(tmp_path):
    facts = facts_for(CATALOG["xeon-2s-snc2-interleaved"], tmp_path)
    node0 = facts["nodes"][0]
    assert node0["socket_ids"] == [0]
    assert all(cpu % 2 == 0 for cpu in node0["cpus"])
    assert facts["vendor"] == "GenuineIntel"


def test_offline_cpus_are_listed_and_left_out_of_nodes(tmp_path):
    facts = facts_for(CATALOG["xeon-2s-snc1-offline"], tmp_path)
    assert facts["cpus_offline"] == [6, 7, 30]
    assert not {6, 7, 30} & set(cpu for node in facts["nodes"] for cpu in node["cpus"])
    assert facts["cpus_online_list"] == "0-5,8-29,31"


def test_unbalanced_memory_reports_the_gap(tmp_path):
    facts = facts_for(CATALOG["epyc-2s-nps1-unbalanced"], tmp_path)
    assert facts["memory_imbalance_pct"] == 16.7


def test_vm_without_smt_file_or_numa_balancing(tmp_path):
    facts = facts_for(CATALOG["vm-1node-no-cpufreq"], tmp_path)
    assert facts["numa_balancing"] is None
    assert facts["model_name"] == "QEMU Virtual CPU version 2.5+"


def test_numa_balancing_is_read(tmp_path):
    assert facts_for(CATALOG["epyc-2s-nps2"], tmp_path)["numa_balancing"] == 1


def test_balance_tolerance_is_ten_percent_of_the_largest_node(tmp_path):
    top = topologies.synthetic("edge", topologies.AMD, "x", 2, 1, 2, memory_mb=[10000, 9000])
    assert facts_for(top, tmp_path / "a")["memory_balanced"] is True
    top = topologies.synthetic("edge", topologies.AMD, "x", 2, 1, 2, memory_mb=[10000, 8999])
    assert facts_for(top, tmp_path / "b")["memory_balanced"] is False


def test_live_host_reads_without_error():
    facts = gather_numa_facts()
    assert facts["cpus_online"] == os.cpu_count()
    assert facts["sockets"] >= 1


# --- malformed or unreadable files fail naming the file -----------------------


@pytest.fixture
def nps2_tree(tmp_path):
    topologies.write_tree(CATALOG["epyc-2s-nps2"], tmp_path)
    return tmp_path


@pytest.mark.parametrize("relative, content", [
    ("sys/devices/system/node/node1/meminfo", "Node 1 MemTotal: many kB\n"),
    ("sys/devices/system/node/node1/meminfo", "Node 1 MemFree: 5 kB\n"),
    ("sys/devices/system/node/node2/distance", "10 12 32\n"),
    ("sys/devices/system/node/node2/distance", "10 12 x 32\n"),
    ("sys/devices/system/node/node3/cpulist", "24-zz\n"),
    ("sys/devices/system/node/online", "0-\n"),
    ("sys/devices/system/cpu/online", "0-63,\n"),
    ("sys/devices/system/cpu/cpu5/topology/physical_package_id", "one\n"),
    ("sys/devices/system/cpu/smt/active", "yes\n"),
    ("proc/sys/kernel/numa_balancing", "enabled\n"),
])
def test_malformed_file_fails_naming_it(nps2_tree, relative, content):
    (nps2_tree / relative).write_text(content)
    with pytest.raises(HostFileError) as err:
        gather_numa_facts(str(nps2_tree / "sys"), str(nps2_tree / "proc"))
    assert err.value.path == str(nps2_tree / relative)


def test_unreadable_file_fails_naming_it(nps2_tree):
    meminfo = nps2_tree / "sys/devices/system/node/node0/meminfo"
    meminfo.unlink()
    meminfo.mkdir()  # unreadable even for root, unlike chmod 000
    with pytest.raises(HostFileError) as err:
        gather_numa_facts(str(nps2_tree / "sys"), str(nps2_tree / "proc"))
    assert err.value.path == str(meminfo) and "cannot read" in str(err.value)


def test_missing_node_file_fails_naming_it(nps2_tree):
    shutil.rmtree(nps2_tree / "sys/devices/system/node/node2")
    with pytest.raises(HostFileError) as err:
        gather_numa_facts(str(nps2_tree / "sys"), str(nps2_tree / "proc"))
    assert "node2" in err.value.path


# --- generated topologies -------------------------------------------------------


@st.composite
def regular_hosts(draw):
    sockets = draw(st.integers(1, 4))
    nodes_per_socket = draw(st.sampled_from([0, 1, 2, 3, 4, 6, 8]) if sockets > 1 else st.sampled_from([1, 2, 3, 4, 8]))
    threads = draw(st.sampled_from([1, 2, 4, 8]))  # SMT-4 and SMT-8: ppc64
    cores_per_node = draw(st.integers(1, 6))
    # at most 192 CPUs: big enough for every shape, small enough to write 60 trees quickly
    assume(sockets * max(1, nodes_per_socket) * cores_per_node * threads <= 192)
    return dict(
        vendor=draw(st.sampled_from([topologies.AMD, topologies.INTEL])),
        sockets=sockets,
        nodes_per_socket=nodes_per_socket,
        cores_per_node=cores_per_node,
        threads=threads,
        adjacent_threads=threads > 2 or draw(st.booleans()),
        dies_per_socket=draw(st.integers(1, 3)),
        interleaved=draw(st.booleans()),
        memory_only=draw(st.integers(0, 2)),
        sparse_gap=draw(st.integers(0, 3)),
        # what older kernels and odd firmware write
        sibling_files=draw(st.sampled_from(["modern", "old"])),
        smt_file=draw(st.booleans()),
        unknown_package_ids=draw(st.booleans()),
        nul_terminated=draw(st.booleans()),
        node_cpumap_only=draw(st.booleans()),
    )


def expected_layout(vendor, nps):
    if vendor == topologies.AMD:
        return "NPS%d" % nps if nps in (0, 1, 2, 4) else "LLC-NUMA-%d" % nps
    return "INTERLEAVED" if nps == 0 else "SNC%d" % nps


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(regular_hosts())
def test_generated_topologies(tmp_path_factory, host):
    cpu_nodes = max(1, host["sockets"] * host["nodes_per_socket"])
    node_ids = [i * (1 + host["sparse_gap"]) for i in range(cpu_nodes)]
    extra = [(node_ids[-1] + 1 + i, 8192) for i in range(host["memory_only"])]
    top = topologies.synthetic(
        "generated", host["vendor"], "generated", host["sockets"], host["nodes_per_socket"],
        host["cores_per_node"], smt=host["threads"], interleaved=host["interleaved"],
        node_ids=node_ids, extra_nodes=extra, dies_per_socket=host["dies_per_socket"],
        adjacent_threads=host["adjacent_threads"], sibling_files=host["sibling_files"],
        smt_file=host["smt_file"], unknown_package_ids=host["unknown_package_ids"],
        nul_terminated=host["nul_terminated"], node_cpumap_only=host["node_cpumap_only"])
    facts = facts_for(top, tmp_path_factory.mktemp("host"))
    threads = host["threads"]
    cores = host["sockets"] * max(1, host["nodes_per_socket"]) * host["cores_per_node"]
    assert facts["sockets"] == host["sockets"]
    assert facts["nodes_per_socket"] == host["nodes_per_socket"]
    assert facts["layout"] == expected_layout(host["vendor"], host["nodes_per_socket"])
    assert facts["cpus_online"] == cores * threads
    assert facts["physical_cores"] == cores
    assert facts["threads_per_core"] == threads
    assert facts["smt_active"] is (threads > 1)
    assert facts["overlapping_cpus"] == []
    assert facts["cpu_node_ids"] == node_ids
    assert facts["memory_only_nodes"] == [node_id for node_id, _unused in extra]
    assert facts["node_count"] == cpu_nodes + host["memory_only"]
    assert sorted(cpu for node in facts["nodes"] for cpu in node["cpus"]) == list(range(cores * threads))
    assert all(len(node["distances"]) == facts["node_count"] for node in facts["nodes"])


# --- instruction sets, kernel, GPUs and memory now (what the service places by) -----------


def test_cpu_flags_and_kernel_release(tmp_path):
    intel = facts_for(CATALOG["xeon-2s-snc2-interleaved"], tmp_path / "intel")
    assert intel["cpu_flags"] == ["amx_bf16", "amx_int8", "amx_tile", "avx2", "avx512_bf16", "avx512_fp16",
                                  "avx512_vnni", "avx512bw", "avx512f", "avx512vl", "avx_vnni", "fma"]
    assert intel["kernel_release"] == "6.1.0-27-amd64"
    amd = facts_for(CATALOG["epyc-2s-nps2"], tmp_path / "amd")
    assert amd["cpu_flags"] == ["avx2", "avx512_bf16", "avx512_vnni", "avx512bw", "avx512f", "avx512vl", "fma"]
    power = facts_for(CATALOG["power9-lpar-smt8"], tmp_path / "power")
    assert (power["cpu_flags"], power["kernel_release"]) == ([], "5.14.0-427.el9.ppc64le")


def test_kernel_release_absent_is_null(tmp_path):
    top = topologies.synthetic("old", topologies.AMD, "x", 1, 1, 2, kernel_release=None)
    assert facts_for(top, tmp_path)["kernel_release"] is None


def gpu_host():
    return topologies.synthetic(
        "gpu-host", topologies.AMD, "AMD EPYC 9654 96-Core Processor", 2, 4, 1,
        gpus=[topologies.Gpu("0000:01:00.0", "0x10de", "0x2330", 1),  # H100 SXM on node 1
              topologies.Gpu("0000:41:00.0", "0x10de", "0x2330", 5),
              topologies.Gpu("0000:c3:00.0", "0x1a03", "0x2000", -1, "0x030000")])  # ASPEED BMC VGA


def test_gpus_with_their_numa_node(tmp_path):
    root = topologies.write_tree(gpu_host(), tmp_path)
    pci = root / "sys/bus/pci/devices"
    nic = pci / "0000:21:00.0"  # a network controller (class 0x02) is no GPU
    nic.mkdir()
    (nic / "class").write_text("0x020000\n")
    (nic / "vendor").write_text("0x15b3\n")
    unknown = pci / "0000:e1:00.0"  # a display controller without numa_node (kernel without CONFIG_NUMA)
    unknown.mkdir()
    (unknown / "class").write_text("0x038000\n")
    (unknown / "vendor").write_text("0x1002\n")
    (unknown / "device").write_text("0x74a1\n")
    facts = gather_numa_facts(str(root / "sys"), str(root / "proc"))
    assert facts["gpus"] == [
        {"address": "0000:01:00.0", "vendor": "0x10de", "device": "0x2330", "numa_node": 1},
        {"address": "0000:41:00.0", "vendor": "0x10de", "device": "0x2330", "numa_node": 5},
        {"address": "0000:c3:00.0", "vendor": "0x1a03", "device": "0x2000", "numa_node": None},
        {"address": "0000:e1:00.0", "vendor": "0x1002", "device": "0x74a1", "numa_node": None},
    ]


def test_no_pci_bus_means_no_gpus(tmp_path):
    assert facts_for(CATALOG["epyc-2s-nps2"], tmp_path)["gpus"] == []


def test_memory_free_and_huge_pages_per_node(tmp_path):
    root = topologies.write_tree(CATALOG["epyc-2s-nps1"], tmp_path)
    # node1/meminfo as Linux 6.1 writes it (abridged)
    (root / "sys/devices/system/node/node1/meminfo").write_text(
        "Node 1 MemTotal:       396228668 kB\n"
        "Node 1 MemFree:        121634816 kB\n"
        "Node 1 MemUsed:        274593852 kB\n"
        "Node 1 FilePages:       1520640 kB\n"
        "Node 1 AnonHugePages:         0 kB\n"
        "Node 1 HugePages_Total:  1024\n"
        "Node 1 HugePages_Free:    256\n"
        "Node 1 HugePages_Surp:      0\n")
    node1 = gather_numa_facts(str(root / "sys"), str(root / "proc"))["nodes"][1]
    assert (node1["memory_mb"], node1["mem_free_mb"]) == (386942, 118784)
    assert (node1["hugepages_total"], node1["hugepages_free"]) == (1024, 256)


def test_node_meminfo_without_huge_page_lines(tmp_path):
    root = topologies.write_tree(CATALOG["vm-1node-no-cpufreq"], tmp_path)
    (root / "sys/devices/system/node/node0/meminfo").write_text(
        "Node 0 MemTotal:       8388608 kB\nNode 0 MemFree:        4194304 kB\n")
    node0 = gather_numa_facts(str(root / "sys"), str(root / "proc"))["nodes"][0]
    assert (node0["mem_free_mb"], node0["hugepages_total"], node0["hugepages_free"]) == (4096, None, None)


@pytest.mark.parametrize("content, mode", [
    ("always [madvise] never\n", "madvise"),
    ("[always] madvise never\n", "always"),
    ("always madvise [never]\n", "never"),
    ("never\n", "never"),  # a plain file standing for the kernel's (a fixture, a bind mount) holds what was written
    (None, None),
])
def test_transparent_hugepage_mode(tmp_path, content, mode):
    root = topologies.write_tree(CATALOG["epyc-2s-nps2"], tmp_path)
    enabled = root / "sys/kernel/mm/transparent_hugepage/enabled"
    if content is None:
        enabled.unlink()
    else:
        enabled.write_text(content)
    assert gather_numa_facts(str(root / "sys"), str(root / "proc"))["transparent_hugepage"] == mode


@pytest.mark.parametrize("relative, content", [
    ("sys/kernel/mm/transparent_hugepage/enabled", "always madvise never\n"),
    ("sys/bus/pci/devices/0000:01:00.0/class", "display\n"),
    ("sys/bus/pci/devices/0000:01:00.0/numa_node", "near\n"),
])
def test_malformed_device_or_policy_file_fails_naming_it(tmp_path, relative, content):
    root = topologies.write_tree(gpu_host(), tmp_path)
    (root / relative).write_text(content)
    with pytest.raises(HostFileError) as err:
        gather_numa_facts(str(root / "sys"), str(root / "proc"))
    assert err.value.path == str(root / relative)
