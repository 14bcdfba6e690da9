# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What makes two benchmark runs comparable: the hardware, software and load fingerprint.

A baseline is only a reference for a run on identical hardware, with the same software and
the same load: a host is never judged against figures from another CPU, layout, GPU or
ktransformers version. The fingerprint is built from the host's ktune_numa facts (read by
numa_facts), the versions and quantisation the operator names, and the benchmark settings;
fingerprint_key() names it in a file path, fingerprint_differences() says what differs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

# BMC graphics (ASPEED) are a PCI display controller but no inference device.
NOT_A_GPU_VENDORS = ("0x1a03",)
# The benchmark settings that change the figures (the URL does not: a port move is no new load).
LOAD_SETTINGS = ("model", "prompt", "max_tokens", "requests", "concurrency", "request_rate", "burstiness",
                 "arrival_seed", "slo")
# Load settings that joined later: part of the load only when set, so a baseline recorded
# before them keeps its key. The number of repetitions is no part of it: each repetition is
# the same load, and the gate's confidence takes the counts into account.
OPTIONAL_LOAD_SETTINGS = ("warmup_requests", "warmup_s", "request_rates")
# Reading order of a refusal: the hardware first, then the software, then the load.
FIELDS = (("cpu_model", "CPU model"), ("sockets", "sockets"), ("layout", "NUMA layout"),
          ("cpus_online", "CPUs online"), ("threads_per_core", "threads per core"),
          ("node_memory_gib", "memory per node (GiB)"), ("dimms", "DIMM population"), ("gpus", "GPUs"),
          ("kernel", "kernel"), ("software", "software"), ("load", "load settings"))


def hardware_fingerprint(numa, extra=None, settings=None):
    """The fingerprint of a run as a dict of FIELDS.

    numa: the ktune_numa facts; extra: what the facts cannot read, named by the operator
    (ktransformers, kt_kernel and sglang versions, quantisation, gpu, dimms); settings: the
    benchmark settings of the run.
    """
    numa = numa or {}
    extra = dict(extra or {})
    nodes = numa.get("nodes") or []
    gpus = ["%s:%s" % (gpu.get("vendor"), gpu.get("device")) for gpu in numa.get("gpus") or []
            if gpu.get("vendor") not in NOT_A_GPU_VENDORS]
    if extra.get("gpu"):
        gpus = [str(extra.pop("gpu"))] + gpus
    dimms = extra.pop("dimms", None)
    settings = settings or {}
    return {
        "cpu_model": numa.get("model_name"),
        "sockets": numa.get("sockets"),
        "layout": numa.get("layout") if numa.get("available", True) else "no NUMA",
        "cpus_online": numa.get("cpus_online"),
        "threads_per_core": numa.get("threads_per_core"),
        # Rounded to GiB: MemTotal moves by some MiB between boots (kernel reservations).
        "node_memory_gib": [int(round((node.get("memory_mb") or 0) / 1024.0)) for node in nodes],
        "dimms": None if dimms is None else str(dimms),
        "gpus": gpus,
        "kernel": numa.get("kernel_release"),
        "software": dict((str(name), None if value is None else str(value)) for name, value in sorted(extra.items())),
        "load": load_settings(settings),
    }


def load_settings(settings):
    load = dict((name, settings.get(name)) for name in LOAD_SETTINGS)
    load.update((name, settings[name]) for name in OPTIONAL_LOAD_SETTINGS if settings.get(name))
    return load


def fingerprint_key(fingerprint):
    """A short stable name for a fingerprint (16 hex digits), for a file or folder name."""
    canonical = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def fingerprint_differences(baseline, current):
    """['CPU model AMD EPYC 9375F -> AMD EPYC 9575F', ...]: every field that differs, in FIELDS order."""
    baseline = baseline or {}
    current = current or {}
    differences = []
    for field, label in FIELDS:
        before, after = baseline.get(field), current.get(field)
        if before == after:
            continue
        if isinstance(before, dict) or isinstance(after, dict):
            before, after = before or {}, after or {}
            for name in sorted(set(before) | set(after)):
                if before.get(name) != after.get(name):
                    differences.append("%s %s %s -> %s" % (label, name, _show(before.get(name)), _show(after.get(name))))
        else:
            differences.append("%s %s -> %s" % (label, _show(before), _show(after)))
    return differences


def _show(value):
    if value is None or value == "" or value == []:
        return "unset"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)
