"""The roles' argument specifications are what antsibull-docs renders into the docs site: its
schema refuses null among an option's choices, so an option that may be left alone is unset by
default (no default, no null among its choices), and every reader of it treats unset as before."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest
import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROLES = Path(__file__).resolve().parents[3] / "roles"
SPECS = sorted(ROLES.glob("*/meta/argument_specs.yml"))


def options_of(specs):
    """(entry point + dotted option name, option) for every option, suboptions included."""
    def walk(options, prefix):
        for name, option in (options or {}).items():
            yield prefix + name, option
            yield from walk(option.get("options"), prefix + name + ".")
    for entry, spec in (specs.get("argument_specs") or {}).items():
        yield from walk(spec.get("options"), entry + ":")


@pytest.mark.parametrize("path", SPECS, ids=lambda path: path.parts[-3])
def test_no_option_lists_null_among_its_choices(path):
    specs = yaml.safe_load(path.read_text())
    assert [name for name, option in options_of(specs) if None in (option.get("choices") or [])] == []


@pytest.mark.parametrize("role", ["nps_layout", "diagnose"])
def test_the_layout_options_are_unset_by_default_and_ansible_accepts_them_unset(role):
    specs = yaml.safe_load((ROLES / role / "meta" / "argument_specs.yml").read_text())
    options = specs["argument_specs"]["main"]["options"]
    defaults = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text())
    for name in ("ktune_expected_nodes_per_socket", "ktune_expected_sockets"):
        assert "default" not in options[name] and name not in defaults
    result = ArgumentSpecValidator(options).validate({})
    assert result.error_messages == []
    assert result.validated_parameters["ktune_expected_nodes_per_socket"] is None
    refused = ArgumentSpecValidator(options).validate({"ktune_expected_sockets": 3})
    assert any("ktune_expected_sockets" in message for message in refused.error_messages)
