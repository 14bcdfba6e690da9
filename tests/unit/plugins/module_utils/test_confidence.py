"""The repeated-run gate: a regression must exceed the margin and the run-to-run spread (95% Welch interval).

Synthetic, seeded distributions stand for runs: the same distribution on both sides is noise,
which must not fail the gate although single runs often differ by more than the margin; a
shifted one is a real regression, which must.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
import random

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import benchmark, confidence


def t_density(value, df):
    return (math.gamma((df + 1) / 2.0) / (math.sqrt(df * math.pi) * math.gamma(df / 2.0))
            * (1 + value * value / df) ** (-(df + 1) / 2.0))


def t_central_mass(quantile, df, steps=20000):
    """P(-q < T < q) by Simpson's rule over the density: an independent check of the table."""
    width = quantile / steps
    total = t_density(0, df) + t_density(quantile, df)
    total += sum((4 if index % 2 else 2) * t_density(index * width, df) for index in range(1, steps))
    return 2 * total * width / 3.0


@pytest.mark.parametrize("df, quantile", confidence.T_975)
def test_the_t_table_holds_95_percent(df, quantile):
    assert t_central_mass(quantile, df) == pytest.approx(0.95, abs=0.0005)


def test_between_rows_the_smaller_degrees_of_freedom_are_used():
    assert confidence.t_quantile(11.7) == 2.228
    assert confidence.t_quantile(0.5) == 12.706
    assert confidence.t_quantile(500) == 1.960


def test_welch_interval_by_hand():
    # Means 2 and 5, variances 1 and 1, 3 runs each: se sqrt(2/3), df 4, t 2.776.
    low, high = confidence.welch_interval([1, 2, 3], [4, 5, 6])
    half = 2.776 * math.sqrt(2 / 3.0)
    assert (low, high) == (pytest.approx(3 - half), pytest.approx(3 + half))
    assert confidence.welch_interval([1], [4, 5]) is None


def noisy_runs(draw, centre, spread, count):
    return [draw.gauss(centre, spread) for _unused in range(count)]


def test_noise_does_not_fail_the_gate_though_single_runs_would():
    """300 comparisons of 5 runs against 5 runs of the same p99 (8% run-to-run spread), 10% margin."""
    draw = random.Random(20261207)
    gate_failures = single_run_failures = 0
    for _unused in range(300):
        baseline, current = noisy_runs(draw, 1.0, 0.08, 5), noisy_runs(draw, 1.0, 0.08, 5)
        gate_failures += confidence.judge_change("p99 ttft_s", baseline, current, True, 10)["regression"]
        single_run_failures += (current[0] - baseline[0]) / baseline[0] * 100 > 10
    # One run against one run cries wolf often; the gate at most at the 2.5% a one-sided 95% interval allows.
    assert single_run_failures > 30
    assert gate_failures <= 0.025 * 300


def test_a_real_regression_fails_the_gate():
    """A 30% rise of the p99 with the same 8% spread: found nearly every time."""
    draw = random.Random(7)
    found = sum(confidence.judge_change("p99 ttft_s", noisy_runs(draw, 1.0, 0.08, 5), noisy_runs(draw, 1.3, 0.08, 5),
                                        True, 10)["regression"] for _unused in range(300))
    assert found >= 0.95 * 300


def test_beyond_the_margin_but_within_the_spread_is_no_regression():
    baseline = [0.8, 1.2, 1.0, 0.9, 1.1]
    verdict = confidence.judge_change("p99 ttft_s", baseline, [1.3, 0.9, 1.4, 1.0, 1.2], True, 15)
    assert verdict["change_pct"] == 16.0 and verdict["regression"] is False
    assert verdict["interval_pct"][0] < 0 < verdict["interval_pct"][1]
    assert verdict["msg"].endswith("beyond the 15.0% allowed but within the run-to-run spread, not judged a regression")
    real = confidence.judge_change("p99 ttft_s", baseline, [1.5, 1.45, 1.55, 1.5, 1.48], True, 15)
    assert real["regression"] is True and real["interval_pct"][0] > 0
    assert real["msg"].startswith("p99 ttft_s rose 49.6% (mean of 5 runs 1 -> mean of 5 runs 1.496); 95% interval")


def test_a_fall_is_worse_for_rates():
    verdict = confidence.judge_change("goodput_rps", [2.0, 2.1, 1.9], [1.0, 1.1, 0.9], False, 15)
    assert verdict["regression"] is True and verdict["change_pct"] == 50.0
    assert verdict["msg"].startswith("goodput_rps fell 50.0%")
    better = confidence.judge_change("goodput_rps", [1.0, 1.1, 0.9], [2.0, 2.1, 1.9], False, 15)
    assert better["regression"] is False and better["change_pct"] == -100.0


