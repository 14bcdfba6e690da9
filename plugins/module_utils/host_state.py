# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only snapshot of what the tuning roles manage on a host, for the fleet audit.

Read by ktune.inference.managed_state's ``host_state`` option (and the deprecated host_facts
module, the same code under its old option names). Every reader here only opens files for
reading (or runs ``systemctl show``/an HTTP GET, through callables the module passes in):
the audit must never change a host. Each section is read on its own, so one unreadable file
does not hide the rest; a section that fails is reported as ``{"error": "<file>: <problem>"}``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import re
import shlex

from ansible_collections.ktune.inference.plugins.module_utils.cpufreq import (
    dmi_identity,
    driver_summary,
    in_active_mode,
    not_applicable_reason,
    read_policies,
    virtualization,
)
from ansible_collections.ktune.inference.plugins.module_utils.concern_registry import READ_FILES
from ansible_collections.ktune.inference.plugins.module_utils.concerns import NUMA_SYSCTL_NAMES, USE_NUMA_LINE_PATTERN
from ansible_collections.ktune.inference.plugins.module_utils.cpulist import format_cpulist
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
from ansible_collections.ktune.inference.plugins.module_utils.sysctl import display_value, read_runtime, validate_name
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import (
    NUMA_MAPS_LIMIT,
    HostFileError,
    parse_decimal,
    read_config_file,
    read_text,
)

CRON_FILE = "/etc/cron.d/ktune-drop-caches"
SYSCTL_FILE = "/etc/sysctl.d/90-ktune-numa.conf"
ENVIRONMENT_FILE = "/etc/environment"
ENV_DIR = "/etc/ktransformers"
# Left by playbooks/remove.yml on a host it removed ktune from, deleted by tune: the audit grades
# such a host "not managed" instead of failing it on everything remove took away.
REMOVED_MARKER = "/var/lib/ktune-removed"
MANAGED_SYSCTLS = NUMA_SYSCTL_NAMES
CRON_UNITS = ("cron.service", "crond.service", "cronie.service")
SHOW_PROPERTIES = ("Id", "LoadState", "ActiveState", "SubState", "UnitFileState", "MainPID")
# SERVICES_ONLY: the service role's instance resolution (module_utils.ktransformers) and urllib are
# imported where the services section needs them, not with this module: managed_state loads it
# for every read (its host_state argument spec), and tune's reads never ask for the services.

# The same definitions the numa_env role removes: "USE_NUMA", "USE_NUMA=x", "export USE_NUMA=x".
USE_NUMA_LINE = re.compile(USE_NUMA_LINE_PATTERN)
ENV_ASSIGNMENT = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\s*=")
SYSCTL_LINE = re.compile(r"^\s*(-?)\s*([A-Za-z0-9_.\-/]+)\s*=\s*(.*?)\s*\Z")


def section(reader, *args):
    """Run one reader; turn a HostFileError (or a missing file) into {"error": ...}."""
    try:
        return reader(*args)
    except HostFileError as exc:
        return {"error": str(exc)}
    except (IOError, OSError) as exc:
        return {"error": "%s: cannot read (%s)" % (getattr(exc, "filename", None) or "?", exc.strerror or exc)}


# --- cpufreq ---------------------------------------------------------------------


def _group(policies, key):
    """{value: "policy cpulist"} for the policies' state[key], skipping None values."""
    groups = {}
    for policy in policies:
        value = policy["state"][key]
        if value is not None:
            groups.setdefault(value, []).append(policy["number"])
    return dict((value, format_cpulist(numbers)) for value, numbers in groups.items())


def _common(policies, key):
    """Values every active policy offers (available governors or EPP choices)."""
    sets = [set(policy[key] or []) for policy in policies]
    return sorted(set.intersection(*sets)) if sets else []


