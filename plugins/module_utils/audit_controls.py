# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit's controls: one host's facts and settings in, graded controls out.

Pure functions, run on the controller. ``evaluate(facts, settings)`` takes what
``ktune.inference.managed_state`` returned with ``host_state`` (``ktune_numa`` and
``ktune_host_state``) and the host's variables (role defaults under the inventory) and returns
one dict per control: ``{"id", "status": pass|fail|skip|unknown, "severity": error|warning, "finding", "fix"}``
(unknown: the audit could not read what the control judges: the BMC's controls, an instance's weights).
``facts["ktune_bmc"]``, where given, is what ``ktune.inference.bios_layout`` read through the
host's BMC without ``nodes_per_socket`` (registered, failed_when false); None or skipped: no BMC.
The judgements are the roles' own code (layout.layout_problems, use_numa.decide and the
concern functions of concerns.py), so the audit and tune say the same thing in the same words.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os

from ansible_collections.ktune.inference.plugins.module_utils import concern_registry as registry
from ansible_collections.ktune.inference.plugins.module_utils import concerns
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import placement_problem, promised_nodes
from ansible_collections.ktune.inference.plugins.module_utils.cpufreq import BARE_METAL_FIX, bare_metal_finding
from ansible_collections.ktune.inference.plugins.module_utils.layout import count, layout_problems
from ansible_collections.ktune.inference.plugins.module_utils.router import router_failure, router_reading_problems
from ansible_collections.ktune.inference.plugins.module_utils.use_numa import (
    UseNumaInputError,
    decide,
    memory_needed_mib,
    parse_bool,
    parse_model_size_gb,
)

ERROR = registry.ERROR
WARNING = registry.WARNING

# Derived from the registry (concern_registry.py), where each control is defined once.
CONTROL_IDS = registry.CONTROL_IDS
# The variables the controls read; the playbooks take them from the inventory over the roles'
# defaults (their argument specifications), so "as configured" means what tune.yml would apply.
SETTING_NAMES = registry.SETTING_NAMES

DROP_SCRIPT = concerns.DROP_SCRIPT
TUNE = "ansible-playbook playbooks/tune.yml -i INVENTORY --limit HOST"


def load_role_defaults(collection_root, loader):
    """The audited variables' defaults, from each role's meta/argument_specs.yml (the single source
    of a setting's type and default; the roles' defaults/main.yml say the same, a unit test keeps
    them equal), so "as configured" is what tune.yml applies when the inventory sets nothing.

    loader reads one YAML file (yaml.safe_load on the controller). An option without a default is null.
    """
    merged = {}
    for path in sorted(glob.glob(os.path.join(collection_root, "roles", "*", "meta", "argument_specs.yml"))):
        with open(path) as handle:
            specs = (loader(handle) or {}).get("argument_specs") or {}
        options = (specs.get("main") or {}).get("options") or {}
        merged.update((name, option.get("default")) for name, option in options.items() if name in SETTING_NAMES)
    return dict((name, merged.get(name)) for name in SETTING_NAMES)


def host_settings(defaults, host_vars):
    """Role defaults overlaid with the host's variables (any mapping, hostvars included)."""
    settings = dict(defaults)
    for name in SETTING_NAMES:
        if name in host_vars:
            settings[name] = host_vars[name]
    return settings


def control(control_id, status, severity, finding, fix=""):
    return {"id": control_id, "status": status, "severity": severity, "finding": finding, "fix": fix}


def control_severity(control_id, settings=None):
    """The registry's severity of the control; one its registry entry says is relaxed_by a
    setting is a warning when that setting is false."""
    entry = registry.BY_ID[control_id]
    if entry.relaxed_by and not _bool((settings or {}).get(entry.relaxed_by, True), True):
        return WARNING
    return entry.severity


def _graded(control_id, status, finding, fix="", settings=None):
    return control(control_id, status, control_severity(control_id, settings), finding, fix)


def split_problem(problem):
    """'expected X, found Y. Fix: Z' -> ('expected X, found Y', 'Z')."""
    finding, marker, fix = problem.partition(". Fix: ")
    return (finding, fix) if marker else (problem, "")


def _int_or_none(value):
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    return int(value)


def _section_error(section):
    return section.get("error") if isinstance(section, dict) else "not returned by the host_state read"


