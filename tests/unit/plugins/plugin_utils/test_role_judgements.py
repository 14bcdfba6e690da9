"""The tuning roles judged in Python (plugins/plugin_utils/role_judgements.py): what they read,
their host problems, drift, notes, exports and the plan their tasks apply."""

from ansible_collections.ktune.inference.plugins.module_utils.concerns import USE_NUMA_LINE_PATTERN
from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import spec_defaults
from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import (
    ROLE_PARTS,
    python_part,
)

import hashlib

from ansible_collections.ktune.inference.plugins.filter.managed_state import sysctl_file_content

SYSCTL_FILE = "/etc/sysctl.d/90-ktune-numa.conf"
WANTED = {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 0}
IN_PLACE = {
    "files": {
        "/etc/environment": {"exists": True, "type": "file", "matching_lines": ["USE_NUMA=1"]},
        "/etc/ktransformers/a.env": {"exists": True, "type": "file", "matching_lines": ["USE_NUMA=1"]},
        SYSCTL_FILE: {"exists": True, "type": "file", "mode": "0644", "owner": "root", "group": "root",
                      "checksum": hashlib.sha1(sysctl_file_content(WANTED).encode()).hexdigest()},
    },
    "sysctls": {"kernel.numa_balancing": "0", "vm.zone_reclaim_mode": "0"},
}


def part(role, name, state=None, numa=None, **settings):
    return python_part(role, name)(dict(spec_defaults(role), **settings), state, numa)


def test_only_roles_with_python_parts_are_listed_and_each_part_is_a_known_one():
    known = {"state_request", "host_problems", "drift_items", "notes", "exports", "plan", "sources"}
    assert set(ROLE_PARTS) == {"nps_layout", "numa_env", "page_cache", "cpu_governor"}
    assert all(set(parts) <= known for parts in ROLE_PARTS.values())
    assert python_part("monitoring", "drift_items") is None


def test_the_layout_verdict_and_a_layout_other_than_the_inventorys(numa):
    host = numa("epyc-2s-nps2")
    assert part("nps_layout", "notes", numa=host, ktune_expected_nodes_per_socket=2) == ["NPS2 on 2 sockets as expected"]
    assert part("nps_layout", "notes", numa=host) == ["NPS2 on 2 sockets (no layout expected, not asserted)"]
    [problem] = part("nps_layout", "host_problems", numa=host, ktune_expected_nodes_per_socket=4)
    assert "NPS4" in problem and "NPS2" in problem


def test_numa_env_reads_the_env_files_its_sysctl_file_and_the_use_numa_lines_with_the_one_pattern():
    request = part("numa_env", "state_request")
    assert request == {"files": ["/etc/environment", "/etc/ktransformers/*.env", SYSCTL_FILE],
                       "line_pattern": USE_NUMA_LINE_PATTERN, "sysctls": ["kernel.numa_balancing", "vm.zone_reclaim_mode"],
                       # and the files the registry's judgements of the role read (transparent hugepages)
                       "file_line_patterns": {"/etc/tmpfiles.d/ktune-transparent-hugepage.conf": r"\S"}}
    assert part("numa_env", "state_request", ktune_numa_env_extra_files=["/srv/k.env"])["files"] == [
        "/etc/environment", "/srv/k.env", SYSCTL_FILE]


def test_numa_env_in_place_has_no_drift_and_says_its_decision(numa):
    host = numa("epyc-2s-nps2")
    assert part("numa_env", "drift_items", IN_PLACE, host, ktune_use_numa=True) == []
    plan = part("numa_env", "plan", IN_PLACE, host, ktune_use_numa=True)
    assert plan["files"] == ["/etc/environment", "/etc/ktransformers/a.env"]
    assert plan["files_in_place"] and plan["sysctls_in_place"] and plan["sysctls"] == WANTED
    [note] = part("numa_env", "notes", IN_PLACE, host, ktune_use_numa=True)
    assert note.startswith("USE_NUMA on (USE_NUMA=1): ktune_use_numa is true"), note
    assert part("numa_env", "exports", IN_PLACE, host, ktune_use_numa=True) == {"ktune_use_numa_enabled": True}


def test_numa_env_off_lists_each_file_to_clear_and_the_kernel_values_to_set(numa):
    host = numa("epyc-2s-nps2")
    state = dict(IN_PLACE, sysctls={"kernel.numa_balancing": "1", "vm.zone_reclaim_mode": "0"})
    drift = part("numa_env", "drift_items", state, host, ktune_use_numa=False)
    assert drift[:2] == ['/etc/environment: USE_NUMA lines ["USE_NUMA=1"], expected []',
                         '/etc/ktransformers/a.env: USE_NUMA lines ["USE_NUMA=1"], expected []']
    assert [line for line in drift[2:] if "kernel.numa_balancing" in line], drift
    assert part("numa_env", "exports", state, host, ktune_use_numa=False) == {"ktune_use_numa_enabled": False}


def test_a_kernel_without_a_setting_gets_a_note_not_a_drift(numa):
    state = dict(IN_PLACE, sysctls={"kernel.numa_balancing": None, "vm.zone_reclaim_mode": "0"})
    notes = part("numa_env", "notes", state, numa("epyc-2s-nps2"), ktune_use_numa=True)
    assert notes[1] == ("not applicable, persisted for kernels that have them: the running kernel has no "
                        "kernel.numa_balancing (/proc/sys/kernel/numa_balancing does not exist); persisted with a "
                        "leading - so it is skipped at boot")


