"""The guard's per-instance state machine (plugins/module_utils/guard.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ansible_collections.ktune.inference.plugins.module_utils import guard

CRIT = 85.0
FAST = {"min_dwell_s": 30, "cool_dwell_s": 60, "degraded_samples": 3, "drain_grace_s": 40,
        "restart_timeout_s": 100, "max_restarts_per_hour": 2}


def dimms(*celsius, critical=CRIT):
    return [{"name": "DIMM%d Temp" % index, "celsius": value, "upper_critical": critical}
            for index, value in enumerate(celsius)]


def reading(now, temp=50.0, **kwargs):
    kwargs.setdefault("dimms", dimms(temp))
    return guard.Reading(now, **kwargs)


def machine(**overrides):
    config = dict(FAST)
    config.update(overrides)
    return guard.InstanceGuard(config, baseline_tokens_per_s=overrides.pop("baseline", 15.0))


# --- settings ----------------------------------------------------------------------------

def test_defaults_are_valid_and_typed():
    settings = guard.make_settings()
    assert guard.settings_problems({}) == []
    assert settings["warn_margin_c"] == 10.0 and settings["max_restarts_per_hour"] == 2


@pytest.mark.parametrize("bad, named", [
    ({"interval_s": 0}, "ktune_guard_interval_s = 0"),
    ({"degraded_ratio": 1.5}, "ktune_guard_degraded_ratio = 1.5"),
    ({"degraded_ratio": 0}, "ktune_guard_degraded_ratio = 0"),
    ({"warn_margin_c": "hot"}, "ktune_guard_warn_margin_c = 'hot'"),
    ({"max_restarts_per_hour": True}, "ktune_guard_max_restarts_per_hour = True"),
    ({"min_dwell_s": 1.5}, "ktune_guard_min_dwell_s = 1.5"),
    ({"warn_margin_c": 3, "critical_margin_c": 5}, "ktune_guard_critical_margin_c = 5.0 must be smaller than "
                                                   "ktune_guard_warn_margin_c = 3.0"),
])
def test_bad_settings_name_the_variable(bad, named):
    problems = guard.settings_problems(bad, prefix="ktune_guard_")
    assert len(problems) == 1 and problems[0].startswith(named), problems
    with pytest.raises(ValueError, match=list(bad)[-1]):
        guard.make_settings(bad)


def test_strings_of_numbers_are_accepted():
    assert guard.make_settings({"interval_s": "10", "degraded_ratio": "0.5"})["interval_s"] == 10


# --- thermal path ------------------------------------------------------------------------

def test_serving_stays_serving_when_cool():
    m = machine()
    decision = m.step(reading(0, 50))
    assert (decision.state, decision.action, decision.ready) == ("serving", "none", True)


def test_warn_margin_makes_hot_still_ready():
    m = machine()
    decision = m.step(reading(0, CRIT - 10))  # headroom 10 = warn margin
    assert (decision.state, decision.action, decision.ready) == ("hot", "none", True)
    assert "DIMM0 Temp at 75 C" in decision.reason


def test_hot_needs_hysteresis_and_dwell_to_serve_again():
    m = machine()
    m.step(reading(0, 76))
    assert m.step(reading(40, 73)).state == "hot"  # headroom 12: inside the 3 C hysteresis
    assert m.step(reading(10, 60)).state == "hot"  # cool, but 10 s < min dwell 30 s: dwell counts from entry
    m2 = machine()
    m2.step(reading(0, 76))
    assert m2.step(reading(29, 60)).state == "hot"
    decision = m2.step(reading(30, 60))
    assert (decision.state, decision.action) == ("serving", "none")


def test_critical_margin_drains_at_once():
    m = machine()
    decision = m.step(reading(0, 82))
    assert (decision.state, decision.action, decision.ready) == ("draining", "drain", False)


def test_sensor_without_threshold_uses_default_critical():
    m = machine(default_critical_c=80.0)
    decision = m.step(reading(0, dimms=[{"name": "P1-DIMMA1", "celsius": 78.0, "upper_critical": None}]))
    assert decision.state == "draining" and "critical 80 C" in decision.reason


def test_hottest_of_several_dimms_decides():
    m = machine()
    assert m.step(reading(0, dimms=dimms(40, 83, 50))).state == "draining"


def test_full_thermal_cycle_with_dwell():
    m = machine()
    assert m.step(reading(0, 83)).action == "drain"
    assert m.step(reading(10, 70)).state == "draining"  # cool enough but dwell 30 not yet
    decision = m.step(reading(30, 70))
    assert (decision.state, decision.action) == ("cooling", "none")
    assert m.step(reading(60, 73)).state == "cooling"  # headroom 12 < warn 10 + hysteresis 3
    assert m.step(reading(100, 60)).state == "cooling"  # the cool dwell starts now
    assert m.step(reading(159, 60)).state == "cooling"
    decision = m.step(reading(160, 60))
    assert (decision.state, decision.action, decision.ready) == ("serving", "restore", True)


def test_cooling_goes_back_to_draining_when_hot_again():
    m = machine()
    m.step(reading(0, 83))
    m.step(reading(30, 70))
    decision = m.step(reading(40, 84))
    assert (decision.state, decision.action) == ("draining", "none")


def test_throttle_rise_drains_and_blocks_the_return():
    m = machine()
    m.step(reading(0, 50, throttle_count=5))
    decision = m.step(reading(10, 50, throttle_count=9))
    assert (decision.state, decision.action) == ("draining", "drain")
    assert "throttle" in decision.reason
    assert m.step(reading(40, 50, throttle_count=9)).state == "cooling"
    assert m.step(reading(99, 50, throttle_count=9)).state == "cooling"  # rose at 10, quiet 60 s from 70
    assert m.step(reading(100, 50, throttle_count=9)).state == "serving"


def test_first_throttle_reading_is_not_a_rise():
    assert machine().step(reading(0, 50, throttle_count=1000)).state == "serving"


def test_unknown_temperatures_keep_draining():
    m = machine()
    m.step(reading(0, 83))
    assert m.step(reading(500, dimms=None)).state == "draining"
    assert m.step(reading(600, dimms=[{"name": "DIMM0", "celsius": None, "upper_critical": 85}])).state == "draining"


# --- health ------------------------------------------------------------------------------

def test_failed_health_drains_until_healthy_for_the_dwell():
    m = machine()
    decision = m.step(reading(0, health=False))
    assert (decision.state, decision.action) == ("unhealthy", "drain")
    m.step(reading(20, health=False))
    assert m.step(reading(45, health=True)).state == "unhealthy"  # 25 s after the last failure
    decision = m.step(reading(50, health=True))
    assert (decision.state, decision.action) == ("serving", "restore")


# --- degradation and restarts ------------------------------------------------------------

def feed(m, start, rates, running=None, temp=50.0, step=10):
    decisions = []
    for index, rate in enumerate(rates):
        decisions.append(m.step(reading(start + index * step, temp, tokens_per_s=rate, running_requests=running)))
    return decisions


def test_degraded_and_idle_restarts_at_once():
    m = machine()
    decisions = feed(m, 0, [15, 15, 10, 10], running=0)
    assert [d.action for d in decisions] == ["none", "none", "none", "restart"]
    assert decisions[-1].state == "restarting" and not decisions[-1].ready
    assert "below 11.25 (baseline 15.00 x 0.75)" in decisions[-1].reason


def test_degraded_with_requests_drains_then_restarts_when_idle():
    m = machine()
    # One request running: the configured single-stream baseline judges it. The first reading
    # is no sample: the load has not yet held for two readings.
    decisions = feed(m, 0, [10, 10, 10, 10], running=1)
    assert [d.state for d in decisions] == ["serving", "serving", "serving", "degraded"]
    assert decisions[-1].action == "drain"
    assert m.step(reading(40, running_requests=1)).action == "none"
    decision = m.step(reading(45, running_requests=0))
    assert (decision.state, decision.action) == ("restarting", "restart")


def test_unknown_running_requests_restart_after_the_drain_grace():
    m = machine()
    feed(m, 0, [10, 10, 10], running=None)
    assert m.step(reading(59, running_requests=None)).state == "degraded"  # entered at 20, grace 40
    assert m.step(reading(60, running_requests=None)).action == "restart"


def test_restart_then_healthy_serves_again():
    m = machine()
    feed(m, 0, [10, 10, 10], running=0)
    assert m.step(reading(30, health=False)).state == "restarting"
    decision = m.step(reading(40, health=True))
    assert (decision.state, decision.action) == ("serving", "restore")


def test_failed_restart_stays_drained():
    m = machine()
    feed(m, 0, [10, 10, 10], running=0)
    decision = m.step(reading(30, restart_failed=True))
    assert (decision.state, decision.ready) == ("failed", False)
    assert "restart failed" in decision.reason
    assert m.step(reading(5000, health=True)).state == "failed"


def test_restart_never_healthy_fails_after_timeout():
    m = machine()
    feed(m, 0, [10, 10, 10], running=0)
    assert m.step(reading(119, health=False)).state == "restarting"
    assert m.step(reading(120, health=False)).state == "failed"


def test_a_slow_start_after_the_timeout_serves_again_after_the_dwell():
    """A big model can load for longer than the restart timeout: failed, then serving once healthy."""
    m = machine()
    feed(m, 0, [10, 10, 10], running=0)
    assert m.step(reading(120, health=False)).state == "failed"
    assert m.step(reading(500, health=True)).state == "failed"  # the dwell starts
    decision = m.step(reading(500 + m.settings["min_dwell_s"], health=True))
    assert (decision.state, decision.action, decision.ready) == ("serving", "restore", True)


def test_restart_budget_withholds_third_restart_in_an_hour():
    m = machine()
    now = 0
    actions = []
    for _round in range(3):
        for decision in feed(m, now, [10, 10, 10], running=0):
            actions.append(decision.action)
        now += 30
        m.step(reading(now, health=True))
        now += 10
    assert actions.count("restart") == 2
    assert m.state == "serving" and m.restart_blocked
    assert "restart withheld: 2 restarts in the last hour" in m.reason


def test_restart_budget_frees_after_an_hour():
    m = machine(max_restarts_per_hour=1)
    feed(m, 0, [10, 10, 10], running=0)
    m.step(reading(30, health=True))
    assert feed(m, 40, [10, 10, 10], running=0)[-1].action == "none"
    assert "restart" in [d.action for d in feed(m, 3625, [10, 10, 10], running=0)]


def test_degradation_is_judged_without_dimm_sensors():
    m = machine()
    decisions = [m.step(guard.Reading(now, dimms=[], tokens_per_s=10, running_requests=0)) for now in (0, 10, 20)]
    assert decisions[-1].action == "restart"


def test_throttling_drains_rather_than_restarts():
    m = machine()
    decisions = [m.step(guard.Reading(now, dimms=None, throttle_count=now, tokens_per_s=10, running_requests=0))
                 for now in (0, 10, 20, 30)]
    assert [d.action for d in decisions] == ["none", "drain", "none", "none"]
    assert decisions[-1].state == "draining"


def test_drained_for_throttling_without_dimm_readings_serves_once_the_counters_stay_still():
    """No DIMM sensor to wait on (many BMCs): the still counters alone end the drain."""
    m = machine()
    m.step(guard.Reading(0, dimms=[], throttle_count=5))
    assert m.step(guard.Reading(10, dimms=[], throttle_count=6)).state == "draining"
    quiet_from = 10 + max(m.settings["min_dwell_s"], m.settings["cool_dwell_s"])
    assert m.step(guard.Reading(quiet_from - 1, dimms=[], throttle_count=6)).state == "draining"
    decision = m.step(guard.Reading(quiet_from, dimms=[], throttle_count=6))
    assert (decision.state, decision.action, decision.ready) == ("serving", "restore", True)


def test_no_degradation_while_hot():
    m = machine()
    decisions = feed(m, 0, [5, 5, 5, 5], running=0, temp=76)
    assert all(d.action == "none" for d in decisions) and m.state == "hot"


def test_baseline_is_learned_from_the_first_samples():
    m = guard.InstanceGuard(FAST)
    decisions = feed(m, 0, [15, 16, 14, 15, 15, 15], running=0)
    assert m.baseline_for(None) == 15 and all(d.action == "none" for d in decisions)
    assert [d.action for d in feed(m, 100, [9, 9, 9], running=0)][:2] == ["none", "restart"]


def test_one_slow_sample_is_not_degradation():
    m = machine()
    assert all(d.action == "none" for d in feed(m, 0, [15, 15, 5, 15, 15], running=0))


def test_restart_history_survives_a_daemon_restart():
    m = guard.InstanceGuard(dict(FAST, max_restarts_per_hour=1), baseline_tokens_per_s=15, restarts=[-100.0])
    assert feed(m, 0, [10, 10, 10], running=0)[-1].action == "none" and m.restart_blocked


def test_heat_during_restart_keeps_it_drained():
    m = machine()
    feed(m, 0, [10, 10, 10], running=0)
    decision = m.step(reading(30, 84, health=True))
    assert (decision.state, decision.ready) == ("draining", False)


# --- degradation under load: like with like -----------------------------------------------

def batched_decode_speed(running, single_stream=15.0, per_extra_request_s=0.012):
    """Per-request tokens/s of a healthy batched decode.

    One decode step serves every running request and takes longer the bigger the batch: 15
    tokens/s alone, 9.7 each at 4 running requests, 4.1 each at 16 (the batch's total rises).
    """
    step_s = 1.0 / single_stream + per_extra_request_s * (max(running or 1, 1) - 1)
    return 1.0 / step_s


def under_load(m, start, loads, slowdown=1.0, wobble=(1.0, 0.97, 1.03), step=10):
    """One reading per load (running requests) at that load's batched-decode speed; the decisions."""
    decisions = []
    for index, running in enumerate(loads):
        rate = batched_decode_speed(running) * slowdown * wobble[index % len(wobble)]
        decisions.append(m.step(reading(start + index * step, tokens_per_s=rate, running_requests=running)))
    return decisions


@pytest.mark.parametrize("baseline", [15.0, None], ids=["configured single-stream baseline", "learned"])
def test_healthy_batched_decode_at_1_4_and_16_requests_keeps_serving(baseline):
    """Per-request speed falls as the batch grows: that is load, not degradation."""
    m = machine(baseline=baseline)
    loads = [1] * 5 + [4] * 8 + [16] * 8 + [4] * 4 + [1] * 4 + [16] * 5
    decisions = under_load(m, 0, loads)
    assert [(d.state, d.action) for d in decisions] == [("serving", "none")] * len(loads), \
        [d.reason for d in decisions if d.state != "serving"]


def test_forty_percent_slower_at_unchanged_load_drains_then_restarts_when_idle():
    m = machine()
    healthy = under_load(m, 0, [1] * 4 + [4] * 7)
    assert all(d.state == "serving" for d in healthy), [d.reason for d in healthy]
    # The last 3 samples at 4 requests: one slow is not degradation, two of them are.
    slow = under_load(m, 200, [4] * 2, slowdown=0.6)
    assert [(d.state, d.action) for d in slow] == [("serving", "none"), ("degraded", "drain")]
    assert "at 4 running requests" in slow[-1].reason and not slow[-1].ready
    assert m.step(reading(230, running_requests=2)).state == "degraded"  # still draining: requests in flight
    decision = m.step(reading(235, running_requests=0))
    assert (decision.state, decision.action) == ("restarting", "restart")


def test_a_slow_band_is_judged_against_its_own_baseline_only():
    """16 requests at a speed that would be slow for 4 are healthy for 16; 40% slower at 16 is not."""
    m = machine()
    assert all(d.state == "serving" for d in under_load(m, 0, [4] * 5 + [16] * 5))
    slow = under_load(m, 100, [16] * 3, slowdown=0.6)
    assert slow[-1].state == "degraded" and "at 16 running requests" in slow[-1].reason, slow[-1].reason
    assert "baseline %.2f" % batched_decode_speed(16) in slow[-1].reason


def test_the_configured_baseline_is_the_single_stream_band_only():
    m = machine(baseline=15.0)
    assert m.baseline_for(1) == 15.0 and m.baseline_for(None) == 15.0 and m.baseline_for(0) == 15.0
    assert m.baseline_for(4) is None  # learned from its own first samples
    under_load(m, 0, [4] * 4)
    assert m.baseline_for(4) == pytest.approx(batched_decode_speed(4))
    assert m.baseline_for(1) == 15.0


def test_the_first_reading_after_the_load_moved_is_no_sample():
    """SGLang's throughput gauge covers the steps since its last update: right after the load
    moved it can mix two batch sizes (or an idle gap) under the new count."""
    m = machine()
    under_load(m, 0, [4] * 5)
    decisions = []
    now = 100
    for _round in range(4):
        for running, slowdown in ((1, 1.0), (4, 0.4), (4, 1.0), (0, None)):
            rate = None if slowdown is None else batched_decode_speed(running) * slowdown
            decisions.append(m.step(reading(now, tokens_per_s=rate, running_requests=running)))
            now += 10
    assert all(d.state == "serving" for d in decisions), [d.reason for d in decisions]
    # The same slow speed once the load has held: degraded.
    assert under_load(m, now, [4] * 4, slowdown=0.4)[-1].state == "degraded"


def test_a_probe_without_a_running_count_is_the_single_stream_band():
    m = machine(baseline=15.0)
    decisions = feed(m, 0, [10, 10, 10], running=None)
    assert decisions[-1].state == "degraded" and "at 1 running request " in decisions[-1].reason


def test_a_restart_clears_the_samples_and_keeps_the_learned_baselines():
    m = machine()
    under_load(m, 0, [4] * 4)
    learned = m.baseline_for(4)
    assert under_load(m, 100, [4] * 3, slowdown=0.6)[-1].action == "drain"
    assert m.step(reading(130, running_requests=0)).action == "restart"
    assert m.step(reading(140, health=True)).state == "serving"
    assert m.baseline_for(4) == learned
    # The window refills from new samples: two slow ones after the restart are not yet a verdict.
    assert [d.state for d in under_load(m, 150, [4] * 3, slowdown=0.6)] == ["serving"] * 3
    assert under_load(m, 180, [4], slowdown=0.6)[-1].state == "degraded"


def test_a_band_learned_in_a_slow_spell_is_raised_once_healthy_and_then_catches_the_same_slowdown():
    """Poisoned learning: 4 requests learned at 60% of their healthy speed. Healthy for a full
    relearn window, the band's baseline rises to the healthy speed; the same 40% slowdown that
    was learned as normal is then degraded."""
    m = machine()
    window = guard.RELEARN_WINDOWS * FAST["degraded_samples"]
    slow = under_load(m, 0, [4] * 4, slowdown=0.6)
    assert all(d.state == "serving" for d in slow)
    assert m.baseline_for(4) == pytest.approx(batched_decode_speed(4) * 0.6, rel=0.05)
    healthy = under_load(m, 100, [4] * window)
    assert all(d.state == "serving" for d in healthy), [d.reason for d in healthy if d.state != "serving"]
    assert m.baseline_for(4) == pytest.approx(batched_decode_speed(4), rel=0.05)
    again = under_load(m, 100 + 10 * window, [4] * 3, slowdown=0.6)
    assert again[-1].state == "degraded" and "at 4 running requests" in again[-1].reason, again[-1].reason


def test_the_raise_is_one_journal_sentence_naming_both_values():
    m = machine()
    under_load(m, 0, [4] * 4, slowdown=0.6)
    notes = []
    for decision_index in range(guard.RELEARN_WINDOWS * FAST["degraded_samples"]):
        under_load(m, 100 + 10 * decision_index, [4])
        notes.append(m.learned)
    raised = [note for note in notes if note]
    assert len(raised) == 1 and raised[0].startswith("raised the baseline at 4 running requests from "), raised


def test_a_long_slow_spell_never_lowers_a_learned_baseline():
    """No restart allowed (budget 0): the degraded instance keeps serving and sampling for many
    windows, and its band's baseline stays the healthy one; it stays judged degraded."""
    m = machine(max_restarts_per_hour=0)
    under_load(m, 0, [4] * 4)
    learned = m.baseline_for(4)
    decisions = under_load(m, 100, [4] * (guard.RELEARN_WINDOWS * FAST["degraded_samples"] * 3), slowdown=0.6)
    assert m.baseline_for(4) == learned
    assert all("restart withheld" in d.reason for d in decisions[3:]), decisions[-1].reason


def test_healthy_wobble_within_the_ratio_never_moves_a_baseline():
    m = machine()
    under_load(m, 0, [4] * 4, slowdown=0.85)
    learned = m.baseline_for(4)
    under_load(m, 100, [4] * (guard.RELEARN_WINDOWS * FAST["degraded_samples"] * 2), slowdown=1.1)
    assert m.baseline_for(4) == learned  # 1.1 / 0.85 = 1.29 < 1 / 0.75: the same normal


@pytest.mark.parametrize("slowdown, why", [
    (0.1, "the batch delivers less in total than one stream"),
    (2.5, "each request faster than one stream alone"),
])
def test_a_learning_window_outside_the_sane_bounds_is_not_learned(slowdown, why):
    """Configured single stream: 15 tokens/s. At 4 requests, 0.97 each (a total of 3.9) or 24 each
    is no healthy batch: the window is dropped and the band learns again from its next samples."""
    m = machine(baseline=15.0)
    under_load(m, 0, [4] * 4, slowdown=slowdown)
    assert m.baseline_for(4) is None, why
    assert m.learned is None or m.learned.startswith("did not learn")
    notes = []
    for index in range(4):
        under_load(m, 100 + 10 * index, [4], slowdown=slowdown)
        notes.append(m.learned)
    assert any(note and note.startswith("did not learn") and "at 4 running requests: outside" in note
               for note in notes), notes
    under_load(m, 200, [4] * 4)
    assert m.baseline_for(4) == pytest.approx(batched_decode_speed(4), rel=0.05)


def test_sane_bounds_follow_the_neighbouring_bands():
    m = machine(baseline=15.0)
    low, high = m.sane_bounds(guard.load_band(4))
    assert (low, high) == (pytest.approx(15.0 * 0.75 / 4), pytest.approx(15.0 / 0.75))
    assert m.sane_bounds(guard.SINGLE_STREAM_BAND) == (0.0, float("inf"))


@pytest.mark.parametrize("running, described", [
    (1, "1 running request"), (2, "2 running requests"), (4, "4 running requests"),
    (12, "12-13 running requests"), (13, "12-13 running requests"), (16, "16 running requests"),
    (18, "17-19 running requests"),
])
def test_bands_are_named_by_their_running_requests(running, described):
    assert guard.describe_band(guard.load_band(running)) == described


@hsettings(max_examples=300, deadline=None)
@given(st.integers(min_value=1, max_value=5000))
def test_within_a_band_the_running_count_varies_by_less_than_an_eighth(running):
    band = guard.load_band(running)
    low, high = guard.band_range(band)
    assert low <= running <= high and high < low * 1.125
    assert guard.load_band(low) == guard.load_band(high) == band
    assert guard.load_band(low - 1) != band if low > 1 else band == guard.load_band(1)
    assert guard.load_band(high + 1) != band


load_strategy = st.lists(st.tuples(
    st.one_of(st.none(), st.integers(min_value=0, max_value=64)),  # None: the legacy server's idle probe
    st.floats(min_value=0.93, max_value=1.07),  # run-to-run noise of a healthy server
    st.floats(min_value=1, max_value=400)), max_size=120)


@hsettings(max_examples=300, deadline=None)
@given(st.sampled_from([15.0, None]), st.integers(1, 5), load_strategy)
def test_healthy_speeds_for_any_load_never_drain_or_restart(baseline, samples, loads):
    m = machine(baseline=baseline, degraded_samples=samples)
    now = 0.0
    for running, noise, dt in loads:
        now += dt
        # Idle (0 running) SGLang gives no speed sample: its throughput gauge is stale.
        rate = None if running == 0 else batched_decode_speed(running) * noise
        decision = m.step(reading(now, tokens_per_s=rate, running_requests=running))
        assert decision.action not in ("drain", "restart") and decision.state == "serving", decision


# --- properties --------------------------------------------------------------------------

step_strategy = st.fixed_dictionaries({
    "dt": st.floats(min_value=0.5, max_value=400),
    "temp": st.one_of(st.none(), st.floats(min_value=20, max_value=100)),
    "critical": st.sampled_from([None, 80.0, 85.0, 95.0]),
    "throttle_add": st.sampled_from([0, 0, 0, 1]),
    "health": st.sampled_from([True, True, True, False, None]),
    "rate": st.one_of(st.none(), st.floats(min_value=1, max_value=20)),
    "running": st.sampled_from([None, 0, 0, 1, 3]),
    "restart_failed": st.sampled_from([False, False, False, False, True]),
})
config_strategy = st.fixed_dictionaries({
    "min_dwell_s": st.integers(0, 300),
    "cool_dwell_s": st.integers(0, 600),
    "max_restarts_per_hour": st.integers(0, 4),
    "degraded_samples": st.integers(1, 4),
    "drain_grace_s": st.integers(0, 300),
    "critical_margin_c": st.floats(0, 5),
    "hysteresis_c": st.floats(0, 5),
})


def run(config, steps):
    m = guard.InstanceGuard(config, baseline_tokens_per_s=15.0)
    now, throttle = 0.0, 0
    history = []
    for item in steps:
        now += item["dt"]
        throttle += item["throttle_add"]
        sensors = None if item["temp"] is None else [
            {"name": "DIMM", "celsius": item["temp"], "upper_critical": item["critical"]}]
        previous, since = m.state, m.since
        decision = m.step(guard.Reading(now, dimms=sensors, throttle_count=throttle, health=item["health"],
                                        tokens_per_s=item["rate"], running_requests=item["running"],
                                        restart_failed=item["restart_failed"] and m.state == "restarting"))
        history.append((now, item, previous, since, decision))
    return m, history


@hsettings(max_examples=300, deadline=None)
@given(config_strategy, st.lists(step_strategy, max_size=80))
def test_never_more_restarts_than_allowed_in_any_hour(config, steps):
    _machine, history = run(config, steps)
    restarts = [now for now, _item, _previous, _since, decision in history if decision.action == "restart"]
    for start in restarts:
        assert len([when for when in restarts if start <= when < start + 3600]) <= config["max_restarts_per_hour"]


@hsettings(max_examples=300, deadline=None)
@given(config_strategy, st.lists(step_strategy, max_size=80))
def test_never_ready_while_a_dimm_is_above_critical(config, steps):
    _machine, history = run(config, steps)
    for _now, item, _previous, _since, decision in history:
        if item["temp"] is not None and item["temp"] >= (item["critical"] or 85.0):
            assert not decision.ready, decision


@hsettings(max_examples=300, deadline=None)
@given(config_strategy, st.lists(step_strategy, max_size=80))
def test_easing_back_respects_the_dwell(config, steps):
    _machine, history = run(config, steps)
    for now, _item, previous, since, decision in history:
        if previous == "cooling" and decision.state == "serving":
            assert now - since >= config["cool_dwell_s"]
        if (previous, decision.state) in (("hot", "serving"), ("draining", "cooling"), ("unhealthy", "serving")):
            assert now - since >= config["min_dwell_s"]


@hsettings(max_examples=200, deadline=None)
@given(config_strategy, st.lists(step_strategy, max_size=60))
def test_actions_match_readiness_changes(config, steps):
    """drain exactly when readiness falls, restore exactly when it comes back."""
    _machine, history = run(config, steps)
    ready = True
    for _now, _item, _previous, _since, decision in history:
        if decision.action == "drain":
            assert ready and not decision.ready
        elif decision.action == "restart":
            assert not decision.ready
        elif decision.action == "restore":
            assert not ready and decision.ready
        else:
            assert decision.ready == ready
        assert decision.state in guard.STATES and decision.action in guard.ACTIONS
        ready = decision.ready
