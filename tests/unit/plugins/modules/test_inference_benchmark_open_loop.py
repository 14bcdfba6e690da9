"""inference_benchmark's open loop (request_rate) against the streaming test server's own clock.

The server has a known service model: `slots` answers at once, the others queue; each answer
waits ttft_s before its first token, then streams max_tokens tokens at tokens_per_s. It
records its own arrival, first-token and end times, the judge of the module's figures.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from fake_ktransformers.server import running_bench_server
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.module_utils.percentile import percentile
from ansible_collections.ktune.inference.plugins.module_utils.slo import arrival_offsets
from ansible_collections.ktune.inference.plugins.modules import inference_benchmark

# 16 tokens at 400 tokens/s after a 50 ms prefill: about 90 ms per answer, so 2 slots serve
# about 22 requests/s.
SERVICE = dict(tokens_per_s=400, ttft_s=0.05, slots=2)
RUN = dict(max_tokens=16, timeout=20, max_degradation_pct=99)


def bench(url, **options):
    return run_module(inference_benchmark, dict(RUN, url=url, **options))


def server_ttft(plan):
    return [entry["first"] - entry["arrival"] for entry in plan.clock_log]


def agree(ours, theirs):
    """Within 10% of the server's figure, and never closer than 30 ms is asked."""
    return abs(ours - theirs) <= max(0.10 * theirs, 0.030)


def test_arrivals_follow_the_schedule_not_the_answers():
    """Answers take 0.6 s each; the 8 requests at 20/s all arrive before the first answer ends."""
    with running_bench_server(tokens_per_s=400, ttft_s=0.6) as (url, plan):
        result, failed = bench(url, requests=8, request_rate=20, arrival_seed=3)
    assert not failed, result["msg"]
    assert plan.count == 8  # issue 27: no warm-up asked for, exactly `requests` reach the server
    arrivals = [entry["arrival"] for entry in plan.clock_log]
    assert max(arrivals) < min(entry["end"] for entry in plan.clock_log)
    schedule = arrival_offsets(8, 20, seed=3)
    for arrived, planned in zip(arrivals, schedule):
        assert arrived - arrivals[0] == pytest.approx(planned, abs=0.05), (arrivals, schedule)
    for sent, planned in zip(result["sent_s"], schedule):
        assert sent == pytest.approx(planned, abs=0.05)
    # Every request is timed from its own send: prefill only, no wait for the earlier ones.
    assert max(result["ttft_s"]) < 0.6 + 0.2


@pytest.mark.parametrize("rate", [8, 60], ids=["below-capacity", "overload"])
def test_percentiles_agree_with_the_servers_clock(rate):
    with running_bench_server(**SERVICE) as (url, plan):
        result, failed = bench(url, requests=24, request_rate=rate, arrival_seed=11, fail_on_regression=False)
    assert not failed, result["msg"]
    assert result["slo_judgement"]["failed_requests"] == 0
    theirs = server_ttft(plan)
    for pct in (50, 90, 99):
        ours = result["percentiles"]["ttft_s"]["p%d" % pct]
        assert agree(ours, percentile(theirs, pct)), (pct, ours, sorted(theirs))
    theirs_latency = [entry["end"] - entry["arrival"] for entry in plan.clock_log]
    assert agree(result["percentiles"]["latency_s"]["p99"], percentile(theirs_latency, 99))
    if rate == 60:
        # 24 requests in about 0.4 s for 2 slots of ~90 ms: the queue shows in p99 TTFT.
        assert result["percentiles"]["ttft_s"]["p99"] > 0.4


def test_a_closed_loop_hides_the_queue_the_open_loop_shows():
    with running_bench_server(**SERVICE) as (url, _unused):
        closed, _failed = bench(url, requests=16, fail_on_regression=False)
    with running_bench_server(**SERVICE) as (url, _unused):
        opened, _failed = bench(url, requests=16, request_rate=60, arrival_seed=5, fail_on_regression=False)
    assert closed["percentiles"]["ttft_s"]["p99"] < 0.12
    assert opened["percentiles"]["ttft_s"]["p99"] > 2 * closed["percentiles"]["ttft_s"]["p99"]


