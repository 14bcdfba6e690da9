# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel cpulist strings ("0-3,8,10-11") to sorted id lists and back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class CpulistError(ValueError):
    """A cpulist string that the kernel would not have written."""


def _parse_id(token, text):
    token = token.strip()
    if not token.isdigit():
        raise CpulistError("invalid cpulist %r: %r is not a non-negative integer" % (text, token))
    return int(token)


def _parse_range(chunk, text):
    # The kernel also writes strided ranges ("0-31:2/4") for some masks; they are
    # rare in sysfs node/cpu lists and are expanded here rather than rejected.
    span, _sep, stride = chunk.partition(":")
    first_text, dash, last_text = span.partition("-")
    first = _parse_id(first_text, text)
    last = _parse_id(last_text, text) if dash else first
    if last < first:
        raise CpulistError("invalid cpulist %r: range %r runs backwards" % (text, chunk))
    if not stride:
        return range(first, last + 1)
    used_text, slash, group_text = stride.partition("/")
    used = _parse_id(used_text, text)
    group = _parse_id(group_text, text) if slash else used
    if used == 0 or group == 0 or used > group:
        raise CpulistError("invalid cpulist %r: bad stride in %r" % (text, chunk))
    return [cpu for base in range(first, last + 1, group)
            for cpu in range(base, min(base + used, last + 1))]


def parse_cpulist(text):
    """Return the sorted, de-duplicated ids of a cpulist such as ``0-3,8``.

    An empty or whitespace-only string is an empty list (a CPU-less node).
    """
    if text is None:
        raise CpulistError("invalid cpulist: None")
    text = str(text).strip()
    if not text:
        return []
    ids = set()
    for chunk in text.split(","):
        if not chunk.strip():
            raise CpulistError("invalid cpulist %r: empty element" % text)
        ids.update(_parse_range(chunk.strip(), text))
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
        raise CpulistError("invalid cpumask %r: expected comma-separated hex words of 32 bits" % text)
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
