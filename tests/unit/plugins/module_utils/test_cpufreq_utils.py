# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of the pure cpufreq helpers (reading, validating, predicting, summarising)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.ktune.inference.plugins.module_utils import cpufreq as cf
from ansible_collections.ktune.inference.plugins.module_utils.cpulist import parse_cpulist
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError
from ansible_collections.ktune.inference.tests.unit.cpufreq_tree import (
    EPP_CHOICES,
    build_tree,
    policy_path,
    write,
)


def policy(driver="acpi-cpufreq", governor="schedutil", epp=None, min_freq=1500000,
           governors="conservative ondemand userspace powersave performance schedutil",
           epp_choices=None, low=1500000, high=3500000, number=0, active=True):
    return {
        "number": number, "path": "/sys/devices/system/cpu/cpufreq/policy%d" % number,
        "active": active, "driver": driver, "cpus": [number], "governors": governors.split(),
        "epp_choices": epp_choices.split() if epp_choices else None,
        "cpuinfo_min_khz": low, "cpuinfo_max_khz": high,
        "state": {"governor": governor, "epp": epp, "min_freq_khz": min_freq},
    }


def active_policy(driver="intel_pstate", governor="powersave", epp="balance_performance", **kw):
    return policy(driver=driver, governor=governor, epp=epp, governors="performance powersave",
                  epp_choices=EPP_CHOICES, **kw)


def request(governor="performance", epp=None, min_freq_khz=None):
    return {"governor": governor, "epp": epp, "min_freq_khz": min_freq_khz}


# --- labels -----------------------------------------------------------------

@pytest.mark.parametrize("numbers, label", [
    ([3], "policy3"),
    ([0, 1, 2, 3], "policy0-3 (4 policies)"),
    ([8, 0, 4, 4], "policy0,4,8 (3 policies)"),
    (list(range(384)), "policy0-383 (384 policies)"),
])
def test_policy_label(numbers, label):
    assert cf.policy_label(numbers) == label


# --- reading ----------------------------------------------------------------

def test_read_policy_from_tree(tmp_path):
    root = build_tree(tmp_path, "amd-pstate-epp", policies=[4], cpus_per_policy=4)

    found = cf.read_policy(root, 4)

    assert found["path"] == policy_path(root, 4)
    assert found["active"] is True
    assert found["driver"] == "amd-pstate-epp"
    assert found["cpus"] == [4, 5, 6, 7]
    assert found["governors"] == ["performance", "powersave"]
    assert found["epp_choices"] == EPP_CHOICES.split()
    assert (found["cpuinfo_min_khz"], found["cpuinfo_max_khz"]) == (400000, 3700000)
    assert found["state"] == {"governor": "powersave", "epp": "balance_performance", "min_freq_khz": 400000}


def test_read_policy_without_epp_files(tmp_path):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0])

    found = cf.read_policy(root, 0)

    assert found["epp_choices"] is None
    assert found["state"]["epp"] is None


def test_cpus_fall_back_to_related_cpus(tmp_path):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[2], cpus_per_policy=2)
    os.remove(policy_path(root, 2, "affected_cpus"))

    assert cf.read_policy(root, 2)["cpus"] == [2, 3]


def test_policies_are_listed_in_numeric_order(tmp_path):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[10, 2, 0])
    os.makedirs(os.path.join(cf.cpufreq_dir(root), "ondemand"))  # a global governor tunables dir

    assert [p["number"] for p in cf.read_policies(root)] == [0, 2, 10]


def test_no_cpufreq_means_no_policies(tmp_path):
    assert cf.read_policies(str(tmp_path)) == []
    assert cf.read_boost(str(tmp_path)) is None


@pytest.mark.parametrize("content, expected", [("0", False), ("1", True)])
def test_read_boost(tmp_path, content, expected):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0], boost=content)

    assert cf.read_boost(root) is expected


def test_read_boost_rejects_garbage(tmp_path):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0], boost="2")

    with pytest.raises(HostFileError, match="boost: expected 0 or 1"):
        cf.read_boost(root)


def test_missing_required_file_is_named(tmp_path):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0])
    os.remove(policy_path(root, 0, "scaling_driver"))

    with pytest.raises(HostFileError) as info:
        cf.read_policy(root, 0)
    assert info.value.path == policy_path(root, 0, "scaling_driver")


def test_driver_summary():
    assert cf.driver_summary([policy(), policy(number=1)]) == "acpi-cpufreq"
    assert cf.driver_summary([active_policy(), policy()]) == ["acpi-cpufreq", "intel_pstate"]
    assert cf.driver_summary([policy(driver=None, active=False)]) is None


# --- validating -------------------------------------------------------------

def test_valid_request_has_no_problem():
    assert cf.policy_problems(policy(), request("ondemand", min_freq_khz=2000000)) == []
    assert cf.policy_problems(active_policy(), request("powersave", "balance_power")) == []
    assert cf.policy_problems(active_policy(), request("performance", "performance")) == []


def test_governor_not_offered():
    problems = cf.policy_problems(active_policy(), request("schedutil"))

    assert problems == ["driver intel_pstate does not offer governor 'schedutil' "
                        "(scaling_available_governors: performance powersave)"]


@pytest.mark.parametrize("driver", sorted(cf.ACTIVE_MODE_DRIVERS))
def test_active_mode_performance_allows_only_performance_epp(driver):
    problems = cf.policy_problems(active_policy(driver=driver), request("performance", "balance_performance"))

    assert len(problems) == 1
    assert "only valid EPP is 'performance'" in problems[0]


