"""kt-kernel's converted weights against the thread pools an instance starts (kt_weights.weight_split_finding),
on fixture trees shaped as kt-kernel's converter leaves them (tests/unit/kt_weight_tree.py says from where)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import struct
import threading

from ansible_collections.ktune.inference.plugins.module_utils.kt_weights import (
    read_weight_split,
    weight_split_finding,
)
from ansible_collections.ktune.inference.tests.unit.kt_weight_tree import (
    safetensors_bytes,
    write_folders,
    write_merged,
    write_unsplit,
)

WEIGHTS = "/models/DeepSeek-V3-0324-AMXINT4-NUMA2"


def instance(pools, path=WEIGHTS, **extra):
    item = {"name": "r1", "backend": "sglang", "kt_weight_path": path, "kt_threadpool_count": pools,
            "kt_numa_nodes": list(range(pools)), "kt_method": "AMXINT4", "kt_cpuinfer": 60,
            "model_path": "/models/DeepSeek-V3-0324"}
    item.update(extra)
    return item


def merged(root, pools, path=WEIGHTS, **kwargs):
    return write_merged(str(root) + path, pools, **kwargs)


def test_weights_cut_for_the_pools_the_instance_starts_pass(tmp_path):
    merged(tmp_path, 2)
    verdict = weight_split_finding(str(tmp_path), instance(2))
    assert verdict["status"] == "pass"
    assert verdict["finding"] == "r1: %s is cut for 2 thread pools, as started" % WEIGHTS


def test_after_nps4_the_two_pool_weights_fail_naming_path_counts_and_the_conversion(tmp_path):
    merged(tmp_path, 2)
    verdict = weight_split_finding(str(tmp_path), instance(4))
    assert verdict["status"] == "fail"
    assert verdict["finding"] == ("r1: expected kt-kernel weights cut for 4 thread pools (--kt-threadpool-count 4, "
                                  "nodes 0 1 2 3), found 2 thread pools in %s" % WEIGHTS)
    assert verdict["fix"] == (
        "convert the weights again for 4 pools on the host: python kt-kernel/scripts/convert_cpu_weights.py "
        "--input-path /models/DeepSeek-V3-0324 --input-type fp8|fp16|bf16 (as the model) "
        "--output /models/DeepSeek-V3-0324-AMXINT4-NUMA4 --quant-method int4 --cpuinfer-threads 60 "
        "--threadpool-count 4; then set kt_weight_path: /models/DeepSeek-V3-0324-AMXINT4-NUMA4")


def test_fewer_pools_than_slices_fail_too(tmp_path):
    merged(tmp_path, 4)
    verdict = weight_split_finding(str(tmp_path), instance(1, kt_method="AMXINT8", kt_numa_nodes=[]))
    assert verdict["status"] == "fail"
    assert "expected kt-kernel weights cut for 1 thread pool (--kt-threadpool-count 1), found 4 thread pools" \
        in verdict["finding"]
    assert "--quant-method int8" in verdict["fix"] and "--threadpool-count 1" in verdict["fix"]


def test_the_split_is_read_from_the_first_shard_that_holds_expert_slices(tmp_path):
    directory = merged(tmp_path, 3, shards=3)
    # A leading shard with only dense tensors (sorted first) says nothing about the split.
    with open(os.path.join(directory, "model-00000.safetensors"), "wb") as handle:
        handle.write(safetensors_bytes(["embed_tokens.weight"]))
    assert read_weight_split(str(tmp_path), WEIGHTS) == {"layout": "merged", "slices": [0, 1, 2]}
    assert weight_split_finding(str(tmp_path), instance(3))["status"] == "pass"


def test_slices_with_a_gap_are_named(tmp_path):
    directory = str(tmp_path) + WEIGHTS
    os.makedirs(directory)
    with open(os.path.join(directory, "model.safetensors"), "wb") as handle:
        handle.write(safetensors_bytes(["blk.3.ffn_up_exps.0.numa.0.weight", "blk.3.ffn_up_exps.0.numa.2.weight"]))
    verdict = weight_split_finding(str(tmp_path), instance(2))
    assert verdict["status"] == "fail"
    assert "found 2 thread pools (numa.0 numa.2)" in verdict["finding"]


def test_unmerged_layer_folders_are_counted_and_the_fix_keeps_them_unmerged(tmp_path):
    write_folders(str(tmp_path) + WEIGHTS, 4)
    assert read_weight_split(str(tmp_path), WEIGHTS) == {"layout": "folders", "slices": [0, 1, 2, 3]}
    verdict = weight_split_finding(str(tmp_path), instance(2))
    assert verdict["status"] == "fail"
    assert "found 4 thread pools in %s" % WEIGHTS in verdict["finding"]
    # The folder is named NUMA2 but cut for 4: the new output must never be the path in use.
    assert verdict["fix"].endswith("--output /models/DeepSeek-V3-0324-AMXINT4-NUMA2-NUMA2 --quant-method int4 "
                                   "--cpuinfer-threads 60 --threadpool-count 2 --no-merge-safetensor; then set "
                                   "kt_weight_path: /models/DeepSeek-V3-0324-AMXINT4-NUMA2-NUMA2")
    assert weight_split_finding(str(tmp_path), instance(4))["status"] == "pass"


def test_an_output_name_without_a_numa_suffix_gets_one(tmp_path):
    merged(tmp_path, 2, path="/srv/dsv3-int4")
    verdict = weight_split_finding(str(tmp_path), instance(4, path="/srv/dsv3-int4"))
    assert verdict["fix"].endswith("--output /srv/dsv3-int4-NUMA4 --quant-method int4 --cpuinfer-threads 60 "
                                   "--threadpool-count 4; then set kt_weight_path: /srv/dsv3-int4-NUMA4")


def test_weights_without_a_split_and_other_backends_are_not_judged(tmp_path):
    write_unsplit(str(tmp_path) + "/models/bf16")
    assert read_weight_split(str(tmp_path), "/models/bf16") is None
    assert weight_split_finding(str(tmp_path), instance(2, path="/models/bf16"))["status"] == "skip"
    assert weight_split_finding(str(tmp_path), {"name": "legacy", "backend": "legacy", "gguf_path": "/g"}) == {
        "status": "skip", "finding": "legacy loads no kt-kernel weights", "fix": ""}


def test_weights_not_on_the_host_yet_are_skipped(tmp_path):
    verdict = weight_split_finding(str(tmp_path), instance(2))
    assert verdict == {"status": "skip", "finding": "r1: %s is not on the host yet" % WEIGHTS, "fix": ""}


def test_a_trusted_link_is_followed_inside_the_root(tmp_path):
    merged(tmp_path, 2)
    # An absolute target is resolved under the root, never on the machine running the test.
    os.symlink(WEIGHTS, str(tmp_path) + "/models/current")
    owner = os.lstat(str(tmp_path) + "/models/current").st_uid
    assert weight_split_finding(str(tmp_path), instance(4, path="/models/current"),
                                trusted_uids=(owner,))["status"] == "fail"
    os.symlink("../models/./DeepSeek-V3-0324-AMXINT4-NUMA2", str(tmp_path) + "/models/relative")
    assert read_weight_split(str(tmp_path), "/models/relative", trusted_uids=(owner,))["slices"] == [0, 1]
    assert read_weight_split(str(tmp_path), "/../../models/current", trusted_uids=(owner,))["slices"] == [0, 1]


def test_a_link_someone_else_owns_is_not_followed(tmp_path):
    merged(tmp_path, 2)
    os.symlink(WEIGHTS, str(tmp_path) + "/models/current")
    owner = os.lstat(str(tmp_path) + "/models/current").st_uid
    verdict = weight_split_finding(str(tmp_path), instance(4, path="/models/current/"), trusted_uids=(owner + 1,))
    assert verdict["status"] == "unknown"
    assert verdict["finding"] == ("r1: /models/current is a symlink owned by uid %d; a root read follows links only "
                                  "root made" % owner)
    assert verdict["fix"] == ("put the real path in kt_weight_path (readlink -f /models/current), or have root own "
                              "the link")


def test_a_linked_shard_someone_else_owns_is_not_read(tmp_path):
    directory = merged(tmp_path, 2)
    os.rename(os.path.join(directory, "model.safetensors"), str(tmp_path / "elsewhere.safetensors"))
    os.symlink(str(tmp_path / "elsewhere.safetensors"), os.path.join(directory, "model.safetensors"))
    owner = os.lstat(os.path.join(directory, "model.safetensors")).st_uid
    verdict = weight_split_finding(str(tmp_path), instance(2), trusted_uids=(owner + 1,))
    assert verdict["status"] == "unknown"
    assert verdict["finding"].startswith("r1: %s/model.safetensors: expected a regular file, found a symlink"
                                         % WEIGHTS)


def test_a_fifo_in_place_of_a_shard_does_not_hang_the_read(tmp_path):
    directory = str(tmp_path) + WEIGHTS
    os.makedirs(directory)
    os.mkfifo(os.path.join(directory, "model.safetensors"))
    result = {}
    reader = threading.Thread(target=lambda: result.update(weight_split_finding(str(tmp_path), instance(2))))
    reader.start()
    reader.join(10)
    assert not reader.is_alive()
    assert result["status"] == "unknown"
    assert "model.safetensors: expected a regular file" in result["finding"]


def test_a_damaged_header_is_unknown_not_a_verdict(tmp_path):
    directory = str(tmp_path) + WEIGHTS
    os.makedirs(directory)
    with open(os.path.join(directory, "model.safetensors"), "wb") as handle:
        handle.write(struct.pack("<Q", 1 << 40) + b"{}")
    verdict = weight_split_finding(str(tmp_path), instance(2))
    assert verdict["status"] == "unknown"
    assert "expected a safetensors header of at most 16777216 bytes within the file" in verdict["finding"]
    with open(os.path.join(directory, "model.safetensors"), "wb") as handle:
        handle.write(struct.pack("<Q", 3) + b"[1]")
    assert weight_split_finding(str(tmp_path), instance(2))["status"] == "unknown"


def test_a_weight_path_that_is_a_file_is_named(tmp_path):
    os.makedirs(str(tmp_path) + "/models")
    with open(str(tmp_path) + WEIGHTS, "w") as handle:
        handle.write("x")
    verdict = weight_split_finding(str(tmp_path), instance(2))
    assert verdict["status"] == "unknown"
    assert verdict["finding"] == "r1: %s: expected a directory, found another kind of file" % WEIGHTS


def plant_header(tmp_path, header):
    """A shard whose header is the given bytes, as someone who can write the weight path may leave it."""
    directory = str(tmp_path) + WEIGHTS
    os.makedirs(directory)
    with open(os.path.join(directory, "model.safetensors"), "wb") as handle:
        handle.write(struct.pack("<Q", len(header)) + header)


def test_a_deeply_nested_header_is_unknown_not_a_crash(tmp_path):
    plant_header(tmp_path, b'{"a":' + b"[" * 200000 + b"]" * 200000 + b"}")
    verdict = weight_split_finding(str(tmp_path), instance(2))
    assert verdict["status"] == "unknown"
    assert verdict["finding"] == ("r1: %s/model.safetensors: expected a safetensors header (JSON), found something "
                                  "else" % WEIGHTS)


def test_a_slice_number_too_long_for_int_is_unknown_not_a_crash(tmp_path):
    key = "blk.3.ffn_up_exps.0.numa.%s.weight" % ("9" * 5000)
    plant_header(tmp_path, json.dumps({key: {}}).encode("utf-8"))
    verdict = weight_split_finding(str(tmp_path), instance(2))
    assert verdict["status"] == "unknown"
    assert verdict["finding"].startswith("r1: %s/model.safetensors: expected expert slices numa.0 to numa.9999, "
                                         "found blk.3.ffn_up_exps.0.numa.999" % WEIGHTS)
    assert len(verdict["finding"]) < 400


def test_non_ascii_digits_and_overlong_folder_numbers_are_not_slices(tmp_path):
    key = u"blk.3.ffn_up_exps.0.numa.\u0661.weight"  # ARABIC-INDIC DIGIT ONE, which \d would take
    plant_header(tmp_path, json.dumps({key: {}}).encode("utf-8"))
    assert weight_split_finding(str(tmp_path), instance(2))["status"] == "unknown"
    folders = str(tmp_path / "folders")
    os.makedirs(os.path.join(folders, "_layer_" + "0" * 200))  # would sort first as layer 0, holding no slices
    os.makedirs(os.path.join(folders, "_layer_3", "_numa_" + "1" * 200))
    os.makedirs(os.path.join(folders, "_layer_3", "_numa_0"))
    assert read_weight_split(str(tmp_path), "/folders") == {"layout": "folders", "slices": [0]}


def test_a_header_above_16_mib_is_not_parsed(tmp_path):
    directory = str(tmp_path) + WEIGHTS
    os.makedirs(directory)
    with open(os.path.join(directory, "model.safetensors"), "wb") as handle:
        handle.write(struct.pack("<Q", (16 << 20) + 1))
        handle.truncate(8 + (16 << 20) + 1)
    verdict = weight_split_finding(str(tmp_path), instance(2))
    assert verdict["status"] == "unknown"
    assert "expected a safetensors header of at most 16777216 bytes within the file" in verdict["finding"]


def test_a_linked_shard_root_owns_is_refused_with_what_is_refused(tmp_path):
    directory = merged(tmp_path, 2)
    os.rename(os.path.join(directory, "model.safetensors"), str(tmp_path / "elsewhere.safetensors"))
    os.symlink(str(tmp_path / "elsewhere.safetensors"), os.path.join(directory, "model.safetensors"))
    owner = os.lstat(os.path.join(directory, "model.safetensors")).st_uid
    verdict = weight_split_finding(str(tmp_path), instance(2), trusted_uids=(owner,))
    assert verdict["status"] == "unknown"
    assert verdict["finding"] == ("r1: %s/model.safetensors: expected a regular file, found a symlink; shards are "
                                  "read only as files in the weight directory itself, never through a link"
                                  % WEIGHTS)
    assert verdict["fix"] == ("put the directory that holds the real shards in kt_weight_path (readlink -f "
                              "%s/model.safetensors)" % WEIGHTS)
