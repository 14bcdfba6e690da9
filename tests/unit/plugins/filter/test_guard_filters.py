"""Filters guard_settings_problems, guard_instance_problems and guard_instances."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.filter.guard import (
    guard_drain_plan, guard_instance_problems, guard_instances, guard_settings_problems)

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


def hot(ready=True, state="hot"):
    return [{"instance": "r1", "state": state, "ready": ready}]


def test_drain_plan_keeps_the_floor_and_the_rate_limit():
    statuses = {"gpu-a": hot(), "gpu-b": hot()}
    plan = guard_drain_plan(statuses, ["gpu-a", "gpu-b"], 0.5, 2)
    assert plan["drain"] == ["gpu-a"] and plan["serving"] == 1 and plan["total"] == 2
    assert plan["refused"] == [{"host": "gpu-b", "why": "draining it would leave 0 of 2 hosts serving (0%), below "
                                                        "ktune_min_serving_fraction 0.5"}]
    # One already drained by an earlier event: the next one is refused by the floor too.
    statuses["gpu-a"] = hot(False, "drained")
    plan = guard_drain_plan(statuses, ["gpu-b"], 0.5, 1)
    assert plan["drain"] == [] and plan["refused"][0]["host"] == "gpu-b"
    assert guard_drain_plan(statuses, ["gpu-a"], 0.5, 1)["already"] == ["gpu-a"]
    # The rate limit: one host per request even when the floor would allow more.
    four = dict(("gpu-%d" % n, hot()) for n in range(4))
    plan = guard_drain_plan(four, ["gpu-0", "gpu-1"], 0.25, 1)
    assert plan["drain"] == ["gpu-0"]
    assert plan["refused"] == [{"host": "gpu-1", "why": "rate limit: this request drains at most 1 host(s)"}]
    # A host whose guard does not answer serves nobody: it counts against the floor, may be drained.
    plan = guard_drain_plan({"gpu-a": None, "gpu-b": hot()}, ["gpu-b", "gpu-a"], 0.5, 2)
    assert plan["drain"] == ["gpu-a"] and plan["refused"][0]["host"] == "gpu-b"
    assert guard_drain_plan({"gpu-a": hot()}, ["nope"], 0.5)["refused"] == [
        {"host": "nope", "why": "nope is not in the group"}]
