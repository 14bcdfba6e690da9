# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""NUMA facts: what the raw topology means for an inference host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import format_cpulist
from ansible_collections.ktune.inference.plugins.module_utils.procfs import (
    read_cpu_identity,
    read_numa_balancing,
)
from ansible_collections.ktune.inference.plugins.module_utils.topology import (
    read_cpu_topology,
    read_nodes,
)

AMD = "AuthenticAMD"
INTEL = "GenuineIntel"
BALANCE_TOLERANCE_PCT = 10.0


def gather_numa_facts(sysfs_root="/sys", procfs_root="/proc"):
    """Read the host once and return the ``ktune_numa`` fact dictionary."""
    vendor, model_name = read_cpu_identity(procfs_root)
    return build_numa_facts(
        cpu_topology=read_cpu_topology(sysfs_root),
        raw_nodes=read_nodes(sysfs_root),
        vendor=vendor,
        model_name=model_name,
        numa_balancing=read_numa_balancing(procfs_root),
    )


def build_numa_facts(cpu_topology, raw_nodes, vendor, model_name, numa_balancing):
    placement = cpu_topology["placement"]
    online = cpu_topology["online"]
    sockets = sorted(set(socket for socket, _unused in placement.values()))
    cores = set(placement.values())
    nodes = [_describe_node(raw, placement) for raw in (raw_nodes or [])]
    cpu_nodes = [node for node in nodes if node["cpus"]]
    nodes_per_socket = _nodes_per_socket(cpu_nodes, sockets)
    imbalance = _memory_imbalance_pct(cpu_nodes)
    smt_active = cpu_topology["smt_active"]
    if smt_active is None:
        smt_active = len(cores) < len(online)
    return {
        "available": raw_nodes is not None,
        "vendor": vendor,
        "model_name": model_name,
        "sockets": len(sockets),
        "socket_ids": sockets,
        "cpus_online": len(online),
        "cpus_online_list": format_cpulist(online),
        "cpus_offline": cpu_topology["offline"],
        "physical_cores": len(cores),
        "smt_active": smt_active,
        "nodes": nodes,
        "node_ids": [node["id"] for node in nodes],
        "node_count": len(nodes),
        "cpu_node_count": len(cpu_nodes),
        "cpu_node_ids": [node["id"] for node in cpu_nodes],
        "memory_node_count": len([node for node in nodes if node["memory_mb"] > 0]),
        "memory_only_nodes": [node["id"] for node in nodes if not node["cpus"] and node["memory_mb"] > 0],
        "memoryless_cpu_nodes": [node["id"] for node in cpu_nodes if node["memory_mb"] == 0],
        "memory_total_mb": sum(node["memory_mb"] for node in nodes),
        "nodes_per_socket": nodes_per_socket,
        "layout": classify_layout(vendor, nodes_per_socket, raw_nodes is not None),
        "memory_balanced": imbalance <= BALANCE_TOLERANCE_PCT,
        "memory_imbalance_pct": round(imbalance, 1),
        "numa_balancing": numa_balancing,
    }


def _describe_node(raw, placement):
    # A node's cpulist may name CPUs that went offline since; only online
    # CPUs carry a socket, so only they describe where the node lives.
    cpus = [cpu for cpu in raw["cpus"] if cpu in placement]
    return {
        "id": raw["id"],
        "cpus": cpus,
        "cpulist": format_cpulist(cpus),
        "socket_ids": sorted(set(placement[cpu][0] for cpu in cpus)),
        "memory_mb": raw["memory_kb"] // 1024,
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


def classify_layout(vendor, nodes_per_socket, available):
    """Name the layout as the BIOS calls it: NPSn (AMD), SNCn (Intel).

    AMD parts with more than four nodes per socket run "LLC as NUMA node";
    three nodes per socket only happen that way too on AMD.
    """
    if not available:
        return None
    if nodes_per_socket is None:
        return "UNEVEN"
    if vendor == INTEL:
        return "INTERLEAVED" if nodes_per_socket == 0 else "SNC%d" % nodes_per_socket
    if vendor == AMD:
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
