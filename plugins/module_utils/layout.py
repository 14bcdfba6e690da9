# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging a host's ktune_numa facts against what the inventory expects.

Used by the nps_layout role (through a filter) and by the fleet audit, so both
say the same thing in the same words.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import format_cpulist
from ansible_collections.ktune.inference.plugins.module_utils.numa import AMD, INTEL, has_nps

# What real CPUs offer: NPS0/1/2/4 (AMD), SNC2/3/4 (Intel; SNC3 is Xeon 6 with three compute
# dies), and AMD's "LLC as NUMA node" with one node per CCD or CCX (8, 12, 16).
VALID_NODES_PER_SOCKET = (0, 1, 2, 3, 4, 8, 12, 16)

# Redfish BIOS attributes per BMC vendor (domain notes §6); the value is a
# function of the wanted nodes per socket.
_HPE_DOMAINS = {1: "OneMemoryDomainPerSocket", 2: "TwoMemoryDomainsPerSocket", 4: "FourMemoryDomainsPerSocket"}


def bios_scheme(numa):
    """Whose BIOS words apply: AMD (NPS, AMD Zen on), INTEL (SNC), or None (node interleaving only)."""
    vendor = numa.get("vendor")
    if vendor == INTEL:
        return INTEL
    return AMD if has_nps(vendor, numa.get("cpu_family")) else None


def layout_name(scheme, nodes_per_socket):
    """What the BIOS calls a layout with this many CPU nodes per socket."""
    if scheme == INTEL:
        return "SNC%d" % nodes_per_socket if nodes_per_socket else "node interleaving"
    if scheme != AMD:
        return "%s per socket" % count(nodes_per_socket, "node") if nodes_per_socket else "node interleaving"
    if nodes_per_socket > 4:
        return "LLC-NUMA-%d" % nodes_per_socket
    return "NPS%d" % nodes_per_socket


def count(number, noun):
    return "%d %s%s" % (number, noun, "" if number == 1 else "s")


def describe_found(numa):
    return "%s (%s with CPUs on %s)" % (
        numa.get("layout") or "no NUMA", count(numa.get("cpu_node_count", 0), "node"),
        count(numa.get("sockets", 0), "socket"))


def describe_expected(scheme, nodes_per_socket, sockets):
    if nodes_per_socket == 0:
        return "%s (1 node spanning %s)" % (layout_name(scheme, 0), count(sockets, "socket"))
    return "%s (%s on %s)" % (layout_name(scheme, nodes_per_socket), count(nodes_per_socket * sockets, "node"),
                              count(sockets, "socket"))


def bios_fix(scheme, nodes_per_socket):
    """How to get the wanted layout: the BIOS option and its Redfish attributes."""
    if scheme is None:
        return ("%s the BIOS option Node Interleaving and reboot%s" % (
            "enable" if nodes_per_socket == 0 else "disable",
            "" if nodes_per_socket < 2 else "; %d nodes per socket need a CPU and firmware that split "
            "sockets" % nodes_per_socket))
    if scheme == INTEL:
        return ("set the BIOS option Sub-NUMA Clustering to %s (Dell: SubNumaCluster, HPE: SubNumaClustering) "
                "and reboot" % ("SNC%d" % nodes_per_socket if nodes_per_socket > 1 else "Disabled"))
    if nodes_per_socket > 4:
        return ("enable the BIOS option 'LLC as NUMA Node' (ACPI SRAT L3 Cache as NUMA Domain) and reboot")
    if nodes_per_socket == 3:
        return ("3 nodes per socket is Intel SNC3 (Xeon 6); no AMD BIOS offers it. Set "
                "ktune_expected_nodes_per_socket to 1, 2 or 4")
    wanted = "NPS%d" % nodes_per_socket
    hpe = _HPE_DOMAINS.get(nodes_per_socket)
    return ("set the BIOS option NUMA nodes per socket to %s and reboot. Redfish BIOS attributes "
            "(staged under Bios/Settings, applied at the next reboot): Dell iDRAC NumaNodesPerSocket=\"%d\", "
            "HPE iLO %s, Lenovo XCC Memory_NUMANodesperSocket=%s, Supermicro NUMANodesPerSocket=%s"
            % (wanted, nodes_per_socket,
               "NumaMemoryDomainsPerSocket=%s" % hpe if hpe else "has no NPS0 setting (use Auto or NPS1)",
               wanted, wanted))