def test_passive_driver_with_epp_is_not_restricted():
    passive = policy(driver="intel_cpufreq", epp="balance_performance", epp_choices=EPP_CHOICES)

    assert cf.policy_problems(passive, request("performance", "balance_power")) == []


def test_min_freq_without_limits_is_a_problem():
    problems = cf.policy_problems(policy(low=None), request(min_freq_khz=2000000))

    assert problems == ["has no cpuinfo_min_freq/cpuinfo_max_freq to check min_freq_khz 2000000 against"]


def test_validate_groups_identical_problems_and_skips_inactive():
    policies = [policy(number=n) for n in range(3)] + [active_policy(number=3)]
    policies.append(policy(number=4, active=False, governors=""))

    with pytest.raises(cf.CpufreqError) as info:
        cf.validate(policies, request("userspace"))

    message = str(info.value)
    assert message.startswith("cannot apply to /sys/devices/system/cpu/cpufreq, nothing was written: ")
    assert "policy3: driver intel_pstate does not offer governor 'userspace'" in message
    assert "policy4" not in message
    assert "policy0" not in message


def test_validate_accepts_a_good_request():
    cf.validate([policy(number=n) for n in range(3)], request("performance"))


# --- predicting -------------------------------------------------------------

def test_predict_state_sets_requested_values_only():
    assert cf.predict_state(policy(), request("ondemand")) == {
        "governor": "ondemand", "epp": None, "min_freq_khz": 1500000}


def test_predict_state_active_driver_to_performance_sets_epp():
    predicted = cf.predict_state(active_policy(epp="power"), request("performance"))

    assert predicted == {"governor": "performance", "epp": "performance", "min_freq_khz": 1500000}


def test_predict_state_leaves_inactive_policy():
    inactive = policy(active=False, governor=None, min_freq=None)

    assert cf.predict_state(inactive, request("performance")) == inactive["state"]


# --- applying ---------------------------------------------------------------

def test_apply_policy_writes_only_differences_in_order(tmp_path, monkeypatch):
    root = build_tree(tmp_path, "intel_pstate", policies=[0], governor="performance", epp="performance")
    writes = []

    def record(path, value):
        writes.append((os.path.basename(path), value))
        write(path, value)

    monkeypatch.setattr(cf, "write_text", record)
    written = cf.apply_policy(cf.read_policy(root, 0), request("powersave", "power", 900000))

    assert writes == [("scaling_governor", "powersave"), ("energy_performance_preference", "power"),
                      ("scaling_min_freq", "900000")]
    assert written == ["scaling_governor", "energy_performance_preference", "scaling_min_freq"]
    assert cf.apply_policy(cf.read_policy(root, 0), request("powersave", "power", 900000)) == []


def test_apply_all_returns_reread_state_of_written_policies(tmp_path):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(3))
    write(policy_path(root, 1, "scaling_governor"), "performance")

    after = cf.apply_all(cf.read_policies(root), request("performance"))

    assert sorted(after) == [0, 2]
    assert after[0] == {"governor": "performance", "epp": None, "min_freq_khz": 1500000}


# --- summarising ------------------------------------------------------------

def test_summarise_groups_and_orders():
    before = {"governor": "schedutil", "epp": None, "min_freq_khz": 1}
    entries = [(n, before, dict(before, governor="performance", min_freq_khz=2 if n < 2 else 1))
               for n in range(4)]

    assert cf.summarise(entries, boost=(False, True)) == [
        "policy0-3 (4 policies): scaling_governor: schedutil -> performance",
        "policy0-1 (2 policies): scaling_min_freq: 1 -> 2",
        "boost: 0 -> 1",
    ]


def test_summarise_nothing_changed():
    state = {"governor": "performance", "epp": None, "min_freq_khz": 1}

    assert cf.summarise([(0, state, dict(state))], boost=(True, True)) == []
    assert cf.diff_texts([(0, state, dict(state))])["before"] == ""


LINE = re.compile(r"^policy([0-9,-]+)(?: \((\d+) policies\))?: (\w+): (\S+) -> (\S+)$")
GOVERNORS = st.sampled_from(["performance", "powersave", "schedutil", "ondemand"])
EPPS = st.sampled_from([None, "performance", "balance_power", "power"])
FREQS = st.sampled_from([None, 400000, 1500000, 2000000])
STATES = st.fixed_dictionaries({"governor": GOVERNORS, "epp": EPPS, "min_freq_khz": FREQS})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.integers(min_value=0, max_value=511), st.tuples(STATES, STATES), max_size=40))
def test_summary_covers_exactly_the_changed_policies(states):
    entries = [(n, before, after) for n, (before, after) in sorted(states.items())]

    lines = cf.summarise(entries)
    diff = cf.diff_texts(entries)

    seen = {}
    for line in lines:
        match = LINE.match(line)
        assert match, line
        numbers = parse_cpulist(match.group(1))
        assert int(match.group(2) or 1) == len(numbers)
        name, old, new = match.group(3), match.group(4), match.group(5)
        key = dict((f, k) for k, f in cf.STATE_FILES)[name]
        for number in numbers:
            before, after = states[number]
            assert (old, new) == (cf._shown(before[key]), cf._shown(after[key]))
            assert (number, name) not in seen  # each policy change is in exactly one line
            seen[(number, name)] = True
    expected = set((n, f) for n, (b, a) in states.items() for k, f in cf.STATE_FILES if b[k] != a[k])
    assert set(seen) == expected
    assert len(diff["before"].splitlines()) == len(diff["after"].splitlines()) == len(lines)
