"""One line per inventory mistake, from the roles' own argument specifications: the index and
instance name, the field, the value, what is expected, the closest known field for a typo;
never the list of every field, never an internal class name."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest

from ansible_collections.ktune.inference.plugins.plugin_utils.mistakes import (
    VARIABLE,
    SpecError,
    closest,
    known_variables,
    read_specs,
    role_names,
    root_problem,
    settings_mistakes,
    uid_of,
    unknown_variables,
)

SERVICE = read_specs("ktransformers_service")["main"]
GOOD = {"name": "kimi", "backend": "sglang", "model_path": "/m", "kt_weight_path": "/w", "port": 30000}


def instances(*changes):
    """Two instances, the second one (kimi) changed."""
    second = dict(GOOD)
    for change in changes:
        second.update(change)
    return {"ktune_service_instances": [{"name": "one", "model_path": "/m", "gguf_path": "/g"}, second]}


def test_the_validator_reads_the_roles_own_specification():
    fields = SERVICE["ktune_service_instances"]["options"]
    assert "kt_method" in fields and "AMXINT4" in fields["kt_method"]["choices"]
    assert "ktransformers_service" in role_names() and "page_cache" in role_names()


def test_an_unknown_role_is_named():
    with pytest.raises(SpecError, match="no_such_role"):
        read_specs("no_such_role")


def test_good_instances_have_no_mistakes():
    assert settings_mistakes(SERVICE, instances()) == []
    # What Ansible converts itself stays accepted: a port given as a string of digits (-e).
    assert settings_mistakes(SERVICE, instances({"port": "30001"})) == []


def test_a_bad_port_is_one_line_with_index_name_field_and_value():
    assert settings_mistakes(SERVICE, instances({"port": "abc"})) == [
        "ktune_service_instances[1] (kimi): port = 'abc': expected a whole number"]


def test_a_field_typo_names_the_closest_field_and_not_every_field():
    problems = settings_mistakes(SERVICE, instances({"kt_methd": "AMXINT4"}))
    assert problems == ["ktune_service_instances[1] (kimi): kt_methd is not a field: did you mean kt_method?"]


def test_a_typo_far_from_every_field_says_so():
    problems = settings_mistakes(SERVICE, instances({"zzzzzz": 1}))
    assert problems == ["ktune_service_instances[1] (kimi): zzzzzz is not a field: no known name is close"]


def test_a_dict_instead_of_a_list_is_named():
    problems = settings_mistakes(SERVICE, {"ktune_service_instances": GOOD})
    assert problems == ["ktune_service_instances: expected a list of mappings, found a mapping"]


def test_an_unknown_choice_lists_the_choices_and_the_closest():
    problems = settings_mistakes(SERVICE, instances({"kt_method": "AMXIN4"}))
    assert len(problems) == 1
    assert problems[0].startswith("ktune_service_instances[1] (kimi): kt_method = 'AMXIN4': expected one of AMXINT4, AMXINT8,")
    assert problems[0].endswith("(did you mean AMXINT4?)")


def test_a_duration_where_seconds_are_expected():
    assert settings_mistakes(SERVICE, instances({"health_timeout_s": "30m"})) == [
        "ktune_service_instances[1] (kimi): health_timeout_s = '30m': expected a whole number"]
    assert settings_mistakes(SERVICE, {"ktune_service_health_timeout_s": "30m"}) == [
        "ktune_service_health_timeout_s = '30m': expected a whole number"]


def test_every_mistake_of_every_instance_one_line_each():
    values = instances({"port": "abc"}, {"kt_methd": "AMXINT4"}, {"kt_method": "FOO"}, {"health_timeout_s": "30m"})
    values["ktune_service_instances"][0]["numactl"] = "everywhere"
    problems = settings_mistakes(SERVICE, values)
    assert len(problems) == 5, problems
    assert problems[0].startswith("ktune_service_instances[0] (one): numactl = 'everywhere': expected one of none, bind, interleave")
    assert all("\n" not in problem and "Supported parameters" not in problem and "_Ansible" not in problem
               for problem in problems)


def test_a_missing_required_field_and_an_item_that_is_not_a_mapping():
    values = {"ktune_service_instances": [{"model_path": "/m"}, ["kimi"]]}
    assert settings_mistakes(SERVICE, values) == [
        "ktune_service_instances[0]: name is missing: expected a string",
        "ktune_service_instances[1]: expected a mapping (key: value), found a list"]


def test_list_elements_are_checked():
    problems = settings_mistakes(SERVICE, instances({"cuda_visible_devices": [0, "one"]}))
    assert problems == ["ktune_service_instances[1] (kimi): cuda_visible_devices[1] = 'one': expected a whole number"]


def test_an_instance_name_cannot_spread_over_lines():
    problems = settings_mistakes(SERVICE, {"ktune_service_instances": [dict(GOOD, name="a\nb", port="x")]})
    assert problems == ["ktune_service_instances[0] (a b): port = 'x': expected a whole number"]


def test_settings_of_other_roles_are_left_alone():
    assert settings_mistakes(SERVICE, {"ktune_drop_caches_level": "x"}) == []


def test_closest_needs_some_likeness():
    assert closest("ktune_cpu_govenor", ["ktune_cpu_governor", "ktune_hosts"]) == "ktune_cpu_governor"
    assert closest("zzz", ["ktune_cpu_governor"]) is None


def test_known_variables_are_every_roles_settings_and_the_playbooks_names():
    known = known_variables()
    assert {"ktune_cpu_governor", "ktune_expected_nodes_per_socket", "ktune_service_instances",
            "ktune_drop_caches_level"} <= known  # role settings
    assert {"ktune_hosts", "ktune_report_dir", "ktune_unknown_variables", "ktune_numa"} <= known  # playbooks, facts


def test_misspelt_variables_are_named_with_the_closest_known_name():
    names = ["ktune_expected_node_per_socket", "ktune_cpu_govenor", "ktune_cpu_governor", "ansible_host", "ktune_zzzzzz"]
    assert unknown_variables(names, known_variables()) == [
        ("ktune_cpu_govenor", "did you mean ktune_cpu_governor?"),
        ("ktune_expected_node_per_socket", "did you mean ktune_expected_nodes_per_socket?"),
        ("ktune_zzzzzz", "no known name is close")]


def test_the_shipped_inventories_use_only_known_variables():
    root = Path(__file__).resolve().parents[4]
    names = set()
    for path in (root / "inventories").rglob("*.yml"):
        names.update(VARIABLE.findall(path.read_text()))
    names.discard("ktune_local")  # a group, not a variable
    assert names and unknown_variables(names, known_variables()) == []


@pytest.mark.parametrize("become, become_user, uid, problem", [
    (False, None, 0, None),  # root without become is a root run
    (True, None, None, None),
    (True, "root", 1000, None),
    (False, None, None, None),  # not learnt: the host's read says why
    (False, None, 1000, "connects as uid 1000 without become"),
    (True, "ktransformers", None, "becomes ktransformers, not root"),
])
def test_the_root_decision(become, become_user, uid, problem):
    assert root_problem(become, become_user, uid) == problem


def test_the_uid_of_id_u():
    assert uid_of(0, "1000\n") == 1000
    assert uid_of(0, "0\n") == 0
    assert uid_of(1, "0\n") is None
    assert uid_of(0, "Welcome to the host!\n0\n") is None


@pytest.mark.parametrize("role, name", [("nps_layout", "ktune_expected_sockets"), ("nps_layout", "ktune_expected_nodes_per_socket"),
                                        ("diagnose", "ktune_expected_sockets"), ("numa_env", "ktune_transparent_hugepage")])
def test_an_explicit_null_where_the_option_is_meant_unset_says_to_delete_the_line(role, name):
    options = read_specs(role)["main"]
    problems = settings_mistakes(options, {name: None})
    assert len(problems) == 1
    assert problems[0].startswith("%s = null: expected one of " % name)
    assert "Fix: leave it unset (delete the line)" in problems[0]
    assert settings_mistakes(options, {}) == []
