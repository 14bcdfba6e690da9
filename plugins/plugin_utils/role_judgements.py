# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning roles' judgement of a host in Python, one function per part and role, on the controller.

A role listed in ROLE_PARTS is judged here by the ktune.inference.judge action (tune.yml, rollout.yml,
the role's tasks/validate.yml), not by templating its variables; its vars/main.yml holds constants
only. Each part takes (settings, state, numa): settings {variable: value} of the role's argument
specification as Ansible resolved them (unset: the specification's default), state the host read
(ktune.inference.managed_state's result), numa the ktune_numa fact. The parts are those of
judgement.ROLE_VARIABLES: state_request (settings only), host_problems, drift_items, notes, exports,
and plan (what the role's tasks apply). A role whose files are compared with what it would write
also has sources: the role's files and templates the judge action renders, as the role's tasks would,
and passes to its other parts as rendered {path: content}.
A role not listed here still takes part through its variables (judgement.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.ktune.inference.plugins.filter.concerns import use_numa_files_drift
from ansible_collections.ktune.inference.plugins.filter.managed_state import (
    files_differ,
    sysctl_file_content,
    sysctl_values_differ,
)
from ansible_collections.ktune.inference.plugins.filter.numa import nps_layout_problems
from ansible_collections.ktune.inference.plugins.filter.use_numa import use_numa_decision
from ansible_collections.ktune.inference.plugins.module_utils import concern_registry as registry
from ansible_collections.ktune.inference.plugins.module_utils import concerns
from ansible_collections.ktune.inference.plugins.module_utils.concerns import (
    CRON_DAEMONS,
    DROP_SCRIPT,
    ENVIRONMENT_FILE,
    NUMA_SYSCTL_NAMES,
    NUMA_SYSCTL_VARIABLES,
    USE_NUMA_LINE_PATTERN,
    numa_sysctls_wanted,
)

KTRANSFORMERS_ENV_GLOB = "/etc/ktransformers/*.env"
KTRANSFORMERS_ENV_FILE = re.compile(r"^/etc/ktransformers/[^/]+[.]env\Z")


ANY_TEXT = r"\S"


def _add(known, items):
    known.extend(item for item in items if item not in known)


def reading_from_state(state, numa, sysfs_root, paths):
    """The reading a registered judgement takes, from managed_state's files (read with ANY_TEXT)."""
    files = {}
    for path in paths:
        found = ((state or {}).get("files") or {}).get(path) or {}
        files[path] = found.get("matching_lines", []) if found.get("exists") else None
    return {"sysfs_root": sysfs_root or "/sys", "numa": numa or {}, "files": files}


def role_judgement(entries, settings, sysfs_root, state=None, numa=None, judges=None):
    """The lookup's answer for the entries (registry controls) and settings {variable: value}."""
    judges = judges or concerns
    found = {"request": {"file_line_patterns": {}}, "problems": [], "host_problems": [], "drift": [],
             "drift_by_control": {}}
    for entry in entries:
        for path in entry.reads:
            found["request"]["file_line_patterns"][path] = ANY_TEXT
        _add(found["problems"], getattr(judges, entry.judge)(settings, None).get("problems") or [])
    if found["problems"] or state is None:
        return found
    for entry in entries:
        verdict = getattr(judges, entry.judge)(settings, reading_from_state(state, numa, sysfs_root, entry.reads))
        if verdict.get("skip"):
            continue
        _add(found["host_problems"], verdict.get("host") or [])
        if not verdict.get("host"):
            found["drift_by_control"][entry.id] = list(verdict.get("drift") or [])
            _add(found["drift"], verdict.get("drift") or [])
    return found


def registered_share(role, settings, state=None, numa=None):
    """The role's share of the registry's judgements (the audit's own functions, concern_registry.py)."""
    return role_judgement(registry.judged_by_role(role), settings, settings.get("ktune_sysfs_root") or "/sys",
                          state, numa)


def nps_layout_host_problems(settings, state, numa):
    """A layout other than the inventory's (host state: tune.yml fails this host only)."""
    return nps_layout_problems(numa, settings.get("ktune_expected_nodes_per_socket"),
                               settings.get("ktune_expected_sockets"), settings.get("ktune_allow_memory_only_nodes"),
                               settings.get("ktune_require_balanced_memory"))


def nps_layout_notes(settings, state, numa):
    """The verdict shown on every run."""
    asserted = "as expected" if settings.get("ktune_expected_nodes_per_socket") is not None \
        else "(no layout expected, not asserted)"
    return ["%s on %s sockets %s" % (numa.get("layout"), numa.get("sockets"), asserted)]


def numa_env_state_request(settings, state=None, numa=None):
    """What numa_env reads: /etc/environment, the ktransformers env files, its sysctl.d file (the
    USE_NUMA lines of each) and the running kernel's NUMA settings."""
    extra = settings.get("ktune_numa_env_extra_files")
    return {"files": [ENVIRONMENT_FILE] + (list(extra) if extra is not None else [KTRANSFORMERS_ENV_GLOB])
            + [settings.get("ktune_sysctl_file")],
            "line_pattern": USE_NUMA_LINE_PATTERN, "sysctls": list(NUMA_SYSCTL_NAMES),
            "file_line_patterns": registered_share("numa_env", settings)["request"]["file_line_patterns"]}


def _numa_env_decision(settings, numa):
    return use_numa_decision(numa, settings.get("ktune_use_numa"), settings.get("ktune_model_size_gb"),
                             settings.get("ktune_allow_memory_only_nodes"))


def _numa_env_files(settings, state):
    """/etc/environment always (created when USE_NUMA is on), plus the env files that exist."""
    extra = settings.get("ktune_numa_env_extra_files")

    def managed(path):
        return path in extra if extra is not None else KTRANSFORMERS_ENV_FILE.match(path) is not None
    found = sorted(path for path, info in ((state or {}).get("files") or {}).items()
                   if (info or {}).get("type") == "file" and managed(path))
    return [ENVIRONMENT_FILE] + found


def numa_env_plan(settings, state, numa):
    """What the role's tasks apply: the env files whose USE_NUMA lines differ (on: exactly
    USE_NUMA=1; off: none, as the audit's use_numa.policy judges), the kernel settings and whether
    their file and running values are in place."""
    state = state or {}
    wanted = numa_sysctls_wanted(dict((name, settings.get(name)) for name in NUMA_SYSCTL_VARIABLES))
    use_numa_drift = use_numa_files_drift(state.get("files") or {}, _numa_env_decision(settings, numa)["enabled"],
                                          _numa_env_files(settings, state))
    sysctl_file = {"path": settings.get("ktune_sysctl_file"), "mode": "0644", "owner": "root", "group": "root",
                   "content": sysctl_file_content(wanted)}
    sysctls_differences = (files_differ(state.get("files") or {}, [sysctl_file])
                           + sysctl_values_differ(state.get("sysctls") or {}, wanted))
    return {"files": _numa_env_files(settings, state), "line_pattern": USE_NUMA_LINE_PATTERN,
            "use_numa_drift": use_numa_drift, "files_in_place": not use_numa_drift, "sysctls": wanted,
            "sysctls_differences": sysctls_differences, "sysctls_in_place": not sysctls_differences,
            "drift_by_control": registered_share("numa_env", settings, state, numa)["drift_by_control"]}


def numa_env_host_problems(settings, state, numa):
    """Where a NUMA build cannot work on this host (host state: tune.yml fails this host only)."""
    return _numa_env_decision(settings, numa)["problems"] + registered_share("numa_env", settings, state, numa)["host_problems"]


def numa_env_drift_items(settings, state, numa):
    plan = numa_env_plan(settings, state, numa)
    use_numa = ["%s: USE_NUMA lines %s, expected %s"
                % (entry["file"], json.dumps(entry.get("found") or []), json.dumps(entry["expected"]))
                for entry in plan["use_numa_drift"]]
    return use_numa + plan["sysctls_differences"] + registered_share("numa_env", settings, state, numa)["drift"]


def numa_env_notes(settings, state, numa):
    """The USE_NUMA decision, and kernel settings persisted for kernels that have them."""
    decision = _numa_env_decision(settings, numa)
    running = (state or {}).get("sysctls") or {}
    wanted = numa_sysctls_wanted(dict((name, settings.get(name)) for name in NUMA_SYSCTL_VARIABLES))
    missing = ["the running kernel has no %s (%s/sys/%s does not exist); persisted with a leading - so it is "
               "skipped at boot" % (name, settings.get("ktune_procfs_root"), name.replace(".", "/"))
               for name in wanted if name in running and running[name] is None]
    notes = ["USE_NUMA %s: %s" % ("on (USE_NUMA=1)" if decision["enabled"] else "off (USE_NUMA absent)",
                                  decision["reason"])]
    if missing:
        notes.append("not applicable, persisted for kernels that have them: " + "; ".join(missing))
    return notes


def numa_env_exports(settings, state, numa):
    """For the roles that follow (the service role's env files)."""
    return {"ktune_use_numa_enabled": bool(_numa_env_decision(settings, numa)["enabled"])}


# No dot in the name: Debian's cron ignores /etc/cron.d files whose names contain one.
PAGE_CACHE_CRON_FILE = "/etc/cron.d/ktune-drop-caches"
# What the page_cache role writes: the script (the role's file, verbatim) and the cron job (its template).
PAGE_CACHE_FILES = (
    {"path": DROP_SCRIPT, "mode": "0755", "owner": "root", "group": "root", "file": "ktune-drop-caches"},
    {"path": PAGE_CACHE_CRON_FILE, "mode": "0644", "owner": "root", "group": "root",
     "template": "ktune-drop-caches.cron.j2"},
)


def page_cache_state_request(settings, state=None, numa=None):
    """The job's two files and the cron daemon units that may run it."""
    return {"files": [entry["path"] for entry in PAGE_CACHE_FILES], "units": concerns.cron_units(settings)}


def page_cache_sources(settings, state=None, numa=None):
    """The files to render as the role writes them, and what its cron template takes: the job's
    command line, the one the audit's page_cache.cron expects."""
    return {"files": list(PAGE_CACHE_FILES), "variables": {"page_cache_cron_argv": concerns.drop_caches_argv(settings)}}


def _page_cache_files_present(files):
    """With the job absent: its files that still exist (or were not read)."""
    return ["%s: present, expected absent" % entry["path"] for entry in PAGE_CACHE_FILES
            if not ("exists" in (files.get(entry["path"]) or {}) and not files[entry["path"]]["exists"])]


def page_cache_plan(settings, state, numa, rendered=None):
    """What the role's tasks apply: the cron daemon (running now and enabled at boot, as the audit's
    page_cache.cron judges it), the job's files that differ from what the role writes (present), or
    that still exist (absent)."""
    state = state or {}
    units = concerns.cron_units(settings)
    running = bool(concerns.cron_daemons_running(state.get("units") or {}, units))
    wanted = [dict((key, entry[key]) for key in ("path", "mode", "owner", "group")) for entry in PAGE_CACHE_FILES]
    # Without the rendered files (a caller other than the judge) their differences are not known.
    differences = None if rendered is None else files_differ(state.get("files") or {}, wanted,
                                                             [rendered[entry["path"]] for entry in wanted])
    return {"script": DROP_SCRIPT, "cron_file": PAGE_CACHE_CRON_FILE, "cron_daemons": CRON_DAEMONS,
            "cron_units": units, "cron_running": running, "cron_argv": concerns.drop_caches_argv(settings),
            "files_differences": differences, "files_present": _page_cache_files_present(state.get("files") or {}),
            # What --diff shows of the script it replaces (checksum and mode, not its lines).
            "script_found": (state.get("files") or {}).get(DROP_SCRIPT) or {}}


def page_cache_drift_items(settings, state, numa, rendered=None):
    plan = page_cache_plan(settings, state, numa, rendered)
    if settings.get("ktune_drop_caches_state") != "present":
        return plan["files_present"]
    daemon = [] if plan["cron_running"] else [
        "cron daemon: none of %s is active and enabled at boot" % ", ".join(plan["cron_units"])]
    return daemon + plan["files_differences"]


CPUFREQ_UNIT = "ktune-cpufreq.service"
# tuned keeps its active profile's name there (tuned-adm active reads it too).
TUNED_PROFILE_FILE = "/etc/tuned/active_profile"
# What the persistence step (tasks/persist.yml) writes, each from the role's template.
CPU_GOVERNOR_PERSIST_FILES = (
    {"path": "/usr/local/sbin/ktune-cpufreq-apply", "template": "ktune-cpufreq-apply.sh.j2", "mode": "0755"},
    {"path": "/etc/default/ktune-cpufreq", "template": "ktune-cpufreq.env.j2", "mode": "0644"},
    {"path": "/etc/systemd/system/" + CPUFREQ_UNIT, "template": "ktune-cpufreq.service.j2", "mode": "0644"},
)


def cpu_governor_state_request(settings, state=None, numa=None):
    """The persistence files and unit, tuned, its active profile and the cpufreq check-mode plan."""
    return {"files": [entry["path"] for entry in CPU_GOVERNOR_PERSIST_FILES],
            "units": ["tuned.service", CPUFREQ_UNIT],
            "file_line_patterns": {TUNED_PROFILE_FILE: ANY_TEXT},
            "cpufreq": {"governor": settings.get("ktune_cpu_governor"),
                        "energy_performance_preference": settings.get("ktune_cpu_epp"),
                        "min_freq_khz": settings.get("ktune_cpu_min_freq_khz"),
                        "boost": settings.get("ktune_cpu_boost")}}


def _cpufreq_plan(state):
    return (state or {}).get("cpufreq") or {"applicable": False, "reason": "the host's cpufreq was not read"}


def _cpu_governor_drift(settings, state):
    """Which policies run another governor or EPP, and the EPP to set: the audit's judgement."""
    return concerns.cpufreq_drift({"ktune_cpu_governor": settings.get("ktune_cpu_governor"),
                                   "ktune_cpu_epp": settings.get("ktune_cpu_epp")},
                                  concerns.cpufreq_reading_from_plan(_cpufreq_plan(state)))


def _tuned(state):
    """Whether tuned runs, and its active profile ('' when unknown)."""
    state = state or {}
    active = ((state.get("units") or {}).get("tuned.service") or {}).get("active_state") == "active"
    lines = ((state.get("files") or {}).get(TUNED_PROFILE_FILE) or {}).get("matching_lines") or []
    return active, (lines[0].strip() if lines else "")


def _tuned_drift(settings, state):
    """What tuned's state needs: stopping (disable), another profile (profile); with fail, tuned
    active is a host problem and nothing is listed here."""
    active, profile = _tuned(state)
    action, wanted = settings.get("ktune_tuned_action"), settings.get("ktune_tuned_profile")
    if not active:
        return []
    if action == "disable":
        return ["tuned.service: active, expected stopped and disabled (ktune_tuned_action: disable)"]
    if action == "profile" and profile != wanted:
        return ["tuned profile: %s, expected %s" % (profile or "unknown", wanted)]
    return []


def cpu_governor_sources(settings, state=None, numa=None):
    """The persistence files, rendered from the role's templates with the EPP to set."""
    return {"files": list(CPU_GOVERNOR_PERSIST_FILES),
            "variables": {"cpu_governor_epp": _cpu_governor_drift(settings, state)["epp_wanted"]}}


def cpu_governor_plan(settings, state, numa, rendered=None):
    """What the role's tasks apply: the cpufreq plan of the read, the audit's governor and EPP
    verdicts, tuned's state, and whether the persistence files and unit need writing."""
    state = state or {}
    cpufreq = _cpufreq_plan(state)
    tuned_active, tuned_profile = _tuned(state)
    files = state.get("files") or {}
    unit = (state.get("units") or {}).get(CPUFREQ_UNIT) or {}
    wanted = [{"path": entry["path"], "mode": entry["mode"], "owner": "root", "group": "root"}
              for entry in CPU_GOVERNOR_PERSIST_FILES]
    # Without the rendered files (a caller other than the judge) their differences are not known.
    differences = None if rendered is None else (
        files_differ(files, wanted, [rendered[entry["path"]] for entry in wanted])
        + ([] if unit.get("unit_file_state") == "enabled" else [CPUFREQ_UNIT + ": not enabled at boot"]))
    drift = _cpu_governor_drift(settings, state)
    return {"cpufreq": cpufreq, "drift": drift, "epp": drift["epp_wanted"],
            "tuned_active": tuned_active, "tuned_profile": tuned_profile,
            "persist_files": [{"dest": entry["path"], "src": entry["template"], "mode": entry["mode"]}
                              for entry in CPU_GOVERNOR_PERSIST_FILES],
            "persist_wanted": bool(cpufreq.get("applicable") and settings.get("ktune_cpu_governor_persist")
                                   and not (tuned_active and settings.get("ktune_tuned_action") == "profile")),
            "persist_differences": differences,
            "unit_installed": bool((files.get(CPU_GOVERNOR_PERSIST_FILES[2]["path"]) or {}).get("exists"))}


def cpu_governor_host_problems(settings, state, numa, rendered=None):
    """Host state, not input (tune.yml fails this host only): bare metal without a cpufreq driver,
    tuned running while the settings say fail."""
    cpufreq = _cpufreq_plan(state)
    problems = [cpufreq.get("msg")] if cpufreq.get("bare_metal") else []
    if _tuned(state)[0] and settings.get("ktune_tuned_action") == "fail":
        problems.append("tuned is active and also sets the CPU governor; two setters fight and the last one wins at "
                        "random. Expected tuned inactive, found it active. Fix: set ktune_tuned_action to \"disable\" "
                        "(stop and disable tuned) or to \"profile\" (switch tuned to %s, which keeps the performance "
                        "governor)" % settings.get("ktune_tuned_profile"))
    return problems


def cpu_governor_drift_items(settings, state, numa, rendered=None):
    """What the role would change, one line per item."""
    plan = cpu_governor_plan(settings, state, numa, rendered)
    cpufreq = plan["cpufreq"]
    items = _tuned_drift(settings, state)
    if cpufreq.get("applicable"):
        items += (["governor " + entry for entry in plan["drift"]["governor"]]
                  + ["EPP " + entry for entry in plan["drift"]["epp"]] + list(cpufreq.get("changes") or []))
    return items + (plan["persist_differences"] if plan["persist_wanted"] else [])


def cpu_governor_notes(settings, state, numa, rendered=None):
    cpufreq = _cpufreq_plan(state)
    if cpufreq.get("applicable"):
        return []
    return ["cpufreq not applicable (%s); nothing to set or persist" % cpufreq.get("reason")]


ROLE_PARTS = {
    "nps_layout": {"host_problems": nps_layout_host_problems, "notes": nps_layout_notes},
    "numa_env": {"state_request": numa_env_state_request, "host_problems": numa_env_host_problems,
                 "drift_items": numa_env_drift_items, "notes": numa_env_notes, "exports": numa_env_exports,
                 "plan": numa_env_plan},
    "page_cache": {"state_request": page_cache_state_request, "sources": page_cache_sources,
                   "drift_items": page_cache_drift_items, "plan": page_cache_plan},
    "cpu_governor": {"state_request": cpu_governor_state_request, "sources": cpu_governor_sources,
                     "host_problems": cpu_governor_host_problems, "drift_items": cpu_governor_drift_items,
                     "notes": cpu_governor_notes, "plan": cpu_governor_plan},
}


def python_part(role, part):
    """The Python function for a role's part, or None where the role has none here."""
    return ROLE_PARTS.get(role, {}).get(part)
