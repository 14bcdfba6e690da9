# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counters and gauges that explain a slow inference host, read from sysfs.

Per-node numastat counters, current CPU frequencies per node, thermal throttle
counters and the cpufreq governors in force. Used by the ``thermal_facts`` module and
by the monitoring role's collector, which the role installs next to this file on the
host: hence no Ansible imports, and a fallback import of the cpulist parser.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re

try:
    from ansible_collections.ktune.inference.plugins.module_utils.cpulist import CpulistError, parse_cpulist
    from ansible_collections.ktune.inference.plugins.module_utils.sysfs import (
        ATTRIBUTE_LIMIT,
        NUMA_MAPS_LIMIT,
        HostFileError,
        parse_decimal,
        read_text,
    )
except ImportError:  # installed on a host next to the collector or the guard, outside the collection
    from cpulist import CpulistError, parse_cpulist
    from sysfs import ATTRIBUTE_LIMIT, NUMA_MAPS_LIMIT, HostFileError, parse_decimal, read_text

NUMASTAT_COUNTERS = ("numa_hit", "numa_miss", "numa_foreign", "interleave_hit", "local_node", "other_node")
NUMBERED = re.compile(r"^(node|cpu|policy)([0-9]{1,20})$")
_NUMA_MAPS_COUNT = re.compile(r"^N([0-9]{1,20})=([0-9]{1,20})$")
_NUMA_MAPS_PAGE_SIZE = re.compile(r"^kernelpagesize_kB=([0-9]{1,20})$")


class TelemetryError(Exception):
    """A file that exists but does not read or parse; the message names it."""


def _read(path, missing=(errno.ENOENT, errno.ENOTDIR), limit=ATTRIBUTE_LIMIT):
    """Stripped content, or None when the file does not exist (or the read fails with an errno in missing)."""
    try:
        return read_text(path, limit)
    except HostFileError as exc:
        if exc.errno in missing:
            return None
        raise TelemetryError(str(exc))


def _read_int(path):
    text = _read(path)
    if text is None:
        return None
    number = parse_decimal(text)
    if number is None:
        raise TelemetryError("%s: expected an integer, found %r" % (path, text[:80]))
    return number


def _read_cpulist(path, text):
    try:
        return parse_cpulist(text)
    except CpulistError as exc:
        raise TelemetryError("%s: %s" % (path, exc))


def _numbered(directory, prefix):
    """Sorted N of the entries <prefix>N in directory ([] when it does not exist)."""
    try:
        names = os.listdir(directory)
    except (IOError, OSError):
        return []
    found = []
    for name in names:
        match = NUMBERED.match(name)
        if match and match.group(1) == prefix:
            found.append(int(match.group(2)))
    return sorted(found)


def node_dir(sysfs_root):
    return os.path.join(sysfs_root, "devices/system/node")


def cpu_dir(sysfs_root):
    return os.path.join(sysfs_root, "devices/system/cpu")


def node_cpus(sysfs_root):
    """{node id: [cpu, ...]}; a kernel without NUMA is one node 0 with every online CPU."""
    nodes = {}
    for node in _numbered(node_dir(sysfs_root), "node"):
        path = os.path.join(node_dir(sysfs_root), "node%d" % node, "cpulist")
        nodes[node] = _read_cpulist(path, _read(path) or "")
    if nodes:
        return nodes
    path = os.path.join(cpu_dir(sysfs_root), "online")
    return {0: _read_cpulist(path, _read(path) or "")}


def numastat(sysfs_root):
    """{node id: {counter: pages}} from node*/numastat; {} without NUMA."""
    result = {}
    for node in _numbered(node_dir(sysfs_root), "node"):
        path = os.path.join(node_dir(sysfs_root), "node%d" % node, "numastat")
        text = _read(path)
        if text is None:
            continue
        counters = {}
        for line in text.splitlines():
            parts = line.split()
            value = parse_decimal(parts[1]) if len(parts) == 2 else None
            if value is None or value < 0:
                raise TelemetryError("%s: expected 'counter value' lines, found %r" % (path, line[:80]))
            counters[parts[0]] = value
        result[node] = counters
    return result


def _policy_cpus(policy_path):
    for name in ("affected_cpus", "related_cpus"):
        path = os.path.join(policy_path, name)
        text = _read(path)
        if text:
            # These two files separate CPUs with spaces, not commas.
            return _read_cpulist(path, ",".join(text.split()))
    return []


