"""inference_benchmark against the streaming test server, over real HTTP on 127.0.0.1.

Rates are the users' curve (15 -> 10.5 after 5 requests -> 9.75 after 10) scaled 20 times
up, so a run of 12 requests takes about a second and a half; the shape is the same.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
from statistics import median

import pytest

from fake_ktransformers.server import running_bench_server
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.module_utils.benchmark import degradation_pct
from ansible_collections.ktune.inference.plugins.modules import inference_benchmark

SCALE = 20
USERS_CURVE = "1,0.7@5,0.65@10"
FAST = dict(tokens_per_s=15 * SCALE, ttft_s=0.01)
RUN = dict(requests=12, max_tokens=24, timeout=10)


def bench(url, **options):
    return run_module(inference_benchmark, dict(RUN, url=url, **options))


def test_fails_the_users_degradation_curve():
    with running_bench_server(degradation=USERS_CURVE, **FAST) as (url, plan):
        result, failed = bench(url, max_degradation_pct=20)
    assert failed and result["passed"] is False
    assert plan.count == 12
    speeds = result["tokens_per_s"]
    assert len(speeds) == 12
    # The shape: 300 for requests 1-5, 210 for 6-10, 195 from the 11th (medians of each part,
    # within 10%: one request can be late on a busy machine).
    for part, expected in ((speeds[:5], 300), (speeds[5:10], 210), (speeds[10:], 195)):
        assert median(part) == pytest.approx(expected, rel=0.10), speeds
    assert result["degradation_pct"] == pytest.approx(35, abs=6)
    assert result["first_tokens_per_s"] > result["last_tokens_per_s"]
    assert "FAILED over 12 requests" in result["msg"]
    assert "more than the 20.0% allowed" in result["msg"]
    assert result["changed"] is False


def test_only_reports_when_told_not_to_fail():
    with running_bench_server(degradation=USERS_CURVE, **FAST) as (url, _unused):
        result, failed = bench(url, max_degradation_pct=20, fail_on_regression=False)
    assert not failed
    assert result["passed"] is False and result["problems"]


def test_passes_a_flat_curve_and_reports_percentiles():
    with running_bench_server(**FAST) as (url, _unused):
        result, failed = bench(url, max_degradation_pct=20, min_tokens_per_s=100)
    assert not failed, result["msg"]
    assert result["passed"] is True and result["problems"] == []
    assert abs(result["degradation_pct"]) < 10
    stats = result["percentiles"]
    assert set(stats) == {"tokens_per_s", "ttft_s", "tpot_s", "itl_s", "latency_s"}
    assert set(stats["ttft_s"]) == {"p50", "p90", "p95", "p99", "min", "max", "mean"}
    # 24 tokens at 300 tokens/s: 1/300 s per token after the first, as gaps and on average.
    assert stats["tpot_s"]["p50"] == pytest.approx(1 / 300.0, rel=0.1)
    assert stats["itl_s"]["p50"] == pytest.approx(1 / 300.0, rel=0.2)
    assert stats["tokens_per_s"]["p50"] == pytest.approx(300, rel=0.1)
    assert stats["ttft_s"]["p50"] < stats["latency_s"]["p50"]
    assert stats["latency_s"]["p50"] <= stats["latency_s"]["p95"] <= stats["latency_s"]["p99"]
    assert result["tokens"] == [24] * 12
    assert result["token_count_source"] == "usage"
    assert result["msg"].startswith("passed over 12 requests")


def test_min_tokens_per_s_fails_a_flat_but_slow_curve():
    with running_bench_server(**FAST) as (url, _unused):
        result, failed = bench(url, requests=4, min_tokens_per_s=1000)
    assert failed
    assert "below the 1000.00 required" in result["msg"]


def test_noise_is_reported_without_a_false_alarm():
    """+-10% random rate per request (seeded): visible in the series, no failure."""
    with running_bench_server(noise=0.10, seed=7, **FAST) as (url, plan):
        result, failed = bench(url, requests=16, max_degradation_pct=20)
        served = [plan.rate(index) for index in range(16)]
    assert not failed, result["msg"]
    speeds = result["tokens_per_s"]
    # The noise shows: the spread follows the server's per-request rates.
    assert max(speeds) / min(speeds) > 1.08
    assert result["percentiles"]["tokens_per_s"]["max"] > result["percentiles"]["tokens_per_s"]["p50"]
    assert median([abs(measured / rate - 1) for measured, rate in zip(speeds, served)]) < 0.05
    assert result["degradation_pct"] == pytest.approx(degradation_pct(served), abs=6)


def test_concurrent_requests_keep_the_series_in_order():
    with running_bench_server(**FAST) as (url, plan):
        result, failed = bench(url, requests=8, concurrency=4)
    assert not failed, result["msg"]
    assert plan.count == 8
    assert len(result["tokens_per_s"]) == 8
    assert result["settings"]["concurrency"] == 4


def test_model_comes_from_v1_models_and_the_api_key_is_sent():
    with running_bench_server(model="DeepSeek-R1", api_key="secret-key-123", **FAST) as (url, _unused):
        result, failed = bench(url, requests=2, api_key="secret-key-123")
        refused, refused_failed = bench(url, requests=2, model="DeepSeek-R1", api_key="wrong-key-456")
    assert not failed, result["msg"]
    assert result["model"] == "DeepSeek-R1"
    assert refused_failed
    assert "HTTP 401" in refused["msg"] and "invalid API key" in refused["msg"]
    assert "wrong-key-456" not in refused["msg"]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_refused_connection_fails_with_a_clear_message():
    port = free_port()
    result, failed = bench("http://127.0.0.1:%d" % port, model="m")
    assert failed
    assert result["msg"] == ("request 1 of 12 failed: connection refused by http://127.0.0.1:%d: is the server "
                             "running and listening on port %d?" % (port, port))
    assert result["error_kind"] == "refused"
    assert "Traceback" not in result["msg"]


def test_http_500_names_status_and_body():
    with running_bench_server(fault="http500", fault_from=2, **FAST) as (url, _unused):
        result, failed = bench(url)
    assert failed
    assert result["msg"].startswith("request 3 of 12 failed: POST %s/v1/chat/completions answered HTTP 500" % url)
    assert "fake internal error on request 3" in result["msg"]
    assert result["failed_request"] == 3
    assert len(result["tokens_per_s"]) == 2


def test_stream_cut_in_the_middle():
    with running_bench_server(fault="cut", fault_after_tokens=5, **FAST) as (url, _unused):
        result, failed = bench(url)
    assert failed
    assert result["error_kind"] == "cut"
    assert "ended after 5 tokens without a finish_reason or data: [DONE] (cut in the middle)" in result["msg"]


def test_stalled_stream_times_out():
    with running_bench_server(fault="stall", fault_after_tokens=4, stall_s=30, **FAST) as (url, _unused):
        result, failed = bench(url, timeout=0.5)
    assert failed
    assert result["error_kind"] == "timeout"
    assert "stalled: no data for 0.5 s after 4 tokens (timeout)" in result["msg"]


def test_malformed_chunk():
    with running_bench_server(fault="malformed", fault_after_tokens=2, **FAST) as (url, _unused):
        result, failed = bench(url)
    assert failed
    assert result["error_kind"] == "malformed"
    assert "a data line is not JSON" in result["msg"] and "after 2 tokens" in result["msg"]


def test_check_mode_measures_too():
    with running_bench_server(**FAST) as (url, plan):
        # Report only: what is under test is that check mode sends the requests, not the verdict
        # (three requests on a loaded machine can look degraded).
        result, failed = run_module(inference_benchmark, dict(RUN, url=url, requests=3, fail_on_regression=False),
                                    check_mode=True)
    assert not failed and plan.count == 3
    assert result["changed"] is False and len(result["tokens_per_s"]) == 3


@pytest.mark.parametrize("options, expected", [
    (dict(url="ftp://host"), "is not an http(s) base URL"),
    (dict(url="http://127.0.0.1:1", max_tokens=1), "max_tokens = 1: expected at least 2"),
    (dict(url="http://127.0.0.1:1", requests=0), "requests = 0: expected at least 1"),
    (dict(url="http://127.0.0.1:1", concurrency=20), "concurrency = 20: expected 1 to requests (12)"),
    (dict(url="http://127.0.0.1:1", max_degradation_pct=150), "max_degradation_pct = 150"),
])
def test_bad_input_fails_before_any_request(options, expected):
    result, failed = run_module(inference_benchmark, dict(RUN, model="m", **options))
    assert failed
    assert expected in result["msg"]


# --- issue 21, item 8: a key never crosses the network in clear unless the operator says so ----

@pytest.mark.parametrize("url", ["http://192.0.2.10:10002", "http://gpu-a.example:30000", "http://[2001:db8::1]:80"])
def test_a_key_is_not_sent_in_clear_to_another_machine(url):
    result, failed = run_module(inference_benchmark, dict(RUN, url=url, model="m", api_key="secret-key-123"))
    assert failed
    assert "is plain HTTP to" in result["msg"] and "the API key would cross the network in clear" in result["msg"]
    assert "secret-key-123" not in repr(result)


def test_allow_plaintext_key_names_the_choice_and_sends_it():
    result, failed = run_module(inference_benchmark, dict(RUN, url="http://192.0.2.10:10002", model="m", timeout=1,
                                                          api_key="secret-key-123", allow_plaintext_key=True))
    assert failed and "cross the network in clear" not in result["msg"]  # it tried: no such server answers


@pytest.mark.parametrize("url", ["https://gpu-a.example:443", "http://127.0.0.5:1", "http://localhost:1",
                                 "http://[::1]:1"])
def test_https_and_loopback_take_a_key(url):
    result, _failed = run_module(inference_benchmark, dict(RUN, url=url, model="m", timeout=1, api_key="secret-key-123"))
    assert "cross the network in clear" not in result.get("msg", "")
