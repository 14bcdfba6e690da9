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


ROLE_PARTS = {
    "nps_layout": {"host_problems": nps_layout_host_problems, "notes": nps_layout_notes},
    "numa_env": {"state_request": numa_env_state_request, "host_problems": numa_env_host_problems,
                 "drift_items": numa_env_drift_items, "notes": numa_env_notes, "exports": numa_env_exports,
                 "plan": numa_env_plan},
    "page_cache": {"state_request": page_cache_state_request, "sources": page_cache_sources,
                   "drift_items": page_cache_drift_items, "plan": page_cache_plan},
}


def python_part(role, part):
    """The Python function for a role's part, or None where the role has none here."""
    return ROLE_PARTS.get(role, {}).get(part)
