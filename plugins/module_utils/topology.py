# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers for CPU and NUMA node topology under a sysfs root.

These return what the kernel says, unjudged; numa.py draws conclusions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import (
    CpulistError,
    parse_cpulist,
)
from ansible_collections.ktune.inference.plugins.module_utils.procfs import parse_meminfo
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import (
    HostFileError,
    numbered_entries,
    read_int,
    read_optional,
    read_text,
    under,
)

CPU_DIR = "devices/system/cpu"
NODE_DIR = "devices/system/node"


def read_cpulist_file(path, optional=False):
    """Return the ids in a cpulist file; None when optional and absent."""
    text = read_optional(path) if optional else read_text(path)
    if text is None:
        return None
    try:
        return parse_cpulist(text)
    except CpulistError as exc:
        raise HostFileError(path, str(exc))


def read_online_cpus(sysfs_root):
    """Online CPU ids; falls back to every cpuN directory with a topology."""
    online = read_cpulist_file(under(sysfs_root, CPU_DIR, "online"), optional=True)
    if online is not None:
        return online
    cpu_dir = under(sysfs_root, CPU_DIR)
    return [cpu for cpu in numbered_entries(cpu_dir, "cpu")
            if read_optional(under(cpu_dir, "cpu%d" % cpu, "topology/physical_package_id")) is not None]


def read_offline_cpus(sysfs_root, online):
    """Present CPUs that are not online (hot-unplugged or disabled at boot)."""
    present = read_cpulist_file(under(sysfs_root, CPU_DIR, "present"), optional=True)
    if present is None:
        return []
    online_set = set(online)
    return [cpu for cpu in present if cpu not in online_set]


def read_cpu_placement(sysfs_root, cpu):
    """Return (socket_id, core_id) of an online CPU.

    Some hypervisors and arm64 firmware report -1 or no topology at all; such
    CPUs are counted on socket 0 with their own core so they still add up.
    """
    topology = under(sysfs_root, CPU_DIR, "cpu%d" % cpu, "topology")
    socket = read_int(under(topology, "physical_package_id"), optional=True)
    core = read_int(under(topology, "core_id"), optional=True)
    socket = socket if socket is not None and socket >= 0 else 0
    core = core if core is not None and core >= 0 else -1 - cpu
    return socket, core


def read_cpu_topology(sysfs_root):
    """Return online CPUs, offline CPUs and each online CPU's (socket, core)."""
    online = read_online_cpus(sysfs_root)
    placement = dict((cpu, read_cpu_placement(sysfs_root, cpu)) for cpu in online)
    return {
        "online": online,
        "offline": read_offline_cpus(sysfs_root, online),
        "placement": placement,
        "smt_active": read_smt_active(sysfs_root),
    }


def read_smt_active(sysfs_root):
    """The kernel's own SMT flag (True/False), or None on kernels without it."""
    value = read_int(under(sysfs_root, CPU_DIR, "smt/active"), optional=True)
    return None if value is None else value == 1


def read_node_ids(sysfs_root):
    """Online NUMA node ids, or None when the kernel exposes no NUMA nodes."""
    node_dir = under(sysfs_root, NODE_DIR)
    ids = read_cpulist_file(under(node_dir, "online"), optional=True)
    if ids is None:
        ids = numbered_entries(node_dir, "node")
    return ids or None


def read_node_distances(path, node_count):
    text = read_text(path)
    try:
        distances = [int(word) for word in text.split()]
    except ValueError:
        raise HostFileError(path, "expected integers, found %r" % text[:80])
    if len(distances) != node_count:
        raise HostFileError(path, "expected %d distances (one per online node), found %d"
                            % (node_count, len(distances)))
    return distances


def read_node_memory_kb(path):
    meminfo = parse_meminfo(read_text(path), path)
    if "MemTotal" not in meminfo:
        raise HostFileError(path, "no MemTotal line")
    return meminfo["MemTotal"]


def read_nodes(sysfs_root):
    """Return [{id, cpus, memory_kb, distances}] or None without NUMA."""
    ids = read_node_ids(sysfs_root)
    if ids is None:
        return None
    nodes = []
    for node in ids:
        base = under(sysfs_root, NODE_DIR, "node%d" % node)
        nodes.append({
            "id": node,
            "cpus": read_cpulist_file(under(base, "cpulist")),
            "memory_kb": read_node_memory_kb(under(base, "meminfo")),
            "distances": read_node_distances(under(base, "distance"), len(ids)),
        })
    return nodes