def _unreadable(control_id, what, error, settings=None):
    return _graded(control_id, "fail", "cannot read %s: %s" % (what, error),
                   "make the file readable by the audit's user (become: true), then audit again", settings)


# --- NUMA --------------------------------------------------------------------------


def numa_layout(numa, settings):
    try:
        expected = _int_or_none(settings.get("ktune_expected_nodes_per_socket"))
        sockets = _int_or_none(settings.get("ktune_expected_sockets"))
    except (TypeError, ValueError):
        return _graded("numa.layout", "fail", "ktune_expected_nodes_per_socket = %r / ktune_expected_sockets "
                       "= %r are not numbers" % (settings.get("ktune_expected_nodes_per_socket"),
                                                 settings.get("ktune_expected_sockets")),
                       "set whole numbers (or null) in the inventory")
    if not numa.get("available") and expected is None and sockets is None:
        return _graded("numa.layout", "pass", "no NUMA nodes exposed; no layout expected "
                       "(ktune_expected_nodes_per_socket is unset)")
    problems = layout_problems(numa, expected, sockets, allow_memory_only_nodes=True, require_balanced_memory=False)
    if problems:
        findings, fixes = zip(*[split_problem(problem) for problem in problems])
        return _graded("numa.layout", "fail", "; ".join(findings), "; ".join(fix for fix in fixes if fix))
    found = "%s, %s with CPUs on %s" % (numa.get("layout"), count(numa.get("cpu_node_count", 0), "NUMA node"),
                                        count(numa.get("sockets", 0), "socket"))
    if expected is None:
        return _graded("numa.layout", "pass", found + " (not asserted: ktune_expected_nodes_per_socket is unset)")
    return _graded("numa.layout", "pass", found + ", as expected")


def numa_memory_balance(numa, settings):
    if not numa.get("available"):
        return _graded("numa.memory_balance", "skip", "no NUMA nodes: nothing to balance",
                       settings=settings)
    if numa.get("memory_balanced"):
        return _graded("numa.memory_balance", "pass", "memory per CPU node within 10%% (%.1f%% apart)"
                       % numa.get("memory_imbalance_pct", 0.0), settings=settings)
    problem = layout_problems(numa, None, None, allow_memory_only_nodes=True, require_balanced_memory=True)[0]
    finding, fix = split_problem(problem)
    return _graded("numa.memory_balance", "fail", finding, fix, settings)


def numa_memory_only_nodes(numa, settings, numa_on):
    allow = _bool(settings.get("ktune_allow_memory_only_nodes", False), False)
    nodes = numa.get("memory_only_nodes") or []
    if not nodes:
        return _graded("numa.memory_only_nodes", "pass", "no memory-only NUMA nodes")
    ids = ", ".join(str(node) for node in nodes)
    if allow:
        return _graded("numa.memory_only_nodes", "pass", "memory-only nodes %s allowed "
                       "(ktune_allow_memory_only_nodes: true)" % ids)
    if not numa_on:
        return _graded("numa.memory_only_nodes", "skip", "memory-only nodes %s, but NUMA support is off "
                       "(USE_NUMA absent), so no thread is bound to them" % ids)
    return _graded("numa.memory_only_nodes", "fail",
                   "expected no memory-only NUMA nodes with NUMA on, found nodes %s with memory and no CPUs "
                   "(CXL, HBM or PMEM): a NUMA build binds threads to every node and fails with "
                   "numa_sched_setaffinity_v2_int() failed: Invalid argument" % ids,
                   "take the devices offline, or turn NUMA off (ktune_use_numa: false, then %s --tags numa_env), "
                   "or set ktune_allow_memory_only_nodes: true" % TUNE)