def test_page_cache_absent_lists_the_job_files_that_still_exist_or_were_not_read():
    state = {"files": {"/usr/local/sbin/ktune-drop-caches": {"exists": False},
                       "/etc/cron.d/ktune-drop-caches": {"exists": True, "type": "file"}}, "units": {}}
    settings = dict(spec_defaults("page_cache"), ktune_drop_caches_state="absent")
    rendered = dict((path, "x\n") for path in ("/usr/local/sbin/ktune-drop-caches", "/etc/cron.d/ktune-drop-caches"))
    assert python_part("page_cache", "drift_items")(settings, state, {}, rendered=rendered) == [
        "/etc/cron.d/ktune-drop-caches: present, expected absent"]
    assert python_part("page_cache", "drift_items")(settings, {"files": {}}, {}, rendered=rendered) == [
        "/usr/local/sbin/ktune-drop-caches: present, expected absent", "/etc/cron.d/ktune-drop-caches: present, expected absent"]


def test_page_cache_present_names_a_cron_daemon_that_is_not_running_and_every_missing_file():
    units = {"cron.service": {"load_state": "loaded", "active_state": "active", "unit_file_state": "disabled"}}
    settings = dict(spec_defaults("page_cache"), ktune_cron_service="cron")
    rendered = dict((path, "x\n") for path in ("/usr/local/sbin/ktune-drop-caches", "/etc/cron.d/ktune-drop-caches"))
    assert python_part("page_cache", "drift_items")(settings, {"files": {}, "units": units}, {}, rendered=rendered) == [
        "cron daemon: none of cron.service is active and enabled at boot",
        "/usr/local/sbin/ktune-drop-caches: missing", "/etc/cron.d/ktune-drop-caches: missing"]
    assert python_part("page_cache", "state_request")(settings) == {
        "files": ["/usr/local/sbin/ktune-drop-caches", "/etc/cron.d/ktune-drop-caches"], "units": ["cron.service"]}


CPUFREQ_RENDERED = dict((path, "x\n") for path in (
    "/usr/local/sbin/ktune-cpufreq-apply", "/etc/default/ktune-cpufreq", "/etc/systemd/system/ktune-cpufreq.service"))


def cpufreq_plan(governor, driver="acpi-cpufreq", changes=()):
    return {"applicable": True, "changes": list(changes), "policies": [
        {"policy": n, "cpus": str(n), "driver": driver, "active": True,
         "before": {"governor": governor, "epp": None, "min_freq_khz": None}} for n in range(2)]}


def tuned_state(active, profile=None):
    return {"units": {"tuned.service": {"active_state": "active" if active else "inactive"}},
            "files": {"/etc/tuned/active_profile": {"exists": True, "matching_lines": [profile]}} if profile else {}}


def test_cpu_governor_lists_the_governor_the_audit_fails_and_the_persistence_that_differs():
    state = {"cpufreq": cpufreq_plan("powersave", changes=["boost: 0 -> 1"]), "files": {}, "units": {}}
    rendered = CPUFREQ_RENDERED
    drift = python_part("cpu_governor", "drift_items")(dict(spec_defaults("cpu_governor")), state, {}, rendered=rendered)
    assert drift == ["governor policy0-1: powersave", "boost: 0 -> 1", "/usr/local/sbin/ktune-cpufreq-apply: missing",
                     "/etc/default/ktune-cpufreq: missing", "/etc/systemd/system/ktune-cpufreq.service: missing",
                     "ktune-cpufreq.service: not enabled at boot"], drift
    settings = dict(spec_defaults("cpu_governor"), ktune_cpu_governor_persist=False)
    assert python_part("cpu_governor", "drift_items")(settings, state, {}, rendered=rendered)[-1] == "boost: 0 -> 1"


def test_cpu_governor_tuned_fail_is_a_host_problem_disable_and_profile_are_drift():
    state = dict(tuned_state(True, "balanced"), cpufreq={"applicable": False, "reason": "no cpufreq"})
    settings = spec_defaults("cpu_governor")
    problems = python_part("cpu_governor", "host_problems")(settings, state, {})
    assert len(problems) == 1 and "Expected tuned inactive, found it active. Fix: set ktune_tuned_action" in problems[0]
    drift = python_part("cpu_governor", "drift_items")
    assert drift(dict(settings, ktune_tuned_action="disable"), state, {}, rendered=CPUFREQ_RENDERED) == [
        "tuned.service: active, expected stopped and disabled (ktune_tuned_action: disable)"]
    assert drift(dict(settings, ktune_tuned_action="profile"), state, {}, rendered=CPUFREQ_RENDERED) == [
        "tuned profile: balanced, expected throughput-performance"]
    on_profile = dict(tuned_state(True, "throughput-performance"), cpufreq=state["cpufreq"])
    assert drift(dict(settings, ktune_tuned_action="profile"), on_profile, {}, rendered=CPUFREQ_RENDERED) == []
    assert python_part("cpu_governor", "notes")(settings, state, {}) == [
        "cpufreq not applicable (no cpufreq); nothing to set or persist"]
    bare = {"cpufreq": {"applicable": False, "bare_metal": True, "msg": "no cpufreq driver. Fix: load one"}}
    assert python_part("cpu_governor", "host_problems")(settings, bare, {}) == ["no cpufreq driver. Fix: load one"]
