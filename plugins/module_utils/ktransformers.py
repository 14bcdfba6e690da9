# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ktransformers service instances: defaults from the NUMA facts, command lines, and checks.

Used by the ktransformers_service role through the filters ktransformers_instances,
ktransformers_command and ktransformers_problems, so the role, its tests and a fleet audit
derive the same flags and refuse the same input in the same words.

Facts behind it (domain notes, section 3):

- legacy server: ``ktransformers --model_path DIR --gguf_path DIR --port 10002 --cpu_infer N
  --max_new_tokens N --cache_lens N --max_batch_size N --backend_type balance_serve
  --optimize_config_path FILE [--force_think]``; no /health, probe GET /v1/models;
  --cpu_infer guidance: physical cores minus 2; rule: cache_lens > max_batch_size * max_new_tokens.
- kt-kernel through SGLang: ``python -m sglang.launch_server --kt-cpuinfer <physical cores>
  --kt-threadpool-count <NUMA nodes> [--kt-numa-nodes 2 3] ...``; port 30000, GET /health.
  Two variants: ktransformers' fork sglang-kt (the default, from ``pip install "ktransformers[sglang]"``)
  and sgl-project sglang (>= 0.5.5), which lacks the fork's --kt-numa-nodes and --kt-gpu-experts-ratio
  and refuses a whole command line that carries either. kt-kernel maps thread pool i to NUMA node i
  by itself, so --kt-numa-nodes is only written when the nodes are not 0..n-1.

tests/unit/plugins/module_utils/test_ktransformers_contract.py parses every command line built here
with the argument parsers of the released upstream packages (tests/fixtures/upstream/).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import math
import re

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import format_cpulist
from ansible_collections.ktune.inference.plugins.module_utils.host_telemetry import numa_maps_resident_kb

BACKENDS = ("legacy", "sglang")
NUMACTL_MODES = ("none", "bind", "interleave")
STATES = ("present", "absent")
LEGACY_BACKEND_TYPES = ("balance_serve", "ktransformers", "transformers")
UNIT_TEMPLATE = "ktransformers@.service"
CONFIG_DIR = "/etc/ktransformers"
PORT_MIN = 1024  # the service runs as an unprivileged user
PORT_MAX = 65535
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "[::1]", "localhost")

SGLANG_VARIANTS = ("sglang-kt", "sglang")
COMMON_FIELDS = ("name", "state", "backend", "model_path", "port", "host", "numactl", "numa_node",
                 "extra_args", "environment", "api_key", "health_timeout_s", "served_model_name",
                 "replicas", "share_cpus_with", "model_size_gb")
LEGACY_FIELDS = ("executable", "gguf_path", "cpu_infer", "max_new_tokens", "cache_lens", "max_batch_size",
                 "backend_type", "optimize_config_path", "chunk_size", "force_think")
SGLANG_FIELDS = ("python", "sglang_variant", "kt_weight_path", "kt_cpuinfer", "kt_threadpool_count",
                 "kt_numa_nodes", "kt_method", "kt_num_gpu_experts", "kt_gpu_experts_ratio",
                 "chunked_prefill_size", "mem_fraction_static", "max_running_requests", "max_total_tokens",
                 "trust_remote_code", "watchdog_timeout", "tensor_parallel_size", "cuda_visible_devices",
                 "attention_backend", "enable_metrics")
FIELDS = COMMON_FIELDS + LEGACY_FIELDS + SGLANG_FIELDS
BACKEND_FIELDS = {"legacy": LEGACY_FIELDS, "sglang": SGLANG_FIELDS}

DEFAULT_SETTINGS = {
    "backend": "legacy",
    "executable": "/usr/local/bin/ktransformers",
    "python": "/usr/bin/python3",
    "numactl": "none",
    "numactl_path": "/usr/bin/numactl",
    "numa_node": None,
    "api_key": None,
    "health_timeout_s": 1800,
    "health_interval_s": 10,
    "memory_reserve_mb": 8192,
    # ktune_model_size_gb: the host's model size, for the memory fit of instances not measured yet.
    "model_size_gb": None,
    "use_numa": False,
    "home": "/var/lib/ktransformers",
    "read_write_paths": [],
    # Loopback unless the operator opens it: the legacy server's API key guards one route only.
    "host": "127.0.0.1",
    "sglang_variant": "sglang-kt",
    "legacy_defaults": {
        "port": 10002, "max_new_tokens": 1024, "cache_lens": 32768, "max_batch_size": 4,
        "backend_type": "balance_serve", "chunk_size": 256, "force_think": False,
    },
    # kt_num_gpu_experts 0: every routed expert on the CPU. Left out, sglang-kt turns CPU offload off
    # and sgl-project sglang fails at load. watchdog_timeout: a CPU-MoE step is slow; kt run uses 3000 s.
    "sglang_defaults": {"port": 30000, "kt_method": "AMXINT4", "kt_num_gpu_experts": 0,
                        "watchdog_timeout": 3000, "enable_metrics": True, "trust_remote_code": False},
}

# The role settings that decide an instance's unit names and health URLs: what the readers that
# only judge (audit, monitoring, guard) take from the ktune_service_* variables of the same names.
READER_SETTINGS = ("backend", "legacy_defaults", "sglang_defaults", "executable", "python", "host",
                   "sglang_variant", "numactl", "numactl_path", "numa_node", "api_key")

# kt-kernel's INFERENCE_METHODS (kt_kernel/experts.py of kt-kernel 0.7.2; the contract tests compare
# this with the released wheel) and the CPU flags each needs, from the ISA each backend names when it
# is not compiled in (kt_kernel/utils/amx.py): any one of the flag sets will do. Methods without an
# entry name no CPU ISA of their own (SYCL runs on a device; LLAMAFILE and MOE_* have AVX2 paths).
KT_METHODS = ("AMXINT4", "AMXINT8", "BF16", "FP8", "FP8_PERCHANNEL", "GPTQ_INT4", "LLAMAFILE", "MOE_INT4",
              "MOE_INT8", "MXFP4", "MXFP8", "NVFP4", "RAWINT4", "SYCL_GPTQ_INT4")
_AVX512 = ("avx512f", "avx512bw")
KT_METHOD_ISA = {
    "AMXINT4": [_AVX512],
    "AMXINT8": [_AVX512],
    "FP8_PERCHANNEL": [_AVX512 + ("avx512_bf16",)],
    "RAWINT4": [_AVX512, ("avx2",)],
    "BF16": [_AVX512 + ("avx512_bf16",), ("avx2",)],
    "FP8": [_AVX512 + ("avx512_bf16",), ("avx2",)],
    "MXFP4": [_AVX512 + ("avx512_bf16",), ("avx2",)],
    "MXFP8": [_AVX512 + ("avx512_bf16",), ("avx2",)],
    "NVFP4": [("avx2",)],
    "GPTQ_INT4": [("avx2",)],
}
# Attention backends both variants accept (the contract tests check it against their choices).
ATTENTION_BACKENDS = ("aiter", "fa3", "fa4", "flashinfer", "flashmla", "flex_attention", "intel_amx", "nsa",
                      "torch_native", "triton", "trtllm_mha", "trtllm_mla", "wave")
SERVED_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}\Z")

# Instance names become unit instance names and file names under /etc/ktransformers:
# no escaping needed in either, and no name that looks like an option or a hidden file.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z")
# Words of the command line reach the unit through an EnvironmentFile= value that systemd
# splits at whitespace ($KTUNE_COMMAND): no whitespace, quotes, backslashes or $ in them.
UNSAFE_WORD = re.compile(r"[\s\"'\\$`]|[\x00-\x1f\x7f]")
# A path written into the unit file itself (HOME, WorkingDirectory=, ReadWritePaths=): systemd
# also expands % specifiers there (%h, %i, ...).
UNIT_UNSAFE_PATH = re.compile(r"[\s\"'\\$`%]|[\x00-\x1f\x7f]")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
RESERVED_ENV = ("HOME", "USE_NUMA", "CREDENTIALS_DIRECTORY", "RUNTIME_DIRECTORY")
API_KEY_PATTERN = re.compile(r"^[A-Za-z0-9._~+/=:-]{8,256}\Z")
API_KEY_FLAGS = ("--api_key", "--api-key")


def not_plain_text(value):
    """Whether VALUE holds a character that is not printable text: C1 controls, line and paragraph
    separators, format characters, noncharacters, lone surrogates, unassigned code points. systemd
    refuses such a value in a unit or an environment file (or cannot read it back as written), and
    a lone surrogate cannot even be written as UTF-8."""
    return not all(char.isprintable() or char in " \t" for char in value)


# Flags the role sets (listen address, port) or must never set (the key): an extra word that
# names one, or abbreviates one (argparse accepts any unambiguous prefix), would override it unseen.
MANAGED_FLAGS = ("--host", "--port") + API_KEY_FLAGS


# Sharded serving: one replica per NUMA node (with CPUs and memory) or per socket, behind a router
# on the entry's port; the replicas listen on the ports after it.
REPLICA_LAYOUTS = ("per_numa_node", "per_socket")
REPLICA_SUFFIX = {"per_numa_node": "node", "per_socket": "socket"}
# What the expansion decides for each replica: set on a sharded entry, they would contradict it.
REPLICA_DECIDES = ("numactl", "numa_node", "kt_numa_nodes", "kt_threadpool_count", "cuda_visible_devices")


class InstanceError(ValueError):
    """Settings that cannot be turned into a command line; the message names the variable."""


