# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Readers for the procfs files ktune decides from."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno

from ansible_collections.ktune.inference.plugins.module_utils.sysfs import (
    CPUINFO_BLOCK_LIMIT,
    HostFileError,
    parse_decimal,
    read_first_block,
    read_int,
    read_optional,
    under,
)


def parse_meminfo(text, path="meminfo"):
    """Parse /proc/meminfo or a node's meminfo into {field: kB}.

    Node files prefix each line with ``Node N``; that prefix is dropped.
    Fields without a unit (HugePages_Total) keep their raw count.
    """
    fields = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, colon, rest = line.partition(":")
        if not colon:
            raise HostFileError(path, "line without ':' %r" % line[:80])
        words = key.split()
        if len(words) == 3 and words[0] == "Node" and parse_decimal(words[1]) is not None:
            words = words[2:]
        if len(words) != 1:
            raise HostFileError(path, "expected FIELD: or Node N FIELD:, found %r" % key[:80])
        value = rest.split()
        number = parse_decimal(value[0]) if value else None
        if number is None or number < 0:
            raise HostFileError(path, "expected a number of kB for %s, found %r" % (words[0], rest.strip()[:80]))
        fields[words[0]] = number
    return fields


# Instruction sets inference kernels choose between (kt-kernel: AMX methods need
# amx_*, AVX-512 methods avx512f+avx512bw; the wrong one dies with SIGILL).
ISA_FLAGS = frozenset([
    "avx2", "fma", "avx_vnni",
    "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
    "amx_tile", "amx_int8", "amx_bf16", "amx_fp16",
])


def read_first_cpuinfo_block(procfs_root):
    """{field: value} of the first processor block of /proc/cpuinfo; {} without the file.

    Only the first block is read: on large hosts the kernel builds every block
    on demand and reading all of them is slow. x86 lists the same flags on
    every CPU.
    """
    path = under(procfs_root, "cpuinfo")
    try:
        lines = read_first_block(path, CPUINFO_BLOCK_LIMIT)
    except HostFileError as exc:
        if exc.errno == errno.ENOENT:
            return {}
        raise
    found = {}
    for line in lines:
        key, _sep, value = line.partition(":")
        found.setdefault(key.strip(), value.strip())
    return found


def read_cpu_identity(procfs_root):
    """Return (vendor, model_name) of the first CPU in /proc/cpuinfo."""
    found = read_first_cpuinfo_block(procfs_root)
    return found.get("vendor_id"), found.get("model name")


def cpu_family(cpuinfo):
    """The x86 "cpu family" number, None elsewhere."""
    number = parse_decimal(cpuinfo.get("cpu family", ""))
    return number if number is not None and number >= 0 else None


def isa_flags(cpuinfo):
    """Sorted ISA_FLAGS the CPU lists in its x86 "flags" line."""
    return sorted(ISA_FLAGS.intersection(cpuinfo.get("flags", "").split()))


def read_kernel_release(procfs_root):
    """uname -r as the kernel states it (sys/kernel/osrelease), None when absent."""
    return read_optional(under(procfs_root, "sys/kernel/osrelease")) or None


def read_numa_balancing(procfs_root):
    """Return kernel.numa_balancing as int, or None when the kernel lacks it."""
    return read_int(under(procfs_root, "sys/kernel/numa_balancing"), optional=True)
