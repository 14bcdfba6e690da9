# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers for CPU and NUMA node topology under a sysfs root.

These return what the kernel says, unjudged; numa.py draws conclusions.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
    parse_cpumask,
)
from ansible_collections.ktune.inference.plugins.module_utils.procfs import parse_meminfo
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import (
    HostFileError,
    numbered_entries,
    parse_decimal,
    read_int,
    read_optional,
    read_text,
    under,
)

CPU_DIR = "devices/system/cpu"
# Newest name first: core_cpus_list/package_cpus_list arrived in Linux 5.x.
CORE_LISTS = ("core_cpus_list", "thread_siblings_list")
PACKAGE_LISTS = ("package_cpus_list", "core_siblings_list")
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


def require_cpu_dir(sysfs_root):
    """The devices/system/cpu folder; a root without it is not a sysfs tree."""
    cpu_dir = under(sysfs_root, CPU_DIR)
    if not os.path.isdir(cpu_dir):
        raise HostFileError(cpu_dir, "no such directory, so %s is not a sysfs tree (check sysfs_root)" % sysfs_root)
    return cpu_dir


def read_online_cpus(sysfs_root):
    """Online CPU ids; falls back to every cpuN directory with a topology."""
    online = read_cpulist_file(under(sysfs_root, CPU_DIR, "online"), optional=True)
    if online is not None:
        return online
    cpu_dir = under(sysfs_root, CPU_DIR)
    return [cpu for cpu in numbered_entries(cpu_dir, "cpu")
            if os.path.isdir(_topology_dir(cpu_dir, cpu))]


def read_offline_cpus(sysfs_root, online):
    """Present CPUs that are not online (hot-unplugged or disabled at boot)."""
    present = read_cpulist_file(under(sysfs_root, CPU_DIR, "present"), optional=True)
    if present is None:
        return []
    online_set = set(online)
    return [cpu for cpu in present if cpu not in online_set]


def _topology_dir(cpu_dir, cpu):
    # Plain formatting, not os.path.join: it runs for every CPU (384 and more).
    return "%s/cpu%d/topology" % (cpu_dir, cpu)


def _topology_file(cpu_dir, cpu, name):
    return "%s/cpu%d/topology/%s" % (cpu_dir, cpu, name)


def _read_sibling_list(cpu_dir, cpu, names):
    """The first of the named sibling cpulists that exists: (ids, name), or (None, None)."""
    for name in names:
        ids = read_cpulist_file(_topology_file(cpu_dir, cpu, name), optional=True)
        if ids is not None:
            return ids, name
    return None, None


def _group_by_sibling_lists(cpu_dir, online, names):
    """{cpu: lowest cpu of its sibling set} and the file used, as lscpu counts.

    Each set is read once, from its first CPU. (None, None) when a CPU has none
    of the files (older kernels, some architectures).
    """
    online_set = set(online)
    leader_of = {}
    used = None
    for cpu in online:
        if cpu in leader_of:
            continue
        siblings, name = _read_sibling_list(cpu_dir, cpu, names)
        if siblings is None:
            return None, None
        used = used or name
        leader_of[cpu] = cpu
        for sibling in siblings:
            if sibling in online_set and sibling not in leader_of:
                leader_of[sibling] = cpu
    return leader_of, used


def _read_package_ids(cpu_dir, online):
    return dict((cpu, read_int(_topology_file(cpu_dir, cpu, "physical_package_id"), optional=True))
                for cpu in online)


def _duplicated_package_id(cpu_dir, package_id_of):
    """A package id that separate packages share (old firmware), or None.

    One package sibling list per id is enough: a CPU carrying the id outside
    the list of the id's first CPU sits in another package.
    """
    first_cpu = {}
    for cpu in sorted(package_id_of):
        first_cpu.setdefault(package_id_of[cpu], cpu)
    for package_id, cpu in sorted(first_cpu.items()):
        siblings, _source = _read_sibling_list(cpu_dir, cpu, PACKAGE_LISTS)
        if siblings is None:
            return None
        members = set(siblings)
        if any(other not in members for other, owner in package_id_of.items() if owner == package_id):
            return package_id
    return None


def read_sockets(cpu_dir, online, notes):
    """({cpu: socket id}, source): physical_package_id, else the package sibling sets.

    The ids are -1 on s390x, some ppc64 and some VMs and repeat across packages on
    some old machines; the sibling sets are then numbered 0.. in order of their
    lowest CPU.
    """
    package_id_of = _read_package_ids(cpu_dir, online)
    unknown = set(cpu for cpu, package_id in package_id_of.items() if package_id is None or package_id < 0)
    if unknown:
        problem = "physical_package_id is -1 or missing on CPUs %s" % format_cpulist(unknown)
    else:
        duplicated = _duplicated_package_id(cpu_dir, package_id_of)
        if duplicated is None:
            return package_id_of, "physical_package_id"
        problem = "physical_package_id %d is shared by separate packages" % duplicated
    leader_of, source = _group_by_sibling_lists(cpu_dir, online, PACKAGE_LISTS)
    if leader_of is None:
        notes.append("%s and no package sibling list exists: those CPUs are counted on socket 0" % problem)
        return dict((cpu, 0 if cpu in unknown else package_id) for cpu, package_id in package_id_of.items()), \
            "physical_package_id"
    notes.append("%s: sockets counted from %s" % (problem, source))
    return _number_groups(leader_of), source