# Stands for a set API key where only its presence matters (it passes the key pattern).
SECRET_PLACEHOLDER = "ktune-redacted-api-key"
# What an environment file would change in a value: quotes, backslashes, $ and control characters.
ENV_VALUE_REFUSED = re.compile(r"[\"\\$`]|[\x00-\x1f\x7f]")


def env_value_refused(value):
    """Whether systemd would not read VALUE back unchanged from a double-quoted environment-file
    value: quotes, backslashes, $, control characters, and any character that is not printable text."""
    return bool(ENV_VALUE_REFUSED.search(value)) or not_plain_text(value)


def instances_without_secrets(instances):
    """ktune_service_instances with each set api_key and each environment value replaced by
    SECRET_PLACEHOLDER (a single key too).

    The readers that only judge (audit, rollout gate, monitoring, guard) need to know that a key is
    set and which variables an instance sets, not their values (a variable may hold a token), and
    must not carry them in module arguments Ansible may log.
    """
    # An inline vault value (ansible-core 2.16-2.18) is no str but a secret all the same.
    if isinstance(instances, str) or getattr(instances, "__ENCRYPTED__", False):
        return SECRET_PLACEHOLDER if instances else instances
    if not isinstance(instances, list):
        return instances
    return [_instance_without_secrets(item) if isinstance(item, dict) else item for item in instances]


def _instance_without_secrets(instance):
    public = dict(instance)
    if public.get("api_key"):
        public["api_key"] = SECRET_PLACEHOLDER
    if isinstance(public.get("environment"), dict):
        public["environment"] = dict((name, _value_without_secret(value))
                                     for name, value in public["environment"].items())
    return public


def _value_without_secret(value):
    # A value the role would refuse keeps a shape it refuses too (so the readers still report it),
    # never its text.
    if isinstance(value, bool):
        return value
    if not isinstance(value, (str, int, float)):
        return None
    return "$" if env_value_refused(str(value)) else SECRET_PLACEHOLDER


def merged_settings(settings):
    """Role settings over DEFAULT_SETTINGS (one level deep for the per-backend defaults)."""
    result = dict(DEFAULT_SETTINGS)
    for key, value in (settings or {}).items():
        if key in ("legacy_defaults", "sglang_defaults") and isinstance(value, dict):
            merged = dict(DEFAULT_SETTINGS[key])
            merged.update(dict((k, v) for k, v in value.items() if v is not None))
            result[key] = merged
        elif value is not None or key in ("numa_node", "api_key"):
            result[key] = value
    return result


def _label(index, raw):
    name = raw.get("name") if isinstance(raw, dict) else None
    return "ktune_service_instances[%d]%s" % (index, " (%s)" % name if isinstance(name, str) and name else "")


def _is_int(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and re.match(r"^\s*-?[0-9]+\s*\Z", value) is not None


def _to_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "on", "1"):
        return True
    if isinstance(value, str) and value.strip().lower() in ("false", "no", "off", "0"):
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(value)


def threads_per_core(numa):
    cores = numa.get("physical_cores") or 0
    cpus = numa.get("cpus_online") or 0
    return max(1, int(round(float(cpus) / cores))) if cores else 1


