"""Baselines keyed by hardware fingerprint: a host is compared only with identical hardware, software and load."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import benchmark, fingerprint

NUMA = {
    "available": True, "model_name": "AMD EPYC 9375F 32-Core Processor", "sockets": 2, "layout": "NPS2",
    "cpus_online": 128, "threads_per_core": 2, "kernel_release": "6.8.0-45-generic",
    "nodes": [{"id": node, "memory_mb": 386000 + node * 3} for node in range(4)],
    "gpus": [{"address": "0000:02:00.0", "vendor": "0x1a03", "device": "0x2000"},
             {"address": "0000:41:00.0", "vendor": "0x10de", "device": "0x2330"}],
}
SETTINGS = {"url": "http://127.0.0.1:10002", "model": "DeepSeek-R1", "max_tokens": 128, "requests": 12,
            "concurrency": 1, "request_rate": 2.0, "burstiness": 1.0, "arrival_seed": 1,
            "slo": {"ttft_s": 2.0, "tpot_s": 0.08}}
SOFTWARE = {"ktransformers": "0.3.2", "kt_kernel": "0.4.1", "quantisation": "AMXINT4"}


def print_of(numa=None, settings=None, extra=None):
    return fingerprint.hardware_fingerprint(numa or NUMA, SOFTWARE if extra is None else extra, settings or SETTINGS)


def test_fingerprint_names_what_makes_runs_comparable():
    found = print_of()
    assert found["cpu_model"] == "AMD EPYC 9375F 32-Core Processor"
    assert found["sockets"] == 2 and found["layout"] == "NPS2"
    assert found["node_memory_gib"] == [377, 377, 377, 377]
    assert found["gpus"] == ["0x10de:0x2330"]  # the BMC's ASPEED graphics is no GPU
    assert found["kernel"] == "6.8.0-45-generic"
    assert found["software"] == {"ktransformers": "0.3.2", "kt_kernel": "0.4.1", "quantisation": "AMXINT4"}
    assert found["load"]["request_rate"] == 2.0 and found["load"]["slo"] == {"ttft_s": 2.0, "tpot_s": 0.08}
    assert "url" not in found["load"]


def test_the_key_is_stable_and_moves_with_any_field():
    key = fingerprint.fingerprint_key(print_of())
    assert len(key) == 16 and int(key, 16) >= 0
    assert key == fingerprint.fingerprint_key(print_of())
    # Some MiB less memory after a reboot is the same hardware; a port move is the same load.
    rebooted = copy.deepcopy(NUMA)
    rebooted["nodes"][0]["memory_mb"] -= 40
    assert fingerprint.fingerprint_key(print_of(numa=rebooted, settings=dict(SETTINGS, url="http://127.0.0.1:30000"))) == key
    other_layout = dict(NUMA, layout="NPS4")
    assert fingerprint.fingerprint_key(print_of(numa=other_layout)) != key
    assert fingerprint.fingerprint_key(print_of(extra=dict(SOFTWARE, ktransformers="0.3.3"))) != key
    assert fingerprint.fingerprint_key(print_of(settings=dict(SETTINGS, request_rate=4.0))) != key


def test_differences_are_named_hardware_first():
    other = copy.deepcopy(NUMA)
    other.update(model_name="AMD EPYC 9575F 64-Core Processor", layout="NPS4")
    other["gpus"] = []
    found = fingerprint.fingerprint_differences(print_of(), print_of(numa=other, extra=dict(SOFTWARE, kt_kernel="0.5.0")))
    assert found == [
        "CPU model AMD EPYC 9375F 32-Core Processor -> AMD EPYC 9575F 64-Core Processor",
        "NUMA layout NPS2 -> NPS4",
        "GPUs 0x10de:0x2330 -> unset",
        "software kt_kernel 0.4.1 -> 0.5.0",
    ]
    assert fingerprint.fingerprint_differences(print_of(), print_of()) == []


def run(curve, fingerprint_doc, **extra):
    doc = {"tokens_per_s": curve, "facts": {"layout": "NPS2"}, "settings": SETTINGS, "recorded_at": "2026-12-01T10:00:00Z"}
    if fingerprint_doc is not None:
        doc["fingerprint"] = fingerprint_doc
    doc.update(extra)
    return doc


CURVE = [15.0] * 12


def test_compare_refuses_a_baseline_from_other_hardware():
    baseline = run(CURVE, print_of())
    current = run(CURVE, print_of(numa=dict(NUMA, sockets=1, layout="NPS1")))
    result = benchmark.compare_to_baseline(current, baseline, 15, host="gpu-a")
    assert result["passed"] is False and result["comparable"] is False
    assert result["fingerprint_differences"] == ["sockets 2 -> 1", "NUMA layout NPS2 -> NPS1"]
    assert result["msg"].startswith("gpu-a: not compared with its baseline recorded 2026-12-01T10:00:00Z: expected the "
                                    "same hardware, software and load, found sockets 2 -> 1; NUMA layout NPS2 -> NPS1. Fix: ")


def test_compare_judges_runs_on_identical_hardware():
    result = benchmark.compare_to_baseline(run([14.5] * 12, print_of()), run(CURVE, print_of()), 15, host="gpu-a")
    assert result["passed"] is True and result["comparable"] is True
    assert result["regression_pct"] == pytest.approx(3.33, abs=0.01)


def test_a_baseline_recorded_before_fingerprints_is_still_compared():
    result = benchmark.compare_to_baseline(run([10.0] * 12, print_of()), run(CURVE, None), 15, host="gpu-a")
    assert result["comparable"] is True and result["passed"] is False
    assert "slower than its baseline" in result["msg"]


def test_the_gate_fails_a_serving_regression_with_the_same_tokens_per_s():
    """The baseline role's gate (baseline_compare) judges goodput and p99 with slo.slo_regression."""
    good = {"goodput_rps": 2.0, "p99": {"ttft_s": 0.5}}
    worse = {"goodput_rps": 1.2, "p99": {"ttft_s": 1.5}}
    result = benchmark.compare_to_baseline(run(CURVE, print_of(), slo_judgement=worse),
                                           run(CURVE, print_of(), slo_judgement=good), 15, host="gpu-a")
    assert result["passed"] is False and result["regression_pct"] == 0
    assert result["slo_regressions"] == [
        "goodput fell 40.0% (2 -> 1.2 good requests/s), more than the 15.0% allowed",
        "p99 ttft_s rose 200.0% (0.500 s -> 1.500 s), more than the 15.0% allowed"]
    assert result["msg"].startswith("gpu-a: serving latencies regressed against its baseline recorded 2026-12-01T10:00:00Z: "
                                    "goodput fell 40.0%")
    assert "Key facts unchanged" in result["msg"]
    same = benchmark.compare_to_baseline(run(CURVE, print_of(), slo_judgement=good),
                                         run(CURVE, print_of(), slo_judgement=good), 15, host="gpu-a")
    assert same["passed"] is True and same["slo_regressions"] == []


def test_warmup_and_sweep_are_part_of_the_load_only_when_set():
    key = fingerprint.fingerprint_key(print_of())
    unset = dict(SETTINGS, warmup_requests=0, warmup_s=0.0, request_rates=None, repetitions=5)
    # A baseline recorded before these settings existed keeps its key, and repetitions never count.
    assert fingerprint.fingerprint_key(print_of(settings=unset)) == key
    warm = print_of(settings=dict(unset, warmup_requests=3))
    assert warm["load"]["warmup_requests"] == 3 and fingerprint.fingerprint_key(warm) != key
    assert fingerprint.fingerprint_differences(print_of(), warm) == ["load settings warmup_requests unset -> 3"]
    swept = print_of(settings=dict(unset, request_rate=None, request_rates=[1.0, 2.0]))
    assert swept["load"]["request_rates"] == [1.0, 2.0] and fingerprint.fingerprint_key(swept) != key
