from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import (
    RoleSpecError,
    judgement,
    listed,
    role_options,
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
    found = judgement(["type"], ["", "range"], unjudged, unjudged, unjudged)
    assert found == {"problems": ["type", "range"], "host_problems": [], "drift": [], "notes": []}


def test_host_problems_leave_drift_and_notes_unjudged():
    found = judgement([], [""], lambda: ["memory"], unjudged, unjudged)
    assert found == {"problems": [], "host_problems": ["memory"], "drift": [], "notes": []}


def test_a_judged_host_lists_what_differs_and_the_notes():
    found = judgement([], [], lambda: [], lambda: ["governor policy0: powersave"], lambda: ["cpufreq not applicable"])
    assert found == {"problems": [], "host_problems": [], "drift": ["governor policy0: powersave"],
                     "notes": ["cpufreq not applicable"]}