def node_physical_cores(numa, node):
    """Physical cores of one node: its online CPUs over the host's threads per core."""
    return max(1, len(node.get("cpus") or []) // threads_per_core(numa))


def _node(numa, node_id):
    for node in numa.get("nodes") or []:
        if node.get("id") == node_id:
            return node
    return None


def default_bind_node(numa, gpu_node=None):
    """The GPU's node when it has CPUs and memory, else the first such node.

    numactl --membind fails on a memoryless node; a GPU on another node pays a cross-node hop on
    every transfer.
    """
    memoryless = set(numa.get("memoryless_cpu_nodes") or [])
    if gpu_node in (numa.get("cpu_node_ids") or []) and gpu_node not in memoryless:
        return gpu_node
    for node_id in numa.get("cpu_node_ids") or []:
        if node_id not in memoryless:
            return node_id
    return None


def interleave_nodes(numa):
    """Nodes with CPUs and memory: memory-only nodes (CXL, HBM) are slow or far for the weights."""
    memoryless = set(numa.get("memoryless_cpu_nodes") or [])
    return [node_id for node_id in numa.get("cpu_node_ids") or [] if node_id not in memoryless]


class _Checker(object):
    """Collects problems for one instance; each names the variable, what is expected, what was found."""

    def __init__(self, label, raw, problems):
        self.label = label
        self.raw = raw
        self.problems = problems

    def add(self, field, message):
        self.problems.append("%s: %s%s" % (self.label, "%s " % field if field else "", message))

    def integer(self, field, value, minimum, maximum=None, fix=None):
        if not _is_int(value):
            self.add(field, "= %r is not a whole number: expected an integer >= %d%s"
                     % (value, minimum, "" if fix is None else ". Fix: %s" % fix))
            return None
        number = int(value)
        if number < minimum or (maximum is not None and number > maximum):
            expected = ">= %d" % minimum if maximum is None else "in %d-%d" % (minimum, maximum)
            self.add(field, "= %d is out of range: expected an integer %s%s"
                     % (number, expected, "" if fix is None else ". Fix: %s" % fix))
            return None
        return number

    def path(self, field, value, required):
        if value is None or value == "":
            if required:
                self.add(field, "is missing: expected an absolute path. Fix: set %s for this instance" % field)
            return None
        if not isinstance(value, str) or not value.startswith("/"):
            self.add(field, "= %r is not an absolute path. Fix: give the full path, starting with /" % (value,))
            return None
        if UNSAFE_WORD.search(value) or not_plain_text(value):
            self.add(field, "= %r contains whitespace, a quote, a backslash, $ or a character that is not "
                            "printable text: the command line reaches "
                            "systemd through an environment file, split at whitespace. Fix: move or link the "
                            "files to a path without them" % value)
            return None
        return value.rstrip("/") or "/"


def _normalise(raw, index, settings, numa, replica=None):
    """Return (instance with every field resolved, problems). The instance is None when unusable.

    replica: for one replica of a sharded entry (expand_entries), the nodes it is bound to.
    """
    problems = []
    if not isinstance(raw, dict):
        problems.append("ktune_service_instances[%d] = %r is not a dictionary: expected one with at least "
                        "name and model_path" % (index, raw))
        return None, problems
    check = _Checker(_label(index, raw), raw, problems)
    unknown = sorted(str(key) for key in raw if key not in FIELDS)
    if unknown:
        check.add(None, "unknown setting%s %s: expected some of %s. Fix: check the spelling"
                  % ("s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(FIELDS)))

    name = raw.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        check.add("name", "= %r is not safe as a systemd instance and file name: expected 1-64 letters, digits, "
                          "'_', '.' or '-', starting with a letter or digit, such as deepseek-r1. Fix: rename "
                          "the instance" % (name,))
        name = None

    state = raw.get("state", "present")
    if state not in STATES:
        check.add("state", "= %r is not a state: expected present or absent" % (state,))
        return None, problems

    backend = raw.get("backend", settings["backend"])
    if backend not in BACKENDS:
        check.add("backend", "= %r is not a known backend: expected legacy (the ktransformers server) or "
                             "sglang (kt-kernel through python -m sglang.launch_server)" % (backend,))
        return None, problems
    other = "sglang" if backend == "legacy" else "legacy"
    foreign = [field for field in BACKEND_FIELDS[other] if field in raw]
    if foreign:
        check.add(None, "%s %s only for backend %s, and this instance uses %s. Fix: remove %s, or set "
                        "backend: %s" % (", ".join(foreign), "is" if len(foreign) == 1 else "are", other, backend,
                                         "it" if len(foreign) == 1 else "them", other))

    instance = {"name": name, "index": index, "label": check.label, "state": state, "backend": backend}
    if replica:
        instance.update(replica_of=replica["of"], replicas=replica["layout"], router_port=replica["router_port"],
                        router_metrics_port=replica.get("metrics_port"), numa_nodes=list(replica["nodes"]))
    instance["entry"] = replica["of"] if replica else name
    instance["share_cpus_with"] = _names(check, raw.get("share_cpus_with"))
    instance["model_size_gb"] = _size_gb(check, "model_size_gb", raw.get("model_size_gb"))
    if state == "absent":
        return (instance if name else None), problems

    defaults = settings["%s_defaults" % backend]

    def pick(field):
        value = raw.get(field)
        return defaults.get(field) if value is None else value

    instance["model_path"] = check.path("model_path", raw.get("model_path"), True)
    instance["port"] = check.integer("port", pick("port"), PORT_MIN, PORT_MAX,
                                     "pick a free port in %d-%d (the service runs unprivileged)"
                                     % (PORT_MIN, PORT_MAX))
    host = pick("host")
    if host is None:
        host = settings.get("host")
    if not isinstance(host, str) or not re.match(r"^[A-Za-z0-9.:\[\]-]+\Z", host or ""):
        check.add("host", "= %r is not an address to listen on: expected 127.0.0.1 (the default), 0.0.0.0 or "
                          "another address of the host" % (host,))
        host = None
    if replica:
        # The entry's address is the router's; its replicas answer the router alone, on loopback.
        instance["router_host"] = host
        host = "127.0.0.1" if host is not None else None
    instance["host"] = host
    served = raw.get("served_model_name")
    if served is not None and (not isinstance(served, str) or not SERVED_NAME_PATTERN.match(served)):
        check.add("served_model_name", "= %r is not a model id: expected 1-128 letters, digits and ._:/- such as "
                                       "DeepSeek-R1" % (served,))
        served = None
    instance["served_model_name"] = served
    instance["health_timeout_s"] = check.integer(
        "health_timeout_s", raw.get("health_timeout_s", settings["health_timeout_s"]), 1,
        fix="give the seconds a model load may take (loading can take many minutes)")

    numactl = raw.get("numactl", settings["numactl"])
    if numactl is None or numactl is False:
        numactl = "none"
    if numactl not in NUMACTL_MODES:
        check.add("numactl", "= %r is not a numactl mode: expected none, bind (one node, for development "
                             "hosts) or interleave" % (numactl,))
        numactl = None
    if numactl == "interleave" and not interleave_nodes(numa):
        check.add("numactl", "= interleave needs NUMA nodes with CPUs and memory, and the host shows none (%s): "
                             "numactl refuses an empty --interleave=. Fix: set numactl: none"
                  % ("the kernel has no NUMA support" if not numa.get("available") else "no node has both"))
        numactl = None
    instance["numactl"] = numactl
    if replica:
        nodes = replica["nodes"]
        instance["numa_node"] = nodes[0] if len(nodes) == 1 else None
    else:
        instance["numa_node"] = _bind_node(check, raw.get("numa_node", settings["numa_node"]), numactl, numa,
                                           _gpu_node(raw, numa))

    extra_args = raw.get("extra_args") or []
    if not isinstance(extra_args, list) or not all(isinstance(arg, (str, int, float)) and not isinstance(arg, bool)
                                                   for arg in extra_args):
        check.add("extra_args", "= %r is not a list of words: expected a list such as "
                                "[\"--attention-backend\", \"flashinfer\"]" % (extra_args,))
        extra_args = []
    extra_args = [str(arg) for arg in extra_args]
    for arg in extra_args:
        if UNSAFE_WORD.search(arg) or not_plain_text(arg) or arg == "":
            check.add("extra_args", "word %r is empty or contains whitespace, a quote, a backslash, $ or a "
                                    "character that is not printable text: give "
                                    "each word as its own list item, without quoting" % arg)
        flag = managed_flag(arg)
        if flag in API_KEY_FLAGS:
            check.add("extra_args", "contains %s (%s): the API key must never be on the command line, where every "
                                    "user sees it in ps. Fix: set api_key for the instance (or "
                                    "ktune_service_api_key); it goes to a root-only credentials file"
                      % (arg.split("=", 1)[0], flag))
        elif flag:
            check.add("extra_args", "contains %s, which sets %s (the servers' argparse takes any unambiguous "
                                    "abbreviation): the role sets it from the instance's %s and the audit checks it. "
                                    "Fix: set %s on the instance instead"
                      % (arg.split("=", 1)[0], flag, flag[2:], flag[2:]))
    instance["extra_args"] = extra_args

    instance["environment"] = _environment(check, raw.get("environment"))
    instance["api_key"] = _api_key(check, raw.get("api_key", settings["api_key"]))
    if backend == "sglang" and instance["api_key"] and "--config" in extra_args:
        check.add("extra_args", "contains --config, and sglang takes one config file only: the role passes the "
                                "API key through --config. Fix: move those settings into extra_args")

    if backend == "legacy":
        _legacy(check, raw, pick, instance, settings, numa)
    else:
        _sglang(check, raw, pick, instance, settings, numa)
    return instance, problems


def _gpu_node(raw, numa):
    """NUMA node of the instance's first GPU, when the facts know it (ktune_numa.gpus).

    The GPU is the first of cuda_visible_devices (CUDA numbers GPUs in PCI bus order, which the role
    sets with CUDA_DEVICE_ORDER=PCI_BUS_ID), else GPU 0.
    """
    gpus = sorted((gpu for gpu in numa.get("gpus") or [] if isinstance(gpu, dict)
                   and str(gpu.get("vendor", "")).lower() in ("0x10de", "nvidia")),
                  key=lambda gpu: str(gpu.get("address", "")))
    devices = raw.get("cuda_visible_devices") if isinstance(raw, dict) else None
    index = devices[0] if isinstance(devices, list) and devices and _is_int(devices[0]) else 0
    if 0 <= int(index) < len(gpus) and _is_int(gpus[int(index)].get("numa_node")):
        node = int(gpus[int(index)].get("numa_node"))
        return node if node >= 0 else None
    return None


def _bind_node(check, value, numactl, numa, gpu_node=None):
    if numactl != "bind":
        if value not in (None, ""):
            check.add("numa_node", "= %r is only used with numactl: bind. Fix: remove it or set numactl: bind"
                      % (value,))
        return None
    cpu_nodes = numa.get("cpu_node_ids") or []
    if value in (None, ""):
        node = default_bind_node(numa, gpu_node)
        if node is None:
            check.add("numactl", "= bind needs a NUMA node with CPUs and memory, and the host has none "
                                 "(CPU nodes: %s). Fix: set numactl: none" % (format_cpulist(cpu_nodes) or "none"))
        return node
    if not _is_int(value):
        check.add("numa_node", "= %r is not a node id: expected one of the nodes with CPUs, %s"
                  % (value, format_cpulist(cpu_nodes) or "none"))
        return None
    node = int(value)
    if node not in cpu_nodes:
        check.add("numa_node", "= %d is not a NUMA node with CPUs: expected one of %s (memory-only nodes "
                               "have no CPUs to run on)" % (node, format_cpulist(cpu_nodes) or "none"))
        return None
    if node in (numa.get("memoryless_cpu_nodes") or []):
        check.add("numa_node", "= %d has no memory (0 MB): numactl --membind=%d would fail. Fix: bind to a node "
                               "with memory, such as %s" % (node, node, default_bind_node(numa)))
        return None
    return node


def _environment(check, value):
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        check.add("environment", "= %r is not a dictionary of variable names to values" % (value,))
        return {}
    result = {}
    for key in sorted(value, key=str):
        item = value[key]
        if not isinstance(key, str) or not ENV_NAME.match(key):
            check.add("environment", "name %r is not a variable name: expected letters, digits and _" % (key,))
            continue
        if key in RESERVED_ENV or key.startswith("KTUNE_"):
            check.add("environment", "sets %s, which the role or systemd manages (HOME, USE_NUMA, KTUNE_*, "
                                     "CREDENTIALS_DIRECTORY, RUNTIME_DIRECTORY). Fix: remove it" % key)
            continue
        if isinstance(item, bool):
            item = "1" if item else "0"
        if item is None or not isinstance(item, (str, int, float)):
            check.add("environment", "%s = %r is not a string or a number" % (key, item))
            continue
        item = str(item)
        if env_value_refused(item):
            # Never echo the value: environment values may be tokens.
            check.add("environment", "%s contains a quote, a backslash, $, a control character or another "
                                     "character that is not printable text, which an environment file would "
                                     "change" % key)
            continue
        result[key] = item
    return result


def _api_key(check, value):
    if value in (None, ""):
        return None
    if not isinstance(value, str) or not API_KEY_PATTERN.match(value):
        # Never echo the key itself.
        check.add("api_key", "is not usable: expected 8-256 characters from letters, digits and ._~+/=:- (it is "
                             "written into a YAML file and an environment file unquoted-safe). Fix: generate one "
                             "with openssl rand -hex 32")
        return None
    return value


def _legacy(check, raw, pick, instance, settings, numa):
    instance["executable"] = check.path("executable", raw.get("executable", settings["executable"]), True)
    instance["gguf_path"] = check.path("gguf_path", raw.get("gguf_path"), True)
    instance["optimize_config_path"] = check.path("optimize_config_path", raw.get("optimize_config_path"), False)
    for field in ("max_new_tokens", "cache_lens", "max_batch_size", "chunk_size"):
        instance[field] = check.integer(field, pick(field), 1)
    backend_type = pick("backend_type")
    if backend_type not in LEGACY_BACKEND_TYPES:
        check.add("backend_type", "= %r is not a ktransformers backend: expected one of %s"
                  % (backend_type, ", ".join(LEGACY_BACKEND_TYPES)))
        backend_type = None
    instance["backend_type"] = backend_type
    rule = instance["optimize_config_path"]
    if backend_type == "balance_serve" and rule and not rule.endswith("-serve.yaml"):
        check.add("optimize_config_path", "= %s is not a balance_serve rule: backend_type balance_serve needs one of "
                                          "the *-serve.yaml optimize rules (such as DeepSeek-V3-Chat-serve.yaml); "
                                          "the others load modules balance_serve cannot run. Fix: point it at the "
                                          "-serve.yaml rule of the model, or leave it unset for the default"
                  % rule)
    try:
        instance["force_think"] = _to_bool(pick("force_think"))
    except ValueError:
        check.add("force_think", "= %r is not a boolean: expected true or false" % (pick("force_think"),))
        instance["force_think"] = False

    cpus = _cpus_available(instance, numa)
    default_cpu_infer = max(1, _cores_available(instance, numa) - 2)
    if raw.get("cpu_infer") is None:
        instance["cpu_infer"] = default_cpu_infer
    else:
        instance["cpu_infer"] = check.integer("cpu_infer", raw.get("cpu_infer"), 1, cpus or None,
                                              "use at most the %d CPUs %s; guidance: physical cores minus 2 = %d"
                                              % (cpus, _where(instance), default_cpu_infer))
    if None not in (instance["cache_lens"], instance["max_batch_size"], instance["max_new_tokens"]):
        product = instance["max_batch_size"] * instance["max_new_tokens"]
        if instance["cache_lens"] <= product:
            check.add("cache_lens", "= %d must be greater than max_batch_size * max_new_tokens = %d * %d = %d "
                                    "(ktransformers' rule for its KV cache). Fix: raise cache_lens above %d, or "
                                    "lower max_batch_size or max_new_tokens"
                      % (instance["cache_lens"], instance["max_batch_size"], instance["max_new_tokens"], product,
                         product))


def _sglang(check, raw, pick, instance, settings, numa):
    instance["python"] = check.path("python", raw.get("python", settings["python"]), True)
    variant = raw.get("sglang_variant", settings.get("sglang_variant"))
    if variant not in SGLANG_VARIANTS:
        check.add("sglang_variant", "= %r is not an SGLang variant: expected sglang-kt (ktransformers' fork, from "
                                    "pip install \"ktransformers[sglang]\") or sglang (sgl-project, >= 0.5.5)"
                  % (variant,))
        variant = None
    instance["sglang_variant"] = variant
    instance["kt_weight_path"] = check.path("kt_weight_path", raw.get("kt_weight_path"), True)
    instance["kt_method"] = _kt_method(check, pick("kt_method"), numa)
    instance["kt_num_gpu_experts"] = check.integer(
        "kt_num_gpu_experts", pick("kt_num_gpu_experts"), 0,
        fix="give the routed experts per MoE layer to keep on the GPU (0: all on the CPU)")
    _sglang_options(check, raw, pick, instance, numa)

    cpus = _cpus_available(instance, numa)
    cores = _cores_available(instance, numa)
    if raw.get("kt_cpuinfer") is None:
        instance["kt_cpuinfer"] = cores
    else:
        instance["kt_cpuinfer"] = check.integer("kt_cpuinfer", raw.get("kt_cpuinfer"), 1, cpus or None,
                                                "use at most the %d CPUs %s; guidance: the %d physical cores"
                                                % (cpus, _where(instance), cores))
    _thread_pools(check, raw, instance, numa)
    if instance["kt_cpuinfer"] is not None and instance["kt_threadpool_count"] is not None \
            and instance["kt_cpuinfer"] < instance["kt_threadpool_count"]:
        check.add("kt_cpuinfer", "= %d is below kt_threadpool_count = %d: kt-kernel splits kt_cpuinfer threads over "
                                 "the pools, so some pools would have none. Fix: raise kt_cpuinfer to at least %d or "
                                 "use fewer pools" % (instance["kt_cpuinfer"], instance["kt_threadpool_count"],
                                                      instance["kt_threadpool_count"]))
    if variant == "sglang":
        _sgl_project_limits(check, raw, instance)


def _kt_method(check, method, numa):
    if method not in KT_METHODS:
        check.add("kt_method", "= %r is not a kt-kernel inference method: expected one of %s"
                  % (method, ", ".join(KT_METHODS)))
        return None
    # Absent or empty (a cpuinfo without a flags line, as in test trees) is unknown: not refused.
    flags = numa.get("cpu_flags")
    needs = KT_METHOD_ISA.get(method)
    if isinstance(flags, list) and flags and needs and not any(set(need) <= set(flags) for need in needs):
        check.add("kt_method", "= %s needs the CPU flags %s, and this host has %s. Fix: pick a method the CPU runs, "
                               "such as %s" % (method, " or ".join("+".join(need) for need in needs),
                                               " ".join(flags) or "none of them", _methods_for(flags) or "none"))
        return None
    return method


def _methods_for(flags):
    return ", ".join(method for method in KT_METHODS if method in KT_METHOD_ISA and any(
        set(need) <= set(flags) for need in KT_METHOD_ISA[method]))


def _optional_bool(check, field, value):
    if value is None:
        return None
    try:
        return _to_bool(value)
    except ValueError:
        check.add(field, "= %r is not a boolean: expected true or false" % (value,))
        return None


def _fraction(check, field, value, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        number = None
    else:
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not 0 < number <= 1:
        check.add(field, "= %r is not a fraction: expected a number above 0 and at most 1 (%s)" % (value, what))
        return None
    return number


def _sglang_options(check, raw, pick, instance, numa):
    """The SGLang options upstream's tutorials and `kt run` use, each checked."""
    def count(field, minimum, fix):
        value = pick(field)
        return None if value is None else check.integer(field, value, minimum, fix=fix)

    instance["kt_gpu_experts_ratio"] = _fraction(check, "kt_gpu_experts_ratio", pick("kt_gpu_experts_ratio"),
                                                 "the share of all experts kept on the GPU")
    instance["chunked_prefill_size"] = count("chunked_prefill_size", 1, "give tokens per prefill chunk, such as 4096")
    instance["mem_fraction_static"] = _fraction(check, "mem_fraction_static", pick("mem_fraction_static"),
                                                "the share of GPU memory for weights and KV cache")
    instance["max_running_requests"] = count("max_running_requests", 1, "give the concurrent requests, such as 32")
    instance["max_total_tokens"] = count("max_total_tokens", 1, "give the KV cache size in tokens, such as 40000")
    instance["watchdog_timeout"] = count("watchdog_timeout", 1, "give seconds; a CPU-MoE step is slow (kt run: 3000)")
    instance["trust_remote_code"] = _optional_bool(check, "trust_remote_code", pick("trust_remote_code"))
    instance["enable_metrics"] = _optional_bool(check, "enable_metrics", pick("enable_metrics"))
    backend = pick("attention_backend")
    if backend is not None and backend not in ATTENTION_BACKENDS:
        check.add("attention_backend", "= %r is not an attention backend both SGLang variants accept: expected one "
                                       "of %s" % (backend, ", ".join(ATTENTION_BACKENDS)))
        backend = None
    instance["attention_backend"] = backend
    instance["cuda_visible_devices"] = _cuda_devices(check, pick("cuda_visible_devices"), numa)
    devices = instance["cuda_visible_devices"]
    tensor_parallel = pick("tensor_parallel_size")
    if tensor_parallel is None:
        tensor_parallel = len(devices) if devices else None
    else:
        gpus = len(devices) if devices else len(_nvidia_gpus(numa)) or None
        tensor_parallel = check.integer(
            "tensor_parallel_size", tensor_parallel, 1, gpus,
            "use at most the %s GPUs %s" % (gpus, "in cuda_visible_devices" if devices else "of the host"))
    instance["tensor_parallel_size"] = tensor_parallel
    if devices:
        environment = instance.get("environment") or {}
        if "CUDA_VISIBLE_DEVICES" in environment or "CUDA_DEVICE_ORDER" in environment:
            check.add("environment", "sets CUDA_VISIBLE_DEVICES or CUDA_DEVICE_ORDER, and cuda_visible_devices is set "
                                     "too. Fix: keep only cuda_visible_devices")
        environment = dict(environment)
        environment["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
        environment["CUDA_VISIBLE_DEVICES"] = ",".join(str(device) for device in devices)
        instance["environment"] = environment


def _nvidia_gpus(numa):
    return [gpu for gpu in numa.get("gpus") or [] if isinstance(gpu, dict)
            and str(gpu.get("vendor", "")).lower() in ("0x10de", "nvidia")]


def _gpu_count_text(known):
    if known == 0:
        return "it has no NVIDIA GPU on its PCI bus"
    return "it has %d NVIDIA GPU%s (0-%d)" % (known, "" if known == 1 else "s", known - 1)


def _cuda_devices(check, value, numa):
    if value is None:
        return None
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value or not all(_is_int(item) and int(item) >= 0 for item in value) \
            or len(set(int(item) for item in value)) != len(value):
        check.add("cuda_visible_devices", "= %r is not a list of distinct GPU indexes: expected such as [0, 1]"
                  % (value,))
        return None
    known = len(_nvidia_gpus(numa))
    devices = [int(item) for item in value]
    if numa.get("gpus") is not None and any(device >= known for device in devices):
        check.add("cuda_visible_devices", "= %s names GPUs the host does not have: %s"
                  % (" ".join(str(device) for device in devices), _gpu_count_text(known)))
        return None
    return devices


def _sgl_project_limits(check, raw, instance):
    """What sgl-project sglang lacks: the fork's --kt-numa-nodes and --kt-gpu-experts-ratio."""
    nodes = instance.get("kt_numa_nodes") or []
    if nodes and nodes != list(range(len(nodes))):
        check.add("kt_numa_nodes", "= %s: sgl-project sglang has no --kt-numa-nodes, and its kt-kernel puts thread "
                                   "pool i on NUMA node i (0-%d). Fix: set sglang_variant: sglang-kt, or use nodes "
                                   "0-%d (numactl: bind to node 0, or none)"
                  % (" ".join(str(node) for node in nodes), len(nodes) - 1, len(nodes) - 1))
    if instance.get("kt_gpu_experts_ratio") is not None:
        check.add("kt_gpu_experts_ratio", "is only in sglang-kt: sgl-project sglang refuses --kt-gpu-experts-ratio. "
                                          "Fix: set kt_num_gpu_experts instead, or sglang_variant: sglang-kt")


def _thread_pools(check, raw, instance, numa):
    if instance["numactl"] == "bind":
        allowed = bound_nodes(instance)
    else:
        allowed = list(numa.get("cpu_node_ids") or [])
    nodes = raw.get("kt_numa_nodes")
    count = raw.get("kt_threadpool_count")
    if nodes is not None:
        if isinstance(nodes, (int, str)) and not isinstance(nodes, bool):
            nodes = [nodes]
        if not isinstance(nodes, list) or not nodes or not all(_is_int(node) for node in nodes):
            check.add("kt_numa_nodes", "= %r is not a list of NUMA node ids: expected some of %s"
                      % (raw.get("kt_numa_nodes"), format_cpulist(allowed) or "none"))
            nodes = None
        else:
            nodes = [int(node) for node in nodes]
            wrong = [node for node in nodes if node not in allowed]
            if wrong or len(set(nodes)) != len(nodes):
                check.add("kt_numa_nodes", "= %s: expected distinct nodes with CPUs%s, from %s"
                          % (" ".join(str(node) for node in nodes),
                             " (numactl binds the instance to one node)" if instance["numactl"] == "bind" else "",
                             format_cpulist(allowed) or "none"))
                nodes = None
    if count is not None:
        count = check.integer("kt_threadpool_count", count, 1, max(1, len(allowed)) if allowed else None,
                              "use at most one thread pool per NUMA node with CPUs (%d)" % len(allowed))
    if nodes is None and raw.get("kt_numa_nodes") is None:
        nodes = allowed[:count] if count else allowed
    if count is None and raw.get("kt_threadpool_count") is None:
        count = len(nodes) if nodes else max(1, len(allowed))
    if nodes and count is not None and count != len(nodes):
        check.add("kt_threadpool_count", "= %d does not match kt_numa_nodes (%s, %d node%s): expected one thread "
                                         "pool per listed node. Fix: set both, or only one of them"
                  % (count, " ".join(str(node) for node in nodes), len(nodes), "" if len(nodes) == 1 else "s"))
    instance["kt_numa_nodes"] = nodes or []
    instance["kt_threadpool_count"] = count


def bound_nodes(instance):
    """The NUMA nodes numactl binds the instance to ([] without numactl bind)."""
    if instance.get("numactl") != "bind":
        return []
    if instance.get("numa_nodes"):
        return list(instance["numa_nodes"])
    return [] if instance.get("numa_node") is None else [instance["numa_node"]]


def _where(instance):
    nodes = bound_nodes(instance)
    if not nodes:
        return "online"
    return "of NUMA node%s %s" % ("" if len(nodes) == 1 else "s", format_cpulist(nodes))


def _bound_cpus(instance, numa):
    cpus = set()
    for node_id in bound_nodes(instance):
        cpus.update((_node(numa, node_id) or {}).get("cpus") or [])
    return sorted(cpus)


def _cpus_available(instance, numa):
    if bound_nodes(instance):
        return len(_bound_cpus(instance, numa))
    return numa.get("cpus_online") or 0


def _cores_available(instance, numa):
    if bound_nodes(instance):
        return sum(node_physical_cores(numa, _node(numa, node_id) or {}) for node_id in bound_nodes(instance))
    return max(1, numa.get("physical_cores") or 1)


def numactl_argv(instance, numa, numactl_path):
    """The numactl prefix for an instance: [] or the numactl words, built from the facts."""
    mode = instance.get("numactl") or "none"
    if mode == "bind":
        return [numactl_path, "--physcpubind=%s" % format_cpulist(_bound_cpus(instance, numa)),
                "--membind=%s" % format_cpulist(bound_nodes(instance))]
    if mode == "interleave":
        return [numactl_path, "--interleave=%s" % format_cpulist(interleave_nodes(numa))]
    return []


def server_argv(instance):
    """The server's own command line (without numactl)."""
    if instance["backend"] == "legacy":
        argv = [instance["executable"],
                "--model_path", instance["model_path"],
                "--gguf_path", instance["gguf_path"],
                # /v1/models answers with this id; without it the id is empty.
                "--model_name", instance.get("served_model_name") or instance["name"],
                "--host", instance["host"],
                "--port", str(instance["port"]),
                "--cpu_infer", str(instance["cpu_infer"]),
                "--max_new_tokens", str(instance["max_new_tokens"]),
                "--cache_lens", str(instance["cache_lens"]),
                "--max_batch_size", str(instance["max_batch_size"]),
                "--backend_type", instance["backend_type"],
                "--chunk_size", str(instance["chunk_size"])]
        if instance.get("optimize_config_path"):
            argv += ["--optimize_config_path", instance["optimize_config_path"]]
        if instance.get("force_think"):
            argv.append("--force_think")
    else:
        argv = [instance["python"], "-m", "sglang.launch_server",
                "--model-path", instance["model_path"],
                "--kt-weight-path", instance["kt_weight_path"],
                "--kt-cpuinfer", str(instance["kt_cpuinfer"]),
                "--kt-threadpool-count", str(instance["kt_threadpool_count"])]
        if needs_numa_nodes_flag(instance):
            argv += ["--kt-numa-nodes"] + [str(node) for node in instance["kt_numa_nodes"]]
        argv += ["--kt-method", instance["kt_method"],
                 "--kt-num-gpu-experts", str(instance["kt_num_gpu_experts"])]
        argv += _optional_sglang_words(instance)
        argv += ["--host", instance["host"], "--port", str(instance["port"])]
    return argv + list(instance.get("extra_args") or [])


def managed_flag(word):
    """The managed flag (MANAGED_FLAGS) a command-line word names or abbreviates, else None."""
    written = word.split("=", 1)[0]
    if not written.startswith("--") or len(written) < 3:
        return None
    # The spelling the word uses first (--api_key or --api-key), then either.
    for flag in sorted(MANAGED_FLAGS, key=lambda flag: not flag.startswith(written)):
        if flag.replace("_", "-").startswith(written.replace("_", "-")):
            return flag
    return None


def needs_numa_nodes_flag(instance):
    """--kt-numa-nodes only where it says something: kt-kernel puts pool i on node i by itself."""
    nodes = instance.get("kt_numa_nodes") or []
    return bool(nodes) and nodes != list(range(len(nodes))) and instance.get("sglang_variant") == "sglang-kt"


SGLANG_VALUE_FLAGS = (("kt_gpu_experts_ratio", "--kt-gpu-experts-ratio"),
                      ("chunked_prefill_size", "--chunked-prefill-size"),
                      ("mem_fraction_static", "--mem-fraction-static"),
                      ("max_running_requests", "--max-running-requests"),
                      ("max_total_tokens", "--max-total-tokens"),
                      ("watchdog_timeout", "--watchdog-timeout"),
                      ("tensor_parallel_size", "--tensor-parallel-size"),
                      ("attention_backend", "--attention-backend"),
                      ("served_model_name", "--served-model-name"))
SGLANG_SWITCHES = (("trust_remote_code", "--trust-remote-code"), ("enable_metrics", "--enable-metrics"))


def _optional_sglang_words(instance):
    words = []
    for field, option in SGLANG_VALUE_FLAGS:
        if instance.get(field) is not None:
            words += [option, str(instance[field])]
    for field, option in SGLANG_SWITCHES:
        if instance.get(field):
            words.append(option)
    return words


def _health(instance, settings):
    host = instance["host"]
    if host in WILDCARD_HOSTS:
        host = "127.0.0.1"
    elif ":" in host and not host.startswith("["):
        host = "[%s]" % host
    path = "/v1/models" if instance["backend"] == "legacy" else "/health"
    interval = max(1, int(settings.get("health_interval_s") or 1))
    retries = max(1, -(-int(instance["health_timeout_s"]) // interval))
    return {"health_path": path, "health_url": "http://%s:%d%s" % (host, instance["port"], path),
            "health_interval_s": interval, "health_retries": retries}


def _finish(instance, settings, numa):
    name = instance["name"]
    instance["unit"] = "ktransformers@%s.service" % name
    instance["env_file"] = "%s/%s.env" % (CONFIG_DIR, name)
    instance["credentials_file"] = "%s/%s.credentials" % (CONFIG_DIR, name)
    if instance["state"] == "absent":
        return instance
    prefix = numactl_argv(instance, numa, settings["numactl_path"])
    instance["numactl_argv"] = prefix
    instance["argv"] = prefix + server_argv(instance)
    instance["command"] = " ".join(instance["argv"])
    instance.update(_health(instance, settings))
    paths = [("model_path", instance["model_path"], "dir")]
    if instance["backend"] == "legacy":
        paths += [("gguf_path", instance["gguf_path"], "any"), ("executable", instance["executable"], "exec")]
        if instance.get("optimize_config_path"):
            paths.append(("optimize_config_path", instance["optimize_config_path"], "file"))
    else:
        paths += [("kt_weight_path", instance["kt_weight_path"], "any"), ("python", instance["python"], "exec")]
    if prefix:
        paths.append(("numactl", prefix[0], "exec"))
    instance["paths"] = [{"field": field, "path": path, "kind": kind} for field, path, kind in paths]
    # The weights the server loads into host memory: the GGUF files (legacy), the CPU experts (kt-kernel).
    instance["weights_field"] = "gguf_path" if instance["backend"] == "legacy" else "kt_weight_path"
    instance["weights_path"] = instance[instance["weights_field"]]
    return instance


def _names(check, value):
    """share_cpus_with: the names of the other entries this one may share CPUs with."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) and NAME_PATTERN.match(item) for item in value):
        check.add("share_cpus_with", "= %r is not a list of instance names: expected such as [r1]" % (value,))
        return []
    return list(value)


def _parse_size_gb(value):
    """(GiB, valid): None when unset (the memory fit then uses the files' size, if known)."""
    if value is None or value == "":
        return None, True
    try:
        size = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        size = None
    if size is None or math.isnan(size) or math.isinf(size) or size < 0:
        return None, False
    return size, True


SIZE_EXPECTED = "expected the model weights' GiB, a number >= 0"


def _size_gb(check, field, value):
    size, valid = _parse_size_gb(value)
    if not valid:
        check.add(field, "= %r is not a size: %s" % (value, SIZE_EXPECTED))
    return size


def replica_groups(layout, numa):
    """[(suffix, nodes)] of a sharded entry, or (None, why) when the host cannot take the layout.

    Only nodes with CPUs and memory take a replica: numactl --membind fails on a memoryless node
    and a memory-only node (CXL, HBM) has no CPU to run on.
    """
    nodes = interleave_nodes(numa)
    if not nodes:
        return None, ("the host shows no NUMA node with CPUs and memory (%s)"
                      % ("the kernel has no NUMA support" if not numa.get("available") else "none has both"))
    if layout == "per_numa_node":
        return [("node%d" % node, [node]) for node in nodes], None
    by_socket = {}
    for node_id in nodes:
        sockets = (_node(numa, node_id) or {}).get("socket_ids") or []
        if len(sockets) != 1:
            return None, "NUMA node %d spans sockets %s (an interleaved layout)" % (
                node_id, format_cpulist(sockets) or "unknown")
        by_socket.setdefault(sockets[0], []).append(node_id)
    return [("socket%d" % socket, by_socket[socket]) for socket in sorted(by_socket)], None


def _replica_gpus(nodes, numa):
    """Indexes (PCI bus order, as CUDA_DEVICE_ORDER=PCI_BUS_ID numbers them) of the GPUs on the nodes."""
    gpus = sorted(_nvidia_gpus(numa), key=lambda gpu: str(gpu.get("address", "")))
    return [index for index, gpu in enumerate(gpus)
            if _is_int(gpu.get("numa_node")) and int(gpu.get("numa_node")) in nodes]


def _gpus_placed(numa):
    """True when the host has NVIDIA GPUs and the kernel knows the node of each."""
    gpus = _nvidia_gpus(numa)
    return bool(gpus) and all(_is_int(gpu.get("numa_node")) and int(gpu.get("numa_node")) >= 0 for gpu in gpus)


def expand_entries(instances, numa, settings):
    """([(raw, index, replica or None)], problems): each sharded entry becomes one raw instance per replica.

    A replica is bound with numactl to its node(s), gets one kt-kernel thread pool per node
    (--kt-numa-nodes naming them), the GPUs on its nodes, and the port after the router's
    (the entry's port, where the router listens).
    """
    expanded = []
    problems = []
    for index, raw in enumerate(instances):
        layout = raw.get("replicas") if isinstance(raw, dict) else None
        if layout is None:
            expanded.append((raw, index, None))
            continue
        replicas, found = _expand_one(raw, index, layout, numa, settings)
        problems += found
        if replicas is None:
            # Still judged as one instance, so its other mistakes are named too (not what replicas would decide).
            expanded.append((dict((key, value) for key, value in raw.items()
                                  if key != "replicas" and key not in REPLICA_DECIDES), index, None))
        else:
            expanded += [(item, index, replica) for item, replica in replicas]
    return expanded, problems


def _expand_one(raw, index, layout, numa, settings):
    check = _Checker(_label(index, raw), raw, [])
    if layout not in REPLICA_LAYOUTS:
        close = difflib.get_close_matches(str(layout), REPLICA_LAYOUTS, 1, 0.5)
        check.add("replicas", "= %r is not a replica layout: expected %s (or unset for one instance). Fix: %s"
                  % (layout, " or ".join(REPLICA_LAYOUTS),
                     "did you mean %s?" % close[0] if close else "set one of them, or remove replicas"))
        return None, check.problems
    groups, why = replica_groups(layout, numa)
    name = raw.get("name") if isinstance(raw.get("name"), str) else ""
    if raw.get("state", "present") == "absent":
        # Removal needs no layout check: the replicas this host would have had go.
        return [(dict(name="%s-%s" % (name, suffix), state="absent"),
                 dict(of=name, layout=layout, router_port=None, nodes=nodes)) for suffix, nodes in groups or []], []
    decided = [field for field in REPLICA_DECIDES if raw.get(field) not in (None, "")]
    if decided:
        check.add(None, "%s %s set, and replicas = %s decides %s for each replica from the NUMA facts. Fix: remove %s"
                  % (", ".join(decided), "is" if len(decided) == 1 else "are", layout,
                     "it" if len(decided) == 1 else "them", "it" if len(decided) == 1 else "them"))
    backend = raw.get("backend", settings["backend"])
    if backend == "sglang" and raw.get("sglang_variant", settings.get("sglang_variant")) == "sglang":
        check.add("replicas", "= %s needs sglang_variant: sglang-kt: a replica on node N needs --kt-numa-nodes N, "
                              "which sgl-project sglang lacks (its pool i runs on node i). Fix: set "
                              "sglang_variant: sglang-kt, or remove replicas" % layout)
    host = raw.get("host") if raw.get("host") is not None else settings.get("host")
    if isinstance(host, str) and host not in LOOPBACK_HOSTS:
        # smg's worker API (POST /workers, DELETE /workers/{id}) answers anyone who reaches the router
        # unless a key is on its command line, where ktune never writes one.
        check.add("host", "= %r: expected loopback (127.0.0.1 or ::1) for an entry with replicas: its router's "
                          "worker API (add or remove backends by URL) has no authentication without a key on its "
                          "command line, which every user could read. Fix: keep host: 127.0.0.1 and front the port "
                          "with an authenticating proxy (docs/sharded-serving.md)" % (host,))
    if groups is None:
        check.add("replicas", "= %s cannot be laid out: %s. Fix: remove replicas" % (layout, why))
    if check.problems:
        return None, check.problems
    port = raw.get("port")
    if port is None:
        port = settings["%s_defaults" % backend].get("port") if backend in BACKENDS else None
    if not _is_int(port) or not PORT_MIN <= int(port) <= PORT_MAX - len(groups) - 1:
        check.add("port", "= %r: expected the router's port in %d-%d, the %d replica%s and the router's metrics "
                          "taking the ports after it. Fix: pick a lower port"
                  % (port, PORT_MIN, PORT_MAX - len(groups) - 1, len(groups), "" if len(groups) == 1 else "s"))
        return None, check.problems
    placed = _gpus_placed(numa)
    replicas = []
    for number, (suffix, nodes) in enumerate(groups, start=1):
        item = dict((key, value) for key, value in raw.items() if key != "replicas")
        item.update(name="%s-%s" % (name, suffix), port=int(port) + number, numactl="bind")
        if backend == "sglang":
            item.update(kt_numa_nodes=list(nodes), kt_threadpool_count=len(nodes))
            if placed:
                gpus = _replica_gpus(nodes, numa)
                if not gpus:
                    check.add("replicas", "= %s: replica %s has no GPU on NUMA node%s %s, and every replica needs "
                                          "its own (the host's GPUs are on nodes %s). Fix: use replicas: per_socket, "
                                          "or one instance per GPU without replicas"
                              % (layout, item["name"], "" if len(nodes) == 1 else "s", format_cpulist(nodes),
                                 format_cpulist(sorted(set(int(gpu["numa_node"]) for gpu in _nvidia_gpus(numa))))))
                item["cuda_visible_devices"] = gpus or None
        replicas.append((item, dict(of=name, layout=layout, router_port=int(port), nodes=nodes,
                                    metrics_port=int(port) + len(groups) + 1)))
    if check.problems:
        return None, check.problems
    return replicas, []


def instance_problems(instances, numa, settings=None):
    """Problems with the settings alone (no look at the host's files or ports)."""
    settings = merged_settings(settings)
    if instances in (None, ""):
        return []
    if not isinstance(instances, list):
        return ["ktune_service_instances = %r is not a list: expected a list of instances, each a dictionary "
                "with at least name and model_path ([] runs none)" % (instances,)]
    problems = _settings_problems(settings)
    expanded, problems_found = expand_entries(instances, numa, settings)
    problems += problems_found
    seen_names = {}
    seen_ports = {}
    routers_refused = set()
    legacy_keys = {}
    present = []
    for raw, index, replica in expanded:
        instance, found = _normalise(raw, index, settings, numa, replica)
        problems += found
        router = instance.get("router_port") if instance is not None else None
        if router is not None and instance["state"] == "present":
            if seen_ports.get(router, index) != index and index not in routers_refused:
                routers_refused.add(index)
                problems.append("%s: port = %d (its router's) is also the port of ktune_service_instances[%d]: "
                                "expected a different port per instance, a sharded entry taking its port and the "
                                "ports after it. Fix: give one of them another port"
                                % (_label(index, instances[index]), router, seen_ports[router]))
            seen_ports.setdefault(router, index)
            metrics = instance.get("router_metrics_port")
            if metrics is not None and seen_ports.get(metrics, index) != index and index not in routers_refused:
                routers_refused.add(index)
                problems.append("%s: port %d (its router's metrics, after its replicas) is also the port of "
                                "ktune_service_instances[%d]: expected a different port per instance. Fix: give "
                                "one of them another port" % (_label(index, instances[index]), metrics,
                                                              seen_ports[metrics]))
            if metrics is not None:
                seen_ports.setdefault(metrics, index)
        if instance is None or not instance.get("name"):
            continue
        name = instance["name"]
        if name in seen_names:
            problems.append("%s: name = %r is also the name of ktune_service_instances[%d]: expected unique names "
                            "(one unit per instance)" % (instance["label"], name, seen_names[name]))
        seen_names.setdefault(name, index)
        if instance["state"] != "present":
            continue
        present.append(instance)
        port = instance.get("port")
        if port is not None:
            if port in seen_ports:
                problems.append("%s: port = %d is also the port of ktune_service_instances[%d]: expected a "
                                "different port per instance. Fix: give this instance another port"
                                % (instance["label"], port, seen_ports[port]))
            seen_ports.setdefault(port, index)
        if instance["backend"] == "legacy":
            legacy_keys.setdefault(instance.get("api_key"), []).append(instance["label"])
    if len(legacy_keys) > 1:
        problems.append("legacy instances %s have different api_key values: the legacy server reads its key from "
                        "the service user's one ~/.ktransformers/config.yaml, so they share it. Fix: give every "
                        "legacy instance the same api_key (or run them as sglang instances)"
                        % "; ".join(label for labels in legacy_keys.values() for label in labels))
    return problems + cpu_overlap_problems(present, numa)


def cpu_set(instance, numa):
    """(CPUs the instance may run on, how): its nodes' CPUs under numactl bind, else every online CPU."""
    if bound_nodes(instance):
        return set(_bound_cpus(instance, numa)), "numactl --physcpubind=%s" % format_cpulist(_bound_cpus(instance, numa))
    cpus = set()
    for node in numa.get("nodes") or []:
        cpus.update(node.get("cpus") or [])
    if not cpus:
        cpus = set(range(int(numa.get("cpus_online") or 1)))
    return cpus, "every online CPU, without numactl bind"


def _may_share(one, other):
    return one.get("entry") == other.get("entry") or one.get("entry") in (other.get("share_cpus_with") or []) \
        or other.get("entry") in (one.get("share_cpus_with") or [])


def cpu_overlap_problems(instances, numa):
    """Host-wide: two present instances (replicas count) whose CPU sets overlap, unless one names the other.

    Two processes on the same cores each size their thread pools for all of them: both slow down.
    """
    problems = []
    sets = [(instance,) + cpu_set(instance, numa) for instance in instances]
    for position, (one, one_cpus, one_how) in enumerate(sets):
        for other, other_cpus, other_how in sets[position + 1:]:
            shared = one_cpus & other_cpus
            if not shared or _may_share(one, other):
                continue
            problems.append(
                "%s and %s share CPUs %s (%s: %s; %s: %s): expected disjoint CPU sets, since each sizes its thread "
                "pools for all of its CPUs. Fix: bind each to its own node(s) (numactl: bind with numa_node, or "
                "replicas), or, to share on purpose, set share_cpus_with: [%s] on %s"
                % (one["label"], other["label"], format_cpulist(sorted(shared)), one["name"], one_how,
                   other["name"], other_how, one.get("entry"), other.get("entry")))
    return problems


def _settings_problems(settings):
    problems = []
    if not _is_int(settings.get("health_interval_s")) or int(settings["health_interval_s"]) < 1:
        problems.append("ktune_service_health_interval_s = %r: expected whole seconds >= 1"
                        % (settings.get("health_interval_s"),))
    if not _is_int(settings.get("memory_reserve_mb")) or int(settings["memory_reserve_mb"]) < 0:
        problems.append("ktune_service_memory_reserve_mb = %r: expected whole MiB >= 0 (default 8192)"
                        % (settings.get("memory_reserve_mb"),))
    if not _parse_size_gb(settings.get("model_size_gb"))[1]:
        problems.append("ktune_model_size_gb = %r is not a size: %s, or null"
                        % (settings.get("model_size_gb"), SIZE_EXPECTED))
    home = settings.get("home")
    if not _unit_path(home) or home.rstrip("/") == "":
        problems.append("ktune_service_home = %r: expected an absolute path of printable text without whitespace, "
                        "quotes, backslashes, $, %% or . and .. parts (it goes into the unit file), such as "
                        "/var/lib/ktransformers" % (home,))
    paths = settings.get("read_write_paths")
    if not isinstance(paths, list) or not all(_unit_path(path) for path in paths):
        problems.append("ktune_service_read_write_paths = %r: expected a list of absolute paths without "
                        "whitespace, quotes, backslashes, $, %% or . and .. parts (they go into the unit file)"
                        % (paths,))
    return problems


def _unit_path(path):
    return isinstance(path, str) and path.startswith("/") and not UNIT_UNSAFE_PATH.search(path) \
        and not not_plain_text(path) and _normalized(path)


def _normalized(path):
    """systemd refuses a WorkingDirectory= with a ".." part ("path is not normalized", found by
    systemd-analyze verify on "/srv/../"); "." parts go too, so each path names its place plainly."""
    return not any(part in (".", "..") for part in path.split("/"))


def resolve_instances(instances, numa, settings=None):
    """Every instance with all fields resolved and its command line; raises InstanceError on bad input."""
    problems = instance_problems(instances, numa, settings)
    if problems:
        raise InstanceError(" || ".join(problems))
    settings = merged_settings(settings)
    return [_finish(_normalise(raw, index, settings, numa, replica)[0], settings, numa)
            for raw, index, replica in expand_entries(instances or [], numa, settings)[0]]


# NUMA-placement proof: the share of the resident memory a binding promises a node.
BIND_MIN_SHARE = 0.9
SPREAD_MIN_OF_EVEN_SHARE = 0.5


def parse_numa_maps(text):
    """/proc/PID/numa_maps into {node id: resident kB} (host_telemetry reads it the same way)."""
    return numa_maps_resident_kb(text)


def promised_nodes(instance, numa, use_numa):
    """(nodes, how) the instance's memory should sit on, or (None, why) when nothing is promised."""
    if bound_nodes(instance):
        return bound_nodes(instance), "numactl --membind=%s" % format_cpulist(bound_nodes(instance))
    if instance.get("numactl") == "interleave":
        return interleave_nodes(numa), "numactl --interleave"
    if instance.get("backend") == "sglang" and len(instance.get("kt_numa_nodes") or []) > 1:
        return list(instance["kt_numa_nodes"]), "kt-kernel's thread pools on nodes %s" % format_cpulist(
            instance["kt_numa_nodes"])
    if instance.get("backend") == "legacy" and use_numa:
        nodes = [node["id"] for node in numa.get("nodes") or [] if (node.get("memory_mb") or 0) > 0]
        if len(nodes) > 1:
            return nodes, "a legacy USE_NUMA build's copy per node"
    return None, "no binding promises a placement"


def placement_problem(instance, resident_kb, numa, use_numa):
    """Why the instance's resident memory per node breaks what its binding promises, or None."""
    nodes, how = promised_nodes(instance, numa, use_numa)
    total = sum(resident_kb.values())
    if not nodes or not total:
        return None
    shares = ", ".join("N%d %.0f%%" % (node, 100.0 * kb / total) for node, kb in sorted(resident_kb.items()))
    if len(nodes) == 1:
        share = resident_kb.get(nodes[0], 0) / float(total)
        if share < BIND_MIN_SHARE:
            return ("%s: %.0f%% of its %.1f GiB resident is on node %d, expected >= %.0f%% (%s); per node: %s"
                    % (instance.get("unit"), 100 * share, total / 1048576.0, nodes[0], 100 * BIND_MIN_SHARE, how,
                       shares))
        return None
    even = total / float(len(nodes))
    short = [node for node in nodes if resident_kb.get(node, 0) < SPREAD_MIN_OF_EVEN_SHARE * even]
    if short:
        return ("%s: nodes %s hold less than half an even share of its %.1f GiB resident (%s); per node: %s"
                % (instance.get("unit"), format_cpulist(short), total / 1048576.0, how, shares))
    return None


LOOPBACK_HOSTS = ("127.0.0.1", "::1", "[::1]", "localhost")


def listen_exposure(instance):
    """Why an instance's routes are open beyond the host, or None (loopback, or guarded by its key).

    The legacy server checks server.api_key on POST /v1/chat/completions only (an assert: HTTP 500),
    so its other routes (/v1/completions, the Ollama routes, /v1/models) answer anyone; SGLang checks
    --api-key on its API routes.
    """
    host = instance.get("host") or ""
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        return None
    where = "all addresses" if host in WILDCARD_HOSTS else host
    if instance.get("backend") == "legacy":
        return ("%s listens on %s, and the legacy server checks its API key on POST /v1/chat/completions only: "
                "/v1/completions and the Ollama routes are open" % (instance.get("unit"), where))
    if not instance.get("api_key"):
        return "%s listens on %s without an API key" % (instance.get("unit"), where)
    return None


GIB = 1024.0 ** 3


def memory_nodes(instance, numa):
    """The NUMA nodes whose memory the instance's weights land on, and how numactl puts them there."""
    mode = instance.get("numactl") or "none"
    if mode == "bind":
        return bound_nodes(instance), "numactl --membind=%s" % format_cpulist(bound_nodes(instance))
    if mode == "interleave":
        return interleave_nodes(numa), "numactl --interleave"
    with_memory = [node["id"] for node in numa.get("nodes") or [] if (node.get("memory_mb") or 0) > 0]
    return with_memory, "no numactl: every node with memory"


def weight_copies(instance, numa, settings):
    """(copies, why): a legacy NUMA build keeps one full copy of the experts per configured node."""
    if instance["backend"] == "legacy" and settings.get("use_numa"):
        # The count use_numa.memory_needed_mib uses too: numa_num_configured_nodes() counts the
        # nodes with memory, memory-only ones (CXL, HBM) included.
        count = max(1, int(numa.get("memory_node_count") or numa.get("node_count") or 1))
        return count, "a legacy build with USE_NUMA keeps one copy per configured NUMA node (%d)" % count
    if instance["backend"] == "legacy":
        return 1, "a legacy build without USE_NUMA keeps one copy"
    return 1, "kt-kernel splits the experts over its thread pools' nodes"


def kv_cache_host_bytes(instance):
    """Host memory of the KV cache: none here. The seeded config keeps kvc2 on the GPU (gpu_only)
    and SGLang keeps its KV cache in GPU memory (mem_fraction_static)."""
    return 0


def memory_fit_problems(resolved, numa, sizes, settings=None):
    """Weights x copies + KV cache against the memory of the nodes each instance uses, in GiB.

    sizes: {path: bytes on the host} (du -sbL of each weights path); unknown paths are not judged,
    and neither is a host whose facts show no node memory.
    """
    settings = merged_settings(settings)
    reserve = int(settings.get("memory_reserve_mb") or 0) * 1024 * 1024
    problems = []
    memory_of = dict((node["id"], (node.get("memory_mb") or 0) * 1024 * 1024) for node in numa.get("nodes") or [])
    for instance in resolved:
        if instance["state"] != "present" or weights_bytes(instance, sizes, settings) is None:
            continue
        nodes, how = memory_nodes(instance, numa)
        available = sum(memory_of.get(node, 0) for node in nodes)
        if not available:
            continue
        weights = weights_bytes(instance, sizes, settings)
        copies, why = weight_copies(instance, numa, settings)
        need = weights * copies + kv_cache_host_bytes(instance)
        if need + reserve <= available:
            continue
        problems.append(
            "%s: does not fit in memory: weights %.1f GiB (%s %s) x %d cop%s (%s) + KV cache %.1f GiB (on the GPU) "
            "= %.1f GiB, and the nodes it uses (%s, %s) have %.1f GiB, less %.1f GiB kept for the system "
            "(ktune_service_memory_reserve_mb). Fix: %s"
            % (instance["label"], weights / GIB, instance["weights_field"], instance["weights_path"], copies,
               "y" if copies == 1 else "ies", why, kv_cache_host_bytes(instance) / GIB, need / GIB,
               format_cpulist(nodes) or "none", how, available / GIB, reserve / GIB, _fit_fix(instance, copies)))
    return problems + host_memory_problems(resolved, numa, sizes, settings)


def weights_bytes(instance, sizes, settings):
    """Bytes of weights one copy loads: measured on the host, else model_size_gb (the entry's, then the host's)."""
    measured = (sizes or {}).get(instance.get("weights_path"))
    if measured is not None:
        return int(measured)
    for declared in (instance.get("model_size_gb"), settings.get("model_size_gb")):
        if declared is not None and declared != "":
            try:
                return int(float(declared) * GIB)
            except (TypeError, ValueError):
                return None
    return None


def memory_not_checked(resolved, sizes, settings=None):
    """Units whose memory fit cannot be judged before the start: no measured or declared size."""
    settings = merged_settings(settings)
    return [instance["unit"] for instance in resolved
            if instance["state"] == "present" and weights_bytes(instance, sizes, settings) is None]


def node_loads(resolved, numa, sizes, settings):
    """{node: [(instance, bytes)]}: each instance's weights x copies, spread evenly over the nodes it uses."""
    loads = {}
    for instance in resolved:
        weights = weights_bytes(instance, sizes, settings) if instance["state"] == "present" else None
        nodes = memory_nodes(instance, numa)[0] if weights is not None else []
        if not nodes:
            continue
        need = weights * weight_copies(instance, numa, settings)[0] + kv_cache_host_bytes(instance)
        for node in nodes:
            loads.setdefault(node, []).append((instance, need / float(len(nodes))))
    return loads


def host_memory_problems(resolved, numa, sizes, settings):
    """Host-wide: the instances (replicas count, each a full copy) on one node must fit in its memory.

    The reserve (ktune_service_memory_reserve_mb) is shared evenly by the nodes with memory. One instance
    alone that does not fit is memory_fit_problems' finding; this one names the instances that together
    do not.
    """
    memory_of = dict((node["id"], (node.get("memory_mb") or 0) * 1024 * 1024) for node in numa.get("nodes") or [])
    with_memory = [node for node, size in memory_of.items() if size > 0]
    if not with_memory:
        return []
    reserve = int(settings.get("memory_reserve_mb") or 0) * 1024 * 1024 / float(len(with_memory))
    problems = []
    for node, load in sorted(node_loads(resolved, numa, sizes, settings).items()):
        total = sum(need for _instance, need in load)
        if len(load) < 2 or node not in memory_of or total + reserve <= memory_of[node]:
            continue
        problems.append(
            "host-wide memory: NUMA node %d would hold %.1f GiB of weights (%s), and has %.1f GiB less %.1f GiB kept "
            "for the system (its share of ktune_service_memory_reserve_mb): expected the instances on a node to fit "
            "in its memory. Fix: run fewer models or replicas on this host, bind the models to different nodes, or "
            "use smaller quantizations"
            % (node, total / GIB, ", ".join("%s %.1f GiB" % (instance["label"], need / GIB) for instance, need in load),
               memory_of[node] / GIB, reserve / GIB))
    return problems


def _fit_fix(instance, copies):
    if copies > 1:
        return ("build without USE_NUMA (ktune_use_numa: false) or with fewer NUMA nodes (NPS1), or run the model "
                "as an sglang instance, whose kt-kernel keeps one copy")
    if instance.get("numactl") == "bind":
        return "use numactl: interleave or none so the weights spread over more nodes, or a smaller quantization"
    return "use a smaller quantization of the model, or a host with more memory"


def _inside(path, parent):
    parent = parent.rstrip("/") or "/"
    return path == parent or path.startswith(parent + "/") or parent == "/"


def host_problems(resolved, settings=None, stats=None, listeners=None):
    """Problems found on the host: missing paths, models inside writable paths, ports in use.

    stats: {path: {exists, isdir, isreg, executable}} (the stat module's answers);
    listeners: [{port, pid, unit}] from parse_listeners.
    """
    settings = merged_settings(settings)
    stats = stats or {}
    problems = []
    writable = [settings["home"]] + list(settings.get("read_write_paths") or [])
    # A port held by an instance this run removes is free by the time the others start.
    leaving = set(instance["unit"] for instance in resolved if instance["state"] == "absent")
    for instance in resolved:
        if instance["state"] != "present":
            continue
        for entry in instance["paths"]:
            field, path, kind = entry["field"], entry["path"], entry["kind"]
            stat = stats.get(path)
            if stat is None:
                continue
            problems += _path_problem(instance, field, path, kind, stat)
            if field in ("model_path", "gguf_path", "kt_weight_path", "optimize_config_path"):
                for parent in writable:
                    if _inside(path, parent):
                        problems.append("%s: %s = %s is inside %s, which the service may write: expected the "
                                        "model read-only to the service. Fix: keep models outside %s"
                                        % (instance["label"], field, path, parent, ", ".join(writable)))
                        break
        for listener in listeners or []:
            if listener.get("port") != instance["port"] or listener.get("unit") in leaving | {instance["unit"]}:
                continue
            owner = listener.get("unit") or "no systemd service"
            problems.append("%s: port = %d is already in use by pid %s (%s): expected a free port, or one held "
                            "by %s itself. Fix: pick another port, or stop what listens on %d"
                            % (instance["label"], instance["port"], listener.get("pid") or "unknown", owner,
                               instance["unit"], instance["port"]))
            break
    return problems


def _path_problem(instance, field, path, kind, stat):
    label = instance["label"]
    if not stat.get("exists"):
        return ["%s: %s = %s does not exist on the host: expected %s. Fix: copy it there or correct the path"
                % (label, field, path, {"dir": "a directory", "file": "a file", "exec": "an executable",
                                        "any": "a file or directory"}[kind])]
    if kind == "dir" and not stat.get("isdir"):
        return ["%s: %s = %s is not a directory: expected the model's directory (config.json, tokenizer)"
                % (label, field, path)]
    if kind == "file" and not stat.get("isreg"):
        return ["%s: %s = %s is not a file: expected a YAML file" % (label, field, path)]
    if kind == "exec" and not (stat.get("isreg") and stat.get("executable")):
        return ["%s: %s = %s is not an executable file. Fix: install it (ktune_service_build: true builds "
                "ktransformers) or correct the path" % (label, field, path)]
    return []


# ASCII digits only: str.isdigit() and int() also take the digits of other scripts.
_ASCII_NUMBER = re.compile(r"[0-9]{1,20}\Z")


def parse_listeners(text):
    """Lines "PORT PID UNIT" (PID and UNIT may be "-") into [{port, pid, unit}]."""
    result = []
    for line in (text or "").splitlines():
        words = line.split()
        if not words or not _ASCII_NUMBER.match(words[0]):
            continue
        pid = int(words[1]) if len(words) > 1 and _ASCII_NUMBER.match(words[1]) else None
        unit = words[2] if len(words) > 2 and words[2] != "-" else None
        result.append({"port": int(words[0]), "pid": pid, "unit": unit})
    return result


_API_KEY_IN_TEXT = re.compile(r"""(api[-_]key['"]?\s*[:=]?\s*['"]?)[^'",)\s]+""", re.IGNORECASE)


def redact_secrets(text, secrets=()):
    """Text (a journal excerpt) with every API key in it replaced by <redacted>.

    SGLang logs its server_args, api_key included, at every start, and the legacy server echoes
    its command line: both the known keys and anything written as api_key=/api-key: VALUE go.
    """
    text = "" if text is None else str(text)
    for secret in secrets or ():
        if secret:
            text = text.replace(str(secret), "<redacted>")
    return _API_KEY_IN_TEXT.sub(r"\1<redacted>", text)