def numa_balancing(sysctl, settings):
    if _section_error(sysctl):
        return _unreadable("numa.balancing", "the kernel settings", _section_error(sysctl))
    problems = concerns.numa_sysctl_problems(settings)
    if problems:
        return _graded("numa.balancing", "fail", "; ".join(problems), "correct it in the inventory")
    wanted = concerns.numa_sysctls_wanted(settings)
    live = sysctl.get("live", {})
    unread = [name for name in sorted(wanted) if name not in live]
    if unread:
        # A key the reader never asked for is not a kernel without it: passing it would fail open.
        return _unreadable("numa.balancing", "the kernel settings",
                           "the host read returned no value for %s (sysctls option of the read)" % ", ".join(unread))
    wrong = concerns.numa_sysctls_live_drift(wanted, live)
    missing_kernel = [name for name in sorted(wanted) if live.get(name) is None]
    for name in sorted(wanted):
        want = wanted[name]
        persisted = sysctl.get("persisted", {}).get(name)
        if persisted != want:
            wrong.append("%s %s in %s, expected %d" % (
                name, "not persisted" if persisted is None else "= %s persisted" % persisted,
                sysctl.get("file"), want))
    if wrong:
        return _graded("numa.balancing", "fail", "; ".join(wrong),
                       "%s --tags numa_env (sets them now and in %s)" % (TUNE, sysctl.get("file")))
    note = " (kernel lacks %s)" % ", ".join(missing_kernel) if missing_kernel else ""
    return _graded("numa.balancing", "pass", "%s as configured, live and persisted%s"
                   % (" and ".join(sorted(wanted)), note))


# --- cpufreq -----------------------------------------------------------------------


def cpufreq_governor(cpufreq, settings):
    if _section_error(cpufreq):
        return _unreadable("cpufreq.governor", "cpufreq", _section_error(cpufreq))
    wanted = concerns.expected_governor(settings)
    if not cpufreq.get("applicable"):
        if cpufreq.get("bare_metal"):
            return _graded("cpufreq.governor", "fail", "expected governor %s, found %s"
                           % (wanted, bare_metal_finding(cpufreq.get("dmi"))), BARE_METAL_FIX)
        return _graded("cpufreq.governor", "skip", "no cpufreq policies (%s): not applicable"
                       % (cpufreq.get("virtual") or "VM, container or no driver"))
    others = concerns.cpufreq_drift(settings, cpufreq)["governor"]
    if not others:
        return _graded("cpufreq.governor", "pass", "%s on all %d policies (%s)"
                       % (wanted, cpufreq["policy_count"], _driver(cpufreq)))
    fix = "%s --tags cpu_governor (or cpupower frequency-set -g %s)" % (TUNE, wanted)
    if wanted not in (cpufreq.get("available_governors") or []):
        fix = ("driver %s does not offer %s (available: %s): set ktune_cpu_governor to one of them or change the "
               "driver" % (_driver(cpufreq), wanted, " ".join(cpufreq.get("available_governors") or []) or "none"))
    return _graded("cpufreq.governor", "fail", "expected governor %s, found %s"
                   % (wanted, "; ".join(others)), fix)


def _driver(cpufreq):
    driver = cpufreq.get("driver")
    return "/".join(driver) if isinstance(driver, list) else str(driver)


def cpufreq_epp(cpufreq, settings):
    if _section_error(cpufreq):
        return _unreadable("cpufreq.epp", "cpufreq", _section_error(cpufreq))
    if not cpufreq.get("applicable"):
        return _graded("cpufreq.epp", "skip", "no cpufreq policies: not applicable")
    if cpufreq.get("epp") is None:
        return _graded("cpufreq.epp", "skip", "driver %s has no energy_performance_preference: not "
                       "applicable" % _driver(cpufreq))
    drift = concerns.cpufreq_drift(settings, cpufreq)
    wanted = drift["epp_wanted"]
    if wanted is None:
        return _graded("cpufreq.epp", "skip", "not managed (ktune_cpu_epp is null and the driver is not "
                       "in active mode with the performance governor)")
    others = drift["epp"]
    if not others:
        return _graded("cpufreq.epp", "pass", "EPP %s on all %d policies" % (wanted, cpufreq["policy_count"]))
    return _graded("cpufreq.epp", "fail", "expected EPP %s, found %s" % (wanted, "; ".join(others)),
                   "%s --tags cpu_governor" % TUNE)


# --- page cache --------------------------------------------------------------------


expected_cron_argv = concerns.drop_caches_argv
expected_schedule = concerns.drop_caches_schedule