def test_one_run_on_a_side_falls_back_to_the_margin_and_says_so():
    verdict = confidence.judge_change("p99 ttft_s", [1.0, 1.1, 0.9], [1.2], True, 15)
    assert verdict["regression"] is True and verdict["interval_pct"] is None
    assert "one run on a side, so no confidence is stated" in verdict["msg"]


def repetition(ttft_p99, goodput, tokens=15.0):
    return {"first_tokens_per_s": tokens, "last_tokens_per_s": tokens, "goodput_rps": goodput,
            "slo_p99": {"ttft_s": ttft_p99}}


def run(repetitions):
    return {"tokens_per_s": [15.0] * 8, "repetitions": repetitions,
            "slo_judgement": {"slo": {"ttft_s": 2.0}, "goodput_rps": repetitions[-1]["goodput_rps"],
                              "p99": {"ttft_s": repetitions[-1]["slo_p99"]["ttft_s"]}}}


BASELINE = run([repetition(1.0, 2.0), repetition(1.15, 1.9), repetition(1.05, 2.0), repetition(0.9, 2.05)])


def test_the_baseline_gate_passes_noise_that_a_single_run_comparison_fails():
    noisy = run([repetition(1.1, 1.95), repetition(0.95, 2.0), repetition(1.3, 1.9), repetition(1.2, 2.02)])
    single = benchmark.compare_to_baseline(dict(noisy, repetitions=None), dict(BASELINE, repetitions=None), 15, "h1")
    assert single["passed"] is False  # the last runs alone: p99 0.9 s -> 1.2 s
    result = benchmark.compare_to_baseline(noisy, BASELINE, 15, "h1")
    assert result["passed"] is True, result["msg"]
    assert result["msg"].startswith("h1: no regression beyond 15.0% and the run-to-run spread "
                                    "(4 runs against the baseline's 4, 95% confidence): ")
    assert [verdict["metric"] for verdict in result["confidence"]] == [
        "first_tokens_per_s", "last_tokens_per_s", "goodput_rps", "p99 ttft_s"]


def test_the_baseline_gate_fails_a_real_regression_naming_it():
    slower = run([repetition(1.6, 1.5), repetition(1.7, 1.45), repetition(1.55, 1.5), repetition(1.65, 1.4)])
    result = benchmark.compare_to_baseline(slower, BASELINE, 15, "h1")
    assert result["passed"] is False
    assert result["msg"].startswith("h1: regressed against its baseline recorded earlier (4 runs against the "
                                    "baseline's 4, 95% confidence): goodput_rps fell ")
    assert "p99 ttft_s rose " in result["msg"]
    assert len(result["slo_regressions"]) == 2


def test_failed_requests_deciding_a_p99_are_a_regression_whatever_the_spread():
    failing = run([repetition(1.0, 2.0), repetition(None, 1.9), repetition(1.0, 2.0)])
    result = benchmark.compare_to_baseline(failing, BASELINE, 15, "h1")
    assert result["passed"] is False
    assert "p99 ttft_s: failed requests decide it in 1 of 3 runs now, none in the baseline's" in result["msg"]


def swept(knee, ttft_p99=0.5):
    result = run([repetition(ttft_p99, 2.0)])
    result.update(sweep=[{"request_rate": 1.0}, {"request_rate": 2.0}, {"request_rate": 4.0}], knee_rps=knee)
    return result


def test_a_sweep_whose_knee_fell_fails_naming_both_rates():
    result = benchmark.compare_to_baseline(swept(2.0), swept(4.0), 15, "h1")
    assert result["passed"] is False
    assert "the highest rate within the SLO fell 50.0% (4 -> 2 requests/s), more than the 15.0% allowed" in result["msg"]
    none_now = benchmark.compare_to_baseline(swept(None), swept(4.0), 15, "h1")
    assert none_now["passed"] is False and "no request rate meets the SLO now" in none_now["msg"]


def test_a_sweep_whose_knee_rose_passes_without_comparing_figures_at_other_rates():
    slower_at_a_higher_rate = dict(swept(4.0, ttft_p99=1.9), tokens_per_s=[9.0] * 8)
    result = benchmark.compare_to_baseline(slower_at_a_higher_rate, swept(2.0), 15, "h1")
    assert result["passed"] is True, result["msg"]
    assert "the highest rate within the SLO 2 -> 4 requests/s" in result["msg"]