def cpufreq_policies(sysfs_root):
    """[{policy, cpus, governor, driver, cur_khz}] for every active cpufreq policy ([] without cpufreq).

    The kernel answers EBUSY to every read of an inactive policy (all its CPUs offline): such a
    policy is left out, as cpufreq.read_policy marks it inactive.
    """
    base = os.path.join(cpu_dir(sysfs_root), "cpufreq")
    policies = []
    for number in _numbered(base, "policy"):
        path = os.path.join(base, "policy%d" % number)
        governor = _read(os.path.join(path, "scaling_governor"), missing=(errno.ENOENT, errno.ENOTDIR, errno.EBUSY))
        if governor is None and os.path.exists(os.path.join(path, "scaling_governor")):
            continue
        policies.append({
            "policy": number,
            "cpus": _policy_cpus(path) or [number],
            "governor": governor,
            "driver": _read(os.path.join(path, "scaling_driver")),
            "cur_khz": _read_int(os.path.join(path, "scaling_cur_freq")),
        })
    return policies


def governor_counts(policies):
    """{(governor, driver): number of policies}."""
    counts = {}
    for policy in policies:
        key = (policy["governor"] or "unknown", policy["driver"] or "unknown")
        counts[key] = counts.get(key, 0) + 1
    return counts


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2.0


def frequency_summary(policies, nodes):
    """{node id: {min, median, max} in Hz} of the current frequency of the node's CPUs."""
    khz_of_cpu = {}
    for policy in policies:
        if policy["cur_khz"] is not None:
            for cpu in policy["cpus"]:
                khz_of_cpu[cpu] = policy["cur_khz"]
    summary = {}
    for node, cpus in sorted(nodes.items()):
        hertz = [khz_of_cpu[cpu] * 1000 for cpu in cpus if cpu in khz_of_cpu]
        if hertz:
            summary[node] = {"min": min(hertz), "median": median(hertz), "max": max(hertz)}
    return summary


def throttle_counters(sysfs_root, nodes):
    """{node id: {counter: value}} from cpu*/thermal_throttle/*_count and *_total_time_ms.

    Core counters are summed over the node's CPUs. Package counters are the same in
    every CPU of a package, so the node gets their maximum instead of a multiple.
    """
    result = {}
    for node, cpus in sorted(nodes.items()):
        counters = {}
        for cpu in cpus:
            directory = os.path.join(cpu_dir(sysfs_root), "cpu%d" % cpu, "thermal_throttle")
            try:
                names = sorted(os.listdir(directory))
            except (IOError, OSError):
                continue
            for name in names:
                if not (name.endswith("_count") or name.endswith("_total_time_ms")):
                    continue
                value = _read_int(os.path.join(directory, name))
                if value is None:
                    continue
                if name.startswith("package_"):
                    counters[name] = max(counters.get(name, 0), value)
                else:
                    counters[name] = counters.get(name, 0) + value
        if counters:
            result[node] = counters
    return result


def read_all(sysfs_root):
    """Everything above in one dict, keyed as the thermal_facts module returns it."""
    nodes = node_cpus(sysfs_root)
    policies = cpufreq_policies(sysfs_root)
    return {
        "numastat": numastat(sysfs_root),
        "frequency_hz": frequency_summary(policies, nodes),
        "throttle": throttle_counters(sysfs_root, nodes),
        "governors": [{"governor": governor, "driver": driver, "policies": count}
                      for (governor, driver), count in sorted(governor_counts(policies).items())],
    }


def numa_maps_resident_kb(text):
    """/proc/PID/numa_maps into {node id: resident kB}: each mapping's Nx=pages x kernelpagesize_kB.

    Raises ValueError for a page size that is not an ASCII number.
    """
    resident = {}
    for line in (text or "").splitlines():
        page_kb = 4
        counts = []
        for word in line.split():
            if word.startswith("kernelpagesize_kB="):
                page_size = _NUMA_MAPS_PAGE_SIZE.match(word)
                if not page_size:
                    raise ValueError("expected kernelpagesize_kB=NUMBER, found %r" % word[:80])
                page_kb = int(page_size.group(1))
            else:
                count = _NUMA_MAPS_COUNT.match(word)
                if count:
                    counts.append((int(count.group(1)), int(count.group(2))))
        for node, pages in counts:
            resident[node] = resident.get(node, 0) + pages * page_kb
    return resident


def read_numa_maps_resident_kb(procfs_root, pid):
    """numa_maps_resident_kb of procfs_root/PID/numa_maps; None when the process is gone."""
    path = os.path.join(procfs_root, str(pid), "numa_maps")
    text = _read(path, missing=(errno.ENOENT, errno.ENOTDIR, errno.ESRCH), limit=NUMA_MAPS_LIMIT)
    if text is None:
        return None
    try:
        return numa_maps_resident_kb(text)
    except ValueError as exc:
        raise TelemetryError("%s: %s" % (path, exc))
