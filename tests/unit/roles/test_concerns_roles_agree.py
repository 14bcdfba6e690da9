"""One judgement per concern: tune's roles (their own Jinja, through the concern filters) and
the audit controls decide the same drift from the same host.

Each world below is a host state that tune and the audit judged differently before the
concerns existed; the role side is evaluated with ansible-playbook over the role's real
defaults and vars/main.yml (tests/unit/roles/role_vars.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.ktune.inference.plugins.module_utils import audit_controls as ac
from ansible_collections.ktune.inference.plugins.module_utils import concerns
from ansible_collections.ktune.inference.plugins.module_utils.diagnosis import findings
from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import spec_defaults
from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import (
    cpu_governor_plan,
    page_cache_plan,
    page_cache_sources,
)

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests/unit/roles"))
from role_vars import evaluate  # noqa: E402

DEFAULTS = ac.load_role_defaults(str(ROOT), yaml.safe_load)
ENV = "/etc/environment"
SERVICE_ENV = "/etc/ktransformers/ds.env"


def grade(numa, state, **overrides):
    settings = dict(DEFAULTS, **overrides)
    return dict((c["id"], c) for c in ac.evaluate({"ktune_numa": numa, "ktune_host_state": state}, settings))


# --- USE_NUMA: /etc/environment has it, the service's env file does not ----------------


def audit_use_numa(files):
    """host_state.read_use_numa's shape for {path: [lines] or None}."""
    return {"files": [{"file": path, "exists": lines is not None} for path, lines in files.items()],
            "definitions": [{"file": path, "line_number": n, "line": line.strip(), "text": line,
                             "value": line.partition("=")[2] or None}
                            for path, lines in files.items() for n, line in enumerate(lines or [], 1)]}


def managed_files(files):
    """managed_state's files for {path: [lines] or None}."""
    return dict((path, {"path": path, "exists": False} if lines is None else
                 {"path": path, "exists": True, "type": "file", "matching_lines": list(lines)})
                for path, lines in files.items())


USE_NUMA_WORLDS = [
    ({ENV: ["USE_NUMA=1"], SERVICE_ENV: []}, True, False),
    ({ENV: ["USE_NUMA=1"], SERVICE_ENV: ["USE_NUMA=1"]}, True, True),
    ({ENV: ["USE_NUMA=1", "USE_NUMA=1"], SERVICE_ENV: ["USE_NUMA=1"]}, True, False),
    ({ENV: ["  USE_NUMA=1"], SERVICE_ENV: ["USE_NUMA=1"]}, True, False),
    ({ENV: None, SERVICE_ENV: ["USE_NUMA=1"]}, True, False),
    ({ENV: None, SERVICE_ENV: []}, False, True),
    ({ENV: ["USE_NUMA=0"], SERVICE_ENV: []}, False, False),
]


def test_use_numa_in_environment_but_not_in_the_service_env_file_fails_the_audit(numa):
    state = {"use_numa": audit_use_numa({ENV: ["USE_NUMA=1"], SERVICE_ENV: []})}
    control = grade(numa("epyc-2s-nps2"), state, ktune_use_numa=True)["use_numa.policy"]
    assert control["status"] == "fail"
    assert SERVICE_ENV + ": USE_NUMA not defined" in control["finding"]
    assert "--tags numa_env" in control["fix"]


def test_use_numa_tune_and_audit_agree(numa):
    from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import spec_defaults
    from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import numa_env_plan
    for files, enabled, in_place in USE_NUMA_WORLDS:
        settings = dict(spec_defaults("numa_env"), ktune_use_numa=enabled)
        tune = numa_env_plan(settings, {"files": managed_files(files), "sysctls": {}}, numa("epyc-2s-nps2"))
        audit = grade(numa("epyc-2s-nps2"), {"use_numa": audit_use_numa(files)},
                      ktune_use_numa=enabled)["use_numa.policy"]
        assert tune["files_in_place"] is in_place, files
        assert (audit["status"] == "pass") is in_place, (files, audit)


# --- cron daemon: active but disabled at boot -----------------------------------------


CRON_WORLDS = [
    ({"cron.service": ("loaded", "active", "disabled")}, False),
    ({"cron.service": ("loaded", "active", "enabled")}, True),
    ({"cron.service": ("loaded", "inactive", "enabled")}, False),
    ({"cron.service": ("not-found", "inactive", None), "cronie.service": ("loaded", "active", "enabled")}, True),
    ({}, False),
]