def page_cache_cron(page_cache, settings):
    if _section_error(page_cache):
        return _unreadable("page_cache.cron", "the cron job", _section_error(page_cache))
    state = settings.get("ktune_drop_caches_state", "present")
    path = page_cache.get("path")
    fix = "%s --tags page_cache" % TUNE
    if state == "absent":
        if page_cache.get("present"):
            return _graded("page_cache.cron", "fail", "expected no page-cache job (ktune_drop_caches_state: "
                           "absent), found %s" % path, fix)
        return _graded("page_cache.cron", "pass", "no page-cache job, as configured (absent)")
    if not page_cache.get("present"):
        return _graded("page_cache.cron", "fail", "expected the page-cache job %s, found none" % path, fix)
    jobs = [job for job in page_cache.get("jobs", []) if not job.get("malformed")]
    want_line = "%s root %s" % (" ".join(expected_schedule(settings)), " ".join(expected_cron_argv(settings)))
    if len(jobs) != 1:
        return _graded("page_cache.cron", "fail", "expected one job (%s) in %s, found %d"
                       % (want_line, path, len(jobs)), fix)
    job = jobs[0]
    found_line = "%s %s %s" % (" ".join(job["schedule"]), job["user"], " ".join(job["argv"]))
    if found_line != want_line:
        return _graded("page_cache.cron", "fail", "expected '%s' in %s, found '%s'"
                       % (want_line, path, found_line), fix)
    if not job.get("script_executable"):
        return _graded("page_cache.cron", "fail", "the job in %s runs %s, which is missing or not "
                       "executable" % (path, job.get("script")), fix)
    found = "'%s' in %s, as configured" % (" ".join(job["schedule"]), path)
    daemon = page_cache.get("daemon") or {}
    if daemon.get("units") is None:
        note = " (cron daemon not checked: %s)" % daemon["unknown"] if daemon.get("unknown") else ""
        return _graded("page_cache.cron", "pass", found + note)
    candidates = concerns.cron_units(settings)
    running = concerns.cron_daemons_running(daemon["units"], candidates)
    if not running:
        return _graded("page_cache.cron", "fail", "%s, but no cron daemon runs it now and at boot: expected "
                       "one of %s active and enabled, found %s"
                       % (found, ", ".join(candidates), concerns.describe_cron_units(daemon["units"], candidates)),
                       fix)
    return _graded("page_cache.cron", "pass", "%s, run by %s" % (found, ", ".join(running)))


# --- USE_NUMA ----------------------------------------------------------------------


def _where(definition):
    return "%s in %s:%d" % (definition["line"], definition["file"], definition["line_number"])


def use_numa_effective(use_numa):
    """NUMA support is on for a build when USE_NUMA is defined anywhere, whatever its value."""
    return bool((use_numa or {}).get("definitions"))


def use_numa_policy(use_numa, decision):
    if _section_error(use_numa):
        return _unreadable("use_numa.policy", "the environment files", _section_error(use_numa))
    definitions = use_numa.get("definitions", [])
    fix = "%s --tags numa_env, then rebuild ktransformers (delete its earlier build output first)" % TUNE
    if decision["problems"]:
        findings, fixes = zip(*[split_problem(problem) for problem in decision["problems"]])
        return _graded("use_numa.policy", "fail", "; ".join(findings), "; ".join(f for f in fixes if f))
    environment = use_numa["files"][0]["file"] if use_numa.get("files") else concerns.ENVIRONMENT_FILE
    drift = concerns.use_numa_files_drift(decision["enabled"], concerns.use_numa_files_from_host(use_numa),
                                          environment)
    if decision["enabled"]:
        if drift:
            return _graded("use_numa.policy", "fail", "expected exactly USE_NUMA=1 in every environment file "
                           "(NUMA on: %s), found %s" % (decision["reason"], concerns.describe_use_numa_drift(drift)),
                           fix)
        return _graded("use_numa.policy", "pass", "USE_NUMA=1, NUMA on as decided (%s)" % decision["reason"])
    if drift:
        zero = [d for d in definitions if d["value"] == "0"]
        note = ("; USE_NUMA=0 is NUMA effectively ON: the build tests only whether USE_NUMA is defined"
                if zero else "")
        return _graded("use_numa.policy", "fail", "expected USE_NUMA absent (NUMA off: %s), found %s%s"
                       % (decision["reason"], "; ".join(_where(d) for d in definitions), note), fix)
    return _graded("use_numa.policy", "pass", "USE_NUMA absent, NUMA off as decided (%s)" % decision["reason"])


