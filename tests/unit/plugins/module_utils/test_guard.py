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
    decisions = feed(m, 0, [10, 10, 10], running=2)
    assert (decisions[-1].state, decisions[-1].action) == ("degraded", "drain")
    assert m.step(reading(30, running_requests=1)).action == "none"
    decision = m.step(reading(35, running_requests=0))
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
    assert m.baseline == 15 and all(d.action == "none" for d in decisions)
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
