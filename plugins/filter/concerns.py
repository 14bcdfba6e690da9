# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that give tune's roles the same judgements the audit makes (module_utils/concerns.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.collections import is_sequence

from ansible_collections.ktune.inference.plugins.module_utils import concerns


def _mapping(value, filter_name, what):
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnsibleFilterError("%s: expected %s (a mapping), got %r" % (filter_name, what, type(value).__name__))
    return value


def cpufreq_drift(plan, governor="performance", epp=None):
    """Which policies run another governor or EPP than the settings ask, and the EPP to set."""
    plan = _mapping(plan, "cpufreq_drift", "the cpufreq plan of ktune.inference.managed_state")
    settings = {"ktune_cpu_governor": governor, "ktune_cpu_epp": epp}
    return concerns.cpufreq_drift(settings, concerns.cpufreq_reading_from_plan(plan))


def use_numa_files_drift(state_files, enabled, paths):
    """The managed files whose USE_NUMA lines differ from the decision."""
    state_files = _mapping(state_files, "use_numa_files_drift", "the files of ktune.inference.managed_state")
    if not is_sequence(paths):
        raise AnsibleFilterError("use_numa_files_drift: paths must be a list of files, got %r" % (paths,))
    return concerns.use_numa_files_drift(bool(enabled), concerns.use_numa_files_from_state(state_files, paths))


def cron_units(cron_service=None):
    """The cron daemon units that may run the page-cache job."""
    return concerns.cron_units({"ktune_cron_service": cron_service})


def cron_daemons_running(units, cron_service=None):
    """The cron daemon units that are loaded, active and enabled at boot."""
    units = _mapping(units, "cron_daemons_running", "the units of ktune.inference.managed_state")
    return concerns.cron_daemons_running(units, concerns.cron_units({"ktune_cron_service": cron_service}))


def drop_caches_argv(level, procfs_root="/proc", skip_unit="", skip_state="activating"):
    """The page-cache job's command line, the script first."""
    return concerns.drop_caches_argv({"ktune_drop_caches_level": level, "ktune_procfs_root": procfs_root,
                                      "ktune_drop_caches_skip_unit": skip_unit,
                                      "ktune_drop_caches_skip_state": skip_state})


def numa_sysctl_problems(numa_balancing, zone_reclaim_mode):
    """Why the NUMA kernel settings cannot be applied, naming the variable ([] when they can)."""
    return concerns.numa_sysctl_problems({"ktune_numa_balancing": numa_balancing,
                                          "ktune_zone_reclaim_mode": zone_reclaim_mode})


def env_line_pattern(name):
    """The regular expression of every line that defines the environment variable name."""
    if not isinstance(name, str) or not name:
        raise AnsibleFilterError("env_line_pattern: expected an environment variable's name, got %r" % (name,))
    return concerns.env_line_pattern(name)


def alert_expectations(settings):
    """The values the monitoring collector exports as the host's expectations (ktune_*_expected)."""
    settings = _mapping(settings, "alert_expectations", "the settings by variable name")
    try:
        return concerns.alert_expectations(settings)
    except ValueError as exc:
        raise AnsibleFilterError("alert_expectations: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {
            "cpufreq_drift": cpufreq_drift,
            "use_numa_files_drift": use_numa_files_drift,
            "cron_units": cron_units,
            "cron_daemons_running": cron_daemons_running,
            "numa_sysctl_problems": numa_sysctl_problems,
            "drop_caches_argv": drop_caches_argv,
            "alert_expectations": alert_expectations,
            "env_line_pattern": env_line_pattern,
        }
