"""Percentiles, robust averages and the judgement of a run and of a run against its baseline."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import benchmark

USERS_CURVE = [15.0] * 5 + [10.5] * 5 + [9.75] * 2


def test_percentile_interpolates_between_ranks():
    values = [4, 1, 3, 2]
    assert benchmark.percentile(values, 0) == 1
    assert benchmark.percentile(values, 50) == 2.5
    assert benchmark.percentile(values, 100) == 4
    assert benchmark.percentile(list(range(1, 101)), 95) == pytest.approx(95.05)
    assert benchmark.percentile([7.0], 99) == 7.0
    assert benchmark.percentile([], 50) is None


def test_series_stats():
    stats = benchmark.series_stats([1.0, 2.0, 3.0, 4.0, 100.0])
    assert stats == {"p50": 3.0, "p90": 61.6, "p95": 80.8, "p99": 96.16, "min": 1.0, "max": 100.0, "mean": 22.0}
    assert benchmark.series_stats([]) == dict.fromkeys(["p50", "p90", "p95", "p99", "min", "max", "mean"])


def test_percentile_on_a_rank_next_to_an_infinite_value_stays_finite():
    """A failed request ranks worst (inf); a percentile landing exactly on a finite rank keeps it."""
    inf = float("inf")
    assert benchmark.percentile([1.0, 2.0, inf], 50) == 2.0
    assert benchmark.percentile([1.0, 2.0, inf], 99) == inf
    assert benchmark.percentile([1.0, inf, inf], 75) == inf


@pytest.mark.parametrize("count, window", [(1, 1), (4, 1), (8, 2), (12, 3), (16, 4), (40, 5)])
def test_default_window(count, window):
    assert benchmark.default_window(count) == window


def test_degradation_of_the_users_curve_is_35_percent():
    assert benchmark.degradation_pct(USERS_CURVE) == 35.0
    assert benchmark.degradation_pct(USERS_CURVE, window=5) == 30.0  # last 5: 10.5, 10.5, 10.5, 9.75, 9.75
    assert benchmark.degradation_pct([10.0] * 8) == 0.0
    assert benchmark.degradation_pct([10.0, 10.0, 12.0, 12.0]) == -20.0
    assert benchmark.degradation_pct([10.0]) is None


def test_one_outlier_does_not_decide():
    """A single slow request at the end (GC pause, a noisy neighbour) is not a degradation."""
    curve = [15.0, 15.2, 14.9, 15.1, 15.0, 15.0, 14.8, 15.1, 15.0, 15.2, 3.0, 15.0]
    assert benchmark.degradation_pct(curve) == pytest.approx(0.0, abs=1)
    assert benchmark.judge_run(curve, 20)["passed"]


def test_judge_run_fails_the_degradation_and_names_the_figures():
    judgement = benchmark.judge_run(USERS_CURVE, max_degradation_pct=20)
    assert judgement["passed"] is False
    assert judgement["first_tokens_per_s"] == 15.0 and judgement["last_tokens_per_s"] == 9.75
    assert judgement["problems"] == ["tokens/s fell 35.0% from the first 3 requests to the last 3 requests "
                                     "(median 15.00 -> 9.75 tokens/s), more than the 20.0% allowed"]


def test_judge_run_minimum_and_no_limits():
    assert benchmark.judge_run([5.0] * 4, None, 8)["problems"] == [
        "median tokens/s of the first request is 5.00, below the 8.00 required"]
    assert benchmark.judge_run(USERS_CURVE, None, None)["passed"] is True
    assert benchmark.judge_run(USERS_CURVE, 40)["passed"] is True


def test_run_message():
    judgement = benchmark.judge_run(USERS_CURVE, 20)
    msg = benchmark.run_message(judgement, 12, "http://h:1")
    assert msg.startswith("FAILED over 12 requests to http://h:1: median 15.00 tokens/s at the start, "
                          "9.75 at the end (-35.0%). tokens/s fell 35.0%")
    assert "Fix: " in msg
    assert benchmark.run_message(benchmark.judge_run([10.0, 12.0], 20), 2, "u").endswith("(+20.0%)")


FACTS = {"layout": "NPS2", "governor": "performance", "use_numa": "1", "cpus_online": 64}


def doc(curve, **facts):
    return {"tokens_per_s": curve, "facts": dict(FACTS, **facts), "recorded_at": "2026-11-25T03:00:00Z",
            "settings": {"url": "http://h:1", "model": "m", "max_tokens": 24, "requests": len(curve),
                         "concurrency": 1}}


def test_compare_passes_the_same_curve_and_small_noise():
    baseline = doc([15.0] * 12)
    result = benchmark.compare_to_baseline(doc([14.5, 15.3] * 6), baseline, 10, "h1")
    assert result["passed"] is True
    assert result["msg"].startswith("h1: within 10.0% of its baseline (start 15.00 -> ")


def test_compare_fails_a_degrading_host_and_names_the_changed_layout():
    result = benchmark.compare_to_baseline(doc(USERS_CURVE, layout="NPS4"), doc([15.0] * 12), 15, "h1")
    assert result["passed"] is False
    assert result["regression_pct"] == 35.0 and result["start_drop_pct"] == 0.0 and result["end_drop_pct"] == 35.0
    assert result["fact_changes"] == ["layout changed NPS2 -> NPS4"]
    assert result["msg"].startswith("h1: 35.0% slower than its baseline recorded 2026-11-25T03:00:00Z, more than "
                                    "the 15.0% allowed: start 15.00 -> 15.00 tokens/s (-0.0%), end 15.00 -> 9.75")
    assert "Likely cause: layout changed NPS2 -> NPS4" in result["msg"]


def test_compare_fails_a_host_that_starts_slower():
    result = benchmark.compare_to_baseline(doc([10.0] * 12, governor="powersave", use_numa=None),
                                           doc([15.0] * 12), 15, "h1")
    assert result["passed"] is False and result["start_drop_pct"] == pytest.approx(33.33)
    assert result["fact_changes"] == ["governor changed performance -> powersave", "USE_NUMA changed 1 -> unset"]


def test_compare_without_fact_changes_says_so_and_flags_other_settings():
    current = doc(USERS_CURVE)
    current["settings"]["max_tokens"] = 64
    result = benchmark.compare_to_baseline(current, doc([15.0] * 12), 15, "h1")
    assert "Key facts unchanged (layout NPS2, governor performance, USE_NUMA 1)" in result["msg"]
    assert result["settings_changes"] == ["max_tokens 24 -> 64"]
    assert "may not be comparable" in result["msg"]


def test_compare_without_a_series():
    result = benchmark.compare_to_baseline({"tokens_per_s": []}, doc([15.0]), 15, "h1")
    assert result["passed"] is False and result["msg"] == "h1: cannot compare: the run has no tokens/s series"
