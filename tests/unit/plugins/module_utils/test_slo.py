"""Arrival schedules and the SLO judgement (goodput, good fraction, p99 against bounds)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from statistics import mean, pstdev

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import slo


def gaps(offsets):
    return [later - earlier for earlier, later in zip(offsets, offsets[1:])]


def test_poisson_schedule_has_the_rate_and_is_repeatable():
    offsets = slo.arrival_offsets(4001, 5.0, seed=7)
    assert offsets[0] == 0.0
    assert offsets == sorted(offsets)
    assert offsets == slo.arrival_offsets(4001, 5.0, seed=7)
    assert offsets != slo.arrival_offsets(4001, 5.0, seed=8)
    spaces = gaps(offsets)
    assert mean(spaces) == pytest.approx(0.2, rel=0.05)
    # Exponential gaps: the standard deviation equals the mean.
    assert pstdev(spaces) / mean(spaces) == pytest.approx(1.0, abs=0.08)


def test_burstiness_is_the_gamma_shape():
    even = gaps(slo.arrival_offsets(2001, 10.0, seed=1, burstiness=100.0))
    bursty = gaps(slo.arrival_offsets(2001, 10.0, seed=1, burstiness=0.25))
    for spaces in (even, bursty):
        assert mean(spaces) == pytest.approx(0.1, rel=0.12)
    assert pstdev(even) / mean(even) == pytest.approx(0.1, abs=0.03)  # 1/sqrt(shape)
    assert pstdev(bursty) / mean(bursty) == pytest.approx(2.0, rel=0.2)


@pytest.mark.parametrize("rate, burstiness, expected", [
    (0, 1.0, "request_rate = 0: expected requests/s > 0"),
    (2, 0, "burstiness = 0: expected a gamma shape > 0"),
])
def test_schedule_refuses_nonsense(rate, burstiness, expected):
    with pytest.raises(ValueError, match=expected):
        slo.arrival_offsets(3, rate, burstiness=burstiness)


def request(ttft, tpot=0.05, itl=(0.05, 0.06), latency=None, tokens=10):
    return {"ttft_s": ttft, "tpot_s": tpot, "itl_s": list(itl), "latency_s": latency or ttft + tpot * (tokens - 1),
            "tokens": tokens}


FAILED = {"error": "the stream from http://127.0.0.1:1 broke after 3 tokens", "kind": "cut"}


def test_goodput_counts_requests_meeting_every_bound():
    records = [request(0.5)] * 6 + [request(3.0)] * 2 + [request(0.5, tpot=0.2)] + [request(0.5, itl=(0.05, 0.5))]
    judgement = slo.slo_judgement(records, {"ttft_s": 2.0, "tpot_s": 0.1, "itl_s": 0.3}, duration_s=5.0)
    assert judgement["good_requests"] == 6
    assert judgement["good_fraction"] == 0.6
    assert judgement["goodput_rps"] == 1.2
    assert judgement["request_throughput_rps"] == 2.0
    assert judgement["output_tokens_per_s"] == 20.0
    assert judgement["failed_requests"] == 0
    # p99 of ttft over 10 requests is in the 3.0 s tail: the run misses the SLO.
    assert judgement["passed"] is False
    assert judgement["p99"]["ttft_s"] == 3.0
    assert "p99 ttft_s is 3.000 s, above the SLO's 2.000 s" in judgement["problems"]
    assert "p99 tpot_s is 0.187 s, above the SLO's 0.100 s" in judgement["problems"]
    assert judgement["slo"] == {"ttft_s": 2.0, "tpot_s": 0.1, "itl_s": 0.3}


def test_a_run_whose_p99_is_within_bounds_passes_with_one_slow_request_in_200():
    records = [request(0.5)] * 199 + [request(9.0)]
    judgement = slo.slo_judgement(records, {"ttft_s": 2.0}, duration_s=100.0)
    assert judgement["passed"] is True and judgement["problems"] == []
    assert judgement["good_fraction"] == 0.995
    assert judgement["goodput_rps"] == 1.99


def test_failed_requests_are_not_good_and_rank_worst():
    records = [request(0.5)] * 8 + [dict(FAILED)] * 2
    judgement = slo.slo_judgement(records, {"ttft_s": 2.0, "latency_s": 30.0}, duration_s=10.0)
    assert judgement["requests"] == 10 and judgement["failed_requests"] == 2
    assert judgement["good_requests"] == 8 and judgement["good_fraction"] == 0.8
    assert judgement["request_throughput_rps"] == 0.8
    assert judgement["passed"] is False
    assert judgement["p99"] == {"ttft_s": None, "latency_s": None}
    assert "p99 ttft_s cannot be met: 2 of 10 requests failed" in judgement["problems"]


def test_without_an_slo_every_finished_request_is_good():
    judgement = slo.slo_judgement([request(5.0), dict(FAILED)], None, duration_s=2.0)
    assert judgement["passed"] is True
    assert judgement["good_requests"] == 1 and judgement["goodput_rps"] == 0.5
    assert judgement["p99"] == {} and judgement["slo"] == {}


def test_no_request_and_no_duration():
    judgement = slo.slo_judgement([], {"ttft_s": 1.0}, duration_s=0)
    assert judgement["passed"] is False and judgement["problems"] == ["no request was sent"]
    assert judgement["good_fraction"] is None and judgement["goodput_rps"] is None


@pytest.mark.parametrize("bad, expected", [
    ({"ttft": 1.0}, "slo.ttft: expected one of ttft_s, tpot_s, itl_s, latency_s"),
    ({"tpot_s": 0}, "slo.tpot_s = 0: expected seconds > 0"),
    ({"ttft_s": "fast"}, "slo.ttft_s = 'fast': expected seconds > 0"),
])
def test_slo_problems_name_the_field(bad, expected):
    assert slo.slo_problems(bad) == [expected]
    assert slo.slo_problems({"ttft_s": 2.0, "tpot_s": None}) == []


def test_slo_message():
    judgement = slo.slo_judgement([request(0.5)] * 4, {"ttft_s": 2.0, "tpot_s": 0.08}, duration_s=2.0)
    assert slo.slo_message(judgement) == (
        "meets the SLO (tpot_s <= 80.0 ms, ttft_s <= 2.000 s at p99): 4 of 4 requests good (100.0%), "
        "goodput 2 requests/s")


def judged(ttft, count=100, duration_s=50.0, failed=0):
    records = [request(ttft)] * (count - failed) + [dict(FAILED)] * failed
    return slo.slo_judgement(records, {"ttft_s": 2.0}, duration_s)


def test_slo_regression_within_the_margin_is_none():
    assert slo.slo_regression(judged(0.50), judged(0.48), 15) == []
    assert slo.slo_regression(None, judged(0.5), 15) == []


def test_slo_regression_names_goodput_and_p99():
    found = slo.slo_regression(judged(0.8, duration_s=80.0), judged(0.5), 15)
    assert found == ["goodput fell 37.5% (2 -> 1.25 good requests/s), more than the 15.0% allowed",
                     "p99 ttft_s rose 60.0% (0.500 s -> 0.800 s), more than the 15.0% allowed"]
    assert slo.slo_regression(judged(0.5, failed=2), judged(0.5), 50) == [
        "p99 ttft_s: failed requests now, 0.500 s in the baseline"]


def test_warmup_comes_first_on_the_same_schedule():
    measured_only = slo.arrival_offsets(10, 4.0, seed=3)
    offsets, warm = slo.warmup_schedule(10, 4.0, seed=3, warmup_requests=2)
    assert warm == 2 and len(offsets) == 12
    assert offsets == slo.arrival_offsets(12, 4.0, seed=3)
    assert slo.warmup_schedule(10, 4.0, seed=3) == (measured_only, 0)


def test_warmup_seconds_add_every_request_sent_before_them():
    offsets, warm = slo.warmup_schedule(10, 4.0, seed=3, warmup_requests=1, warmup_s=2.0)
    assert offsets == slo.arrival_offsets(len(offsets), 4.0, seed=3)
    assert len(offsets) == warm + 10
    assert all(at < 2.0 for at in offsets[1:warm]) and all(at >= 2.0 for at in offsets[warm:])
    # A warm-up longer than the first schedule drawn still leaves `count` measured requests.
    offsets, warm = slo.warmup_schedule(3, 4.0, seed=3, warmup_s=30.0)
    assert len(offsets) - warm == 3 and offsets[warm] >= 30.0 > offsets[warm - 1]


def point(rate, passed):
    return {"request_rate": rate, "slo_passed": passed}


@pytest.mark.parametrize("points, knee", [
    ([point(1, True), point(2, True), point(4, False)], 2),
    ([point(4, False), point(1, True), point(2, True)], 2),
    ([point(1, True), point(2, False), point(4, True)], 1),
    ([point(1, False), point(2, True)], None),
    ([point(1, True), point(2, True)], 2),
])
def test_the_knee_is_the_highest_rate_with_every_lower_rate_within_the_slo(points, knee):
    assert slo.sweep_knee(points) == knee