def unit_states(units):
    return dict((unit, {"load_state": load, "active_state": active, "unit_file_state": enabled})
                for unit, (load, active, enabled) in units.items())


def audit_cron(units):
    job = {"path": "/etc/cron.d/ktune-drop-caches", "present": True, "jobs": [
        {"malformed": False, "schedule": ["43", "*", "*", "*", "*"], "user": "root",
         "argv": [ac.DROP_SCRIPT, "--level", "3", "--procfs-root", "/proc"], "script": ac.DROP_SCRIPT,
         "script_executable": True}]}
    # host_state.read_cron_daemon keeps the loaded units only.
    job["daemon"] = {"units": dict((unit, state) for unit, state in unit_states(units).items()
                                   if state["load_state"] == "loaded")}
    return job


def test_a_cron_daemon_disabled_at_boot_fails_the_audit(numa):
    control = grade(numa("epyc-2s-nps2"), {"page_cache": audit_cron(CRON_WORLDS[0][0])})["page_cache.cron"]
    assert control["status"] == "fail"
    assert "cron.service active, disabled at boot" in control["finding"]


def test_cron_daemon_tune_and_audit_agree(numa):
    settings = spec_defaults("page_cache")
    for units, running in CRON_WORLDS:
        tune = page_cache_plan(settings, {"units": unit_states(units)}, {})["cron_running"]
        audit = grade(numa("epyc-2s-nps2"), {"page_cache": audit_cron(units)})["page_cache.cron"]
        assert tune is running, units
        assert (audit["status"] == "pass") is running, (units, audit)


def test_the_roles_cron_daemon_table_and_script_are_the_concerns():
    role_vars = yaml.safe_load((ROOT / "roles/page_cache/vars/main.yml").read_text())
    assert "page_cache_cron_daemons" not in role_vars and "page_cache_script" not in role_vars
    plan = page_cache_plan(spec_defaults("page_cache"), {}, {})
    assert plan["cron_daemons"] == concerns.CRON_DAEMONS and plan["script"] == concerns.DROP_SCRIPT


JOB_SETTINGS = [
    {},
    {"ktune_drop_caches_level": 1, "ktune_drop_caches_minute": "*/20", "ktune_procfs_root": "/opt/proc"},
    {"ktune_drop_caches_skip_unit": "ktransformers@ds.service", "ktune_drop_caches_skip_state": "activating",
     "ktune_drop_caches_level": "2", "ktune_drop_caches_weekday": "1-5"},
]


def test_the_cron_file_the_role_renders_is_the_job_the_audit_expects(tmp_path):
    """The page_cache role's real template, rendered by ansible, parsed by the audit's reader."""
    from ansible_collections.ktune.inference.plugins.module_utils.host_state import parse_cron_file
    # The command line as the judge gives it to the template (role_judgements.page_cache_sources).
    cases = [dict(case, page_cache_cron_argv=page_cache_sources(dict(spec_defaults("page_cache"), **case))["variables"]
                  ["page_cache_cron_argv"]) for case in JOB_SETTINGS]
    rendered = evaluate("page_cache", {"text": "lookup('ansible.builtin.template', '%s')"
                                               % (ROOT / "roles/page_cache/templates/ktune-drop-caches.cron.j2")},
                        cases)
    for overrides, role in zip(JOB_SETTINGS, rendered):
        settings = dict(DEFAULTS, **overrides)
        jobs = [job for job in parse_cron_file(role["text"]) if not job["malformed"]]
        assert [(job["schedule"], job["user"], job["argv"]) for job in jobs] == [
            (ac.expected_schedule(settings), "root", ac.expected_cron_argv(settings))]


# --- EPP ----------------------------------------------------------------------------


def plan(driver, governor, epp):
    return {"applicable": True, "changes": [], "policies": [
        {"policy": n, "cpus": str(n), "driver": driver, "active": True,
         "before": {"governor": governor, "epp": epp, "min_freq_khz": None}} for n in range(4)]}


def audit_cpufreq(driver, governor, epp):
    return {"applicable": True, "policy_count": 4, "driver": driver,
            "active_mode": driver in concerns.ACTIVE_MODE_DRIVERS, "governors": {governor: "0-3"},
            "available_governors": ["performance", "powersave", "schedutil"],
            "epp": None if epp is None else {epp: "0-3"}, "epp_choices": None if epp is None else ["performance"]}


