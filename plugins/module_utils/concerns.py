# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One judgement per concern: what "right" is, decided once for tune, audit and diagnosis.

Pure functions over plain data. tune's roles call them through the filters in
plugins/filter/concerns.py (with what ktune.inference.managed_state read), the audit through
audit_controls.py (with what managed_state's host_state read), diagnosis through diagnosis.py.
Each concern has a reading in one shape; the ``*_from_*`` adapters turn either reader's
output into it, so the same function decides the drift for both pipelines.

It lives in module_utils, not plugin_utils, because audit_controls.py (module_utils) imports
it and module_utils may only import module_utils; nothing here runs on a managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import format_cpulist

# cpufreq.ACTIVE_MODE_DRIVERS, restated so that this file needs nothing host-side.
ACTIVE_MODE_DRIVERS = frozenset(["intel_pstate", "amd-pstate-epp"])
DEFAULT_GOVERNOR = "performance"

USE_NUMA_ON_LINE = "USE_NUMA=1"


def env_line_pattern(name):
    """Every way a line can define the environment variable name ("NAME", "NAME=x", "export NAME=x"),
    its value (after =, unquoted not yet) in the group "value": the one definition that the audit's
    read (host_state), tune's read (managed_state's line_pattern), the numa_env role and
    playbooks/remove.yml (the ktune.inference.env_line_pattern filter) all match with."""
    return r"^\s*(?:export\s+)?%s(?:\s*=(?P<value>.*))?\s*$" % re.escape(name)


USE_NUMA_LINE_PATTERN = env_line_pattern("USE_NUMA")
ENVIRONMENT_FILE = "/etc/environment"

# Cron daemon package and service per OS family (the page_cache role installs them).
CRON_DAEMONS = {
    "Debian": {"package": "cron", "service": "cron"},
    "RedHat": {"package": "cronie", "service": "crond"},
    "Suse": {"package": "cronie", "service": "cron"},
    "Archlinux": {"package": "cronie", "service": "cronie"},
}

# The kernel's documented ranges (Documentation/admin-guide/sysctl/kernel.rst and vm.rst):
# numa_balancing is 0 off, or the bits NORMAL (1) | MEMORY_TIERING (2); zone_reclaim_mode
# is the bitmask 1 reclaim | 2 write dirty pages | 4 swap pages.
NUMA_SYSCTLS = (
    ("kernel.numa_balancing", "ktune_numa_balancing", 0, 3, "0 off, 1 normal, 2 memory tiering, 3 both"),
    ("vm.zone_reclaim_mode", "ktune_zone_reclaim_mode", 0, 7,
     "a bitmask: 0 off, 1 reclaim, 2 write dirty pages, 4 swap pages"),
)
NUMA_SYSCTL_NAMES = tuple(row[0] for row in NUMA_SYSCTLS)
NUMA_SYSCTL_VARIABLES = tuple(row[1] for row in NUMA_SYSCTLS)


# --- governor and EPP ----------------------------------------------------------------


def expected_governor(settings):
    """ktune_cpu_governor, the one governor every policy should run."""
    return (settings or {}).get("ktune_cpu_governor") or DEFAULT_GOVERNOR


def off_values(wanted, groups):
    """'policyCPUS: value' for every group of policies whose value is not the wanted one.

    groups: {value: cpulist of the policies with that value}.
    """
    return ["policy%s: %s" % (cpus, value) for value, cpus in sorted((groups or {}).items()) if value != wanted]


def governor_is_expected(settings, governor):
    return governor == expected_governor(settings)


def epp_wanted(settings, active_mode, has_epp):
    """The EPP every policy should have, or None when EPP is left alone.

    ktune_cpu_epp when set. Otherwise performance only where an active-mode driver
    (intel_pstate, amd-pstate-epp) runs the performance governor: there the kernel allows no
    other EPP (writing one fails with EBUSY), so stating it is a no-op that survives drivers
    restoring an old value; anywhere else a null ktune_cpu_epp means "leave EPP alone".
    """
    settings = settings or {}
    if not has_epp:
        return None
    if settings.get("ktune_cpu_epp") not in (None, ""):  # empty is unset, as the role's omit treats it
        return settings["ktune_cpu_epp"]
    if active_mode and expected_governor(settings) == "performance":
        return "performance"
    return None


def cpufreq_drift(settings, reading):
    """{"applicable", "governor": [off policies], "epp": [off policies], "epp_wanted"}.

    reading: {"applicable", "active_mode", "governors": {value: cpus}, "epp": {value: cpus} or None},
    as host_state.read_cpufreq returns it and cpufreq_reading_from_plan makes it.
    """
    if not reading.get("applicable"):
        return {"applicable": False, "governor": [], "epp": [], "epp_wanted": None}
    wanted_epp = epp_wanted(settings, reading.get("active_mode"), reading.get("epp") is not None)
    return {
        "applicable": True,
        "governor": off_values(expected_governor(settings), reading.get("governors")),
        "epp": off_values(wanted_epp, reading.get("epp")) if wanted_epp is not None else [],
        "epp_wanted": wanted_epp,
    }


def _group(entries):
    groups = {}
    for number, value in entries:
        if value is not None:
            groups.setdefault(value, []).append(number)
    return dict((value, format_cpulist(numbers)) for value, numbers in groups.items())


def cpufreq_reading_from_plan(plan):
    """The cpufreq reading from the cpufreq module's check-mode plan (managed_state's cpufreq)."""
    plan = plan or {}
    policies = [p for p in plan.get("policies") or [] if p.get("active")]
    if not plan.get("applicable") or plan.get("failed") or not policies:
        return {"applicable": False}
    epp = [(p["policy"], (p.get("before") or {}).get("epp")) for p in policies]
    return {
        "applicable": True,
        "active_mode": all(p.get("driver") in ACTIVE_MODE_DRIVERS for p in policies),
        "governors": _group([(p["policy"], (p.get("before") or {}).get("governor")) for p in policies]),
        "epp": _group(epp) if any(value is not None for _policy, value in epp) else None,
    }


# --- USE_NUMA in the environment files -------------------------------------------------


def use_numa_files_drift(enabled, files, environment_file=ENVIRONMENT_FILE):
    """The managed files whose USE_NUMA lines differ from the decision.

    files: [(path, lines)] with lines the file's raw lines that define USE_NUMA, or None when
    the file does not exist. On: each file holds exactly one line, USE_NUMA=1 (the
    environment file is created when missing; other files are never created). Off: no file
    defines USE_NUMA at all, since the build treats any value, 0 included, as on.
    Returns [{"file", "expected", "found": [lines] or None}].
    """
    drift = []
    for path, lines in files:
        if lines is None:
            if enabled and path == environment_file:
                drift.append({"file": path, "expected": [USE_NUMA_ON_LINE], "found": None})
            continue
        expected = [USE_NUMA_ON_LINE] if enabled else []
        if list(lines) != expected:
            drift.append({"file": path, "expected": expected, "found": list(lines)})
    return drift


def use_numa_files_from_state(state_files, paths):
    """[(path, lines)] for the given paths from managed_state's files (line_pattern read)."""
    files = []
    for path in paths:
        state = (state_files or {}).get(path) or {}
        files.append((path, state.get("matching_lines", []) if state.get("exists") else None))
    return files


def use_numa_files_from_host(use_numa):
    """[(path, lines)] from host_state.read_use_numa."""
    by_file = {}
    for definition in use_numa.get("definitions", []):
        by_file.setdefault(definition["file"], []).append(definition.get("text", definition["line"]))
    return [(entry["file"], by_file.get(entry["file"], []) if entry.get("exists") else None)
            for entry in use_numa.get("files", [])]


def describe_use_numa_drift(drift):
    def found(item):
        if item["found"] is None:
            return "%s missing" % item["file"]
        return "%s: %s" % (item["file"], ", ".join(item["found"]) or "USE_NUMA not defined")
    return "; ".join(found(item) for item in drift)


# --- page cache: the job -------------------------------------------------------------

DROP_SCRIPT = "/usr/local/sbin/ktune-drop-caches"
SCHEDULE_FIELDS = ("minute", "hour", "day", "month", "weekday")


def drop_caches_argv(settings):
    """The job's command line: the page_cache role writes it to the cron file (shell-quoted),
    the audit expects it there."""
    settings = settings or {}
    level = settings.get("ktune_drop_caches_level", 3)
    try:
        level = int(level)
    except (TypeError, ValueError):
        pass  # the role's checks refuse it; the audit then shows it as found
    argv = [DROP_SCRIPT, "--level", str(level),
            "--procfs-root", str(settings.get("ktune_procfs_root") or "/proc")]
    if settings.get("ktune_drop_caches_skip_unit"):
        argv += ["--skip-unit", str(settings["ktune_drop_caches_skip_unit"]),
                 "--skip-state", str(settings.get("ktune_drop_caches_skip_state") or "activating")]
    return argv


def drop_caches_schedule(settings):
    defaults = {"minute": "43", "hour": "*", "day": "*", "month": "*", "weekday": "*"}
    return [str((settings or {}).get("ktune_drop_caches_" + field, defaults[field])) for field in SCHEDULE_FIELDS]


# --- page cache: the cron daemon ------------------------------------------------------


def cron_units(settings):
    """The cron daemon units that may run the job: ktune_cron_service's, else every known family's."""
    service = (settings or {}).get("ktune_cron_service")
    if service:
        return [service + ".service"]
    return sorted(set(daemon["service"] + ".service" for daemon in CRON_DAEMONS.values()))


def cron_daemons_running(units, candidates):
    """The candidate units that are loaded, active and enabled at boot (a job needs all three:
    active alone stops at the next reboot).

    units: {unit: {"load_state", "active_state", "unit_file_state"}}; a unit missing from it is
    not installed.
    """
    running = []
    for unit in candidates:
        state = (units or {}).get(unit) or {}
        if (state.get("load_state") == "loaded" and state.get("active_state") == "active"
                and state.get("unit_file_state") == "enabled"):
            running.append(unit)
    return running


def describe_cron_units(units, candidates):
    states = ["%s %s, %s at boot" % (unit, units[unit].get("active_state"), units[unit].get("unit_file_state"))
              for unit in candidates if (units or {}).get(unit, {}).get("load_state") == "loaded"]
    return ", ".join(states) or "no cron unit installed"


# --- NUMA kernel settings -------------------------------------------------------------


def _as_int(value):
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^\s*[0-9]+\s*\Z", value):
        return int(value)
    raise ValueError(value)


def numa_sysctl_problems(settings):
    """Why ktune_numa_balancing / ktune_zone_reclaim_mode cannot be applied, naming the variable."""
    problems = []
    for name, variable, low, high, meaning in NUMA_SYSCTLS:
        value = (settings or {}).get(variable, 0)
        try:
            number = _as_int(value)
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            problems.append("%s = %r is not a %s value: expected an integer %d-%d (%s)"
                            % (variable, value, name, low, high, meaning))
    return problems


def numa_sysctls_wanted(settings):
    """{sysctl name: int} from the settings; raises ValueError naming the variable when invalid."""
    problems = numa_sysctl_problems(settings)
    if problems:
        raise ValueError("; ".join(problems))
    return dict((name, _as_int((settings or {}).get(variable, 0))) for name, variable, _low, _high, _doc in NUMA_SYSCTLS)


def numa_sysctls_live_drift(wanted, live):
    """'name = X live, expected Y' for each setting the running kernel has at another value
    (a key the kernel lacks is not drift: it is persisted for kernels that have it)."""
    wrong = []
    for name in sorted(wanted):
        value = (live or {}).get(name)
        if value is not None and str(value).strip() != str(wanted[name]):
            wrong.append("%s = %s live, expected %d" % (name, value, wanted[name]))
    return wrong


# --- transparent hugepages ------------------------------------------------------------

THP_MODES = ("always", "madvise", "never")
THP_VARIABLE = "ktune_transparent_hugepage"
THP_ENABLED = "kernel/mm/transparent_hugepage/enabled"  # sysfs.THP_ENABLED, restated: nothing host-side here
# Kept across reboots by systemd-tmpfiles (systemd-tmpfiles-setup.service writes it at boot).
THP_PERSIST_FILE = "/etc/tmpfiles.d/ktune-transparent-hugepage.conf"
THP_PERSIST_HEADER = "# Written by ktune.inference (ktune_transparent_hugepage); systemd-tmpfiles applies it at boot."


def transparent_hugepage_problems(settings):
    """Why ktune_transparent_hugepage cannot be applied, naming the variable (unset is fine)."""
    value = (settings or {}).get(THP_VARIABLE)
    if value is None or value == "" or value in THP_MODES:
        return []
    return ["%s = %r is not a transparent hugepage mode: expected always, madvise or never "
            "(or unset to leave the host alone)" % (THP_VARIABLE, value)]


def transparent_hugepage_wanted(settings):
    """The mode the host should run, or None when the setting is unset (the host is left alone);
    raises ValueError naming the variable when invalid."""
    problems = transparent_hugepage_problems(settings)
    if problems:
        raise ValueError(problems[0])
    return (settings or {}).get(THP_VARIABLE) or None


def transparent_hugepage_persist_lines(mode, enabled_file):
    """The tmpfiles.d file's lines that set enabled_file to mode at every boot."""
    return [THP_PERSIST_HEADER, "w %s - - - - %s" % (enabled_file, mode)]


def transparent_hugepage_persisted(lines, enabled_file):
    """The mode a tmpfiles.d file's lines write to enabled_file (systemd-tmpfiles takes the first
    line for a path), or None when no w line names it."""
    for line in lines or []:
        fields = line.split()
        if len(fields) >= 7 and fields[0] in ("w", "w+") and fields[1] == enabled_file:
            return " ".join(fields[6:])
    return None


def transparent_hugepage_drift(settings, reading):
    """{"wanted", "host": [..], "live": [..], "persisted": [..]}: what stops the change (a kernel
    without transparent hugepages), and what differs now and at boot.

    reading: {"file", "mode", "persist_file", "persist_lines"} (mode None without transparent
    hugepages, persist_lines None when the file is missing)."""
    wanted = transparent_hugepage_wanted(settings)
    found = {"wanted": wanted, "host": [], "live": [], "persisted": []}
    if wanted is None:
        return found
    if reading.get("mode") is None:
        found["host"].append("expected transparent hugepages (%s), found no %s: this kernel has none. Fix: unset %s "
                             "for this host" % (wanted, reading.get("file"), THP_VARIABLE))
        return found
    if reading["mode"] != wanted:
        found["live"].append("transparent hugepages %s live, expected %s (%s)" % (reading["mode"], wanted, reading["file"]))
    lines = reading.get("persist_lines")
    if lines != transparent_hugepage_persist_lines(wanted, reading["file"]):
        persisted = transparent_hugepage_persisted(lines, reading["file"])
        found["persisted"].append("transparent hugepages %s at boot, expected %s (%s)" % (
            "not kept" if lines is None else "%s kept" % persisted if persisted else "not kept (other content)",
            wanted, reading.get("persist_file")))
    return found


def _transparent_hugepage_reading(reading):
    """The THP reading from a registered judgement's reading: the mode from the NUMA layout's read
    (ktune_numa.transparent_hugepage), the persistence file's lines from the registry's files."""
    return {"file": os.path.join(reading.get("sysfs_root") or "/sys", THP_ENABLED),
            "mode": (reading.get("numa") or {}).get("transparent_hugepage"),
            "persist_file": THP_PERSIST_FILE, "persist_lines": (reading.get("files") or {}).get(THP_PERSIST_FILE)}


def _transparent_hugepage_verdict(settings, reading, part, ok):
    """concern_registry.JUDGE_CONTRACT for one part ("live" or "persisted") of transparent_hugepage_drift."""
    problems = transparent_hugepage_problems(settings)
    if problems or reading is None:
        return {"problems": problems}
    thp = _transparent_hugepage_reading(reading)
    drift = transparent_hugepage_drift(settings, thp)
    if drift["wanted"] is None:
        return {"problems": [], "skip": "%s unset: transparent hugepages are left as the host has them (%s)"
                % (THP_VARIABLE, thp["mode"] or "none")}
    return {"problems": [], "host": drift["host"], "drift": drift[part], "ok": ok % dict(thp, wanted=drift["wanted"])}


def transparent_hugepage_live(settings, reading):
    """memory.transparent_hugepage: the mode in force, and only that (issue 27: persistence is its own verdict)."""
    return _transparent_hugepage_verdict(settings, reading, "live",
                                         "transparent hugepages %(wanted)s live, as configured (%(file)s)")


def transparent_hugepage_boot(settings, reading):
    """memory.transparent_hugepage_persisted: the tmpfiles.d line that sets the mode at every boot."""
    return _transparent_hugepage_verdict(settings, reading, "persisted",
                                         "transparent hugepages %(wanted)s at boot (%(persist_file)s)")


# --- alerts ----------------------------------------------------------------------------


def alert_expectations(settings):
    """What the monitoring collector exports as the host's expected values (ktune_*_expected),
    decided by the same functions tune and the audit use, so no alert rule names a value.

    {"governor": str, "epp": {"active_mode": str or None, "other": str or None},
     "sysctls": {name: int}, "transparent_hugepage": mode or None}. The EPP depends on a host fact, whether the cpufreq driver runs in
    active mode: both answers are decided here and the collector picks the one its reading
    (cpufreq.in_active_mode) calls for; None means EPP is not managed there. Raises ValueError
    naming the variable when a NUMA kernel setting or the THP mode is invalid (the role checks that first).
    """
    return {
        "governor": expected_governor(settings),
        "epp": {"active_mode": epp_wanted(settings, True, True), "other": epp_wanted(settings, False, True)},
        "sysctls": numa_sysctls_wanted(settings),
        "transparent_hugepage": transparent_hugepage_wanted(settings),
    }
