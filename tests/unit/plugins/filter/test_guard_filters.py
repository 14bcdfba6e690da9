"""Filters guard_settings_problems, guard_instance_problems and guard_instances."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.filter.guard import (
    guard_instance_problems, guard_instances, guard_settings_problems)

RESOLVED = [
    {"name": "r1", "state": "present", "backend": "legacy", "health_url": "http://127.0.0.1:10002/v1/models",
     "health_path": "/v1/models"},
    {"name": "s1", "state": "present", "backend": "sglang", "health_url": "http://[::1]:30000/health",
     "health_path": "/health"},
    {"name": "gone", "state": "absent", "backend": "legacy"},
]


def test_settings_problems_name_the_inventory_variable():
    assert guard_settings_problems({}) == []
    assert guard_settings_problems({"interval_s": 0})[0].startswith("ktune_guard_interval_s = 0: expected 1 to 3600")
    with pytest.raises(AnsibleFilterError, match="expected a dict"):
        guard_settings_problems([1])


def test_every_present_instance_when_none_is_named():
    assert guard_instances([], RESOLVED) == [
        {"name": "r1", "backend": "legacy", "health_url": "http://127.0.0.1:10002/v1/models",
         "base_url": "http://127.0.0.1:10002"},
        {"name": "s1", "backend": "sglang", "health_url": "http://[::1]:30000/health",
         "base_url": "http://[::1]:30000"}]


def test_a_keyed_instance_names_its_credentials_file_never_the_key():
    keyed = [dict(RESOLVED[0], api_key="ktune-redacted-api-key", credentials_file="/etc/ktransformers/r1.credentials")]
    assert guard_instances([], keyed) == [
        {"name": "r1", "backend": "legacy", "health_url": "http://127.0.0.1:10002/v1/models",
         "base_url": "http://127.0.0.1:10002", "api_key_file": "/etc/ktransformers/r1.credentials"}]


def test_named_instances_carry_their_extras():
    assert guard_instances([{"name": "s1", "baseline_tokens_per_s": 12.5, "metrics": False}], RESOLVED) == [
        {"name": "s1", "backend": "sglang", "health_url": "http://[::1]:30000/health", "base_url": "http://[::1]:30000",
         "baseline_tokens_per_s": 12.5, "metrics": False}]


@pytest.mark.parametrize("wanted, expected", [
    ([{"name": "r1"}, {"name": "s1", "baseline_tokens_per_s": 9, "metrics": True}], []),
    ("r1", ["ktune_guard_instances = 'r1': expected a list of {name, baseline_tokens_per_s, metrics}"]),
    (["r1"], ["ktune_guard_instances[0] = 'r1': expected a dict with a name"]),
    ([{"name": "gone"}], ["ktune_guard_instances[0].name = 'gone' is not a present instance of "
                          "ktune_service_instances (present: r1, s1)"]),
    ([{"name": "r1"}, {"name": "r1"}], ["ktune_guard_instances[1].name = 'r1' is listed twice"]),
    ([{"name": "r1", "baseline_tokens_per_s": 0}],
     ["ktune_guard_instances[0].baseline_tokens_per_s = 0: expected tokens/s > 0, or leave it unset to learn it"]),
    ([{"name": "r1", "baseline_tokens_per_s": True}],
     ["ktune_guard_instances[0].baseline_tokens_per_s = True: expected tokens/s > 0, or leave it unset to learn it"]),
    ([{"name": "r1", "metrics": "yes"}], ["ktune_guard_instances[0].metrics = 'yes': expected true or false"]),
])
def test_instance_problems(wanted, expected):
    assert guard_instance_problems(wanted, RESOLVED) == expected