EPP_WORLDS = [
    # driver, governor found, epp found, ktune_cpu_governor, ktune_cpu_epp -> EPP tune sets
    ("amd-pstate-epp", "performance", "balance_performance", "performance", None, "performance"),
    ("intel_pstate", "powersave", "balance_power", "powersave", None, None),
    # A passive/guided driver that shows EPP: a null ktune_cpu_epp leaves it alone (the role
    # used to set performance here while the audit skipped it).
    ("amd-pstate", "performance", "balance_performance", "performance", None, None),
    ("amd-pstate", "performance", "balance_performance", "performance", "power", "power"),
    ("acpi-cpufreq", "performance", None, "performance", None, None),
]


def test_epp_rule_is_the_same_for_tune_and_audit(numa):
    decided = [cpu_governor_plan(dict(spec_defaults("cpu_governor"), ktune_cpu_governor=want_governor, ktune_cpu_epp=want_epp),
                                 {"cpufreq": plan(driver, governor, epp)}, {})
               for driver, governor, epp, want_governor, want_epp, _expected in EPP_WORLDS]
    for world, tune in zip(EPP_WORLDS, decided):
        driver, governor, epp, want_governor, want_epp, expected = world
        assert tune["drift"]["epp_wanted"] == expected, world
        audit = grade(numa("epyc-2s-nps2"), {"cpufreq": audit_cpufreq(driver, governor, epp)},
                      ktune_cpu_governor=want_governor, ktune_cpu_epp=want_epp)["cpufreq.epp"]
        if expected is None:
            assert audit["status"] == "skip" and tune["drift"]["epp"] == [], world
        else:
            assert (audit["status"] == "fail") is (epp != expected) is bool(tune["drift"]["epp"]), world


# --- governor -----------------------------------------------------------------------


def test_diagnosis_expects_the_configured_governor():
    thermal = {"governors": [{"governor": "schedutil", "driver": "acpi-cpufreq", "policies": 64}]}
    data = {"host": "h1", "thermal_after": thermal}
    assert [f["cause"] for f in findings(dict(data, cpu_governor="schedutil"))
            if "governor" in f["cause"]] == []
    assert "CPU governor is not performance" in [f["cause"] for f in findings(data)]
    found = findings(dict(data, thermal_after={"governors": [
        {"governor": "performance", "driver": "acpi-cpufreq", "policies": 64}]}, cpu_governor="schedutil"))
    assert "CPU governor is not schedutil" in [f["cause"] for f in found]


def test_governor_drift_is_the_same_for_tune_and_audit(numa):
    worlds = [("performance", "performance"), ("powersave", "performance"), ("schedutil", "schedutil")]
    decided = [cpu_governor_plan(dict(spec_defaults("cpu_governor"), ktune_cpu_governor=wanted),
                                 {"cpufreq": plan("acpi-cpufreq", found, None)}, {}) for found, wanted in worlds]
    for (found, wanted), tune in zip(worlds, decided):
        audit = grade(numa("epyc-2s-nps2"), {"cpufreq": audit_cpufreq("acpi-cpufreq", found, None)},
                      ktune_cpu_governor=wanted)["cpufreq.governor"]
        assert bool(tune["drift"]["governor"]) is (found != wanted) is (audit["status"] == "fail")


def test_default_governor_is_the_roles_default():
    specs = yaml.safe_load((ROOT / "roles/cpu_governor/meta/argument_specs.yml").read_text())
    assert specs["argument_specs"]["main"]["options"]["ktune_cpu_governor"]["default"] == concerns.DEFAULT_GOVERNOR


# --- NUMA sysctls -------------------------------------------------------------------


@pytest.mark.parametrize("balancing, reclaim, bad", [
    (0, 0, []), (3, 7, []), ("2", "1", []),
    (7, 0, ["ktune_numa_balancing"]), (0, 8, ["ktune_zone_reclaim_mode"]),
    (-1, "x", ["ktune_numa_balancing", "ktune_zone_reclaim_mode"]),
    (True, 0, ["ktune_numa_balancing"]),
])
def test_numa_sysctl_ranges_are_the_kernels(balancing, reclaim, bad):
    problems = concerns.numa_sysctl_problems({"ktune_numa_balancing": balancing, "ktune_zone_reclaim_mode": reclaim})
    assert [problem.split(" = ")[0] for problem in problems] == bad


