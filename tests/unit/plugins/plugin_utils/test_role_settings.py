"""Each tuning role's own checks of its settings, in Python (plugins/plugin_utils/role_settings.py):
what the argument specification cannot say, and nothing it already says."""

import pytest

from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import role_options, spec_problems
from ansible_collections.ktune.inference.plugins.plugin_utils.role_settings import SETTINGS_PROBLEMS, settings_problems

ROLES = ("page_cache", "cpu_governor", "numa_env", "monitoring")


def defaults(role):
    return dict((name, option.get("default")) for name, option in role_options(role).items())


def problems(role, state=None, **settings):
    values = defaults(role)
    values.update(settings)
    return settings_problems(role, values, state)


@pytest.mark.parametrize("role", ROLES)
def test_a_roles_defaults_pass_its_own_checks(role):
    assert problems(role) == []


def test_every_tuning_role_with_checks_of_its_own_is_registered_and_a_role_without_has_none():
    assert set(SETTINGS_PROBLEMS) == set(ROLES)
    assert settings_problems("nps_layout", {"ktune_expected_nodes_per_socket": 4}) == []


@pytest.mark.parametrize("role, variable, value, expected", [
    ("page_cache", "ktune_drop_caches_minute", "61", "ktune_drop_caches_minute = '61' is not a valid cron minute field"),
    ("page_cache", "ktune_drop_caches_skip_unit", "-bad", "ktune_drop_caches_skip_unit = '-bad' is not a systemd unit name"),
    ("page_cache", "ktune_cron_package", "a b", "ktune_cron_package = 'a b' is not a package name"),
    ("page_cache", "ktune_procfs_root", "/proc;id", "ktune_procfs_root = '/proc;id' cannot go into a cron line"),
    ("cpu_governor", "ktune_cpu_governor", "Perf-1", "ktune_cpu_governor = 'Perf-1' is not a governor name"),
    ("cpu_governor", "ktune_cpu_epp", "x y", "ktune_cpu_epp = 'x y' is not an EPP name"),
    ("cpu_governor", "ktune_cpu_min_freq_khz", 0, "ktune_cpu_min_freq_khz = 0 is not a frequency"),
    ("numa_env", "ktune_use_numa", "maybe", "ktune_use_numa = 'maybe' is not a mode: expected auto, true or false"),
    ("numa_env", "ktune_model_size_gb", -1, "ktune_model_size_gb = -1 is not a model size"),
    ("numa_env", "ktune_model_size_gb", "-1", "ktune_model_size_gb = '-1' is not a model size"),
    ("numa_env", "ktune_numa_balancing", 7, "ktune_numa_balancing = 7 is not a kernel.numa_balancing value"),
    ("numa_env", "ktune_sysctl_file", "/etc/sysctl.d/x", "ktune_sysctl_file = '/etc/sysctl.d/x' is not a sysctl.d file"),
    ("numa_env", "ktune_numa_env_extra_files", ["relative.env"], "ktune_numa_env_extra_files = ['relative.env'] is not"),
    ("monitoring", "ktune_monitoring_interval", 5, "ktune_monitoring_interval = 5: expected whole seconds from 10"),
    ("monitoring", "ktune_monitoring_probe_timeout", "61", "ktune_monitoring_probe_timeout = '61': expected whole seconds"),
    ("monitoring", "ktune_monitoring_rules_path", "/etc/rules/", "ktune_monitoring_rules_path = '/etc/rules/': expected"),
    ("monitoring", "ktune_sysfs_root", "sys", "ktune_sysfs_root = 'sys': expected an absolute path"),
])
def test_a_bad_value_is_named_with_what_is_expected(role, variable, value, expected):
    found = problems(role, **{variable: value})
    assert [problem for problem in found if problem.startswith(expected)], found


@pytest.mark.parametrize("role, variable, value", [
    ("page_cache", "ktune_drop_caches_state", "gone"),
    ("page_cache", "ktune_drop_caches_level", 7),
    ("page_cache", "ktune_drop_caches_skip_state", "sleeping"),
    ("numa_env", "ktune_allow_memory_only_nodes", "perhaps"),
    ("monitoring", "ktune_monitoring_install_node_exporter", "perhaps"),
])
def test_what_the_argument_specification_refuses_is_not_checked_again(role, variable, value):
    assert spec_problems(role_options(role), {variable: value}), "the specification must refuse it"
    assert problems(role, **{variable: value}) == []


def test_a_governor_some_policy_lacks_is_a_settings_problem_once_the_host_is_read():
    plan = {"failed": True, "msg": "policy2 offers no governor turbo", "applicable": True}
    found = problems("cpu_governor", state={"cpufreq": plan}, ktune_cpu_governor="turbo")
    assert found == ["ktune_cpu_governor=turbo ktune_cpu_epp=None ktune_cpu_min_freq_khz=None cannot be applied: "
                     "policy2 offers no governor turbo; pick a value every policy offers, or set these variables per "
                     "host group"]
    assert problems("cpu_governor", state={"cpufreq": dict(plan, bare_metal=True)}) == []


def test_a_kernel_setting_problem_reaches_monitoring_in_one_line():
    found = problems("monitoring", ktune_numa_balancing=9, ktune_zone_reclaim_mode=9)
    assert len(found) == 1 and "ktune_numa_balancing = 9" in found[0] and "ktune_zone_reclaim_mode = 9" in found[0]
