# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a change between repeated runs is real: the 95% interval of the change in the mean.

Two runs of the same load on the same host never give the same p99: arrivals, caches and
other tenants move it by some percent. So the gate compares several runs (repetitions) with
several runs (the baseline's), and judges a regression only when both hold:

1. the mean moved the bad way by more than the margin the operator allows
   (ktune_baseline_max_regression_pct), and
2. the run-to-run spread cannot explain it: the 95% confidence interval of the change of the
   mean (Welch's t-interval, which does not assume both sides are equally noisy) lies wholly
   on the bad side of zero.

With one run on a side there is no spread to measure: the margin alone decides, and the
verdict says no confidence could be stated.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

CONFIDENCE_PCT = 95
# Two-sided 95% quantiles of Student's t by degrees of freedom; between rows the smaller df's
# (larger) quantile is used, which errs towards "not shown to be real".
T_975 = ((1, 12.706), (2, 4.303), (3, 3.182), (4, 2.776), (5, 2.571), (6, 2.447), (7, 2.365), (8, 2.306),
         (9, 2.262), (10, 2.228), (12, 2.179), (15, 2.131), (20, 2.086), (25, 2.060), (30, 2.042), (40, 2.021),
         (60, 2.000), (120, 1.980))
T_975_INFINITE = 1.960


def t_quantile(degrees_of_freedom):
    """The two-sided 95% quantile of Student's t for (possibly fractional) degrees of freedom."""
    if degrees_of_freedom > T_975[-1][0]:
        return T_975_INFINITE
    usable = [value for df, value in T_975 if df <= max(1.0, degrees_of_freedom)]
    return usable[-1]


def mean(values):
    return sum(values) / float(len(values))


def sample_variance(values):
    centre = mean(values)
    return sum((value - centre) ** 2 for value in values) / float(len(values) - 1)


def welch_interval(baseline, current):
    """(low, high): the 95% interval of mean(current) - mean(baseline); None with fewer than 2 runs a side."""
    if len(baseline) < 2 or len(current) < 2:
        return None
    part_b = sample_variance(baseline) / len(baseline)
    part_c = sample_variance(current) / len(current)
    difference = mean(current) - mean(baseline)
    spread = part_b + part_c
    if spread == 0:
        return (difference, difference)
    df = spread ** 2 / (part_b ** 2 / (len(baseline) - 1) + part_c ** 2 / (len(current) - 1))
    half = t_quantile(df) * math.sqrt(spread)
    return (difference - half, difference + half)


def judge_change(name, baseline, current, higher_is_worse, max_regression_pct):
    """The verdict on one metric over repeated runs; a dict with `regression` and a sentence in `msg`.

    baseline, current: the metric of each run (numbers; None values are left out).
    higher_is_worse: True for latencies, False for goodput and tokens/s.
    """
    baseline = [float(value) for value in baseline if value is not None]
    current = [float(value) for value in current if value is not None]
    verdict = {"metric": name, "baseline_runs": len(baseline), "current_runs": len(current), "regression": False,
               "change_pct": None, "interval_pct": None}
    if not baseline or not current or mean(baseline) == 0:
        verdict["msg"] = "%s: not compared (no figures on one side)" % name
        return verdict
    base = mean(baseline)
    sign = 1.0 if higher_is_worse else -1.0
    # Positive is worse: a rise of a latency, a fall of a rate.
    worse_pct = sign * (mean(current) - base) * 100.0 / base
    interval = welch_interval(baseline, current)
    verdict["change_pct"] = round(worse_pct, 2)
    direction = "rose" if (worse_pct > 0) == higher_is_worse else "fell"
    head = "%s %s %.1f%% (mean of %d runs %s -> mean of %d runs %s)" % (
        name, direction, abs(worse_pct), len(baseline), _number(base), len(current), _number(mean(current)))
    if interval is None:
        verdict["regression"] = worse_pct > max_regression_pct
        verdict["msg"] = "%s; one run on a side, so no confidence is stated: judged on the %.1f%% margin alone" % (
            head, max_regression_pct)
        return verdict
    low, high = sorted(sign * bound * 100.0 / base for bound in interval)
    verdict["interval_pct"] = [round(low, 2), round(high, 2)]
    real = low > 0
    verdict["regression"] = worse_pct > max_regression_pct and real
    verdict["msg"] = "%s; %d%% interval of the change %+.1f%% to %+.1f%% (worse is +): %s" % (
        head, CONFIDENCE_PCT, low, high, _reading(worse_pct, real, max_regression_pct))
    return verdict


def _reading(worse_pct, real, max_regression_pct):
    if worse_pct <= max_regression_pct:
        return "within the %.1f%% allowed" % max_regression_pct
    if not real:
        return "beyond the %.1f%% allowed but within the run-to-run spread, not judged a regression" % max_regression_pct
    return "a regression beyond the %.1f%% allowed and beyond the run-to-run spread" % max_regression_pct


def _number(value):
    return "%.4g" % value


# What the gate compares over repetitions: (name, how to read it from a repetition, higher is worse).
def repeated_metrics(slo_bounds):
    metrics = [("first_tokens_per_s", lambda run: run.get("first_tokens_per_s"), False),
               ("last_tokens_per_s", lambda run: run.get("last_tokens_per_s"), False)]
    if slo_bounds:
        metrics.append(("goodput_rps", lambda run: run.get("goodput_rps"), False))
    for name in slo_bounds:
        metrics.append(("p99 %s" % name, _slo_p99(name), True))
    return metrics


def _slo_p99(name):
    return lambda run: (run.get("slo_p99") or {}).get(name)


def repeated_regressions(current_runs, baseline_runs, slo_bounds, max_regression_pct):
    """Every metric's verdict over the runs (see judge_change), in a stable order.

    A judged p99 is null where failed requests decided it: such a run is a regression of that
    metric whatever the spread, since the baseline's runs all finished their requests there.
    """
    verdicts = []
    for name, read, higher_is_worse in repeated_metrics(slo_bounds):
        before = [read(run) for run in baseline_runs]
        after = [read(run) for run in current_runs]
        undecided = len([value for value in after if value is None])
        if higher_is_worse and undecided and any(value is not None for value in before):
            verdicts.append({"metric": name, "baseline_runs": len(before), "current_runs": len(after),
                             "regression": True, "change_pct": None, "interval_pct": None,
                             "msg": "%s: failed requests decide it in %d of %d runs now, none in the baseline's" % (
                                 name, undecided, len(after))})
            continue
        verdicts.append(judge_change(name, before, after, higher_is_worse, max_regression_pct))
    return verdicts
