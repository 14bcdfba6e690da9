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

# The Redfish BIOS attributes that set the CPU nodes per socket: one table for the fix in the
# mismatch message and for staging it through a BMC (bios_layout). Each row: (vendor, scheme,
# attribute name, {nodes per socket: the values that mean it, preferred first}). A name ending in
# '#' matches with any suffix (Supermicro adds a per-BIOS hash: NUMANodesPerSocket#703E).
# HPE's NumaGroupSizeOpt is Windows processor grouping, not NPS, so it is not here.
_NPS = {n: ("NPS%d" % n,) for n in (0, 1, 2, 4)}
_SNC = {0: ("Disabled",), 1: ("Disabled",), 2: ("SNC2", "Enabled"), 3: ("SNC3",), 4: ("SNC4",)}
BIOS_LAYOUT_ATTRIBUTES = (
    ("Dell iDRAC", AMD, "NumaNodesPerSocket", {n: ("%d" % n,) for n in (0, 1, 2, 4)}),
    ("HPE iLO", AMD, "NumaMemoryDomainsPerSocket", {
        1: ("OneMemoryDomainPerSocket",), 2: ("TwoMemoryDomainsPerSocket",), 4: ("FourMemoryDomainsPerSocket",)}),
    ("Lenovo XCC", AMD, "Memory_NUMANodesperSocket", _NPS),
    ("Supermicro", AMD, "NUMANodesPerSocket#", _NPS),
    ("Dell iDRAC", INTEL, "SubNumaCluster", _SNC),
    ("HPE iLO", INTEL, "SubNumaClustering", _SNC),
    ("Lenovo XCC", INTEL, "Processors_SNC", _SNC),
)


def attribute_matches(pattern, name):
    """Whether a BIOS attribute name is the table's pattern (a trailing '#' allows a hash suffix)."""
    if pattern.endswith("#"):
        return name == pattern[:-1] or name.startswith(pattern)
    return name == pattern


def _attribute_fix(vendor, pattern, values, nodes_per_socket):
    name = pattern.rstrip("#")
    wanted = values.get(nodes_per_socket)
    if not wanted:
        return "%s has no NPS%d setting (use Auto or NPS1)" % (vendor, nodes_per_socket)
    quote = '"' if wanted[0].isdigit() else ""
    return "%s %s=%s%s%s" % (vendor, name, quote, wanted[0], quote)


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
        return ("set the BIOS option Sub-NUMA Clustering to %s (%s) and reboot" % (
            "SNC%d" % nodes_per_socket if nodes_per_socket > 1 else "Disabled",
            ", ".join("%s: %s" % (vendor.split()[0], pattern) for vendor, row_scheme, pattern, dummy
                      in BIOS_LAYOUT_ATTRIBUTES if row_scheme == INTEL)))
    if nodes_per_socket > 4:
        return ("enable the BIOS option 'LLC as NUMA Node' (ACPI SRAT L3 Cache as NUMA Domain) and reboot")
    if nodes_per_socket == 3:
        return ("3 nodes per socket is Intel SNC3 (Xeon 6); no AMD BIOS offers it. Set "
                "ktune_expected_nodes_per_socket to 1, 2 or 4")
    return ("set the BIOS option NUMA nodes per socket to NPS%d and reboot. Redfish BIOS attributes "
            "(staged under Bios/Settings, applied at the next reboot): %s" % (nodes_per_socket, ", ".join(
                _attribute_fix(vendor, pattern, values, nodes_per_socket)
                for vendor, row_scheme, pattern, values in BIOS_LAYOUT_ATTRIBUTES if row_scheme == AMD)))


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