def layout_problems(numa, expected_nodes_per_socket=None, expected_sockets=None,
                    allow_memory_only_nodes=False, require_balanced_memory=True):
    """Return a list of problems, each 'expected ..., found .... Fix: ...'; [] when the host is right."""
    if not numa.get("available"):
        return ["expected NUMA nodes in sysfs, found none (kernel without CONFIG_NUMA, or numa=off on "
                "the kernel command line). Fix: boot a NUMA-enabled kernel without numa=off"]
    problems = []
    scheme = bios_scheme(numa)
    sockets = expected_sockets or numa["sockets"]
    if expected_sockets and numa["sockets"] != expected_sockets:
        problems.append("expected %s, found %d (online CPUs: %s). Fix: check that every CPU is "
                        "seated and online (cpus offline: %s)" % (
                            count(expected_sockets, "socket"), numa["sockets"], numa["cpus_online_list"],
                            numa["cpus_offline"] or "none"))
    if expected_nodes_per_socket is not None and numa["nodes_per_socket"] != expected_nodes_per_socket:
        problems.append("expected %s, found %s. Fix: %s" % (
            describe_expected(scheme, expected_nodes_per_socket, sockets), describe_found(numa),
            bios_fix(scheme, expected_nodes_per_socket)))
    if numa.get("overlapping_cpus"):
        problems.append(overlap_problem(numa))
    if numa["memory_only_nodes"] and not allow_memory_only_nodes:
        problems.append("expected no memory-only NUMA nodes, found nodes %s with memory and no CPUs (CXL, HBM "
                        "or PMEM). A NUMA build of ktransformers binds threads to every node and fails on them. "
                        "Fix: take the devices offline or set ktune_allow_memory_only_nodes: true"
                        % _ids(numa["memory_only_nodes"]))
    if require_balanced_memory and not numa["memory_balanced"]:
        problems.append("expected memory on every CPU node within 10%% of the largest, found %s "
                        "(%.1f%% apart). Fix: populate the same DIMMs on every channel, or set "
                        "ktune_require_balanced_memory: false" % (
                            _memory_per_node(numa), numa["memory_imbalance_pct"]))
    return problems


def overlap_problem(numa):
    overlapping = set(numa["overlapping_cpus"])
    nodes = ["node%d" % node["id"] for node in numa["nodes"] if overlapping.intersection(node["cpus"])]
    return ("expected every CPU in exactly one NUMA node, found CPUs %s in several (%s): the firmware's ACPI "
            "SRAT table is wrong and every count built on the nodes is off. Fix: update the BIOS (system "
            "firmware) and reboot" % (format_cpulist(overlapping), ", ".join(nodes)))


def _ids(ids):
    return ", ".join(str(i) for i in ids)


def _memory_per_node(numa):
    return ", ".join("node%d %d MiB" % (node["id"], node["memory_mb"]) for node in numa["nodes"] if node["cpus"])


def numa_summary(numa):
    """A few readable lines: layout, then one line per node."""
    if not numa.get("available"):
        return ["NUMA: not exposed by the kernel; %d CPUs online" % numa.get("cpus_online", 0)]
    lines = ["%s: %s, %s (%d with CPUs), %s online%s, %s, %s" % (
        numa["layout"], count(numa["sockets"], "socket"), count(numa["node_count"], "NUMA node"),
        numa["cpu_node_count"], count(numa["cpus_online"], "CPU"),
        " (SMT)" if numa["smt_active"] else "", count(numa["physical_cores"], "physical core"),
        "memory balanced" if numa["memory_balanced"] else
        "memory UNBALANCED (%.1f%%)" % numa["memory_imbalance_pct"])]
    for node in numa["nodes"]:
        lines.append("node%d: %s, %.1f GiB%s" % (
            node["id"], "cpus %s" % node["cpulist"] if node["cpus"] else "no CPUs (memory only)",
            node["memory_mb"] / 1024.0,
            ", socket %s" % _ids(node["socket_ids"]) if node["socket_ids"] else ""))
    return lines
