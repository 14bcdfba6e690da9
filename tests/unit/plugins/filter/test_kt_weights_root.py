"""ktune_weights_root: the directory the audit and the service role read kt_weight_path under. One check
(kt_weights.weights_root_problem) behind both filters, naming the variable; one default, in the service
role's meta/argument_specs.yml, which the modules' own defaults must equal."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.filter.kt_weights import kt_weights_root, kt_weights_root_problems
from ansible_collections.ktune.inference.plugins.modules import kt_weights, managed_state

ROOT = Path(__file__).resolve().parents[4]
EXPECTED = "expected an absolute path without control characters or newlines, such as / (the directory " \
           "kt_weight_path is read under; / on a live host)"


@pytest.mark.parametrize("value", ["/", "/srv/host-copy", "/mnt/a b/ünïcode"])
def test_absolute_paths_pass_unchanged(value):
    assert kt_weights_root_problems(value) == []
    assert kt_weights_root(value) == value


@pytest.mark.parametrize("value, found", [
    ("models", "'models'"), ("", "''"), ("~/copy", "'~/copy'"), ("/srv/a\nb", "'/srv/a\\nb'"),
    ("/srv/a\rb", "'/srv/a\\rb'"), ("/srv/\x00", "'/srv/\\x00'"), ("/srv/\x7f", "'/srv/\\x7f'"),
    (["/"], "a list"), ({"path": "/"}, "a mapping"), (7, "a number"), (True, "a boolean"), (None, "null")])
def test_anything_else_is_refused_naming_the_variable_and_what_was_found(value, found):
    assert kt_weights_root_problems(value) == ["ktune_weights_root = %s: %s" % (found, EXPECTED)]
    with pytest.raises(AnsibleFilterError) as raised:
        kt_weights_root(value)
    assert str(raised.value) == ("ktune_weights_root = %s: %s. Fix: correct it in the inventory or on the command "
                                 "line" % (found, EXPECTED))


def test_a_long_value_is_shown_cut_to_one_short_line():
    problem = kt_weights_root_problems("x" * 500)[0]
    assert problem.startswith("ktune_weights_root = '" + "x" * 60) and len(problem) < 300


def test_the_modules_read_under_the_default_the_argument_spec_gives():
    specs = yaml.safe_load((ROOT / "roles/ktransformers_service/meta/argument_specs.yml").read_text())
    option = specs["argument_specs"]["main"]["options"]["ktune_weights_root"]
    assert (option["type"], option["default"]) == ("str", "/")
    assert yaml.safe_load(kt_weights.DOCUMENTATION)["options"]["root"]["default"] == option["default"]
    host_state = yaml.safe_load(managed_state.DOCUMENTATION)["options"]["host_state"]["suboptions"]
    assert host_state["weights_root"]["default"] == option["default"]
