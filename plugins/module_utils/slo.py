# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Serving SLOs: open-loop arrival schedules and the one judgement of a run against an SLO.

Used by the inference_benchmark module (the run's own verdict) and by the slo_judgement
filter (the performance_baseline role's gate), so both say the same thing in the same words.

An SLO bounds per-request latencies: time to first token (ttft_s), time per output token
after the first (tpot_s), the worst gap between streamed tokens (itl_s) and the end-to-end
latency (latency_s). A request is good when it finished and met every bound; goodput is
the good requests per second of the run. A run meets the SLO when the 99th percentile of
every bounded metric is within its bound, a failed request ranking worst (as if it never
finished), so failures are never dropped from the statistics.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random

from ansible_collections.ktune.inference.plugins.module_utils.percentile import percentile

SLO_METRICS = ("ttft_s", "tpot_s", "itl_s", "latency_s")
JUDGED_PERCENTILE = 99
FAILED = float("inf")


def arrival_offsets(count, rate, seed=None, burstiness=1.0):
    """Seconds from the start at which each of `count` requests is sent.

    Gaps are gamma distributed with shape `burstiness` and mean 1/rate: burstiness 1 is a
    Poisson process (exponential gaps), below 1 burstier, above 1 more even (vLLM's
    --burstiness). The same seed gives the same schedule. The first request goes at 0.
    """
    if rate <= 0:
        raise ValueError("request_rate = %g: expected requests/s > 0" % rate)
    if burstiness <= 0:
        raise ValueError("burstiness = %g: expected a gamma shape > 0 (1 is Poisson)" % burstiness)
    draw = random.Random(seed)
    offsets = []
    at = 0.0
    for index in range(count):
        if index:
            at += draw.gammavariate(burstiness, 1.0 / (rate * burstiness))
        offsets.append(at)
    return offsets


def warmup_schedule(count, rate, seed=None, burstiness=1.0, warmup_requests=0, warmup_s=0.0):
    """(offsets, warm): the schedule of the warm-up and the measured requests, and how many warm up.

    The warm-up requests come first on the same schedule (the same gaps, the same seed): the
    first `warmup_requests`, and then every one sent before `warmup_s` seconds. They load the
    server as the measured ones do but are left out of every figure. The `count` measured
    requests follow, so exactly count + warm requests reach the server.
    """
    total = warmup_requests + count
    offsets = arrival_offsets(total, rate, seed, burstiness)
    # A longer schedule from the same seed starts with the shorter one: draw until enough
    # requests fall after warmup_s.
    while len([at for at in offsets[warmup_requests:] if at >= (warmup_s or 0)]) < count:
        total += count
        offsets = arrival_offsets(total, rate, seed, burstiness)
    warm = warmup_requests + len([at for at in offsets[warmup_requests:] if at < (warmup_s or 0)])
    return offsets[:warm + count], warm


def slo_problems(slo):
    """Why an SLO dict is unusable, one sentence each (empty when it is fine)."""
    problems = []
    for name, bound in sorted((slo or {}).items()):
        if name not in SLO_METRICS:
            problems.append("slo.%s: expected one of %s" % (name, ", ".join(SLO_METRICS)))
        elif bound is not None and (not isinstance(bound, (int, float)) or isinstance(bound, bool) or bound <= 0):
            problems.append("slo.%s = %r: expected seconds > 0" % (name, bound))
    return problems


def bounds(slo):
    """The bounded metrics of an SLO, in SLO_METRICS order: [(name, seconds)]."""
    slo = slo or {}
    return [(name, float(slo[name])) for name in SLO_METRICS if slo.get(name) is not None]


def request_value(record, name):
    """A request's value of one metric; FAILED for a failed request; itl_s is its worst gap."""
    if record.get("error"):
        return FAILED
    value = record.get(name)
    if name == "itl_s":
        return max(value) if value else 0.0
    return FAILED if value is None else value


def request_is_good(record, slo):
    return not record.get("error") and all(request_value(record, name) <= bound for name, bound in bounds(slo))


def slo_judgement(records, slo, duration_s):
    """Judge a run's requests against an SLO; return a dict (see the module's RETURN).

    records: one dict per request sent, with ttft_s, tpot_s, itl_s (list), latency_s and
    tokens, or error (a message) for a request that gave no measurement.
    duration_s: from the first send to the last answer, the denominator of every rate.
    """
    sent = len(records)
    failed = [record for record in records if record.get("error")]
    good = [record for record in records if request_is_good(record, slo)]
    tokens = sum(record.get("tokens") or 0 for record in records if not record.get("error"))
    judged = {}
    problems = []
    for name, bound in bounds(slo):
        value = percentile([request_value(record, name) for record in records], JUDGED_PERCENTILE)
        judged[name] = None if value is None or value == FAILED else round(value, 6)
        if value is None:
            continue
        if value == FAILED:
            problems.append("p%d %s cannot be met: %d of %d requests failed" % (JUDGED_PERCENTILE, name, len(failed), sent))
        elif value > bound:
            problems.append("p%d %s is %s, above the SLO's %s" % (JUDGED_PERCENTILE, name, _seconds(value), _seconds(bound)))
    if not sent:
        problems.append("no request was sent")
    return {
        "passed": not problems,
        "problems": problems,
        "requests": sent,
        "failed_requests": len(failed),
        "good_requests": len(good),
        "good_fraction": round(len(good) / float(sent), 4) if sent else None,
        "goodput_rps": _per_s(len(good), duration_s),
        "request_throughput_rps": _per_s(sent - len(failed), duration_s),
        "output_tokens_per_s": _per_s(tokens, duration_s),
        "p%d" % JUDGED_PERCENTILE: judged,
        "slo": dict(bounds(slo)),
    }


def _per_s(count, duration_s):
    return round(count / float(duration_s), 4) if duration_s and duration_s > 0 else None


def _seconds(value):
    return "%.3f s" % value if value >= 0.1 else "%.1f ms" % (value * 1000)


def slo_message(judgement):
    """One readable sentence about an SLO judgement."""
    head = "%s the SLO (%s at p%d): %d of %d requests good (%.1f%%), goodput %s requests/s" % (
        "meets" if judgement["passed"] else "MISSES",
        ", ".join("%s <= %s" % (name, _seconds(bound)) for name, bound in sorted(judgement["slo"].items())) or "no bound",
        JUDGED_PERCENTILE, judgement["good_requests"], judgement["requests"],
        100.0 * (judgement["good_fraction"] or 0), _rate(judgement["goodput_rps"]))
    if judgement["problems"]:
        return head + ": " + "; ".join(judgement["problems"])
    return head


def _rate(value):
    return "unknown" if value is None else "%.3g" % value


def slo_regression(current, baseline, max_regression_pct):
    """Problems of a run's SLO judgement against its baseline's, one sentence each.

    current, baseline: slo_judgement results of the same load (the fingerprint sees to that).
    Goodput may fall, and each judged p99 rise, at most max_regression_pct percent. A p99
    that failed requests decide (null) counts as a regression when the baseline had one.
    """
    problems = []
    if not current or not baseline:
        return problems
    before, after = baseline.get("goodput_rps"), current.get("goodput_rps")
    if before and after is not None and (before - after) * 100.0 / before > max_regression_pct:
        problems.append("goodput fell %.1f%% (%s -> %s good requests/s), more than the %.1f%% allowed" % (
            (before - after) * 100.0 / before, _rate(before), _rate(after), max_regression_pct))
    then_p99 = baseline.get("p%d" % JUDGED_PERCENTILE) or {}
    now_p99 = current.get("p%d" % JUDGED_PERCENTILE) or {}
    for name in SLO_METRICS:
        if then_p99.get(name) is None or name not in now_p99:
            continue
        now = now_p99[name]
        if now is None:
            problems.append("p%d %s: failed requests now, %s in the baseline" % (
                JUDGED_PERCENTILE, name, _seconds(then_p99[name])))
        elif then_p99[name] > 0 and (now - then_p99[name]) * 100.0 / then_p99[name] > max_regression_pct:
            problems.append("p%d %s rose %.1f%% (%s -> %s), more than the %.1f%% allowed" % (
                JUDGED_PERCENTILE, name, (now - then_p99[name]) * 100.0 / then_p99[name], _seconds(then_p99[name]),
                _seconds(now), max_regression_pct))
    return problems


def run_summary(result):
    """The figures of one run that the sweep and the repeated-run gate compare, from a module result."""
    percentiles = result.get("percentiles") or {}
    judgement = result.get("slo_judgement") or {}
    settings = result.get("settings") or {}
    return {
        "request_rate": settings.get("request_rate"),
        "arrival_seed": settings.get("arrival_seed"),
        "passed": result.get("passed"),
        "slo_passed": judgement.get("passed"),
        "good_fraction": judgement.get("good_fraction"),
        "goodput_rps": judgement.get("goodput_rps"),
        "failed_requests": judgement.get("failed_requests"),
        "first_tokens_per_s": result.get("first_tokens_per_s"),
        "last_tokens_per_s": result.get("last_tokens_per_s"),
        "p50": dict((name, (percentiles.get(name) or {}).get("p50")) for name in SLO_METRICS),
        "p99": dict((name, (percentiles.get(name) or {}).get("p99")) for name in SLO_METRICS),
        # The judged p99 (failed requests ranking worst): what the SLO and the gate look at.
        "slo_p99": dict(judgement.get("p%d" % JUDGED_PERCENTILE) or {}),
    }


def sweep_knee(points):
    """The highest request rate meeting the SLO with every lower rate meeting it too, or None.

    points: run_summary() of each rate. A rate above one that misses the SLO does not count
    even when it passes: an overloaded server can look better by luck, not by capacity.
    """
    knee = None
    for point in sorted(points, key=lambda item: item["request_rate"]):
        if not point["slo_passed"]:
            break
        knee = point["request_rate"]
    return knee
