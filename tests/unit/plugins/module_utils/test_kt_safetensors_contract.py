"""Our safetensors writer and header reader against the safetensors package itself (huggingface/safetensors,
the code kt-kernel's loader reads its converted weights with).

(a) the fixture shards tests/unit/kt_weight_tree.py writes open in the package with exactly the tensor names,
    dtypes and shapes we meant; (b) weight trees the package writes (safetensors.numpy.save_file) with kt-kernel's
    names are read by kt_weights to the same finding as the same trees from our writer."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import save_file

from ansible_collections.ktune.inference.plugins.module_utils.kt_weights import (
    read_weight_split,
    weight_split_finding,
)
from ansible_collections.ktune.inference.tests.unit.kt_weight_tree import (
    DENSE_KEYS,
    expert_keys,
    write_merged,
    write_shard,
    write_unsplit,
)

WEIGHTS = "/models/DeepSeek-V3-0324-AMXINT4-NUMA2"


def opened(path, zeros=True):
    """{name: (dtype, shape)} and the metadata of one file, as the safetensors package reads it (with
    zeros: every tensor's data read too, all zero as our writer leaves it)."""
    with safe_open(path, framework="numpy") as handle:
        tensors = {}
        for name in handle.keys():
            view = handle.get_slice(name)
            tensors[name] = (view.get_dtype(), view.get_shape())
            assert not zeros or not handle.get_tensor(name).any()
        return tensors, handle.metadata()


def upstream_shard(path, names, metadata=None):
    """The same shard written by the package: packed INT4 weights (U8), F32 scales, F16 dense tensors."""
    tensors = {}
    for index, name in enumerate(names):
        if name.endswith(".scale"):
            tensors[name] = np.full((16,), index, dtype=np.float32)
        elif ".ffn_" in name:
            tensors[name] = np.full((16, 32), index % 256, dtype=np.uint8)
        else:
            tensors[name] = np.zeros((8, 4), dtype=np.float16)
    save_file(tensors, path, metadata=metadata)


def instance(pools, path=WEIGHTS):
    return {"name": "r1", "backend": "sglang", "kt_weight_path": path, "kt_threadpool_count": pools,
            "kt_numa_nodes": list(range(pools)), "kt_method": "AMXINT4", "kt_cpuinfer": 60,
            "model_path": "/models/DeepSeek-V3-0324"}


@pytest.mark.parametrize("pools, shards", [(1, 1), (2, 1), (4, 3), (8, 2)])
def test_our_fixture_shards_open_in_the_safetensors_package_with_the_tensors_we_meant(tmp_path, pools, shards):
    directory = write_merged(str(tmp_path / "weights"), pools, shards=shards)
    meant = expert_keys((3, 4), 4, pools) + DENSE_KEYS
    found = {}
    shard_names = sorted(glob.glob(os.path.join(directory, "*.safetensors")))
    assert len(shard_names) == shards
    for path in shard_names:
        tensors, metadata = opened(path)
        assert metadata == {"format": "pt"}
        assert not set(tensors) & set(found), "a tensor in two shards"
        found.update(tensors)
    assert sorted(found) == sorted(meant)
    assert all(kind == ("I8", [4]) for kind in found.values()), found


def test_a_fixture_shard_without_metadata_and_the_unsplit_checkpoint_open_in_the_package(tmp_path):
    write_shard(str(tmp_path / "one.safetensors"), ["blk.3.ffn_up_exps.0.numa.0.weight", "norm.weight"])
    assert opened(str(tmp_path / "one.safetensors")) == (
        {"blk.3.ffn_up_exps.0.numa.0.weight": ("I8", [4]), "norm.weight": ("I8", [4])}, None)
    directory = write_unsplit(str(tmp_path / "bf16"))
    tensors, metadata = opened(os.path.join(directory, "model-00001-of-00001.safetensors"))
    assert metadata is None
    assert sorted(tensors) == sorted("model.layers.3.mlp.experts.%d.%s_proj.weight" % (expert, proj)
                                     for expert in range(4) for proj in ("up", "gate", "down"))


def test_a_shard_the_package_writes_is_the_one_upstream_shard_helper_meant(tmp_path):
    # The double the next tests use writes what it says: kt-kernel's names, U8 weights, F32 scales.
    names = ["blk.3.ffn_up_exps.0.numa.1.weight", "blk.3.ffn_up_exps.0.numa.1.scale", "norm.weight"]
    upstream_shard(str(tmp_path / "up.safetensors"), names, {"a": "b"})
    meant = {"blk.3.ffn_up_exps.0.numa.1.weight": ("U8", [16, 32]), "blk.3.ffn_up_exps.0.numa.1.scale": ("F32", [16]),
             "norm.weight": ("F16", [8, 4])}
    assert opened(str(tmp_path / "up.safetensors"), zeros=False) == (meant, {"a": "b"})


def both_roots(tmp_path, build):
    """The same tree at the same path under two roots: ours (write_shard), then the package's."""
    ours, theirs = str(tmp_path / "ours"), str(tmp_path / "theirs")
    build(ours + WEIGHTS, write_shard)
    build(theirs + WEIGHTS, upstream_shard)
    return ours, theirs


@pytest.mark.parametrize("pools, shards", [(1, 1), (2, 1), (4, 3), (8, 2)])
def test_trees_the_package_writes_are_read_to_the_same_finding_as_our_fixtures(tmp_path, pools, shards):
    ours, theirs = both_roots(tmp_path, lambda path, writer: write_merged(path, pools, shards=shards, writer=writer))
    assert read_weight_split(theirs, WEIGHTS) == read_weight_split(ours, WEIGHTS) == {
        "layout": "merged", "slices": list(range(pools))}
    for started in (pools, 2 * pools):
        verdict = weight_split_finding(theirs, instance(started))
        assert verdict == weight_split_finding(ours, instance(started))
        assert verdict["status"] == ("pass" if started == pools else "fail")


def test_a_gap_in_the_slices_the_package_writes_is_named_as_in_our_fixtures(tmp_path):
    names = ["blk.3.ffn_up_exps.0.numa.0.weight", "blk.3.ffn_up_exps.0.numa.0.scale",
             "blk.3.ffn_up_exps.0.numa.2.weight", "blk.3.ffn_up_exps.0.numa.2.scale", "lm_head.weight"]

    def build(path, writer):
        os.makedirs(path)
        writer(os.path.join(path, "model.safetensors"), names, {"format": "pt"})
    ours, theirs = both_roots(tmp_path, build)
    verdict = weight_split_finding(theirs, instance(2))
    assert verdict == weight_split_finding(ours, instance(2))
    assert verdict["status"] == "fail"
    assert "found 2 thread pools (numa.0 numa.2) in %s" % WEIGHTS in verdict["finding"]


def test_an_unsplit_checkpoint_the_package_writes_is_not_judged_as_in_our_fixtures(tmp_path):
    ours, theirs = both_roots(tmp_path, lambda path, writer: write_unsplit(path, writer=writer))
    assert read_weight_split(theirs, WEIGHTS) is None and read_weight_split(ours, WEIGHTS) is None
    verdict = weight_split_finding(theirs, instance(2))
    assert verdict == weight_split_finding(ours, instance(2))
    assert verdict["status"] == "skip"
