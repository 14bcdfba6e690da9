# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each tuning role's own checks of its settings, one Python function per role, on the controller.

What the argument specification (meta/argument_specs.yml) already says is not checked again here
(types, choices); these are the checks it cannot express: patterns a value must match to go into a
cron line, a unit or an ARGS line, ranges, and a cpufreq value some policy of the host lacks.

The ktune.inference.judge action calls settings_problems() for every role it judges (tune.yml,
rollout.yml, each role's tasks/validate.yml), after the argument specification passed. values:
{variable: value} of the role's options, as Ansible resolved them; an option left out takes its
default from the argument specification (judgement.role_options).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ktune.inference.plugins.filter.cron_field import cron_field_problems
from ansible_collections.ktune.inference.plugins.module_utils.concerns import NUMA_SYSCTL_VARIABLES, numa_sysctl_problems
from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import registered_share

UNIT_PATTERN = re.compile(r"^[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]{0,254}\Z")
PACKAGE_PATTERN = re.compile(r"^[A-Za-z0-9@._+][A-Za-z0-9@._+-]*\Z")
CRON_PATH_PATTERN = re.compile(r"^/[A-Za-z0-9._/+-]*\Z")
NAME_PATTERN = re.compile(r"^[a-z_]+\Z")
NUMBER_PATTERN = re.compile(r"^\s*[0-9]+(\.[0-9]+)?\s*\Z")
USE_NUMA_MODES = ("auto", "true", "false", "yes", "no")
CRON_FIELDS = ("minute", "hour", "day", "month", "weekday")
# A word of node_exporter's ARGS="..." line, which systemd's EnvironmentFile= and the init script's
# shell both read: nothing either would split, unquote, expand or end the line on.
ARGS_WORD_PATTERN = re.compile("^[^\\s\"'\\\\$`\\x00-\\x1f\\x7f]+\\Z")
LISTEN_PATTERN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}\Z")
MONITORING_PATH_PATTERN = re.compile(r"^/[A-Za-z0-9._/+-]+\Z")


def _matches(pattern, value):
    return isinstance(value, str) and pattern.match(value) is not None


def _is_list(value):
    return isinstance(value, (list, tuple))


def _whole_in(value, lowest, highest):
    text = str(value)
    return re.match(r"^[0-9]+\Z", text) is not None and lowest <= int(text) <= highest


def page_cache_problems(values, state=None):
    """The drop-caches job's settings: each cron field, and what goes into the cron line."""
    problems = []
    for field in CRON_FIELDS:
        name = "ktune_drop_caches_" + field
        problems += cron_field_problems(values.get(name), field, name)
    skip_unit = values.get("ktune_drop_caches_skip_unit")
    if skip_unit and not _matches(UNIT_PATTERN, skip_unit):
        problems.append("ktune_drop_caches_skip_unit = %r is not a systemd unit name: expected up to 255 letters, digits, "
                        "backslash and : _ . @ - (not starting with -), such as ktransformers.service, or empty to never "
                        "skip" % (skip_unit,))
    procfs_root = values.get("ktune_procfs_root")
    if not _matches(CRON_PATH_PATTERN, procfs_root):
        problems.append("ktune_procfs_root = %r cannot go into a cron line: expected an absolute path of letters, digits "
                        "and . _ / + - such as /proc" % (procfs_root,))
    package = values.get("ktune_cron_package")
    if package is not None and not _matches(PACKAGE_PATTERN, package):
        problems.append("ktune_cron_package = %r is not a package name: expected a name such as cron or cronie, or null "
                        "to pick it from the OS family" % (package,))
    service = values.get("ktune_cron_service")
    if service is not None and not _matches(UNIT_PATTERN, service):
        problems.append("ktune_cron_service = %r is not a service name: expected a name such as cron or crond, or null "
                        "to pick it from the OS family" % (service,))
    return problems


def cpu_governor_problems(values, state=None):
    """The governor and EPP names and the lowest frequency; with the host read (state), a value
    some cpufreq policy does not offer."""
    governor, epp, min_freq = (values.get("ktune_cpu_governor"), values.get("ktune_cpu_epp"),
                               values.get("ktune_cpu_min_freq_khz"))
    problems = []
    if not _matches(NAME_PATTERN, governor):
        problems.append("ktune_cpu_governor = %r is not a governor name: expected a name such as performance or "
                        "schedutil" % (governor,))
    if epp is not None and not _matches(NAME_PATTERN, epp):
        problems.append("ktune_cpu_epp = %r is not an EPP name: expected a name such as performance or "
                        "balance_performance, or null" % (epp,))
    if min_freq is not None and not _positive(min_freq):
        problems.append("ktune_cpu_min_freq_khz = %r is not a frequency: expected a positive number of kHz, or null"
                        % (min_freq,))
    plan = (state or {}).get("cpufreq") or {}
    if plan.get("failed") and not plan.get("bare_metal"):
        problems.append("ktune_cpu_governor=%s ktune_cpu_epp=%s ktune_cpu_min_freq_khz=%s cannot be applied: %s; pick a "
                        "value every policy offers, or set these variables per host group"
                        % (governor, epp, min_freq, plan.get("msg")))
    return problems


def _positive(value):
    try:
        return int(value) > 0
    except (TypeError, ValueError):
        return False