def use_numa_memory(numa, settings, numa_on):
    try:
        size = parse_model_size_gb(settings.get("ktune_model_size_gb"))
    except UseNumaInputError as exc:
        return _graded("use_numa.memory", "fail", str(exc), "correct ktune_model_size_gb in the inventory")
    if not numa_on:
        return _graded("use_numa.memory", "skip", "NUMA support off: one copy of the model, nothing to check")
    if size is None:
        return _graded("use_numa.memory", "skip", "ktune_model_size_gb is not set: memory for one copy per "
                       "NUMA node not checked")
    nodes = numa.get("memory_node_count") or 0
    ram = numa.get("memory_total_mb") or 0
    needed = memory_needed_mib(size, nodes)
    text = "%g GiB x %d NUMA nodes with memory = %.1f GiB needed, %.1f GiB RAM" % (size, nodes, needed / 1024.0, ram / 1024.0)
    if ram < needed:
        return _graded("use_numa.memory", "fail", "expected RAM >= model size x NUMA nodes with NUMA on: "
                       + text, "set the BIOS to fewer NUMA nodes per socket (NPS1, SNC off), or turn NUMA off "
                       "(ktune_use_numa: false, then %s --tags numa_env and rebuild)" % TUNE)
    return _graded("use_numa.memory", "pass", text)


# --- services ----------------------------------------------------------------------


def _present_instances(settings):
    instances = settings.get("ktune_service_instances") or []
    return [item for item in instances if isinstance(item, dict) and item.get("state", "present") == "present"]


def service_controls(services, settings):
    configured = settings.get("ktune_service_instances") or []
    if not configured:
        reason = "no ktune_service_instances configured"
        return [_graded("service.active", "skip", reason), _graded("service.healthy", "skip", reason)]
    if _section_error(services):
        error = _section_error(services)
        return [_unreadable("service.active", "the service state", error),
                _unreadable("service.healthy", "the service state", error)]
    fix = "%s --tags service; journalctl -u UNIT shows why a unit is down" % TUNE
    if services.get("instances_error"):
        return [_graded("service.active", "fail", services["instances_error"], fix),
                _graded("service.healthy", "fail", services["instances_error"], fix)]
    units = services.get("units", [])
    inactive, healthy_problems, absent_running, active = [], [], [], []
    for unit in units:
        if unit.get("state", "present") != "present":
            if unit.get("active_state") == "active":
                absent_running.append("%s active, expected removed (state: absent)" % unit["unit"])
            continue
        if unit.get("active_state") == "active":
            active.append(unit["unit"])
        else:
            inactive.append("%s %s" % (unit["unit"], unit.get("active_state") or "unknown (%s)"
                                       % (services.get("systemd_error") or "not loaded")))
        if unit.get("health_status") != 200:
            healthy_problems.append("%s answers %s" % (unit.get("health_url"), unit.get("health_message") or "nothing"))
    problems = inactive + absent_running
    if problems:
        active_control = _graded("service.active", "fail", "expected active: " + "; ".join(problems), fix)
    else:
        active_control = _graded("service.active", "pass", "active: %s" % (", ".join(active) or "none"))
    if healthy_problems:
        healthy_control = _graded("service.healthy", "fail", "expected HTTP 200: " + "; ".join(healthy_problems),
                                  fix)
    else:
        urls = [unit["health_url"] for unit in units
                if unit.get("health_url") and unit.get("state", "present") == "present"]
        healthy_control = _graded("service.healthy", "pass", "HTTP 200 from %s" % (", ".join(urls) or "none"))
    return [active_control, healthy_control]


def service_listen(services, settings):
    """Instances reachable beyond the host without protection (judged by ktransformers.listen_exposure)."""
    if not settings.get("ktune_service_instances"):
        return _graded("service.listen", "skip", "no ktune_service_instances configured")
    error = _section_error(services) or services.get("instances_error")
    if error:
        return _unreadable("service.listen", "the instances' addresses", error)
    units = [unit for unit in services.get("units", []) if unit.get("state", "present") == "present"]
    exposed = [unit["exposure"] for unit in units if unit.get("exposure")]
    if exposed:
        return _graded("service.listen", "fail", "expected loopback or a guarded API: " + "; ".join(exposed),
                       "keep host: 127.0.0.1 (ktune_service_host) and front the port with an authenticating "
                       "proxy (roles/ktransformers_service/README.md), then %s --tags service" % TUNE)
    return _graded("service.listen", "pass", "listening: %s" % (", ".join(
        "%s on %s" % (unit["unit"], unit.get("host")) for unit in units) or "none"))