def _number_groups(leader_of):
    index = dict((leader, number) for number, leader in enumerate(sorted(set(leader_of.values()))))
    return dict((cpu, index[leader]) for cpu, leader in leader_of.items())


def read_cores(cpu_dir, online, socket_of, notes):
    """({cpu: core key}, source): core sibling sets, else (socket, die_id, core_id), else one core per CPU.

    core_id is unique only within a die, so it is the fallback, not the rule.
    """
    leader_of, source = _group_by_sibling_lists(cpu_dir, online, CORE_LISTS)
    if leader_of is not None:
        without_core_id = [cpu for cpu in online if not os.path.exists(_topology_file(cpu_dir, cpu, "core_id"))]
        if without_core_id:
            notes.append("core_id is missing on CPUs %s: cores counted from %s"
                         % (format_cpulist(without_core_id), source))
        return leader_of, source
    core_of = {}
    for cpu in online:
        core = read_int(_topology_file(cpu_dir, cpu, "core_id"), optional=True)
        if core is None or core < 0:
            notes.append("CPU %d has no core sibling list and no core_id: each CPU counted as a core" % cpu)
            return dict((cpu, cpu) for cpu in online), "cpus"
        core_of[cpu] = (socket_of[cpu], read_int(_topology_file(cpu_dir, cpu, "die_id"), optional=True), core)
    return core_of, "core_id"


def read_cpu_topology(sysfs_root):
    """Online and offline CPUs, each online CPU's (socket, core key) and how they were found."""
    cpu_dir = require_cpu_dir(sysfs_root)
    online = read_online_cpus(sysfs_root)
    notes = []
    socket_of, sockets_from = read_sockets(cpu_dir, online, notes)
    core_of, cores_from = read_cores(cpu_dir, online, socket_of, notes)
    return {
        "online": online,
        "offline": read_offline_cpus(sysfs_root, online),
        "placement": dict((cpu, (socket_of[cpu], core_of[cpu])) for cpu in online),
        "smt_active": read_smt_active(sysfs_root),
        "sockets_from": sockets_from,
        "cores_from": cores_from,
        "notes": notes,
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
    distances = [parse_decimal(word) for word in text.split()]
    if None in distances:
        raise HostFileError(path, "expected integers, found %r" % text[:80])
    if len(distances) != node_count:
        raise HostFileError(path, "expected %d distances (one per online node), found %d"
                            % (node_count, len(distances)))
    return distances


def read_node_memory(path):
    """MemTotal/MemFree in kB and the huge page counts of a node's meminfo."""
    meminfo = parse_meminfo(read_text(path), path)
    if "MemTotal" not in meminfo:
        raise HostFileError(path, "no MemTotal line")
    return dict((key, meminfo.get(key)) for key in ("MemTotal", "MemFree", "HugePages_Total", "HugePages_Free"))


def read_node_cpus(base):
    """A node's CPUs from cpulist, or from the cpumap hex mask older kernels write instead."""
    cpus = read_cpulist_file(under(base, "cpulist"), optional=True)
    if cpus is not None:
        return cpus
    path = under(base, "cpumap")
    text = read_optional(path)
    if text is None:
        raise HostFileError(under(base, "cpulist"), "missing, and so is cpumap")
    try:
        return parse_cpumask(text)
    except CpulistError as exc:
        raise HostFileError(path, str(exc))


def read_nodes(sysfs_root):
    """Return [{id, cpus, memory (read_node_memory), distances}] or None without NUMA."""
    ids = read_node_ids(sysfs_root)
    if ids is None:
        return None
    nodes = []
    for node in ids:
        base = under(sysfs_root, NODE_DIR, "node%d" % node)
        nodes.append({
            "id": node,
            "cpus": read_node_cpus(base),
            "memory": read_node_memory(under(base, "meminfo")),
            "distances": read_node_distances(under(base, "distance"), len(ids)),
        })
    return nodes


# --- devices and memory policy next to the nodes -------------------------------------

PCI_DIR = "bus/pci/devices"
DISPLAY_CLASS = 0x03  # PCI base class "display controller": VGA, XGA, 3D (most compute GPUs)
_PCI_CLASS = re.compile(r"(0[xX])?[0-9a-fA-F]{1,8}\Z")  # ASCII: int(text, 16) also takes other scripts' digits


def _pci_class(path):
    text = read_optional(path)
    if text is None:
        return None
    if not _PCI_CLASS.match(text):
        raise HostFileError(path, "expected a hex PCI class, found %r" % text[:80])
    return int(text, 16)


def read_gpus(sysfs_root):
    """[{address, vendor, device, numa_node}] of the PCI display/3D controllers.

    numa_node is None where the kernel writes -1 (no locality known) or nothing.
    """
    pci_dir = under(sysfs_root, PCI_DIR)
    try:
        addresses = sorted(os.listdir(pci_dir))
    except (IOError, OSError):
        return []
    gpus = []
    for address in addresses:
        device_dir = under(pci_dir, address)
        pci_class = _pci_class(under(device_dir, "class"))
        if pci_class is None or pci_class >> 16 != DISPLAY_CLASS:
            continue
        numa_node = read_int(under(device_dir, "numa_node"), optional=True)
        gpus.append({
            "address": address,
            "vendor": _pci_id(under(device_dir, "vendor")),
            "device": _pci_id(under(device_dir, "device")),
            "numa_node": numa_node if numa_node is not None and numa_node >= 0 else None,
        })
    return gpus


def _pci_id(path):
    text = read_optional(path)
    return None if text is None else text.lower()