def test_goodput_below_capacity_meets_the_slo():
    with running_bench_server(**SERVICE) as (url, _unused):
        result, failed = bench(url, requests=12, request_rate=8, arrival_seed=2, slo={"ttft_s": 0.5, "tpot_s": 0.05})
    assert not failed, result["msg"]
    judgement = result["slo_judgement"]
    assert judgement["passed"] is True and judgement["good_fraction"] == 1.0
    assert judgement["goodput_rps"] == judgement["request_throughput_rps"]
    assert 3 < judgement["goodput_rps"] < 12
    assert judgement["output_tokens_per_s"] == pytest.approx(16 * judgement["request_throughput_rps"], rel=0.01)
    assert "meets the SLO" in result["msg"]
    assert result["settings"]["request_rate"] == 8 and result["settings"]["slo"]["ttft_s"] == 0.5


def test_overload_misses_the_ttft_slo_and_fails_the_task():
    with running_bench_server(**SERVICE) as (url, plan):
        result, failed = bench(url, requests=24, request_rate=60, arrival_seed=11, slo={"ttft_s": 0.2})
    assert failed and result["passed"] is False
    judgement = result["slo_judgement"]
    good_by_server = sum(1 for value in server_ttft(plan) if value <= 0.2)
    assert judgement["good_requests"] == pytest.approx(good_by_server, abs=2)
    assert judgement["good_fraction"] < 1
    assert any(problem.startswith("p99 ttft_s is ") for problem in result["problems"])
    assert "MISSES the SLO" in result["msg"]


def test_failed_requests_are_counted_and_the_run_goes_on():
    with running_bench_server(tokens_per_s=400, ttft_s=0.01, fault="http500", fault_from=4) as (url, plan):
        result, failed = bench(url, requests=8, request_rate=40, arrival_seed=1, slo={"ttft_s": 1.0},
                               timeout=5, max_degradation_pct=20)
    assert failed
    assert plan.count == 8
    judgement = result["slo_judgement"]
    assert judgement["requests"] == 8 and judgement["failed_requests"] == 4 and judgement["good_requests"] == 4
    assert len(result["sent_s"]) == 8 and len(result["ttft_s"]) == 4
    assert [error["request"] for error in result["errors"]] == [5, 6, 7, 8]
    assert all(error["kind"] == "http" for error in result["errors"])
    assert "p99 ttft_s cannot be met: 4 of 8 requests failed" in result["problems"]


def test_without_an_slo_a_failed_request_still_fails_the_open_loop():
    with running_bench_server(tokens_per_s=400, ttft_s=0.01, fault="http500", fault_from=3) as (url, _unused):
        result, failed = bench(url, requests=4, request_rate=40, arrival_seed=1)
    assert failed and result["passed"] is False
    assert "1 of 4 requests failed (first: request 4, POST " in result["problems"][0]


@pytest.mark.parametrize("options, expected", [
    (dict(request_rate=0), "request_rate = 0: expected requests/s > 0"),
    (dict(request_rate=5, concurrency=2), "concurrency = 2 with request_rate"),
    (dict(request_rate=5, burstiness=0), "burstiness = 0: expected a gamma shape > 0"),
    (dict(request_rate=5, slo={"ttft_s": -1}), "slo.ttft_s = -1.0: expected seconds > 0"),
])
def test_bad_open_loop_input_fails_before_any_request(options, expected):
    with running_bench_server(tokens_per_s=400) as (url, plan):
        result, failed = bench(url, requests=4, **options)
    assert failed and expected in result["msg"]
    assert plan.count == 0


def test_existing_options_stay_accepted_next_to_request_rate():
    """Issue 27: timeout, max_degradation_pct and the others keep working in the open loop."""
    with running_bench_server(tokens_per_s=400, ttft_s=0.01) as (url, plan):
        result, failed = bench(url, requests=8, request_rate=30, arrival_seed=4, timeout=7.5, max_degradation_pct=50,
                               min_tokens_per_s=10, window=2, include_usage=False, fail_on_regression=True)
    assert not failed, result["msg"]
    assert plan.count == 8 and result["window"] == 2 and result["token_count_source"] == "chunks"
    assert result["degradation_pct"] is not None


def test_open_loop_uses_no_worker_pool():
    """Issue 27: as many requests in flight as the schedule makes, not a pool sized from the CPUs (2 here)."""
    with running_bench_server(tokens_per_s=400, ttft_s=0.5) as (url, plan):
        result, failed = bench(url, requests=6, request_rate=50, arrival_seed=9)
    assert not failed, result["msg"]
    in_flight_at_last_arrival = sum(1 for entry in plan.clock_log if entry["end"] > plan.clock_log[-1]["arrival"])
    assert in_flight_at_last_arrival == 6