def numa_env_problems(values, state=None):
    """The USE_NUMA mode, the model size, the kernel settings' ranges, the sysctl.d file and the
    extra environment files."""
    use_numa, size = values.get("ktune_use_numa"), values.get("ktune_model_size_gb")
    problems = []
    if not isinstance(use_numa, bool) and not (isinstance(use_numa, str) and use_numa.strip().lower() in USE_NUMA_MODES):
        problems.append("ktune_use_numa = %r is not a mode: expected auto, true or false" % (use_numa,))
    if not (size is None or (isinstance(size, (int, float)) and not isinstance(size, bool) and size >= 0)
            or _matches(NUMBER_PATTERN, size)):
        problems.append("ktune_model_size_gb = %r is not a model size: expected a number of GiB >= 0, or null to skip "
                        "the memory check" % (size,))
    problems += numa_sysctl_problems(dict((name, values.get(name)) for name in NUMA_SYSCTL_VARIABLES))
    sysctl_file = values.get("ktune_sysctl_file")
    if not _matches(re.compile(r"^/.*[^/]\.conf\Z"), sysctl_file):
        problems.append("ktune_sysctl_file = %r is not a sysctl.d file: expected an absolute path ending in .conf, such "
                        "as /etc/sysctl.d/90-ktune-numa.conf" % (sysctl_file,))
    extra = values.get("ktune_numa_env_extra_files")
    if extra is not None and not (_is_list(extra) and all(_matches(re.compile("^/"), item) for item in extra)):
        problems.append("ktune_numa_env_extra_files = %r is not a list of absolute paths (null: the existing "
                        "/etc/ktransformers/*.env)" % (extra,))
    return problems + registered_share("numa_env", values)["problems"]


def monitoring_problems(values, state=None):
    """What goes into node_exporter's ARGS line, the collector's unit and settings, and the ranges
    of its intervals and timeouts."""
    problems = []

    def refuse(name, expected):
        problems.append("%s = %r: %s" % (name, values.get(name), expected))

    if not _matches(LISTEN_PATTERN, values.get("ktune_monitoring_node_exporter_listen_address")):
        refuse("ktune_monitoring_node_exporter_listen_address", "expected HOST:PORT such as 127.0.0.1:9100 or [::1]:9100")
    web_config = values.get("ktune_monitoring_node_exporter_web_config_file")
    if web_config not in ("", None) and not _matches(MONITORING_PATH_PATTERN, web_config):
        refuse("ktune_monitoring_node_exporter_web_config_file",
               "expected an absolute path of letters, digits and . _ / + -, or empty")
    args = values.get("ktune_monitoring_node_exporter_args")
    if _is_list(args) and any(_matches(re.compile(r"^--web[.](listen-address|config[.]file)"), arg) for arg in args):
        refuse("ktune_monitoring_node_exporter_args",
               "--web.listen-address and --web.config.file have their own variables, "
               "ktune_monitoring_node_exporter_listen_address and ktune_monitoring_node_exporter_web_config_file")
    if not (_is_list(args) and all(_matches(ARGS_WORD_PATTERN, arg) for arg in args)):
        refuse("ktune_monitoring_node_exporter_args",
               "expected a list of words without whitespace, quotes, backslashes, $ or backticks (each goes into the "
               "ARGS line of node_exporter), such as [--web.listen-address=127.0.0.1:9100]")
    for name, lowest, highest, expected in (
            ("ktune_monitoring_interval", 10, 86400, "expected whole seconds from 10 to 86400, such as 60"),
            ("ktune_monitoring_ipmitool_timeout", 1, 300, "expected whole seconds from 1 to 300"),
            ("ktune_monitoring_probe_timeout", 1, 60, "expected whole seconds from 1 to 60")):
        if not _whole_in(values.get(name), lowest, highest):
            refuse(name, expected)
    textfile_dir = values.get("ktune_monitoring_textfile_dir")
    if textfile_dir and not _matches(CRON_PATH_PATTERN, textfile_dir):
        refuse("ktune_monitoring_textfile_dir", "expected an absolute path of letters, digits and . _ / + -, such as "
               "/var/lib/prometheus/node-exporter")
    if not _matches(re.compile(r"^[A-Za-z0-9._/+-]+\Z"), values.get("ktune_monitoring_ipmitool")):
        refuse("ktune_monitoring_ipmitool", "expected a command name or absolute path such as ipmitool")
    if not _matches(MONITORING_PATH_PATTERN, values.get("ktune_monitoring_python")):
        refuse("ktune_monitoring_python", "expected an absolute path of letters, digits and . _ / + - (it goes into a "
               "systemd unit), such as /usr/bin/python3")
    rules_path = values.get("ktune_monitoring_rules_path")
    if rules_path not in ("", None) and not _matches(re.compile(r"^/.*[^/]\Z"), rules_path):
        refuse("ktune_monitoring_rules_path", "expected an absolute file path such as "
               "/etc/prometheus/rules/ktune.rules.yml, or empty")
    sysctl_problems = numa_sysctl_problems(dict((name, values.get(name)) for name in NUMA_SYSCTL_VARIABLES))
    if sysctl_problems:
        problems.append("; ".join(sysctl_problems))
    if not _matches(re.compile("^/"), values.get("ktune_sysfs_root")):
        refuse("ktune_sysfs_root", "expected an absolute path such as /sys")
    return problems


# The role's own checks, by role. A role without an entry has none beyond its argument specification.
SETTINGS_PROBLEMS = {
    "page_cache": page_cache_problems,
    "cpu_governor": cpu_governor_problems,
    "numa_env": numa_env_problems,
    "monitoring": monitoring_problems,
}


def settings_problems(role, values, state=None):
    """The role's own problems with its settings, one sentence each naming the variable ([]: none).

    state: the host read (ktune.inference.managed_state's result) where a check needs it.
    """
    check = SETTINGS_PROBLEMS.get(role)
    return check(values or {}, state) if check else []
