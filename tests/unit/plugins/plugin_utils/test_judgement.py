from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import (
    RequestConflict,
    RoleSpecError,
    combined,
    judgement,
    layered,
    listed,
    merged_request,
    role_options,
    role_variable,
    selected_by_tags,
    spec_problems,
)


def test_role_options_come_from_the_roles_argument_specs():
    options = role_options("page_cache")
    assert options["ktune_drop_caches_level"]["choices"] == [1, 2, 3]
    assert "ktune_drop_caches_state" in options


def test_an_unknown_role_or_entry_point_is_named():
    with pytest.raises(RoleSpecError, match="no_such_role"):
        role_options("no_such_role")
    with pytest.raises(RoleSpecError, match="'nope'"):
        role_options("page_cache", "nope")


def test_spec_problems_name_the_variable_and_ignore_unset_ones():
    options = role_options("page_cache")
    assert spec_problems(options, {"ktune_drop_caches_level": 2}) == []
    problems = spec_problems(options, {"ktune_drop_caches_level": 7, "unrelated": "x"})
    assert len(problems) == 1 and "ktune_drop_caches_level" in problems[0] and "7" in problems[0]
    assert any("ktune_cpu_governor_persist" in problem
               for problem in spec_problems(role_options("cpu_governor"), {"ktune_cpu_governor_persist": "maybe"}))


def test_listed_drops_the_empty_strings_of_passed_checks():
    assert listed(["", " a ", None, "b"]) == ["a", "b"]
    assert listed("one") == ["one"]
    assert listed(None) == []


def unjudged():
    raise AssertionError("templated although an earlier check failed")


def test_settings_problems_leave_host_state_and_drift_unjudged():
    found = judgement(["type", "range"], unjudged, unjudged, unjudged)
    assert found == {"problems": ["type", "range"], "host_problems": [], "drift": [], "notes": []}


def test_host_problems_leave_drift_and_notes_unjudged():
    found = judgement([""], lambda: ["memory"], unjudged, unjudged)
    assert found == {"problems": [], "host_problems": ["memory"], "drift": [], "notes": []}


def test_a_judged_host_lists_what_differs_and_the_notes():
    found = judgement([], lambda: [], lambda: ["governor policy0: powersave"], lambda: ["cpufreq not applicable"])
    assert found == {"problems": [], "host_problems": [], "drift": ["governor policy0: powersave"],
                     "notes": ["cpufreq not applicable"]}


ROLES = ["nps_layout", "cpu_governor", "page_cache", "numa_env", "monitoring"]


@pytest.mark.parametrize("run_tags, skip_tags, expected", [
    (["all"], [], ROLES),
    ([], [], ROLES),
    (["cpu_governor"], [], ["cpu_governor"]),
    (["service"], [], []),
    (["always"], [], []),
    (["tagged"], [], ROLES),
    (["all"], ["monitoring", "nps_layout"], ["cpu_governor", "page_cache", "numa_env"]),
    (["page_cache", "numa_env"], ["numa_env"], ["page_cache"]),
    (["all"], ["tagged"], []),
])
def test_roles_follow_the_runs_tags_as_their_tasks_would(run_tags, skip_tags, expected):
    assert selected_by_tags(ROLES, run_tags, skip_tags) == expected


def test_variables_are_layered_as_ansible_does():
    defaults = [{"ktune_cpu_governor": "performance", "ktune_cpu_epp": None, "page_cache_cron_file": "default"}]
    task_vars = {"ktune_cpu_governor": "schedutil", "inventory_hostname": "a", "page_cache_cron_file": "/inventory",
                 "cpu_governor_plan": "from -e"}
    role_vars = [{"page_cache_cron_file": "/etc/cron.d/ktune-drop-caches"}, {"cpu_governor_plan": "{{ x }}"}]
    variables = layered(defaults, task_vars, role_vars, {"cpu_governor_plan": "from -e"})
    assert variables == {"ktune_cpu_governor": "schedutil", "inventory_hostname": "a", "ktune_cpu_epp": None,
                         # role vars over the inventory, extra vars over role vars
                         "page_cache_cron_file": "/etc/cron.d/ktune-drop-caches", "cpu_governor_plan": "from -e"}


def test_requests_merge_into_one_read():
    merged = merged_request([
        {"files": ["/etc/a", "/etc/b"], "units": ["tuned.service"], "file_line_patterns": {"/etc/tuned/active_profile": "\\S"},
         "cpufreq": {"governor": "performance", "energy_performance_preference": None}},
        {"files": ["/etc/b", "/etc/c"], "units": ["cron.service"], "sysctls": ["kernel.numa_balancing"],
         "line_pattern": "^USE_NUMA", "os": False},
        {"os": True, "packages": ["ipmitool"], "file_line_patterns": {"/etc/default/x": "^ARGS="}},
        {},
    ])
    assert merged == {
        "files": ["/etc/a", "/etc/b", "/etc/c"], "units": ["tuned.service", "cron.service"],
        "file_line_patterns": {"/etc/tuned/active_profile": "\\S", "/etc/default/x": "^ARGS="},
        "cpufreq": {"governor": "performance"}, "sysctls": ["kernel.numa_balancing"], "line_pattern": "^USE_NUMA",
        "os": True, "packages": ["ipmitool"]}


def test_two_roles_asking_differently_for_one_thing_are_refused():
    with pytest.raises(RequestConflict, match="line_pattern"):
        merged_request([{"line_pattern": "^A"}, {"line_pattern": "^B"}])
    with pytest.raises(RequestConflict, match="/etc/x"):
        merged_request([{"file_line_patterns": {"/etc/x": "^A"}}, {"file_line_patterns": {"/etc/x": "^B"}}])


def test_combined_lists_every_role_and_the_roles_to_change():
    found = combined({
        "nps_layout": {"problems": [], "host_problems": [], "drift": [], "notes": ["NPS2 as expected"]},
        "page_cache": {"problems": [], "host_problems": [], "drift": ["/etc/cron.d/ktune-drop-caches: missing"], "notes": []},
        "numa_env": {"problems": [], "host_problems": [], "drift": [], "notes": [],
                     "exports": {"ktune_use_numa_enabled": True}},
    })
    assert found == {"problems": [], "host_problems": [], "drift": ["/etc/cron.d/ktune-drop-caches: missing"],
                     "notes": ["NPS2 as expected"], "exports": {"ktune_use_numa_enabled": True},
                     "roles_with_drift": ["page_cache"], "plan": {}}


def test_a_role_judged_alone_passes_its_plan_up():
    plan = {"files_in_place": False}
    assert combined({"numa_env": {"problems": [], "host_problems": [], "drift": ["x"], "notes": [],
                                  "plan": plan}})["plan"] == plan


def test_a_roles_parts_are_named_from_the_one_list():
    assert role_variable("numa_env", "drift_items") == "numa_env_drift_items"
    with pytest.raises(ValueError, match="drift"):
        role_variable("numa_env", "drift")