def test_an_invalid_level_is_graded_not_raised(numa):
    control = grade(numa("epyc-2s-nps2"), {"page_cache": audit_cron(CRON_WORLDS[1][0])},
                    ktune_drop_caches_level="x")["page_cache.cron"]
    assert control["status"] == "fail" and "--level x" in control["finding"]


def test_diagnosis_reports_epp_drift_exactly_when_the_audit_fails_it(numa):
    """The diagnose role hands the audit's controls to the findings: same settings, same verdict."""
    for driver, governor, epp, want_governor, want_epp, _expected in EPP_WORLDS:
        controls = list(grade(numa("epyc-2s-nps2"), {"cpufreq": audit_cpufreq(driver, governor, epp)},
                              ktune_cpu_governor=want_governor, ktune_cpu_epp=want_epp).values())
        audit_fails = [c for c in controls if c["id"] == "cpufreq.epp"][0]["status"] == "fail"
        diagnosed = [f for f in findings({"host": "h1", "controls": controls}) if "(cpufreq.epp)" in f["cause"]]
        assert bool(diagnosed) is audit_fails, (driver, governor, epp, want_governor, want_epp)


# --- transparent hugepages: numa_env's share of the registry's judgements ---------------------

THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"
THP_WORLDS = [
    # (setting, live mode, persistence file lines, tune's drift count, the audit's live and boot verdicts)
    (None, "always", None, 0, "skip", "skip"),
    ("madvise", "madvise", ["# Written by ktune.inference (ktune_transparent_hugepage); systemd-tmpfiles applies "
                            "it at boot.", "w %s - - - - madvise" % THP_ENABLED], 0, "pass", "pass"),
    ("madvise", "always", None, 2, "fail", "fail"),
    ("never", "never", ["w %s - - - - always" % THP_ENABLED], 1, "pass", "fail"),
]


def test_transparent_hugepages_tune_and_audit_agree(numa):
    from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import spec_defaults
    from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import (
        numa_env_state_request,
        registered_share,
    )
    from ansible_collections.ktune.inference.plugins.plugin_utils.role_settings import settings_problems
    layout = numa("epyc-2s-nps2")
    decided = []
    for setting, live, lines, _count, _live, _boot in THP_WORLDS:
        settings = dict(spec_defaults("numa_env"), ktune_transparent_hugepage=setting)
        state = {"files": {concerns.THP_PERSIST_FILE: {"exists": False} if lines is None else
                           {"exists": True, "type": "file", "matching_lines": lines}}}
        decided.append({"drift": registered_share("numa_env", settings, state,
                                                  dict(layout, transparent_hugepage=live))["drift"],
                        "request": numa_env_state_request(settings), "problems": settings_problems("numa_env", settings)})
    for (setting, live, lines, count, live_verdict, boot_verdict), tune in zip(THP_WORLDS, decided):
        assert tune["problems"] == []
        assert len(tune["drift"]) == count, (setting, live, lines, tune["drift"])
        assert tune["request"]["file_line_patterns"] == {concerns.THP_PERSIST_FILE: r"\S"}  # in the one read
        state = {"files": {concerns.THP_PERSIST_FILE: lines}, "sysfs_root": "/sys"}
        audit = grade(dict(layout, transparent_hugepage=live), state, ktune_transparent_hugepage=setting)
        assert (audit["memory.transparent_hugepage"]["status"], audit["memory.transparent_hugepage_persisted"]["status"]) \
            == (live_verdict, boot_verdict)
        assert sorted(tune["drift"]) == sorted(audit[c]["finding"] for c in audit
                                               if c.startswith("memory.") and audit[c]["status"] == "fail")


def test_a_wrong_transparent_hugepage_mode_stops_tune_naming_the_variable():
    from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import spec_defaults
    from ansible_collections.ktune.inference.plugins.plugin_utils.role_settings import settings_problems
    settings = dict(spec_defaults("numa_env"), ktune_transparent_hugepage="sometimes")
    decided = [{"problems": settings_problems("numa_env", settings)}]
    assert [p for p in decided[0]["problems"] if "ktune_transparent_hugepage" in p] == [
        "ktune_transparent_hugepage = 'sometimes' is not a transparent hugepage mode: expected always, madvise or never "
        "(or unset to leave the host alone)"]