def read_cpufreq(sysfs_root, procfs_root="/proc"):
    """Governor and EPP per group of policies; applicable False without cpufreq, with
    ``virtual`` (why it is a VM or container) or ``bare_metal`` True (its driver did not load)."""
    policies = [policy for policy in read_policies(sysfs_root) if policy["active"]]
    if not policies:
        virtual = virtualization(sysfs_root, procfs_root)
        return {"applicable": False, "policy_count": 0, "reason": not_applicable_reason(sysfs_root),
                "virtual": virtual, "bare_metal": virtual is None, "dmi": dmi_identity(sysfs_root)}
    has_epp = any(policy["state"]["epp"] is not None for policy in policies)
    return {
        "applicable": True,
        "policy_count": len(policies),
        "driver": driver_summary(policies),
        "active_mode": in_active_mode(policies),
        "governors": _group(policies, "governor"),
        "available_governors": _common(policies, "governors"),
        "epp": _group(policies, "epp") if has_epp else None,
        "epp_choices": _common(policies, "epp_choices") if has_epp else None,
    }


# --- page-cache cron job -----------------------------------------------------------


def parse_cron_file(text):
    """The job lines of an /etc/cron.d file: schedule, user, command and its argv."""
    jobs = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or ENV_ASSIGNMENT.match(stripped):
            continue
        words = stripped.split(None, 6)
        if len(words) < 7:
            jobs.append({"line": stripped, "malformed": True})
            continue
        try:
            argv = shlex.split(words[6])
        except ValueError:
            argv = words[6].split()
        jobs.append({"line": stripped, "malformed": False, "schedule": words[:5], "user": words[5],
                     "command": words[6], "argv": argv})
    return jobs


def read_cron_job(cron_file):
    """Whether the job file exists, its jobs, and whether each job's script is executable."""
    text = read_config_file(cron_file)
    if text is None:
        return {"path": cron_file, "present": False, "jobs": []}
    jobs = parse_cron_file(text)
    for job in jobs:
        if job.get("argv"):
            script = job["argv"][0]
            job["script"] = script
            job["script_executable"] = os.path.isfile(script) and os.access(script, os.X_OK)
    return {"path": cron_file, "present": True, "jobs": jobs}


def read_cron_daemon(units, show_units):
    """ActiveState and UnitFileState of the cron daemon units that exist; None when systemd
    cannot be asked (the job's content is still graded)."""
    try:
        states = show_units(list(units))
    except OSError as exc:
        return {"units": None, "unknown": str(exc)}
    return {"units": dict((unit, {"load_state": state.get("LoadState"), "active_state": state.get("ActiveState"),
                                  "unit_file_state": state.get("UnitFileState")})
                          for unit, state in states.items() if state.get("LoadState") == "loaded")}


# --- USE_NUMA ----------------------------------------------------------------------


