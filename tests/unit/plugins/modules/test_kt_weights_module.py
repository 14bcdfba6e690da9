"""The kt_weights module: one verdict per present instance, the failed ones as problem lines, nothing changed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import kt_weights
from ansible_collections.ktune.inference.tests.unit.kt_weight_tree import write_merged


def sglang(name, path, pools, **extra):
    item = {"name": name, "state": "present", "backend": "sglang", "kt_weight_path": path,
            "kt_threadpool_count": pools, "kt_numa_nodes": list(range(pools)), "kt_method": "AMXINT4",
            "kt_cpuinfer": 32, "model_path": "/models/m", "api_key": "0123456789abcdef"}
    item.update(extra)
    return item


@pytest.mark.parametrize("check_mode", [False, True])
def test_each_present_instance_gets_a_verdict_and_mismatches_are_problems(tmp_path, check_mode):
    write_merged(str(tmp_path) + "/models/m-NUMA2", 2)
    instances = [sglang("ok", "/models/m-NUMA2", 2), sglang("stale", "/models/m-NUMA2", 4),
                 sglang("gone", "/models/m-NUMA2", 4, state="absent"), sglang("new", "/models/none", 2)]
    result, failed = run_module(kt_weights, {"instances": instances, "root": str(tmp_path)}, check_mode=check_mode)
    assert not failed and result["changed"] is False
    assert [(item["name"], item["status"]) for item in result["instances"]] == [
        ("ok", "pass"), ("stale", "fail"), ("new", "skip")]
    assert result["problems"] == [
        "stale: expected kt-kernel weights cut for 4 thread pools (--kt-threadpool-count 4, nodes 0 1 2 3), found 2 "
        "thread pools in /models/m-NUMA2. Fix: convert the weights again for 4 pools on the host: python "
        "kt-kernel/scripts/convert_cpu_weights.py --input-path /models/m --input-type fp8|fp16|bf16 (as the model) "
        "--output /models/m-NUMA4 --quant-method int4 --cpuinfer-threads 32 --threadpool-count 4; then set "
        "kt_weight_path: /models/m-NUMA4"]
    assert "0123456789abcdef" not in repr(result)
