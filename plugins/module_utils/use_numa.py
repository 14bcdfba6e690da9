# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a host's ktransformers should be built with NUMA support (USE_NUMA).

Used by the numa_env role (through the use_numa_decision filter) and by the fleet
audit, so both decide, and explain, the same way.

Facts behind it (domain notes §3): a NUMA build keeps one full copy of the expert
weights per configured NUMA node (numa_num_configured_nodes(), i.e. every node with
memory, memory-only nodes included) and binds worker threads to every node, which
fails on a node without CPUs. USE_NUMA is tested for being defined, so "off" means
the variable is absent, never USE_NUMA=0.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible.module_utils.parsing.convert_bool import boolean

MODES = ("auto", "true", "false")
_TRUE = ("true", "yes")
_FALSE = ("false", "no")
MIB_PER_GIB = 1024.0


class UseNumaInputError(ValueError):
    """An input value that makes no sense; the message names the variable."""


def parse_mode(value, variable="ktune_use_numa"):
    """Return 'auto', 'true' or 'false' from a bool or a string (as -e passes it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value.strip().lower()
        if text == "auto":
            return "auto"
        if text in _TRUE:
            return "true"
        if text in _FALSE:
            return "false"
    raise UseNumaInputError("%s must be auto, true or false, got %r" % (variable, value))


def parse_model_size_gb(value, variable="ktune_model_size_gb"):
    """Return the model size in GiB as a float, or None when unset; refuse negatives and text."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise UseNumaInputError("%s must be a number of GiB >= 0, got %r" % (variable, value))
    try:
        size = float(value)
    except (TypeError, ValueError):
        raise UseNumaInputError("%s must be a number of GiB >= 0, got %r" % (variable, value))
    if math.isnan(size) or math.isinf(size) or size < 0:
        raise UseNumaInputError("%s must be a number of GiB >= 0, got %r" % (variable, value))
    return size


def parse_bool(value, variable):
    try:
        return boolean(value, strict=True)
    except TypeError:
        raise UseNumaInputError("%s must be true or false, got %r" % (variable, value))


def _gib(mib):
    return "%.1f GiB" % (mib / MIB_PER_GIB)


def _size(gib):
    return ("%d GiB" % gib) if gib == int(gib) else ("%.1f GiB" % gib)


def _nodes(ids):
    return ", ".join(str(node) for node in ids)


def memory_needed_mib(model_size_gb, node_count):
    return model_size_gb * MIB_PER_GIB * node_count


def decide(numa, use_numa="auto", model_size_gb=None, allow_memory_only_nodes=False):
    """Return {enabled, reason, problems, mode} for a host's ktune_numa fact.

    problems is non-empty only when ktune_use_numa is true and NUMA cannot work on the host;
    with auto the same conditions turn NUMA off and the reason says why.
    """
    mode = parse_mode(use_numa)
    size = parse_model_size_gb(model_size_gb)
    allow = parse_bool(allow_memory_only_nodes, "ktune_allow_memory_only_nodes")
    if mode == "false":
        return _result(False, mode, "ktune_use_numa is false: USE_NUMA must be absent (any value, 0 included, "
                                    "turns NUMA support on)")

    cpu_nodes = numa.get("cpu_node_count") or 0
    memory_nodes = numa.get("memory_node_count") or 0
    memory_only = list(numa.get("memory_only_nodes") or [])
    ram_mib = numa.get("memory_total_mb") or 0

    blockers = []
    if not numa.get("available"):
        blockers.append(("the kernel exposes no NUMA nodes (no CONFIG_NUMA, or numa=off)",
                         "boot a NUMA kernel, or set ktune_use_numa: false"))
    elif cpu_nodes <= 1 and mode == "auto":
        return _result(False, mode, "auto: %d NUMA node with CPUs, a NUMA build gains nothing" % cpu_nodes)
    if memory_only and not allow:
        blockers.append((
            "memory-only NUMA node%s %s (memory, no CPUs): a NUMA build binds worker threads to every node and "
            "fails with numa_sched_setaffinity_v2_int() failed: Invalid argument"
            % ("s" if len(memory_only) > 1 else "", _nodes(memory_only)),
            "take the CXL/HBM/PMEM memory offline or out of the NUMA layout, set "
            "ktune_allow_memory_only_nodes: true if the build copes with them, or set ktune_use_numa: false"))
    if size is not None and memory_nodes and ram_mib < memory_needed_mib(size, memory_nodes):
        blockers.append((
            "a NUMA build keeps one copy of the model per NUMA node with memory: %s x %d nodes = %s needed, "
            "the host has %s of RAM" % (_size(size), memory_nodes, _gib(memory_needed_mib(size, memory_nodes)),
                                        _gib(ram_mib)),
            "set the BIOS to NPS1 (or fewer NUMA nodes per socket, SNC off on Intel) so fewer copies are "
            "kept, or set ktune_use_numa: false"))

    if mode == "auto":
        if blockers:
            return _result(False, mode, "auto: off because " + "; ".join(what for what, _unused in blockers))
        return _result(True, mode, _on_reason(mode, cpu_nodes, memory_nodes, size, ram_mib))
    problems = ["ktune_use_numa is true but %s. Fix: %s" % (what, fix) for what, fix in blockers]
    if problems:
        return _result(False, mode, "ktune_use_numa is true but NUMA cannot work on this host", problems)
    return _result(True, mode, _on_reason(mode, cpu_nodes, memory_nodes, size, ram_mib))


def _on_reason(mode, cpu_nodes, memory_nodes, size, ram_mib):
    if mode == "true":
        why = "ktune_use_numa is true"
        if cpu_nodes <= 1:
            why += " (only %d NUMA node with CPUs: a NUMA build gains nothing here)" % cpu_nodes
    else:
        why = "auto: %d NUMA nodes with CPUs" % cpu_nodes
    if size is None:
        return why + " (no ktune_model_size_gb: memory for %d model copies not checked)" % memory_nodes
    return why + "; %s x %d nodes = %s fits in %s of RAM" % (
        _size(size), memory_nodes, _gib(memory_needed_mib(size, memory_nodes)), _gib(ram_mib))


def _result(enabled, mode, reason, problems=None):
    return {"enabled": enabled, "mode": mode, "reason": reason, "problems": list(problems or [])}
