# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""kt-kernel's converted CPU expert weights against the thread pools an instance starts.

kt-kernel (kvcache-ai/ktransformers, kt-kernel/) converts a model's experts for one count of thread
pools (``convert_cpu_weights.py --threadpool-count N``, ``kt quant --numa-nodes N``): each expert's
matrices are cut into N slices, slice i for pool i, which runs on NUMA node i. On disk:

- merged (the default): ``*.safetensors`` files in the weight path whose tensors are named
  ``blk.<layer>.ffn_<up|gate|down>_exps.<expert>.numa.<i>.weight`` (and ``.scale``), i = 0..N-1.
  kt-kernel takes this layout when the weight path holds a ``*.safetensors`` file
  (``AMXMoEWrapper``); ``SafeTensorLoader.load_experts`` counts the slices of expert 0 and hands one
  list per slice to the pools (kt_kernel 0.7.2, ``kt_kernel/utils/loader.py``, ``utils/amx.py``).
- ``--no-merge-safetensor``: folders ``_layer_<layer>/_numa_<i>/`` of ``.kt`` files, read by
  kt-kernel's C++ backend from the weight path itself.

The server starts ``--kt-threadpool-count`` pools. Weights cut for another count leave slices
without a pool or pools without a slice, so after a BIOS layout change (NPS/SNC) the weights must be
converted again. Formats without a split (BF16, FP8, GGUF for llamafile) are not judged.

The weight path lies in a tree the service user may write, and the read may run as root: no
directory symlink is followed unless root (or the reader itself) owns it, every component is opened
relative to the one before with O_NOFOLLOW, shards are never read through a link, and only regular
files are read, with bounded headers whose parse errors make the finding unknown, never a crash.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import json
import os
import re
import stat
import struct

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK: a FIFO planted in place of a weight file must not hang the read.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
MAX_LINKS = 40  # the kernel's own limit on symlinks in one path lookup
# A converted shard's header is a few hundred kB (at most 3000 tensors); safetensors' own 100 MB cap
# would let a planted header of empty objects take gigabytes to parse.
MAX_HEADER_BYTES = 16 << 20
# [0-9], not \d (which takes other scripts' digits too), and at most 4 of them: int() refuses
# more than 4300 digits, and no host has 10000 pools or layers.
SLICE_KEY = re.compile(r"^blk\.[0-9]+\.ffn_(?:up|gate|down)_exps\.[0-9]+\.numa\.([0-9]{1,4})\.weight\Z")
SLICE_LIKE = re.compile(r"^blk\.[^.]*\.ffn_(?:up|gate|down)_exps\.[^.]*\.numa\.[^.]*\.weight\Z")
LAYER_DIR = re.compile(r"^_layer_([0-9]{1,4})\Z")
NUMA_DIR = re.compile(r"^_numa_([0-9]{1,4})\Z")
SHOWN_NAME = 60
# kt_method -> convert_cpu_weights.py --quant-method (the methods whose weights it cuts per pool)
QUANT_METHODS = {"AMXINT4": "int4", "AMXINT8": "int8", "MOE_INT4": "moe_int4", "MOE_INT8": "moe_int8"}


# Any C0 control character or DEL: a newline would split the finding lines, a NUL cut the path.
CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")


def weights_root_problem(value, variable="ktune_weights_root"):
    """Why value cannot be the directory the weight paths are read under ("" when it can), naming the
    variable: the audit and the service role both check it before they read anything."""
    if isinstance(value, str) and value.startswith("/") and not CONTROL_CHARACTER.search(value):
        return ""
    return ("%s = %s: expected an absolute path without control characters or newlines, such as / (the directory "
            "kt_weight_path is read under; / on a live host)" % (variable, _written(value)))


def _written(value):
    """The value as the operator wrote it, in one short line."""
    if isinstance(value, str):
        return repr(str(value))[:80]
    if value is None:
        return "null"
    for kinds, word in ((bool, "a boolean"), ((int, float), "a number"), ((list, tuple), "a list"), (dict, "a mapping")):
        if isinstance(value, kinds):
            return word
    return "a value"


class WeightPathRefused(Exception):
    """The weight path cannot be read safely or sanely; the message says what was found and the fix."""


def _trusted(trusted_uids):
    return tuple(trusted_uids) if trusted_uids is not None else (0, os.geteuid())


def _components(path):
    return [part for part in path.split("/") if part and part != "."]


def _refuse_link(shown, owner):
    raise WeightPathRefused(
        "%s is a symlink owned by uid %d; a root read follows links only root made. Fix: put the real path "
        "in kt_weight_path (readlink -f %s), or have root own the link" % (shown, owner, shown))