def service_router(services, settings, host="this host"):
    """Each sharded entry's router up, routing to exactly its replicas, every one healthy
    (router.router_reading_problems on the router's own GET /workers, read on the host)."""
    if not settings.get("ktune_service_instances"):
        return _graded("service.router", "skip", "no ktune_service_instances configured")
    error = _section_error(services) or services.get("instances_error")
    if error:
        return _unreadable("service.router", "the routers", error)
    routers = services.get("routers")
    if not routers:
        return _graded("service.router", "skip", "no sharded entry (replicas) on this host")
    findings, fixes, passing = [], [], []
    for router in routers:
        reading = {"active_state": router.get("active_state"), "workers": router.get("answer"),
                   "error": router.get("answer_error")}
        problems = router_reading_problems(router, reading)
        if problems:
            finding, fix = router_failure(host, router, problems, reading, "%s --tags service" % TUNE)
            findings.append(finding)
            fixes.append(fix)
        else:
            passing.append("%s routes to %s, all healthy" % (router["unit"], ", ".join(router["workers"])))
    if findings:
        return _graded("service.router", "fail", "; ".join(findings), "; ".join(fixes))
    return _graded("service.router", "pass", "; ".join(passing))


def service_numa_placement(services, numa, settings, numa_on):
    """Each running instance's resident memory per node against what its binding promises
    (judged by ktransformers.placement_problem; a warning: it costs speed, not service)."""
    if not settings.get("ktune_service_instances"):
        return _graded("service.numa_placement", "skip", "no ktune_service_instances configured")
    error = _section_error(services) or services.get("instances_error")
    if error:
        return _unreadable("service.numa_placement", "the instances' memory", error)
    measured = [unit for unit in services.get("units", []) if unit.get("state", "present") == "present"
                and unit.get("numa_resident_kb")]
    if not measured:
        return _graded("service.numa_placement", "skip", "no running instance with a readable numa_maps")
    problems, seen = [], []
    for unit in measured:
        resident = dict((int(node), kb) for node, kb in unit["numa_resident_kb"].items())
        problem = placement_problem(unit, resident, numa, numa_on)
        if problem:
            problems.append(problem)
        else:
            seen.append("%s %s" % (unit["unit"], promised_nodes(unit, numa, numa_on)[1]))
    if problems:
        return _graded("service.numa_placement", "fail", "; ".join(problems),
                       "restart the instance after freeing memory on its nodes (sync; echo 3 > "
                       "/proc/sys/vm/drop_caches), check its numactl and kt_numa_nodes, then %s --tags service" % TUNE)
    return _graded("service.numa_placement", "pass", "as promised: %s" % "; ".join(seen))


def service_weights_layout(services, settings):
    """Each present instance's kt-kernel weights against the thread pools it starts (judged on the
    host by kt_weights.weight_split_finding, which the service role runs before a start too)."""
    if not settings.get("ktune_service_instances"):
        return _graded("service.weights_layout", "skip", "no ktune_service_instances configured")
    error = _section_error(services) or services.get("instances_error")
    if error:
        return _unreadable("service.weights_layout", "the instances' weights", error)
    verdicts = [unit["weights_split"] for unit in services.get("units", [])
                if unit.get("state", "present") == "present" and unit.get("weights_split")]
    for status in ("fail", "unknown"):
        found = [verdict for verdict in verdicts if verdict["status"] == status]
        if found:
            return _graded("service.weights_layout", status, "; ".join(verdict["finding"] for verdict in found),
                           " || ".join(verdict["fix"] for verdict in found if verdict["fix"]), settings)
    judged = [verdict["finding"] for verdict in verdicts if verdict["status"] == "pass"]
    if not judged:
        return _graded("service.weights_layout", "skip", "; ".join(verdict["finding"] for verdict in verdicts)
                       or "no present instance")
    return _graded("service.weights_layout", "pass", "; ".join(judged))


# --- everything --------------------------------------------------------------------


