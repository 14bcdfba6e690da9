# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Judging a tokens/s curve: percentiles, degradation within a run, regression against a baseline.

Used by the inference_benchmark module (one run) and by the baseline_compare filter (a run
against the host's recorded baseline), so both judge with the same robust averages and say
it in the same words.

The symptom behind it (domain notes): about 15 tokens/s on the first request, 30% slower
after 5, about 65% of the start after 10. Single requests are noisy, so a run is judged on
the median of its first `window` requests against the median of its last `window`, never
on one point.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils.confidence import CONFIDENCE_PCT, repeated_regressions
from ansible_collections.ktune.inference.plugins.module_utils.fingerprint import fingerprint_differences
from ansible_collections.ktune.inference.plugins.module_utils.percentile import percentile
from ansible_collections.ktune.inference.plugins.module_utils.slo import SLO_METRICS, slo_regression

SERIES = ("tokens_per_s", "ttft_s", "latency_s")
PERCENTILES = (50, 90, 95, 99)
# Facts of the host that explain a slower curve, in the order a reader should check them.
KEY_FACTS = (("layout", "layout"), ("governor", "governor"), ("use_numa", "USE_NUMA"),
             ("cpus_online", "CPUs online"))


def median(values):
    return percentile(values, 50)


def default_window(count):
    """Requests averaged at each end: a quarter of the run, at least 1, at most 5."""
    return max(1, min(5, count // 4))


def series_stats(values):
    """p50/p90/p95/p99, min, max and mean of one series, rounded for reading."""
    if not values:
        return dict([("p%d" % pct, None) for pct in PERCENTILES] + [("min", None), ("max", None), ("mean", None)])
    stats = dict(("p%d" % pct, _round(percentile(values, pct))) for pct in PERCENTILES)
    stats.update({"min": _round(min(values)), "max": _round(max(values)),
                  "mean": _round(sum(values) / float(len(values)))})
    return stats


def _round(value):
    return None if value is None else round(value, 4)


def ends(values, window):
    """Robust averages (medians) of the first and the last `window` values."""
    window = max(1, min(int(window), len(values)))
    return median(values[:window]), median(values[-window:])


def drop_pct(before, after):
    """How far `after` is below `before`, in percent of `before` (negative: faster)."""
    if not before:
        return None
    return round((before - after) * 100.0 / before, 2)


def degradation_pct(values, window=None):
    """How far the last requests fall below the first ones, from the medians of each end."""
    if len(values) < 2:
        return None
    first, last = ends(values, default_window(len(values)) if window is None else window)
    return drop_pct(first, last)


def judge_run(tokens_per_s, max_degradation_pct=None, min_tokens_per_s=None, window=None):
    """Return a dict: passed, problems, degradation_pct, first/last robust averages, window."""
    window = default_window(len(tokens_per_s)) if window is None else max(1, min(window, len(tokens_per_s)))
    first, last = ends(tokens_per_s, window) if tokens_per_s else (None, None)
    degradation = degradation_pct(tokens_per_s, window)
    problems = []
    if max_degradation_pct is not None and degradation is not None and degradation > max_degradation_pct:
        problems.append(
            "tokens/s fell %.1f%% from the first %s to the last %s (median %.2f -> %.2f tokens/s), more than "
            "the %.1f%% allowed" % (degradation, _requests(window), _requests(window), first, last,
                                    max_degradation_pct))
    if min_tokens_per_s is not None and tokens_per_s:
        slowest_end = min(first, last)
        if slowest_end < min_tokens_per_s:
            problems.append("median tokens/s of the %s %s is %.2f, below the %.2f required" % (
                "first" if first <= last else "last", _requests(window), slowest_end, min_tokens_per_s))
    return {"passed": not problems, "problems": problems, "degradation_pct": degradation,
            "first_tokens_per_s": _round(first), "last_tokens_per_s": _round(last), "window": window}


def _requests(count):
    return "request" if count == 1 else "%d requests" % count


def run_message(judgement, count, url):
    """One readable line about a run, for the module's msg."""
    if not count:
        return "no request measured against %s" % url
    head = "%s over %s to %s: median %.2f tokens/s at the start, %.2f at the end (%s%.1f%%)" % (
        "passed" if judgement["passed"] else "FAILED", _requests(count), url,
        judgement["first_tokens_per_s"], judgement["last_tokens_per_s"],
        "-" if (judgement["degradation_pct"] or 0) >= 0 else "+", abs(judgement["degradation_pct"] or 0))
    if judgement["problems"]:
        return head + ". " + "; ".join(judgement["problems"]) + ". Fix: " + DEGRADATION_HINT
    return head


DEGRADATION_HINT = ("compare a fresh restart of the service with this curve (a curve restored by a restart "
                    "points at NUMA placement, the page cache or the CPU governor: run playbooks/tune.yml "
                    "--check --diff on the host)")


def fact_changes(baseline_facts, current_facts):
    """['layout changed NPS2 -> NPS4', ...] for the key facts that differ."""
    changes = []
    baseline_facts = baseline_facts or {}
    current_facts = current_facts or {}
    for key, label in KEY_FACTS:
        before, after = baseline_facts.get(key), current_facts.get(key)
        if before != after:
            changes.append("%s changed %s -> %s" % (label, _show(before), _show(after)))
    return changes


def _show(value):
    if value is None or value == "":
        return "unset"
    return str(value)


SETTINGS_COMPARED = ("url", "model", "max_tokens", "requests", "concurrency")


def settings_changes(baseline_settings, current_settings):
    changes = []
    for key in SETTINGS_COMPARED:
        before, after = (baseline_settings or {}).get(key), (current_settings or {}).get(key)
        if before != after:
            changes.append("%s %s -> %s" % (key, _show(before), _show(after)))
    return changes


def compare_to_baseline(current, baseline, max_regression_pct, host="this host"):
    """Judge a run (module result or last.json) against the host's baseline.json.

    Compares the medians of the first and of the last window of requests with the
    baseline's (the same window for both); the regression is the worse of the two, so a
    host that starts slower and one that degrades faster both fail.
    """
    refusal = fingerprint_refusal(current, baseline, host)
    if refusal:
        return refusal
    if len(current.get("repetitions") or []) > 1 or len(baseline.get("repetitions") or []) > 1:
        return compare_repetitions(current, baseline, max_regression_pct, host)
    if (current.get("sweep") or baseline.get("sweep")) and current.get("knee_rps") != baseline.get("knee_rps"):
        return compare_knees(current, baseline, max_regression_pct, host)
    now = list(current.get("tokens_per_s") or [])
    then = list(baseline.get("tokens_per_s") or [])
    if not now or not then:
        return {"passed": False, "regression_pct": None, "fact_changes": [], "settings_changes": [],
                "msg": "%s: cannot compare: the %s has no tokens/s series" % (host, "run" if not now else "baseline")}
    window = default_window(min(len(now), len(then)))
    then_first, then_last = ends(then, window)
    now_first, now_last = ends(now, window)
    start_drop, end_drop = drop_pct(then_first, now_first), drop_pct(then_last, now_last)
    regression = max(start_drop, end_drop)
    facts = fact_changes(baseline.get("facts"), current.get("facts"))
    settings = settings_changes(baseline.get("settings"), current.get("settings"))
    serving = slo_regression(current.get("slo_judgement"), baseline.get("slo_judgement"), max_regression_pct)
    passed = regression <= max_regression_pct and not serving
    numbers = "start %.2f -> %.2f tokens/s (%s), end %.2f -> %.2f tokens/s (%s), medians of %s" % (
        then_first, now_first, _signed(start_drop), then_last, now_last, _signed(end_drop), _requests(window))
    if passed:
        msg = "%s: within %.1f%% of its baseline (%s)" % (host, max_regression_pct, numbers)
    elif regression <= max_regression_pct:
        msg = "%s: serving latencies regressed against its baseline recorded %s: %s (tokens/s: %s). %s" % (
            host, baseline.get("recorded_at") or "earlier", "; ".join(serving), numbers,
            _cause(facts, current.get("facts")))
    else:
        msg = "%s: %.1f%% slower than its baseline recorded %s, more than the %.1f%% allowed: %s. %s" % (
            host, regression, baseline.get("recorded_at") or "earlier", max_regression_pct, numbers,
            _cause(facts, current.get("facts")))
    if settings:
        msg += ". The benchmark settings differ from the baseline's (%s): the curves may not be comparable; " \
               "re-record with ktune_baseline_mode=record" % ", ".join(settings)
    if serving and regression > max_regression_pct:
        msg += ". Serving latencies regressed too: " + "; ".join(serving)
    return {"passed": passed, "comparable": True, "regression_pct": regression, "start_drop_pct": start_drop,
            "end_drop_pct": end_drop, "slo_regressions": serving,
            "window": window, "fact_changes": facts, "settings_changes": settings, "msg": msg}


def compare_repetitions(current, baseline, max_regression_pct, host):
    """Judge repeated runs against the baseline's with a stated confidence (module_utils/confidence.py)."""
    bounds = sorted(((current.get("slo_judgement") or {}).get("slo") or {}).keys(),
                    key=lambda name: SLO_METRICS.index(name) if name in SLO_METRICS else len(SLO_METRICS))
    verdicts = repeated_regressions(current.get("repetitions") or [], baseline.get("repetitions") or [], bounds,
                                    max_regression_pct)
    regressions = [verdict for verdict in verdicts if verdict["regression"]]
    facts = fact_changes(baseline.get("facts"), current.get("facts"))
    settings = settings_changes(baseline.get("settings"), current.get("settings"))
    changes = [verdict["change_pct"] for verdict in verdicts if verdict["change_pct"] is not None]
    worst = max(changes) if changes else None
    runs = "%d runs against the baseline's %d" % (len(current.get("repetitions") or []), len(baseline.get("repetitions") or []))
    if regressions:
        msg = "%s: regressed against its baseline recorded %s (%s, %d%% confidence): %s. %s" % (
            host, baseline.get("recorded_at") or "earlier", runs, CONFIDENCE_PCT,
            "; ".join(verdict["msg"] for verdict in regressions), _cause(facts, current.get("facts")))
    else:
        msg = "%s: no regression beyond %.1f%% and the run-to-run spread (%s, %d%% confidence): %s" % (
            host, max_regression_pct, runs, CONFIDENCE_PCT, "; ".join(verdict["msg"] for verdict in verdicts))
    if settings:
        msg += ". The benchmark settings differ from the baseline's (%s): the runs may not be comparable; " \
               "re-record with ktune_baseline_mode=record" % ", ".join(settings)
    return {"passed": not regressions, "comparable": True, "regression_pct": worst, "confidence": verdicts,
            "slo_regressions": [verdict["msg"] for verdict in regressions if verdict["metric"] not in TOKENS_METRICS],
            "fact_changes": facts, "settings_changes": settings, "msg": msg}


TOKENS_METRICS = ("first_tokens_per_s", "last_tokens_per_s")


def compare_knees(current, baseline, max_regression_pct, host):
    """Two sweeps whose knees differ: the knee decides (their figures are at different rates)."""
    problems = knee_regression(current.get("knee_rps"), baseline.get("knee_rps"), max_regression_pct)
    facts = fact_changes(baseline.get("facts"), current.get("facts"))
    knees = "the highest rate within the SLO %s -> %s requests/s" % tuple(
        "none" if knee is None else "%g" % knee for knee in (baseline.get("knee_rps"), current.get("knee_rps")))
    if problems:
        msg = "%s: serving capacity regressed against its baseline recorded %s: %s. %s" % (
            host, baseline.get("recorded_at") or "earlier", "; ".join(problems), _cause(facts, current.get("facts")))
    else:
        msg = "%s: within %.1f%% of its baseline (%s; the figures at the knees are at different rates, " \
              "not compared)" % (host, max_regression_pct, knees)
    return {"passed": not problems, "comparable": True, "regression_pct": None, "slo_regressions": problems,
            "fact_changes": facts, "settings_changes": [], "msg": msg}


def knee_regression(now, then, max_regression_pct):
    if then is None:
        return []
    if now is None:
        return ["no request rate meets the SLO now; the baseline's highest rate within it was %g requests/s" % then]
    drop = (then - now) * 100.0 / then
    if drop > max_regression_pct:
        return ["the highest rate within the SLO fell %.1f%% (%g -> %g requests/s), more than the %.1f%% allowed"
                % (drop, then, now, max_regression_pct)]
    return []


def fingerprint_refusal(current, baseline, host):
    """The result refusing a comparison across fingerprints, or None when they match.

    A baseline recorded before fingerprints existed is still compared (its settings and key
    facts are); a run with a fingerprint against one without it is too.
    """
    if not current.get("fingerprint") or not baseline.get("fingerprint"):
        return None
    differences = fingerprint_differences(baseline["fingerprint"], current["fingerprint"])
    if not differences:
        return None
    return {"passed": False, "comparable": False, "regression_pct": None, "fact_changes": [], "settings_changes": [],
            "fingerprint_differences": differences,
            "msg": "%s: not compared with its baseline recorded %s: expected the same hardware, software and load, "
                   "found %s. Fix: restore what changed if it was not intended (a layout or governor: "
                   "playbooks/tune.yml), or record a new baseline with ktune_baseline_mode=record if it was" % (
                       host, baseline.get("recorded_at") or "earlier", "; ".join(differences))}


def _signed(drop):
    return "%s%.1f%%" % ("-" if drop >= 0 else "+", abs(drop))


def _cause(facts, current_facts):
    if facts:
        return "Likely cause: %s. Fix: restore it (playbooks/tune.yml), or re-record the baseline with " \
               "ktune_baseline_mode=record if the change is intended" % "; ".join(facts)
    current_facts = current_facts or {}
    return "Key facts unchanged (layout %s, governor %s, USE_NUMA %s): restart the service and run again; " \
           "if a restart restores the curve, the slowdown builds up while serving (page cache, NUMA placement)" % (
               _show(current_facts.get("layout")), _show(current_facts.get("governor")),
               _show(current_facts.get("use_numa")))


def fleet_baseline(docs):
    """One baseline from the runs that hosts of one fingerprint recorded: their repetitions pooled.

    Hosts with identical hardware, software and load share one reference: a new host is judged
    against what the fleet measured, and the more hosts, the better the run-to-run spread is
    known. docs: each host's recorded run (baseline.json); they must share the fingerprint key.
    """
    docs = sorted([doc for doc in docs if doc], key=lambda doc: str(doc.get("host")))
    if not docs:
        raise ValueError("no recorded run to make a fleet baseline of")
    keys = sorted(set(str((doc.get("fingerprint") or {}).get("key")) for doc in docs))
    if len(keys) > 1:
        raise ValueError("the runs of %s have different fingerprints (%s): a fleet baseline pools one fingerprint" % (
            ", ".join(str(doc.get("host")) for doc in docs), ", ".join(keys)))
    hosts = [str(doc.get("host")) for doc in docs]
    latest = max(str(doc.get("recorded_at") or "") for doc in docs)
    fleet = dict(docs[-1])
    fleet.update(
        host=None, fleet_hosts=hosts,
        recorded_at="%s by the fleet of fingerprint %s (%s)" % (latest or "earlier", keys[0], ", ".join(hosts)),
        repetitions=[dict(run, host=doc.get("host")) for doc in docs for run in (doc.get("repetitions") or [])])
    return fleet


def canary_compare(canary, controls, max_regression_pct, host="the canary"):
    """Judge a canary's run against control hosts measured at the same time and load.

    The A/B gate of an upgrade: the canary runs the new software, the controls the old, so
    their fingerprints may differ in software only; any other difference (hardware, kernel,
    load) refuses the comparison. The controls' repetitions are pooled (fleet_baseline) and
    the canary is judged with the stated confidence of compare_repetitions.
    """
    controls = [doc for doc in controls or [] if doc]
    if not controls:
        return {"passed": False, "comparable": False, "msg": "%s: no control host run to compare with" % host}
    for control in controls:
        differences = [item for item in fingerprint_differences(control.get("fingerprint"), canary.get("fingerprint"))
                       if not item.startswith("software ")]
        if differences:
            msg = "%s: not compared with control host %s: expected the same hardware and load (only the software " \
                  "may differ in an A/B test), found %s. Fix: choose control hosts of the canary's hardware and " \
                  "measure both with the same load" % (host, control.get("host"), "; ".join(differences))
            return {"passed": False, "comparable": False, "fingerprint_differences": differences, "msg": msg}
    pooled = dict(controls[0])
    pooled.update(recorded_at="now on control hosts %s" % ", ".join(sorted(str(doc.get("host")) for doc in controls)),
                  repetitions=[run for doc in controls for run in (doc.get("repetitions") or [])])
    result = compare_repetitions(canary, pooled, max_regression_pct, host)
    result["control_hosts"] = sorted(str(doc.get("host")) for doc in controls)
    return result