def _open_dir(root_fd, path, trusted):
    """A descriptor of the directory path names under root_fd, links resolved only where trusted."""
    stack = [os.dup(root_fd)]
    pending = _components(path)
    shown = ""
    links = 0
    try:
        while pending:
            part = pending.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                shown = os.path.dirname(shown)
                continue
            shown = shown + "/" + part
            info = os.stat(part, dir_fd=stack[-1], follow_symlinks=False)
            if stat.S_ISLNK(info.st_mode):
                if info.st_uid not in trusted:
                    _refuse_link(shown, info.st_uid)
                links += 1
                if links > MAX_LINKS:
                    raise WeightPathRefused("%s: more than %d symlinks. Fix: put the real path in kt_weight_path"
                                            % (path, MAX_LINKS))
                target = os.readlink(part, dir_fd=stack[-1])
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                pending = _components(target) + pending
                shown = os.path.dirname(shown)
                continue
            if not stat.S_ISDIR(info.st_mode):
                raise WeightPathRefused("%s: expected a directory, found another kind of file. Fix: give the "
                                        "directory convert_cpu_weights.py wrote (its --output)" % shown)
            stack.append(os.open(part, _DIR_FLAGS, dir_fd=stack[-1]))
        return stack.pop()
    finally:
        for fd in stack:
            os.close(fd)


def _entries(dir_fd):
    """{name: lstat} of a directory's entries (no link followed)."""
    found = {}
    for name in os.listdir(dir_fd):
        try:
            found[name] = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except OSError:
            continue
    return found


def _safetensors_keys(dir_fd, name, shown):
    """The tensor names in one safetensors file's header (8-byte little-endian length, then JSON)."""
    fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise WeightPathRefused("%s: expected a regular file, found another kind. Fix: move it away" % shown)
        head = os.read(fd, 8)
        if len(head) < 8:
            raise WeightPathRefused("%s: expected a safetensors file, found %d bytes. Fix: convert again"
                                    % (shown, len(head)))
        size = struct.unpack("<Q", head)[0]
        if size > MAX_HEADER_BYTES or size > info.st_size - 8:
            raise WeightPathRefused("%s: expected a safetensors header of at most %d bytes within the file, found "
                                    "a length of %d. Fix: convert again" % (shown, MAX_HEADER_BYTES, size))
        chunks, left = [], size
        while left:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    try:
        header = json.loads(b"".join(chunks).decode("utf-8"))
    except (ValueError, RecursionError, MemoryError):
        raise WeightPathRefused("%s: expected a safetensors header (JSON), found something else. Fix: convert "
                                "again" % shown)
    if not isinstance(header, dict):
        raise WeightPathRefused("%s: expected a safetensors header (a JSON object). Fix: convert again" % shown)
    return [key for key in header if key != "__metadata__"]


def _cut(text):
    return text if len(text) <= SHOWN_NAME else text[:SHOWN_NAME] + "..."


def _merged_slices(dir_fd, names, shown):
    """The slice numbers in the first shard that holds expert slices (kt-kernel's shards each hold whole
    layers, so one shard shows the split), or None when no shard holds any."""
    for name in sorted(names):
        slices = set()
        for key in _safetensors_keys(dir_fd, name, "%s/%s" % (shown, name)):
            match = SLICE_KEY.match(key)
            if match:
                slices.add(int(match.group(1)))
            elif SLICE_LIKE.match(key):
                raise WeightPathRefused("%s/%s: expected expert slices numa.0 to numa.9999, found %s. Fix: convert "
                                        "again" % (shown, name, _cut(key)))
        if slices:
            return sorted(slices)
    return None


def _folder_slices(dir_fd, entries):
    """The _numa_<i> folders of the lowest _layer_<n> folder, or None when there is none."""
    layers = sorted((int(LAYER_DIR.match(name).group(1)), name) for name, info in entries.items()
                    if LAYER_DIR.match(name) and stat.S_ISDIR(info.st_mode))
    if not layers:
        return None
    layer_fd = os.open(layers[0][1], _DIR_FLAGS, dir_fd=dir_fd)
    try:
        return sorted(int(NUMA_DIR.match(name).group(1)) for name, info in _entries(layer_fd).items()
                      if NUMA_DIR.match(name) and stat.S_ISDIR(info.st_mode))
    finally:
        os.close(layer_fd)


def _refuse_other_than_a_file(shown, info):
    """Shards are opened by name in the weight directory with O_NOFOLLOW; say so before the open."""
    if stat.S_ISLNK(info.st_mode):
        raise WeightPathRefused(
            "%s: expected a regular file, found a symlink; shards are read only as files in the weight directory "
            "itself, never through a link. Fix: put the directory that holds the real shards in kt_weight_path "
            "(readlink -f %s)" % (shown, shown))
    if not stat.S_ISREG(info.st_mode):
        raise WeightPathRefused("%s: expected a regular file, found another kind. Fix: move it away" % shown)


