"""Filters tokens_chart_svg and baseline_compare."""

import xml.etree.ElementTree as ET

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.filter.benchmark import (
    baseline_canary_compare,
    baseline_compare,
    baseline_fingerprint,
    baseline_fleet,
    slo_sweep_chart_svg,
    tokens_chart_svg,
)

NS = {"svg": "http://www.w3.org/2000/svg"}


def labels(svg):
    return [g.get("data-label") for g in ET.fromstring(svg).iterfind(".//svg:g[@class='series']", NS)]


def test_chart_from_results_lists_and_none():
    assert labels(tokens_chart_svg({"tokens_per_s": [3.0, 2.0]}, {"tokens_per_s": [3.0, 3.0]})) == ["baseline",
                                                                                                    "latest"]
    assert labels(tokens_chart_svg([3.0, 2.0])) == ["latest"]
    assert labels(tokens_chart_svg([], [3.0, 3.0], "only the baseline")) == ["baseline"]


def test_chart_errors():
    with pytest.raises(AnsibleFilterError, match="no tokens/s to draw"):
        tokens_chart_svg([], None)
    with pytest.raises(AnsibleFilterError, match="must be a list of tokens/s"):
        tokens_chart_svg("fast")
    with pytest.raises(AnsibleFilterError, match="threshold = 'x' is not a number"):
        tokens_chart_svg([1.0, 2.0], threshold="x")


def test_compare_takes_strings_from_extra_vars():
    baseline = {"tokens_per_s": [10.0] * 8, "facts": {"layout": "NPS2"}}
    current = {"host": "h9", "tokens_per_s": [7.0] * 8, "facts": {"layout": "NPS4"}}
    result = baseline_compare(current, baseline, "15")
    assert result["passed"] is False and result["msg"].startswith("h9: 30.0% slower")
    assert "layout changed NPS2 -> NPS4" in result["msg"]


@pytest.mark.parametrize("current, baseline, pct, match", [
    ([1.0], {}, 10, "the input must be a dictionary"),
    ({}, None, 10, "baseline must be a dictionary"),
    ({}, {}, -1, "expected a percentage >= 0"),
    ({}, {}, "lots", "is not a number"),
])
def test_compare_errors(current, baseline, pct, match):
    with pytest.raises(AnsibleFilterError, match=match):
        baseline_compare(current, baseline, pct)


def test_baseline_fingerprint_carries_its_key_and_keys_the_comparison():
    numa = {"model_name": "Intel Xeon 6980P", "sockets": 2, "layout": "SNC3", "nodes": [{"memory_mb": 393216}] * 6}
    first = baseline_fingerprint(numa, {"model": "Kimi-K2", "max_tokens": 64}, {"sglang": "0.5.2"})
    assert first["layout"] == "SNC3" and first["node_memory_gib"] == [384] * 6
    assert first["key"] == baseline_fingerprint(numa, {"model": "Kimi-K2", "max_tokens": 64}, {"sglang": "0.5.2"})["key"]
    upgraded = baseline_fingerprint(numa, {"model": "Kimi-K2", "max_tokens": 64}, {"sglang": "0.5.3"})
    assert upgraded["key"] != first["key"]
    result = baseline_compare({"tokens_per_s": [5.0] * 4, "fingerprint": upgraded},
                              {"tokens_per_s": [5.0] * 4, "fingerprint": first}, 15, "xeon-1")
    assert result["comparable"] is False and result["fingerprint_differences"] == ["software sglang 0.5.2 -> 0.5.3"]


def test_baseline_fingerprint_refuses_what_is_not_a_dictionary():
    with pytest.raises(AnsibleFilterError, match="baseline_fingerprint: extra must be a dictionary, got 'str'"):
        baseline_fingerprint({}, None, "0.3.2")


def test_slo_sweep_chart_svg_draws_the_sweep_of_a_result():
    result = {"sweep": [{"request_rate": 1.0, "slo_p99": {"ttft_s": 0.4}}, {"request_rate": 2.0, "slo_p99": {"ttft_s": 3.0}}],
              "knee_rps": 1.0, "slo_judgement": {"slo": {"ttft_s": 2.0}}}
    svg = slo_sweep_chart_svg(result, "h1: p99")
    assert 'data-label="ttft_s"' in svg and '<g class="knee" data-rate="1">' in svg and "<title>h1: p99</title>" in svg


@pytest.mark.parametrize("value", [None, {}, {"sweep": []}, {"tokens_per_s": [1.0]}])
def test_slo_sweep_chart_svg_refuses_a_result_without_a_sweep(value):
    with pytest.raises(AnsibleFilterError, match="slo_sweep_chart_svg: the input must be a benchmark result with a sweep"):
        slo_sweep_chart_svg(value)


@pytest.mark.parametrize("value, expected", [
    ("x", "the input must be a list of recorded runs"),
    ([], "no recorded run to make a fleet baseline of"),
    ([{"host": "a", "fingerprint": {"key": "k1"}}, {"host": "b", "fingerprint": {"key": "k2"}}],
     r"the runs of a, b have different fingerprints \(k1, k2\)"),
])
def test_baseline_fleet_refuses_what_is_no_fleet(value, expected):
    with pytest.raises(AnsibleFilterError, match="baseline_fleet: " + expected):
        baseline_fleet(value)


def test_baseline_fleet_pools_the_hosts_repetitions():
    fleet = baseline_fleet([{"host": "b", "fingerprint": {"key": "k"}, "repetitions": [{"goodput_rps": 2.0}]},
                            {"host": "a", "fingerprint": {"key": "k"}, "repetitions": [{"goodput_rps": 1.0}]}])
    assert fleet["fleet_hosts"] == ["a", "b"]
    assert fleet["repetitions"] == [{"goodput_rps": 1.0, "host": "a"}, {"goodput_rps": 2.0, "host": "b"}]


@pytest.mark.parametrize("canary, controls, pct, expected", [
    ([], [], 15, "expected the canary's run"),
    ({}, ["x"], 15, "expected the canary's run"),
    ({}, [], -1, "max_regression_pct = -1: expected a percentage >= 0"),
])
def test_baseline_canary_compare_refuses_bad_input(canary, controls, pct, expected):
    with pytest.raises(AnsibleFilterError, match="baseline_canary_compare: " + expected):
        baseline_canary_compare(canary, controls, pct)


def test_baseline_canary_compare_names_the_canary():
    assert baseline_canary_compare({"host": "k1"}, [], 15)["msg"] == "k1: no control host run to compare with"