# --- BIOS (read through the BMC) ----------------------------------------------------

BIOS_STAGE = "ansible-playbook playbooks/bios.yml -i INVENTORY --limit HOST"
BIOS_REBOOT = BIOS_STAGE + " -e ktune_bios_reboot=true"


BMC_RESULT = "ktune_audit_bmc"  # the registered bios_layout read (playbooks/tasks/audit_read.yml)


def with_bmc(facts, host_vars):
    """The host's facts with its registered BMC read as ktune_bmc (what evaluate grades), and its
    inventory name as ktune_host (the findings that name the host)."""
    return dict(facts or {}, ktune_bmc=(host_vars or {}).get(BMC_RESULT),
                ktune_host=(host_vars or {}).get("inventory_hostname"))


def _bmc_read(bmc):
    """'none' (no BMC variables: not read), 'failed' or 'read'."""
    if not isinstance(bmc, dict) or bmc.get("skipped"):
        return "none"
    return "failed" if bmc.get("failed") or "attribute" not in bmc else "read"


def bios_readable(bmc):
    read = _bmc_read(bmc)
    if read == "none":
        return _graded("bios.readable", "skip", "no BMC to read (ktune_bmc_address is not set)")
    if read == "failed":
        finding, fix = split_problem(" ".join(str(bmc.get("msg") or "no answer").split()))
        return _graded("bios.readable", "unknown", "expected the BIOS layout read through the BMC, found the read "
                       "failed: %s" % finding,
                       fix or "check ktune_bmc_address, ktune_bmc_username and ktune_bmc_password and that the "
                              "controller reaches the BMC, then audit again")
    return _graded("bios.readable", "pass", "BIOS attribute %s read through the BMC (%s)" % (
        bmc["attribute"], bmc.get("system") or "its system"))


def bios_pending(bmc, settings):
    read = _bmc_read(bmc)
    if read != "read":
        return _graded("bios.pending", "skip", "no BMC to read (ktune_bmc_address is not set)" if read == "none"
                       else "not judged: the BMC could not be read (see bios.readable)")
    attribute, current, pending = bmc["attribute"], bmc.get("current"), bmc.get("pending")
    if not bmc.get("staged"):
        return _graded("bios.pending", "pass", "%s is %s; nothing staged" % (attribute, _json_text(current)))
    try:
        expected = _int_or_none(settings.get("ktune_expected_nodes_per_socket"))
    except (TypeError, ValueError):
        expected = None
    found = "found %s %s staged (current %s): staged, applies at next reboot" % (
        attribute, _json_text(pending), _json_text(current))
    gives = bmc.get("pending_nodes_per_socket")
    if expected is not None and gives != expected:
        return _graded("bios.pending", "fail", "expected no BIOS layout change other than %d nodes per socket "
                       "waiting for a reboot, %s, which gives %s" % (
                           expected, found, "no fixed layout" if gives is None else "%d nodes per socket" % gives),
                       "replace the stale change with %s, then restart the host in its maintenance window with "
                       "ktune_bios_reboot=true" % BIOS_STAGE, settings)
    return _graded("bios.pending", "fail", "expected the staged BIOS layout to be applied, %s" % found,
                   "restart the host in its maintenance window: %s" % BIOS_REBOOT, settings)


def _json_text(value):
    return "none" if value is None else '"%s"' % value


# --- the registry's judgements (concern_registry.JUDGE_CONTRACT) ------------------------------


def judgement_reading(numa, state):
    """The reading a registered judgement takes, from the audit's read."""
    return {"sysfs_root": state.get("sysfs_root") or "/sys", "numa": numa, "files": state.get("files")}


def registered_control(entry, reading, settings):
    """One control graded by its registered judgement, with the registry's severity."""
    for what, section in (("the NUMA layout", reading.get("numa")), ("the files the control reads", reading.get("files"))):
        if _section_error(section):
            return _unreadable(entry.id, what, _section_error(section), settings)
    verdict = getattr(concerns, entry.judge)(settings, reading)
    if verdict.get("problems"):
        return _graded(entry.id, "fail", "; ".join(verdict["problems"]), "correct it in the inventory", settings)
    if verdict.get("skip"):
        return _graded(entry.id, "skip", verdict["skip"], "", settings)
    if verdict.get("host"):
        finding, fix = split_problem(verdict["host"][0])
        return _graded(entry.id, "fail", finding, fix, settings)
    if verdict.get("drift"):
        return _graded(entry.id, "fail", "; ".join(verdict["drift"]), "%s --tags %s" % (TUNE, entry.tag), settings)
    return _graded(entry.id, "pass", verdict.get("ok", ""), "", settings)


