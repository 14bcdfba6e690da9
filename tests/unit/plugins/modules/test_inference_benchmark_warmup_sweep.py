"""inference_benchmark's warm-up, repetitions and rate sweep against the streaming test server.

The server counts every request it answers (plan.count) and can make its first answers slow
(a degradation spec by request index), which is what a warm-up must keep out of the figures.
Arrivals are seeded; no assertion depends on how fast this machine is, except the sweep's,
whose rates sit far on each side of the server's capacity.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from fake_ktransformers.server import running_bench_server
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.module_utils.slo import warmup_schedule
from ansible_collections.ktune.inference.plugins.modules import inference_benchmark

# The loosest degradation bound the module takes: a loaded test machine can deliver one answer's
# tokens in one read (a first tokens/s 200x the others was seen), and these tests are about the
# warm-up and the sweep, not the degradation judgement (test_inference_benchmark.py has that).
RUN = dict(max_tokens=16, timeout=20, max_degradation_pct=99.99)
# The first 3 answers decode at a fifth of the speed (a cold server), then 400 tokens/s.
COLD_START = dict(tokens_per_s=400, ttft_s=0.01, degradation="0.2@0,1@3", fixed_length=True)


def bench(url, **options):
    return run_module(inference_benchmark, dict(RUN, url=url, **options))


# The server slows its first 3 arrivals; in the open loop the warm-up is the schedule's first 3,
# so the last warm-up and the first measured send are 0.26 s apart with this seed (the seed 2 of
# before left 6 ms, and a loaded machine let the measured request arrive first).
OPEN = dict(request_rate=10, arrival_seed=11)


def test_the_open_loops_warmup_ends_well_before_the_first_measured_send():
    offsets, warm = warmup_schedule(8, OPEN["request_rate"], seed=OPEN["arrival_seed"], warmup_requests=3)
    assert warm == 3 and offsets[3] - offsets[2] > 0.25


@pytest.mark.parametrize("loop", [OPEN, dict()], ids=["open", "closed"])
def test_warmup_requests_reach_the_server_but_not_the_figures(loop):
    with running_bench_server(**COLD_START) as (url, plan):
        cold, failed = bench(url, requests=8, **loop)
    assert not failed, cold["msg"]
    assert plan.count == 8 and cold["warmup"] == {"requests": 0, "failed_requests": 0}
    # Without a warm-up the cold answers are in the figures: what the warm-up must remove.
    assert cold["percentiles"]["tokens_per_s"]["min"] < 200
    with running_bench_server(**COLD_START) as (url, plan):
        warm, failed = bench(url, requests=8, warmup_requests=3, **loop)
    assert not failed, warm["msg"]
    assert plan.count == 11
    assert warm["warmup"] == {"requests": 3, "failed_requests": 0}
    assert len(warm["tokens_per_s"]) == len(warm["ttft_s"]) == len(warm["sent_s"]) == 8
    assert warm["slo_judgement"]["requests"] == 8
    assert warm["percentiles"]["tokens_per_s"]["min"] > 200
    assert warm["sent_s"][0] == 0.0


def test_warmup_seconds_in_the_open_loop_take_the_schedules_first_seconds():
    offsets, warm = warmup_schedule(6, 20, seed=5, warmup_s=0.3)
    assert warm == len([at for at in offsets if at < 0.3]) and warm >= 2
    with running_bench_server(**COLD_START) as (url, plan):
        result, failed = bench(url, requests=6, request_rate=20, arrival_seed=5, warmup_s=0.3)
    assert not failed, result["msg"]
    assert plan.count == 6 + warm
    assert result["warmup"]["requests"] == warm and len(result["ttft_s"]) == 6
    arrivals = [entry["arrival"] for entry in plan.clock_log]
    for sent, planned in zip(result["sent_s"], offsets[warm:]):
        assert sent == pytest.approx(planned - offsets[warm], abs=0.05)
    assert arrivals[warm] - arrivals[0] == pytest.approx(offsets[warm], abs=0.05)


def test_warmup_seconds_in_the_closed_loop_send_until_the_time_has_passed():
    with running_bench_server(tokens_per_s=400, ttft_s=0.01) as (url, plan):
        result, failed = bench(url, requests=3, warmup_s=0.2)
    assert not failed, result["msg"]
    # Each answer takes about 50 ms, so 0.2 s takes more than one request, and all are left out.
    assert result["warmup"]["requests"] >= 2
    assert plan.count == 3 + result["warmup"]["requests"] and len(result["tokens_per_s"]) == 3


def test_a_failed_closed_loop_warmup_request_fails_the_task_naming_it():
    with running_bench_server(tokens_per_s=400, ttft_s=0.01, fault="http500", fault_from=0) as (url, plan):
        result, failed = bench(url, requests=3, warmup_requests=2)
    assert failed and result["msg"].startswith("warm-up request 1 failed, nothing was measured: ")
    assert plan.count == 1


def test_a_failed_open_loop_warmup_request_is_counted_but_not_judged():
    with running_bench_server(tokens_per_s=400, ttft_s=0.01, fault="http500", fault_from=0) as (url, plan):
        result, failed = bench(url, requests=3, warmup_requests=1, request_rate=20, arrival_seed=1,
                               slo={"ttft_s": 1.0}, fail_on_regression=False)
    assert plan.count == 4
    assert result["warmup"] == {"requests": 1, "failed_requests": 1}
    assert result["slo_judgement"]["failed_requests"] == 3  # fault_from=0: every answer fails


@pytest.mark.parametrize("options, expected", [
    (dict(warmup_requests=-1), "warmup_requests = -1: expected 0 or more requests"),
    (dict(warmup_s=-2), "warmup_s = -2: expected 0 or more seconds"),
    (dict(repetitions=0), "repetitions = 0: expected at least 1"),
    (dict(request_rates=[1, 2]), "request_rates without slo"),
    (dict(request_rates=[1, 0], slo={"ttft_s": 1}), "request_rates = [1.0, 0.0]: expected a list of requests/s > 0"),
    (dict(request_rates=[1], request_rate=2, slo={"ttft_s": 1}), "request_rate and request_rates are both set"),
    (dict(request_rates=[1], repetitions=2, slo={"ttft_s": 1}), "repetitions = 2 with request_rates"),
])
def test_bad_warmup_sweep_or_repetition_input_fails_before_any_request(options, expected):
    with running_bench_server(tokens_per_s=400) as (url, plan):
        result, failed = bench(url, requests=4, **options)
    assert failed and expected in result["msg"], result["msg"]
    assert plan.count == 0


def test_repetitions_run_the_load_again_with_the_next_seeds():
    with running_bench_server(tokens_per_s=400, ttft_s=0.01) as (url, plan):
        result, failed = bench(url, requests=4, request_rate=30, arrival_seed=7, repetitions=3, warmup_requests=1,
                               slo={"ttft_s": 1.0})
    assert not failed, result["msg"]
    assert plan.count == 3 * (4 + 1)
    assert [item["arrival_seed"] for item in result["repetitions"]] == [7, 8, 9]
    assert all(item["slo_passed"] and item["goodput_rps"] > 0 for item in result["repetitions"])
    assert all(item["p99"]["ttft_s"] > 0 for item in result["repetitions"])
    assert result["settings"]["arrival_seed"] == 7 and result["settings"]["repetitions"] == 3
    assert result["msg"].startswith("3 repetitions, 3 passed; the last: ")


def test_one_failing_repetition_fails_the_run_naming_it():
    # Requests 1-4 answer (the first repetition), every later one gets an HTTP 500.
    with running_bench_server(tokens_per_s=400, ttft_s=0.01, fault="http500", fault_from=4) as (url, _unused):
        result, failed = bench(url, requests=4, request_rate=30, arrival_seed=7, repetitions=2, slo={"ttft_s": 1.0})
    assert failed and result["passed"] is False
    assert result["problems"] and all(problem.startswith("repetition 2: ") for problem in result["problems"])
    assert [item["slo_passed"] for item in result["repetitions"]] == [True, False]


# 16 tokens at 400 tokens/s after a 50 ms prefill take about 90 ms, so 2 slots serve about
# 22 requests/s: 40 requests at 40/s leave a backlog whose last request waits about 0.8 s, while at
# 10/s a request waits little: the knee of a 0.4 s p99 TTFT bound lies between 10 and 40 requests/s,
# with room on both sides for a loaded test machine (8x at 5/s).
SERVICE = dict(tokens_per_s=400, ttft_s=0.05, slots=2)


def test_a_sweep_finds_the_highest_rate_within_the_slo():
    with running_bench_server(**SERVICE) as (url, plan):
        result, failed = bench(url, requests=40, request_rates=[40, 5, 10, 80], arrival_seed=11, warmup_requests=2,
                               slo={"ttft_s": 0.4})
    assert not failed, result["msg"]
    assert plan.count == 4 * (40 + 2)
    assert [point["request_rate"] for point in result["sweep"]] == [5, 10, 40, 80]
    assert [point["slo_passed"] for point in result["sweep"]] == [True, True, False, False]
    assert result["knee_rps"] == 10
    assert 10 < 2 / 0.0875 < 40  # the analytic capacity lies within the next rate step
    # The series shown are the run at the knee; the load named is the sweep.
    assert len(result["ttft_s"]) == 40 and result["settings"]["request_rate"] is None
    assert result["settings"]["request_rates"] == [40, 5, 10, 80]
    assert result["sweep"][3]["slo_p99"]["ttft_s"] > 0.4 >= result["sweep"][1]["slo_p99"]["ttft_s"]
    assert "the highest rate within the SLO is 10 requests/s" in result["msg"]


def test_a_sweep_whose_lowest_rate_misses_the_slo_fails():
    with running_bench_server(**SERVICE) as (url, _unused):
        result, failed = bench(url, requests=12, request_rates=[80, 160], arrival_seed=11, slo={"ttft_s": 0.06})
    assert failed and result["knee_rps"] is None
    assert result["problems"][0].startswith("no request rate meets the SLO (the lowest, 80/s: p99 ttft_s is ")