def test_a_sweep_with_the_same_knee_compares_the_figures_at_it():
    result = benchmark.compare_to_baseline(swept(2.0, ttft_p99=1.0), swept(2.0, ttft_p99=0.5), 15, "h1")
    assert result["passed"] is False and "p99 ttft_s rose 100.0%" in result["msg"]


def recorded(host, key, repetitions, at="2026-12-01T00:00:00Z"):
    return dict(run(repetitions), host=host, recorded_at=at, fingerprint={"key": key})


def test_a_fleet_baseline_pools_the_runs_of_its_hosts():
    fleet = benchmark.fleet_baseline([
        recorded("h2", "k1", [repetition(1.1, 2.0), repetition(1.0, 2.1)], "2026-12-02T00:00:00Z"),
        recorded("h1", "k1", [repetition(0.9, 2.0), repetition(1.05, 1.95)])])
    assert fleet["fleet_hosts"] == ["h1", "h2"] and fleet["host"] is None
    assert [item["host"] for item in fleet["repetitions"]] == ["h1", "h1", "h2", "h2"]
    assert fleet["recorded_at"] == "2026-12-02T00:00:00Z by the fleet of fingerprint k1 (h1, h2)"
    new_host_same_speed = dict(run([repetition(1.0, 2.0), repetition(1.05, 2.02), repetition(0.95, 1.98)]),
                               fingerprint={"key": "k1"})
    assert benchmark.compare_to_baseline(new_host_same_speed, fleet, 15, "h3")["passed"] is True
    new_host_slower = dict(run([repetition(1.6, 1.4), repetition(1.7, 1.5), repetition(1.65, 1.45)]),
                           fingerprint={"key": "k1"})
    result = benchmark.compare_to_baseline(new_host_slower, fleet, 15, "h3")
    assert result["passed"] is False
    assert result["msg"].startswith("h3: regressed against its baseline recorded 2026-12-02T00:00:00Z by the fleet of "
                                    "fingerprint k1 (h1, h2) (3 runs against the baseline's 4, 95% confidence)")


def test_a_fleet_baseline_refuses_runs_of_other_fingerprints():
    with pytest.raises(ValueError, match=r"the runs of h1, h2 have different fingerprints \(k1, k2\)"):
        benchmark.fleet_baseline([recorded("h1", "k1", [repetition(1.0, 2.0)]), recorded("h2", "k2", [repetition(1.0, 2.0)])])


def measured(host, software, repetitions, layout="NPS2"):
    return dict(run(repetitions), host=host,
                fingerprint={"layout": layout, "software": {"ktransformers": software}, "load": {"request_rate": 2}})


CONTROLS = [measured("c1", "0.3.2", [repetition(1.0, 2.0), repetition(1.1, 1.95)]),
            measured("c2", "0.3.2", [repetition(0.95, 2.05), repetition(1.05, 2.0)])]


def test_the_canary_gate_compares_across_the_software_version_only():
    same_speed = measured("k1", "0.3.3", [repetition(1.02, 2.0), repetition(1.08, 1.98), repetition(0.97, 2.03)])
    result = benchmark.canary_compare(same_speed, CONTROLS, 15, "k1")
    assert result["passed"] is True, result["msg"]
    assert result["control_hosts"] == ["c1", "c2"]
    assert "(3 runs against the baseline's 4, 95% confidence)" in result["msg"]
    slower = measured("k1", "0.3.3", [repetition(1.6, 1.5), repetition(1.7, 1.4), repetition(1.65, 1.45)])
    failed = benchmark.canary_compare(slower, CONTROLS, 15, "k1")
    assert failed["passed"] is False
    assert failed["msg"].startswith("k1: regressed against its baseline recorded now on control hosts c1, c2 (3 runs")


def test_the_canary_gate_refuses_control_hosts_of_other_hardware():
    other_layout = measured("k1", "0.3.3", [repetition(1.0, 2.0)], layout="NPS4")
    result = benchmark.canary_compare(other_layout, CONTROLS, 15, "k1")
    assert result["passed"] is False and result["comparable"] is False
    assert result["msg"].startswith("k1: not compared with control host c1: expected the same hardware and load "
                                    "(only the software may differ in an A/B test), found NUMA layout NPS2 -> NPS4.")
    assert benchmark.canary_compare(other_layout, [], 15, "k1")["msg"] == "k1: no control host run to compare with"
