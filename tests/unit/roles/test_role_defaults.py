"""meta/argument_specs.yml is the single source of each setting's type and default: every role's
defaults/main.yml must say the same, and declare nothing the specs do not."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(path.parent.parent.name for path in ROOT.glob("roles/*/meta/argument_specs.yml"))


def specs_options(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta/argument_specs.yml").read_text())["argument_specs"]
    return specs["main"]["options"]


def role_defaults(role):
    path = ROOT / "roles" / role / "defaults/main.yml"
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def test_a_variable_shared_by_roles_has_one_type_and_default():
    seen = {}
    for role in ROLES:
        for name, option in specs_options(role).items():
            seen.setdefault(name, {})[role] = repr((option.get("type"), option.get("default")))
    differing = dict((name, roles) for name, roles in seen.items() if len(set(roles.values())) > 1)
    assert differing == {}


def test_every_role_has_argument_specs():
    assert set(ROLES) == set(path.name for path in (ROOT / "roles").iterdir() if path.is_dir())


@pytest.mark.parametrize("role", ROLES)
def test_defaults_equal_the_argument_specs(role):
    options, defaults = specs_options(role), role_defaults(role)
    undeclared = sorted(set(defaults) - set(options))
    assert undeclared == [], "%s/defaults/main.yml sets variables meta/argument_specs.yml lacks" % role
    differing = dict((name, (defaults[name], options[name].get("default")))
                     for name in defaults if defaults[name] != options[name].get("default"))
    assert differing == {}, "%s: defaults/main.yml vs argument_specs default" % role
    missing = sorted(name for name, option in options.items() if "default" in option and name not in defaults)
    assert missing == [], "%s: argument_specs defaults missing from defaults/main.yml" % role


@pytest.mark.parametrize("role", ["nps_layout", "cpu_governor", "page_cache", "numa_env", "monitoring"])
def test_the_judge_takes_each_tuning_roles_defaults_from_its_argument_spec(role):
    """The judge action reads no defaults/main.yml: it must see the same defaults in the spec."""
    from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import spec_defaults
    assert spec_defaults(role) == role_defaults(role)