def read_weight_split(root, path, trusted_uids=None):
    """{"layout": "merged" | "folders", "slices": [i, ...]} of the weights at path under root, or
    None when they carry no per-pool split. Raises WeightPathRefused (a link root must not follow,
    a damaged file) or OSError (missing, unreadable)."""
    root_fd = os.open(root or "/", os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
    try:
        dir_fd = _open_dir(root_fd, path, _trusted(trusted_uids))
    finally:
        os.close(root_fd)
    try:
        entries = _entries(dir_fd)
        shards = [name for name, info in entries.items() if name.endswith(".safetensors")]
        for name in shards:
            _refuse_other_than_a_file("%s/%s" % (path.rstrip("/"), name), entries[name])
        if shards:
            slices = _merged_slices(dir_fd, shards, path.rstrip("/"))
            return {"layout": "merged", "slices": slices} if slices is not None else None
        slices = _folder_slices(dir_fd, entries)
        return {"layout": "folders", "slices": slices} if slices else None
    finally:
        os.close(dir_fd)


def conversion_command(instance, pools, layout):
    """The kt-kernel command that converts the instance's model for pools thread pools."""
    weights = instance["kt_weight_path"].rstrip("/")
    output = re.sub(r"NUMA\d+$", "NUMA%d" % pools, weights)
    if output == weights:
        output = "%s-NUMA%d" % (weights, pools)
    argv = ["python", "kt-kernel/scripts/convert_cpu_weights.py", "--input-path", instance.get("model_path") or "MODEL",
            "--input-type", "fp8|fp16|bf16 (as the model)", "--output", output,
            "--quant-method", QUANT_METHODS.get(instance.get("kt_method"), "int4"),
            "--cpuinfer-threads", str(instance.get("kt_cpuinfer") or "THREADS"), "--threadpool-count", str(pools)]
    if layout == "folders":
        argv.append("--no-merge-safetensor")
    return " ".join(argv), output


def _pools(count):
    return "%d thread pool%s" % (count, "" if count == 1 else "s")


def weight_split_finding(root, instance, trusted_uids=None):
    """One instance's converted weights against the pools it starts (the judgement tune and the
    audit share): {"status": "pass" | "fail" | "skip" | "unknown", "finding": str, "fix": str}.

    instance is a resolved ktransformers instance (ktransformers.resolve_instances): backend,
    kt_weight_path, kt_threadpool_count, kt_numa_nodes, kt_method, kt_cpuinfer, model_path."""
    name = instance.get("name") or "?"
    path = instance.get("kt_weight_path")
    pools = instance.get("kt_threadpool_count")
    if instance.get("backend") != "sglang" or not path or not pools:
        return {"status": "skip", "finding": "%s loads no kt-kernel weights" % name, "fix": ""}
    try:
        split = read_weight_split(root, path, trusted_uids)
    except WeightPathRefused as exc:
        finding, _sep, fix = str(exc).partition(". Fix: ")
        return {"status": "unknown", "finding": "%s: %s" % (name, finding), "fix": fix}
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return {"status": "skip", "finding": "%s: %s is not on the host yet" % (name, path), "fix": ""}
        return {"status": "unknown", "finding": "%s: %s could not be read: %s" % (name, path, exc.strerror or exc),
                "fix": "make it readable by the audit (it runs with become)"}
    if split is None:
        return {"status": "skip", "finding": "%s: %s holds no per-pool split (not judged)" % (name, path), "fix": ""}
    slices = split["slices"]
    if slices == list(range(pools)):
        return {"status": "pass", "fix": "",
                "finding": "%s: %s is cut for %s, as started" % (name, path, _pools(pools))}
    found = "%s (%s)" % (_pools(len(slices)), " ".join("numa.%d" % i for i in slices)) \
        if slices != list(range(len(slices))) else _pools(len(slices))
    nodes = instance.get("kt_numa_nodes") or []
    command, output = conversion_command(instance, pools, split["layout"])
    return {"status": "fail",
            "finding": "%s: expected kt-kernel weights cut for %s (--kt-threadpool-count %d%s), found %s in %s"
                       % (name, _pools(pools), pools,
                          ", nodes %s" % " ".join(str(node) for node in nodes) if nodes else "", found, path),
            "fix": "convert the weights again for %d pools on the host: %s; then set kt_weight_path: %s"
                   % (pools, command, output)}
