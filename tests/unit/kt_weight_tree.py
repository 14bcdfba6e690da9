# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build kt-kernel weight directories the way kt-kernel's converter leaves them on disk.

Where the shape comes from (read, not copied): kvcache-ai/ktransformers
``kt-kernel/scripts/convert_cpu_weights.py`` (``ConverterBase.convert``: merged shards
``model.safetensors`` or ``model-00001.safetensors``..., at most 3000 tensors each, expert tensors
first, layer by layer, then the non-expert ones with ``model.layers.N`` renamed ``blk.N``; config
files copied beside them; ``OnlineQuantConverter._load_layer_tensors_from_disk``: the unmerged
``_layer_<n>/_numa_<i>/INT4_<proj>_<expert>_<bytes>Byte_quant_.kt`` and ``..._scale_.kt`` files of
``--no-merge-safetensor``), and kt_kernel 0.7.2's ``SafeTensorLoader.load_experts`` (the names
``blk.<layer>.ffn_<up|gate|down>_exps.<expert>.numa.<i>.weight|scale``). A safetensors file is an
8-byte little-endian header length, a JSON header {name: {dtype, shape, data_offsets}} with
optional ``__metadata__``, then the data (huggingface/safetensors, "Format").

The trees are small: a DeepSeek-V3-shaped model (MoE from layer 3) with 2 layers of 4 experts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import struct

PROJECTIONS = ("up", "gate", "down")


def safetensors_bytes(names, metadata=None):
    """A valid safetensors file holding one 4-byte I8 tensor per name."""
    header = {}
    for index, name in enumerate(names):
        header[name] = {"dtype": "I8", "shape": [4], "data_offsets": [index * 4, index * 4 + 4]}
    if metadata is not None:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)  # the writer pads the header to 8 bytes
    return struct.pack("<Q", len(text)) + text + b"\0" * (4 * len(names))


def expert_keys(layers, experts, pools):
    keys = []
    for layer in layers:
        for proj in PROJECTIONS:
            for expert in range(experts):
                for pool in range(pools):
                    base = "blk.%d.ffn_%s_exps.%d.numa.%d" % (layer, proj, expert, pool)
                    keys += [base + ".weight", base + ".scale"]
    return keys


DENSE_KEYS = ["embed_tokens.weight", "norm.weight", "lm_head.weight", "blk.0.self_attn.q_a_proj.weight",
              "blk.3.mlp.gate.weight", "blk.3.self_attn.kv_a_proj_with_mqa.weight"]


def write_shard(path, names, metadata=None):
    """Our own writer: one safetensors file holding names (tests/unit/plugins/module_utils/
    test_kt_safetensors_contract.py checks it against the safetensors package both ways)."""
    with open(path, "wb") as handle:
        handle.write(safetensors_bytes(names, metadata))


def write_merged(directory, pools, layers=(3, 4), experts=4, shards=1, writer=write_shard):
    """A merged conversion (the default): expert slices first, then the dense tensors, in shards.
    writer(path, names, metadata) writes one shard (another writer: the same tree from other code)."""
    os.makedirs(directory)
    keys = expert_keys(layers, experts, pools) + DENSE_KEYS
    if shards == 1:
        names = ["model.safetensors"]
    else:
        names = ["model-%05d.safetensors" % (index + 1) for index in range(shards)]
    per = -(-len(keys) // shards)
    for index, name in enumerate(names):
        writer(os.path.join(directory, name), keys[index * per:(index + 1) * per], {"format": "pt"})
    with open(os.path.join(directory, "config.json"), "w") as handle:
        json.dump({"architectures": ["DeepseekV3ForCausalLM"], "n_routed_experts": experts,
                   "first_k_dense_replace": 3}, handle)
    return directory


def write_folders(directory, pools, layers=(3, 4), experts=4):
    """A --no-merge-safetensor conversion: _layer_<n>/_numa_<i>/ folders of .kt files."""
    for layer in layers:
        for pool in range(pools):
            folder = os.path.join(directory, "_layer_%d" % layer, "_numa_%d" % pool)
            os.makedirs(folder)
            for proj in PROJECTIONS:
                for expert in range(experts):
                    for kind in ("quant", "scale"):
                        with open(os.path.join(folder, "INT4_%s_%d_64Byte_%s_.kt" % (proj, expert, kind)), "wb") as h:
                            h.write(b"\0" * 64)
    return directory


def write_unsplit(directory, writer=write_shard):
    """Weights kt-kernel loads without a per-pool split (a BF16 checkpoint's expert names)."""
    os.makedirs(directory)
    keys = ["model.layers.3.mlp.experts.%d.%s_proj.weight" % (expert, proj)
            for expert in range(4) for proj in PROJECTIONS]
    writer(os.path.join(directory, "model-00001-of-00001.safetensors"), keys)
    return directory