def _bool(value, default):
    try:
        return parse_bool(value, "setting")
    except UseNumaInputError:
        return default


def numa_is_on(decision, state):
    """On when decided, when ktune_use_numa is true (even if the host cannot take it), or when
    USE_NUMA is defined on the host whatever the decision."""
    return bool(decision["enabled"] or decision.get("mode") == "true" or use_numa_effective(state.get("use_numa")))


NOT_MANAGED = "not managed"


def not_managed(removal, settings):
    """Every control skipped, saying why, on a host playbooks/remove.yml removed ktune from: what
    remove took away is no failure there. None when the host is managed."""
    if not (removal or {}).get("removed"):
        return None
    finding = "%s: %s (%s)" % (NOT_MANAGED, removal.get("note") or "ktune was removed by playbooks/remove.yml",
                               removal.get("marker", "its marker"))
    return [_graded(cid, "skip", finding, "run playbooks/tune.yml on the host to manage it again", settings)
            for cid in CONTROL_IDS]


def is_not_managed(controls):
    return bool(controls) and all(item["status"] == "skip" and item["finding"].startswith(NOT_MANAGED + ":")
                                  for item in controls)


def evaluate(facts, settings):
    """Every control for one host, in CONTROL_IDS order (the registry's)."""
    settings = settings or {}
    numa = facts.get("ktune_numa") or {"error": "not returned by the host_state read"}
    state = facts.get("ktune_host_state") or {}
    removed = not_managed(state.get("removal"), settings)
    if removed:
        return removed
    numa_error = _section_error(numa)
    if numa_error:
        numa_controls = [_unreadable(cid, "the NUMA layout", numa_error, settings)
                         for cid in ("numa.layout", "numa.memory_balance", "numa.memory_only_nodes")]
        decision = {"enabled": False, "problems": [], "reason": "NUMA layout unreadable"}
    else:
        try:
            decision = decide(numa, settings.get("ktune_use_numa", "auto"), settings.get("ktune_model_size_gb"),
                              settings.get("ktune_allow_memory_only_nodes", False))
        except UseNumaInputError as exc:
            decision = {"enabled": False, "problems": ["%s. Fix: correct it in the inventory" % exc],
                        "reason": str(exc)}
        numa_on = numa_is_on(decision, state)
        numa_controls = [numa_layout(numa, settings), numa_memory_balance(numa, settings),
                         numa_memory_only_nodes(numa, settings, numa_on)]
    numa_on = numa_is_on(decision, state)
    controls = numa_controls + [
        numa_balancing(state.get("sysctl"), settings),
        cpufreq_governor(state.get("cpufreq"), settings),
        cpufreq_epp(state.get("cpufreq"), settings),
        page_cache_cron(state.get("page_cache"), settings),
        use_numa_policy(state.get("use_numa"), decision),
        use_numa_memory(numa if not numa_error else {}, settings, numa_on),
    ] + service_controls(state.get("services"), settings) + [
        service_listen(state.get("services"), settings),
        service_router(state.get("services"), settings, facts.get("ktune_host") or "this host"),
        service_numa_placement(state.get("services"), numa if not numa_error else {}, settings, numa_on),
        service_weights_layout(state.get("services"), settings),
        bios_pending(facts.get("ktune_bmc"), settings), bios_readable(facts.get("ktune_bmc"))]
    reading = judgement_reading(numa, state)
    controls += [registered_control(entry, reading, settings) for entry in registry.CONTROLS if entry.judge]
    return sorted(controls, key=lambda item: CONTROL_IDS.index(item["id"]))


def host_status(controls):
    """fail when an error-severity control fails; not managed on a host ktune was removed from;
    pass otherwise (warnings are shown, not fatal)."""
    if any(c["status"] == "fail" and c["severity"] == ERROR for c in controls):
        return "fail"
    return NOT_MANAGED if is_not_managed(controls) else "pass"
