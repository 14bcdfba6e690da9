# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NUMA facts: what the raw topology means for an inference host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import format_cpulist
from ansible_collections.ktune.inference.plugins.module_utils.procfs import (
    cpu_family,
    isa_flags,
    read_first_cpuinfo_block,
    read_kernel_release,
    read_numa_balancing,
)
from ansible_collections.ktune.inference.plugins.module_utils.topology import (
    read_cpu_topology,
    read_gpus,
    read_nodes,
)
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import read_transparent_hugepage

AMD = "AuthenticAMD"
INTEL = "GenuineIntel"
# AMD's NPS setting exists from Zen (family 0x17) on; older Opterons interleave
# nodes the way Intel does.
AMD_ZEN_FAMILY = 0x17
BALANCE_TOLERANCE_PCT = 10.0


def gather_numa_facts(sysfs_root="/sys", procfs_root="/proc"):
    """Read the host once and return the ``ktune_numa`` fact dictionary."""
    cpu_topology = read_cpu_topology(sysfs_root)  # first: fails at once on a root that is not sysfs
    cpuinfo = read_first_cpuinfo_block(procfs_root)
    facts = build_numa_facts(
        cpu_topology=cpu_topology,
        raw_nodes=read_nodes(sysfs_root),
        vendor=cpuinfo.get("vendor_id"),
        model_name=cpuinfo.get("model name"),
        numa_balancing=read_numa_balancing(procfs_root),
        family=cpu_family(cpuinfo),
    )
    facts.update(
        cpu_flags=isa_flags(cpuinfo),
        kernel_release=read_kernel_release(procfs_root),
        gpus=read_gpus(sysfs_root),
        transparent_hugepage=read_transparent_hugepage(sysfs_root),
    )
    return facts


def build_numa_facts(cpu_topology, raw_nodes, vendor, model_name, numa_balancing, family=None):
    placement = cpu_topology["placement"]
    online = cpu_topology["online"]
    sockets = sorted(set(socket for socket, _unused in placement.values()))
    cores = set(placement.values())
    threads_per_core = _threads_per_core(placement)
    nodes = [_describe_node(raw, placement) for raw in (raw_nodes or [])]
    cpu_nodes = [node for node in nodes if node["cpus"]]
    nodes_per_socket = _nodes_per_socket(cpu_nodes, sockets)
    imbalance = _memory_imbalance_pct(cpu_nodes)
    smt_active = cpu_topology["smt_active"]
    if smt_active is None:
        smt_active = threads_per_core > 1
    return {
        "available": raw_nodes is not None,
        "vendor": vendor,
        "model_name": model_name,
        "cpu_family": family,
        "sockets": len(sockets),
        "socket_ids": sockets,
        "sockets_from": cpu_topology["sockets_from"],
        "cpus_online": len(online),
        "cpus_online_list": format_cpulist(online),
        "cpus_offline": cpu_topology["offline"],
        "physical_cores": len(cores),
        "cores_from": cpu_topology["cores_from"],
        "threads_per_core": threads_per_core,
        "smt_active": smt_active,
        "topology_notes": cpu_topology["notes"],
        "nodes": nodes,
        "node_ids": [node["id"] for node in nodes],
        "node_count": len(nodes),
        "cpu_node_count": len(cpu_nodes),
        "cpu_node_ids": [node["id"] for node in cpu_nodes],
        "overlapping_cpus": _overlapping_cpus(cpu_nodes),
        "memory_node_count": len([node for node in nodes if node["memory_mb"] > 0]),
        "memory_only_nodes": [node["id"] for node in nodes if not node["cpus"] and node["memory_mb"] > 0],
        "memoryless_cpu_nodes": [node["id"] for node in cpu_nodes if node["memory_mb"] == 0],
        "memory_total_mb": sum(node["memory_mb"] for node in nodes),
        "nodes_per_socket": nodes_per_socket,
        "layout": classify_layout(vendor, nodes_per_socket, raw_nodes is not None, family),
        "memory_balanced": imbalance <= BALANCE_TOLERANCE_PCT,
        "memory_imbalance_pct": round(imbalance, 1),
        "numa_balancing": numa_balancing,
    }


def _threads_per_core(placement):
    per_core = {}
    for key in placement.values():
        per_core[key] = per_core.get(key, 0) + 1
    return max(per_core.values()) if per_core else 0


def _overlapping_cpus(cpu_nodes):
    """CPUs that buggy firmware (ACPI SRAT) puts in more than one node."""
    seen, twice = set(), set()
    for node in cpu_nodes:
        twice.update(seen.intersection(node["cpus"]))
        seen.update(node["cpus"])
    return sorted(twice)


def _mb(kb):
    return None if kb is None else kb // 1024


def _describe_node(raw, placement):
    # A node's cpulist may name CPUs that went offline since; only online
    # CPUs carry a socket, so only they describe where the node lives.
    cpus = [cpu for cpu in raw["cpus"] if cpu in placement]
    memory = raw["memory"]
    return {
        "id": raw["id"],
        "cpus": cpus,
        "cpulist": format_cpulist(cpus),
        "socket_ids": sorted(set(placement[cpu][0] for cpu in cpus)),
        "memory_mb": memory["MemTotal"] // 1024,
        "mem_free_mb": _mb(memory["MemFree"]),
        "hugepages_total": memory["HugePages_Total"],
        "hugepages_free": memory["HugePages_Free"],
        "distances": raw["distances"],
    }


def _nodes_per_socket(cpu_nodes, sockets):
    """CPU-bearing nodes per socket: 0 if a node spans sockets, None if uneven."""
    if not cpu_nodes:
        return None
    if any(len(node["socket_ids"]) > 1 for node in cpu_nodes):
        return 0
    per_socket = dict((socket, 0) for socket in sockets)
    for node in cpu_nodes:
        per_socket[node["socket_ids"][0]] += 1
    counts = set(per_socket.values())
    return counts.pop() if len(counts) == 1 else None


def has_nps(vendor, family=None):
    """Whether the BIOS speaks of NPS: AMD from Zen on (an unknown family counts as Zen)."""
    return vendor == AMD and (family is None or family >= AMD_ZEN_FAMILY)


def classify_layout(vendor, nodes_per_socket, available, family=None):
    """Name the layout as the BIOS calls it: NPSn (AMD), SNCn (Intel).

    AMD parts with more than four nodes per socket run "LLC as NUMA node";
    three nodes per socket only happen that way too on AMD. Several sockets
    in one node is NPS0 on AMD Zen and BIOS node interleaving (INTERLEAVED)
    on Intel, older AMD and everything else.
    """
    if not available:
        return None
    if nodes_per_socket is None:
        return "UNEVEN"
    if vendor == INTEL:
        return "INTERLEAVED" if nodes_per_socket == 0 else "SNC%d" % nodes_per_socket
    if has_nps(vendor, family):
        if nodes_per_socket in (0, 1, 2, 4):
            return "NPS%d" % nodes_per_socket
        return "LLC-NUMA-%d" % nodes_per_socket
    return "INTERLEAVED" if nodes_per_socket == 0 else "NODES-PER-SOCKET-%d" % nodes_per_socket


def _memory_imbalance_pct(cpu_nodes):
    """How far the smallest CPU-bearing node falls below the largest, in %."""
    sizes = [node["memory_mb"] for node in cpu_nodes]
    if len(sizes) < 2 or max(sizes) == 0:
        return 0.0
    return (max(sizes) - min(sizes)) * 100.0 / max(sizes)
