# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel cpulist strings ("0-3,8,10-11") to sorted id lists and back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re


class CpulistError(ValueError):
    """A cpulist string that the kernel would not have written."""


# Mainline Kconfig caps NR_CPUS at 8192 today (x86_64 with CPUMASK_OFFSTACK, powerpc); ids up
# to 65535 leave room for larger machines while one list stays at most 65536 ids (a few MiB).
MAX_CPU_ID = 65535
MAX_CPUS = MAX_CPU_ID + 1
# ASCII digits only: \d, str.isdigit() and int() also take the digits of other scripts.
# At most 20 digits, so int() never converts an endless number.
_CHUNK = re.compile(r"[ \t]*([0-9]{1,20})[ \t]*(?:-[ \t]*([0-9]{1,20})[ \t]*"
                    r"(?::[ \t]*([0-9]{1,20})[ \t]*(?:/[ \t]*([0-9]{1,20})[ \t]*)?)?)?\Z")
_BLANK = " \t\r\n"
_SHOWN = 80


def _shown(text):
    """repr of host text for a message, cut to a readable length."""
    return repr(text) if len(text) <= _SHOWN else repr(text[:_SHOWN]) + "..."


def _cpu_id(digits, text):
    number = int(digits)
    if number > MAX_CPU_ID:
        raise CpulistError("invalid cpulist %s: expected CPU ids up to %d, found %s" % (_shown(text), MAX_CPU_ID, digits))
    return number


def _parse_range(chunk, text):
    """(first, last, used, group) of one element; used == group for a plain range."""
    match = _CHUNK.match(chunk)
    if not match:
        raise CpulistError("invalid cpulist %s: expected a CPU id or range of ASCII digits (8, 0-3, 0-31:2/4), "
                           "found %s" % (_shown(text), _shown(chunk)))
    first_digits, last_digits, used_digits, group_digits = match.groups()
    first = _cpu_id(first_digits, text)
    last = _cpu_id(last_digits, text) if last_digits is not None else first
    if last < first:
        raise CpulistError("invalid cpulist %s: range %s runs backwards" % (_shown(text), _shown(chunk)))
    if used_digits is None:
        return first, last, 1, 1
    # The kernel also writes strided ranges ("0-31:2/4") for some masks; they are
    # rare in sysfs node/cpu lists and are expanded here rather than rejected.
    used = _cpu_id(used_digits, text)
    group = _cpu_id(group_digits, text) if group_digits is not None else used
    if used == 0 or group == 0 or used > group:
        raise CpulistError("invalid cpulist %s: bad stride in %s" % (_shown(text), _shown(chunk)))
    return first, last, used, group


def _range_size(first, last, used, group):
    full_groups, rest = divmod(last - first + 1, group)
    return full_groups * used + min(rest, used)


def _expand(first, last, used, group):
    if used == group:
        return range(first, last + 1)
    return [cpu for base in range(first, last + 1, group) for cpu in range(base, min(base + used, last + 1))]


def parse_cpulist(text):
    """Return the sorted, de-duplicated ids of a cpulist such as ``0-3,8``.

    An empty or whitespace-only string is an empty list (a CPU-less node). Raises
    CpulistError for anything else the kernel would not write, for an id above
    MAX_CPU_ID and for a list of more than MAX_CPUS ids, before expanding any range.
    """
    if text is None:
        raise CpulistError("invalid cpulist: None")
    text = str(text).strip(_BLANK)
    if not text:
        return []
    ranges = []
    size = 0
    for chunk in text.split(","):
        if not chunk.strip(_BLANK):
            raise CpulistError("invalid cpulist %s: empty element" % _shown(text))
        ranges.append(_parse_range(chunk, text))
        size += _range_size(*ranges[-1])
        if size > MAX_CPUS:
            raise CpulistError("invalid cpulist %s: expected at most %d CPUs, found more" % (_shown(text), MAX_CPUS))
    ids = set()
    for bounds in ranges:
        ids.update(_expand(*bounds))
    return sorted(ids)


def parse_cpumask(text):
    """Return the sorted ids set in a kernel cpumask such as ``00000000,000000ff``.

    The kernel writes the mask in hex, most significant 32-bit word first, words
    separated by commas (nodeN/cpumap on kernels without nodeN/cpulist).
    """
    if text is None:
        raise CpulistError("invalid cpumask: None")
    text = str(text).strip()
    words = text.split(",")
    if not text or any(not word or len(word) > 8 or any(ch not in _HEX for ch in word) for word in words):
        raise CpulistError("invalid cpumask %s: expected comma-separated hex words of 32 bits" % _shown(text))
    if len(words) * 32 > MAX_CPUS:
        raise CpulistError("invalid cpumask %s: expected at most %d words (%d CPUs), found %d"
                           % (_shown(text), MAX_CPUS // 32, MAX_CPUS, len(words)))
    mask = 0
    for word in words:
        mask = (mask << 32) | int(word, 16)
    ids = []
    cpu = 0
    while mask:
        if mask & 1:
            ids.append(cpu)
        mask >>= 1
        cpu += 1
    return ids


_HEX = frozenset("0123456789abcdefABCDEF")


def format_cpulist(ids):
    """Return the shortest kernel-style cpulist for an iterable of ids."""
    ordered = sorted(set(int(i) for i in ids))
    if any(i < 0 for i in ordered):
        raise CpulistError("invalid cpu ids %r: ids are non-negative" % (ordered,))
    parts = []
    start = prev = None
    for cpu in ordered:
        if start is None:
            start = prev = cpu
        elif cpu == prev + 1:
            prev = cpu
        else:
            parts.append(_format_run(start, prev))
            start = prev = cpu
    if start is not None:
        parts.append(_format_run(start, prev))
    return ",".join(parts)


def _format_run(first, last):
    return str(first) if first == last else "%d-%d" % (first, last)