def _unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def find_use_numa(path, text):
    """Every USE_NUMA definition in one environment file: {file, line_number, line, value}."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        match = USE_NUMA_LINE.match(line)
        if match:
            value = match.group("value")
            found.append({"file": path, "line_number": number, "line": line.strip(), "text": line,
                          "value": None if value is None else _unquote(value)})
    return found


def env_file_list(environment_file, env_dir, extra_files):
    """/etc/environment plus the listed files, or the existing <env_dir>/*.env (as the numa_env role)."""
    if extra_files is None:
        extra = sorted(glob.glob(os.path.join(env_dir, "*.env")))
    else:
        extra = list(extra_files)
    files = [environment_file]
    for path in extra:
        if path not in files:
            files.append(path)
    return files


def read_use_numa(files):
    """Which files exist, and every USE_NUMA definition in them."""
    checked, definitions = [], []
    for path in files:
        text = read_config_file(path)
        checked.append({"file": path, "exists": text is not None})
        if text is not None:
            definitions += find_use_numa(path, text)
    return {"files": checked, "definitions": definitions}


# --- sysctls -----------------------------------------------------------------------


def parse_sysctl_file(text):
    """{name: value} of a sysctl.d file; a leading '-' (ignore if missing) is dropped."""
    values = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        match = SYSCTL_LINE.match(stripped)
        if match:
            values[match.group(2).replace("/", ".")] = display_value(" ".join(match.group(3).split()))
    return values


def read_sysctls(procfs_root, sysctl_file, names):
    """Live values (None where the kernel lacks the key) and what the persisted file says."""
    live = {}
    for name in names:
        live[name] = display_value(read_runtime(procfs_root, name)[1])
    text = read_config_file(sysctl_file)
    return {"file": sysctl_file, "file_present": text is not None,
            "persisted": parse_sysctl_file(text) if text is not None else {}, "live": live}


# --- the files the registry's judgements read ------------------------------------------


def read_lines(paths):
    """{path: its non-blank lines, or None when it is missing}, as managed_state's file_line_patterns
    with \\S return them to tune."""
    found = {}
    for path in paths:
        text = read_config_file(path)
        found[path] = None if text is None else [line for line in text.splitlines() if line.strip()]
    return found


# --- ktransformers services --------------------------------------------------------


def expected_instances(instances, numa, settings):
    """Units and health URLs of the configured instances (as the service role derives them).

    Returns (instances, error): when the settings do not resolve (the role would refuse them),
    the units still come from the names and the error says why.
    """
    if not instances:
        return [], None
    from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import (  # SERVICES_ONLY
        InstanceError,
        listen_exposure,
        resolve_instances,
    )
    try:
        resolved = resolve_instances(instances, numa or {}, settings)
        keys = ("name", "state", "unit", "health_url", "backend", "host", "port", "numactl", "numa_node", "numa_nodes",
                "kt_numa_nodes", "replica_of", "router_host", "router_port", "health_timeout_s",
                "kt_threadpool_count", "kt_weight_path", "kt_method", "kt_cpuinfer", "model_path")
        return [dict([(key, item.get(key)) for key in keys]
                     + [("exposure", listen_exposure(item) if item.get("state") == "present" else None)])
                for item in resolved], None
    except (InstanceError, KeyError, TypeError, ValueError) as exc:
        named = [raw for raw in instances if isinstance(raw, dict) and raw.get("name")]
        return ([{"name": raw["name"], "state": raw.get("state", "present"), "backend": raw.get("backend"),
                  "unit": "ktransformers@%s.service" % raw["name"], "health_url": None} for raw in named],
                "the ktransformers_service settings do not resolve: %s" % exc)


def parse_systemctl_show(text):
    """`systemctl show -p Id,LoadState,ActiveState,SubState,UnitFileState U...` into {Id: {...}}."""
    units = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if fields.get("Id"):
            units[fields["Id"]] = fields
    return units


def read_numa_resident(procfs_root, pid):
    """{node: resident kB} of a process from procfs_root/PID/numa_maps; None when it cannot be read."""
    from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import parse_numa_maps  # SERVICES_ONLY
    try:
        text = read_text(os.path.join(procfs_root, str(pid), "numa_maps"), NUMA_MAPS_LIMIT)
        return dict((str(node), kb) for node, kb in parse_numa_maps(text).items())
    except (HostFileError, ValueError):
        return None


def read_services(instances, show_units, probe, procfs_root=None, weights_root=None):
    """Each configured unit's systemd state and, for present instances, its health answer and
    (with weights_root) how its kt-kernel weights are cut against its thread pools.

    show_units(units) -> {unit: {LoadState, ActiveState, SubState, UnitFileState}} or raises
    OSError when systemd cannot be asked; probe(url) -> (status code or None, message).
    """
    if not instances:
        return {"units": []}
    try:
        states = show_units([item["unit"] for item in instances])
        systemd_error = None
    except OSError as exc:
        states, systemd_error = {}, str(exc)
    units = []
    for item in instances:
        state = states.get(item["unit"], {})
        entry = dict(item, load_state=state.get("LoadState"), active_state=state.get("ActiveState"),
                     sub_state=state.get("SubState"), unit_file_state=state.get("UnitFileState"),
                     health_status=None, health_message=None)
        if item.get("state", "present") == "present" and item.get("health_url"):
            entry["health_status"], entry["health_message"] = probe(item["health_url"])
        if weights_root and item.get("state", "present") == "present":
            from ansible_collections.ktune.inference.plugins.module_utils.kt_weights import (  # SERVICES_ONLY
                weight_split_finding,
            )
            entry["weights_split"] = weight_split_finding(weights_root, item)
        pid = parse_decimal(str(state.get("MainPID") or ""))
        if procfs_root and item.get("state", "present") == "present" and pid and pid > 0:
            entry["main_pid"] = pid
            entry["numa_resident_kb"] = read_numa_resident(procfs_root, pid)
        units.append(entry)
    result = {"units": units}
    if systemd_error:
        result["systemd_error"] = systemd_error
    return result


ROUTER_TEXT_LIMIT = 300


def _kept_worker(worker):
    """url and status when they are strings (cut to ROUTER_TEXT_LIMIT), is_healthy when a boolean; None
    otherwise, so the judgement names an entry without a URL instead of tripping on it."""
    worker = worker if isinstance(worker, dict) else {}
    kept = {"is_healthy": worker.get("is_healthy") if isinstance(worker.get("is_healthy"), bool) else None}
    for key in ("url", "status"):
        value = worker.get(key)
        kept[key] = value[:ROUTER_TEXT_LIMIT] if isinstance(value, str) else None
    return kept


def read_routers(instances, show_units, fetch_json):
    """Each sharded entry's router (router.router_plan of the instances) with its unit's state and
    its own worker list: smg's GET /workers on the router's address (loopback by default).

    fetch_json(url) -> (parsed JSON or None, error). Only what the judgement needs of each worker is
    kept (url, is_healthy, status): the answer is data from the host, and stays small.
    """
    from ansible_collections.ktune.inference.plugins.module_utils.router import router_plan  # SERVICES_ONLY
    routers = router_plan(instances)
    if not routers:
        return []
    try:
        states = show_units([router["unit"] for router in routers])
    except OSError:
        states = {}
    read = []
    for router in routers:
        answer, error = fetch_json(router["workers_url"])
        if isinstance(answer, dict) and isinstance(answer.get("workers"), list):
            answer = {"workers": [_kept_worker(worker) for worker in answer["workers"]]}
        elif answer is not None:
            answer, error = {}, "not smg's worker list"
        keep = ("name", "unit", "host", "port", "workers", "replica_units", "workers_url")
        read.append(dict([(key, router[key]) for key in keep],
                         active_state=states.get(router["unit"], {}).get("ActiveState"),
                         answer=answer, answer_error=error))
    return read


# --- everything --------------------------------------------------------------------


def read_removal(marker):
    """{"removed": whether playbooks/remove.yml left its marker, "note": what it says}."""
    text = read_config_file(marker)
    return {"marker": marker, "removed": text is not None, "note": " ".join((text or "").split())[:200]}


def gather_host_state(params, show_units, probe, numa=None, fetch_json=None):
    """The whole snapshot; params are the host_state options with sysfs_root and procfs_root.

    numa: the layout when the caller has read it already (it is not read twice); fetch_json reads
    the routers' worker lists (read_routers), none are read without it."""
    if numa is None:
        numa = section(gather_numa_facts, params["sysfs_root"], params["procfs_root"])
    env_files = env_file_list(params["environment_file"], params["env_dir"], params["extra_env_files"])
    instances, instances_error = expected_instances(params["instances"], numa if "error" not in numa else {},
                                                    params["service_settings"])
    services = section(read_services, instances, show_units, probe, params["procfs_root"],
                       params.get("weights_root") or "/")
    page_cache = section(read_cron_job, params["cron_file"])
    if page_cache.get("present") and params.get("cron_units"):
        page_cache["daemon"] = read_cron_daemon(params["cron_units"], show_units)
    if instances_error:
        services["instances_error"] = instances_error
    elif fetch_json is not None and "error" not in services:
        routers = read_routers(instances, show_units, fetch_json)
        if routers:
            services["routers"] = routers
    return {
        "numa": numa,
        "cpufreq": section(read_cpufreq, params["sysfs_root"], params["procfs_root"]),
        "page_cache": page_cache,
        "use_numa": section(read_use_numa, env_files),
        "sysctl": section(read_sysctls, params["procfs_root"], params["sysctl_file"], params["sysctls"]),
        "services": services,
        "removal": section(read_removal, params["removed_marker"]),
        "files": section(read_lines, READ_FILES),
        "sysfs_root": params["sysfs_root"],
    }


def http_prober(timeout):
    """probe(url) -> (HTTP status or None, text): a direct GET, never through a proxy (the health
    URLs are local to the host), no redirect followed, the status within TIMEOUT seconds however
    slowly the service answers. Shared by the host state read and service_health."""
    from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError  # see SERVICES_ONLY
    from ansible_collections.ktune.inference.plugins.module_utils.local_http import local_opener  # SERVICES_ONLY
    opener = local_opener()

    def probe(url):
        try:
            response = opener.open(url, timeout=timeout)
            response.close()  # the status is the answer: the body is never waited for
            return response.getcode(), "HTTP %d" % response.getcode()
        except HTTPError as exc:
            return exc.code, http_error_text(exc)
        except (URLError, OSError, ValueError) as exc:
            return None, str(getattr(exc, "reason", None) or exc)
    return probe


def http_error_text(exc):
    """'HTTP 404 Not Found', or for a 3xx 'HTTP 302 Found (a redirect, not followed)'."""
    redirect = " (a redirect, not followed)" if 300 <= exc.code < 400 else ""
    return "HTTP %d %s%s" % (exc.code, exc.reason, redirect)


ROUTER_ANSWER_LIMIT = 1 << 20


def http_json_reader(timeout, limit=ROUTER_ANSWER_LIMIT):
    """fetch_json(url) -> (parsed JSON or None, error): a direct GET (never through a proxy), the
    answer read up to LIMIT bytes, all within TIMEOUT seconds, no redirect followed. For the routers'
    worker lists on the host's own addresses."""
    from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError  # see SERVICES_ONLY
    from ansible_collections.ktune.inference.plugins.module_utils.local_http import local_opener  # SERVICES_ONLY
    opener = local_opener()

    def fetch_json(url):
        try:
            response = opener.open(url, timeout=timeout)
            body = response.read(limit + 1)
        except HTTPError as exc:
            return None, http_error_text(exc)
        except (URLError, OSError, ValueError) as exc:
            return None, str(getattr(exc, "reason", None) or exc)
        if len(body) > limit:
            return None, "an answer longer than %d bytes" % limit
        try:
            return json.loads(body.decode("utf-8")), None
        except (ValueError, RecursionError) as exc:
            return None, "not JSON (%s)" % exc
    return fetch_json


# --- the module side ---------------------------------------------------------------


def host_state_options():
    """The argument spec of what is read for the audit: managed_state's host_state suboptions,
    the deprecated host_facts module's top-level options. A new dict on each call."""
    return dict(
        cron_file=dict(type="path", default=CRON_FILE),
        cron_units=dict(type="list", elements="str", default=list(CRON_UNITS)),
        sysctl_file=dict(type="path", default=SYSCTL_FILE),
        sysctls=dict(type="list", elements="str", default=list(MANAGED_SYSCTLS)),
        environment_file=dict(type="path", default=ENVIRONMENT_FILE),
        env_dir=dict(type="path", default=ENV_DIR),
        extra_env_files=dict(type="list", elements="path"),
        instances=dict(type="list", elements="raw", default=[]),
        service_settings=dict(type="dict", default={}),
        health_timeout=dict(type="float", default=5),
        removed_marker=dict(type="path", default=REMOVED_MARKER),
        weights_root=dict(type="path", default="/"),
    )


def systemctl_reader(module):
    """show_units(units) -> {Id: {property: value}} with one `systemctl show`; raises OSError
    when systemd cannot be asked (the sections that need it say so, the rest is still read)."""
    def show_units(units):
        systemctl = module.get_bin_path("systemctl")
        if systemctl is None or not os.path.isdir("/run/systemd/system"):
            raise OSError("systemd is not running here (no systemctl or /run/systemd/system)")
        rc, out, err = module.run_command([systemctl, "show", "--property=" + ",".join(SHOW_PROPERTIES), "--"]
                                          + list(units))
        if rc != 0:
            raise OSError("systemctl show failed (rc %d): %s" % (rc, err.strip() or out.strip()))
        return parse_systemctl_show(out)
    return show_units


def read_host_state(module, options, sysfs_root, procfs_root, numa=None):
    """{"ktune_numa": ..., "ktune_host_state": ...}: the facts the audit controls judge.

    options are the host_state_options() values. A kernel parameter name that could point
    outside procfs_root/sys raises SysctlError before anything is read; service settings
    left null are the role's defaults (dropped here, as the role drops them)."""
    for name in options["sysctls"]:
        validate_name(name)
    params = dict(options, sysfs_root=sysfs_root, procfs_root=procfs_root)
    params["service_settings"] = dict((key, value) for key, value in (options["service_settings"] or {}).items()
                                      if value is not None)
    state = gather_host_state(params, systemctl_reader(module), http_prober(options["health_timeout"]), numa,
                              http_json_reader(options["health_timeout"]))
    return {"ktune_numa": state.pop("numa"), "ktune_host_state": state}
