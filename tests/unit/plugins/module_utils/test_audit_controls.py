"""audit_controls: each control's verdict, finding and fix from host facts and settings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
from pathlib import Path

import pytest
import yaml

from ansible_collections.ktune.inference.plugins.module_utils import audit_controls as ac

ROOT = Path(__file__).resolve().parents[4]
DEFAULTS = ac.load_role_defaults(str(ROOT), yaml.safe_load)
SCRIPT = ac.DROP_SCRIPT


def cpufreq(governor="performance", epp="performance", driver="amd-pstate-epp", active=True):
    return {"applicable": True, "policy_count": 64, "driver": driver, "active_mode": active,
            "governors": {governor: "0-63"}, "available_governors": ["performance", "powersave"],
            "epp": None if epp is None else {epp: "0-63"}, "epp_choices": None if epp is None else ["performance"]}


def cron_job(schedule=("43", "*", "*", "*", "*"), args=("--level", "3", "--procfs-root", "/proc"), executable=True):
    return {"path": "/etc/cron.d/ktune-drop-caches", "present": True, "jobs": [
        {"malformed": False, "schedule": list(schedule), "user": "root", "argv": [SCRIPT] + list(args),
         "script": SCRIPT, "script_executable": executable}]}


def use_numa(*definitions):
    return {"files": [{"file": "/etc/environment", "exists": True}],
            "definitions": [{"file": path, "line_number": 1, "line": "USE_NUMA=%s" % value, "value": value}
                            for path, value in definitions]}


def sysctl(balancing=0, reclaim=0, persisted=True):
    live = {"kernel.numa_balancing": balancing, "vm.zone_reclaim_mode": reclaim}
    return {"file": "/etc/sysctl.d/90-ktune-numa.conf", "file_present": persisted,
            "persisted": {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 0} if persisted else {}, "live": live}


def tuned_state(**overrides):
    thp_file = ac.concerns.transparent_hugepage_persist_lines("madvise", "/sys/kernel/mm/transparent_hugepage/enabled")
    state = {"cpufreq": cpufreq(), "page_cache": cron_job(), "use_numa": use_numa(("/etc/environment", "1")),
             "sysctl": sysctl(), "services": {"units": []}, "sysfs_root": "/sys",
             "files": {ac.concerns.THP_PERSIST_FILE: thp_file}}
    state.update(overrides)
    return state


def settings(**overrides):
    merged = dict(DEFAULTS)
    merged.update(overrides)
    return merged


def grade(numa, state, **overrides):
    controls = ac.evaluate({"ktune_numa": numa, "ktune_host_state": state}, settings(**overrides))
    return dict((c["id"], c) for c in controls)


def test_role_defaults_are_read_from_the_roles():
    assert DEFAULTS["ktune_cpu_governor"] == "performance"
    assert DEFAULTS["ktune_drop_caches_minute"] == "43"
    assert DEFAULTS["ktune_use_numa"] == "auto"
    assert DEFAULTS["ktune_service_instances"] == []
    assert set(DEFAULTS) == set(ac.SETTING_NAMES)


def test_host_settings_overlay_the_defaults_with_host_vars_only_for_audited_names():
    merged = ac.host_settings(DEFAULTS, {"ktune_cpu_governor": "schedutil", "unrelated": 1})
    assert merged["ktune_cpu_governor"] == "schedutil"
    assert "unrelated" not in merged
    assert merged["ktune_drop_caches_level"] == 3


def test_a_tuned_nps2_host_passes_every_control_and_shape_is_exact(numa):
    controls = ac.evaluate({"ktune_numa": numa("epyc-2s-nps2"), "ktune_host_state": tuned_state()},
                           settings(ktune_expected_nodes_per_socket=2, ktune_use_numa=True,
                                    ktune_transparent_hugepage="madvise"))
    assert [c["id"] for c in controls] == list(ac.CONTROL_IDS)
    assert all(set(c) == {"id", "status", "severity", "finding", "fix"} for c in controls)
    assert {c["id"]: c["status"] for c in controls} == dict(
        (cid, "skip" if cid.startswith(("service.", "bios.")) or cid == "use_numa.memory" else "pass")
        for cid in ac.CONTROL_IDS)
    assert ac.host_status(controls) == "pass"


def test_layout_fails_with_bios_fix_when_nps4_expected_nps2(numa):
    layout = grade(numa("epyc-2s-nps4"), tuned_state(), ktune_expected_nodes_per_socket=2)["numa.layout"]
    assert layout["status"] == "fail" and layout["severity"] == "error"
    assert layout["finding"] == "expected NPS2 (4 nodes on 2 sockets), found NPS4 (8 nodes with CPUs on 2 sockets)"
    assert layout["fix"].startswith("set the BIOS option NUMA nodes per socket to NPS2")
    assert "NumaNodesPerSocket" in layout["fix"]


def test_layout_is_only_reported_when_nothing_is_expected(numa):
    layout = grade(numa("epyc-2s-nps4"), tuned_state())["numa.layout"]
    assert layout["status"] == "pass"
    assert "not asserted" in layout["finding"]


def test_layout_fails_on_cpus_in_several_nodes_even_when_nothing_is_expected(tmp_path):
    import topologies
    from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
    root = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path)
    (root / "sys/devices/system/node/node1/cpulist").write_text("4-15,36-47\n")  # firmware lists 4-7,36-39 twice
    layout = grade(gather_numa_facts(str(root / "sys"), str(root / "proc")), tuned_state())["numa.layout"]
    assert layout["status"] == "fail"
    assert layout["finding"].startswith("expected every CPU in exactly one NUMA node, found CPUs 4-7,36-39 in "
                                        "several (node0, node1)")
    assert layout["fix"] == "update the BIOS (system firmware) and reboot"


def test_layout_names_snc_on_intel(numa):
    layout = grade(numa("xeon-2s-snc2-interleaved"), tuned_state(), ktune_expected_nodes_per_socket=2)["numa.layout"]
    assert layout["status"] == "pass"
    assert layout["finding"].startswith("SNC2, 4 NUMA nodes with CPUs on 2 sockets")


@pytest.mark.parametrize("required, severity", [(True, "error"), (False, "warning")])
def test_unbalanced_memory_fails_with_the_configured_severity(numa, required, severity):
    control = grade(numa("epyc-2s-nps1-unbalanced"), tuned_state(),
                    ktune_require_balanced_memory=required)["numa.memory_balance"]
    assert (control["status"], control["severity"]) == ("fail", severity)
    assert "node0 393216 MiB, node1 327680 MiB" in control["finding"]
    assert "DIMMs" in control["fix"]


def test_memory_only_nodes_fail_only_with_numa_on(numa):
    cxl = numa("xeon-2s-cxl-memory-only")
    on = grade(cxl, tuned_state(), ktune_use_numa="auto")["numa.memory_only_nodes"]
    assert on["status"] == "fail" and "Invalid argument" in on["finding"]
    off = grade(cxl, tuned_state(use_numa=use_numa()), ktune_use_numa=False)["numa.memory_only_nodes"]
    assert off["status"] == "skip"
    allowed = grade(cxl, tuned_state(), ktune_allow_memory_only_nodes=True)["numa.memory_only_nodes"]
    assert allowed["status"] == "pass"


def test_numa_balancing_live_and_persisted(numa):
    control = grade(numa("epyc-2s-nps2"), tuned_state(sysctl=sysctl(balancing=1, persisted=False)))["numa.balancing"]
    assert control["status"] == "fail" and control["severity"] == "warning"
    assert "kernel.numa_balancing = 1 live, expected 0" in control["finding"]
    assert "vm.zone_reclaim_mode not persisted in /etc/sysctl.d/90-ktune-numa.conf" in control["finding"]
    assert "--tags numa_env" in control["fix"]


def test_kernel_without_numa_balancing_passes_with_a_note(numa):
    state = sysctl()
    state["live"]["kernel.numa_balancing"] = None
    control = grade(numa("vm-1node-no-cpufreq"), tuned_state(sysctl=state))["numa.balancing"]
    assert control["status"] == "pass"
    assert "kernel lacks kernel.numa_balancing" in control["finding"]


def test_a_kernel_setting_the_read_never_asked_for_fails_instead_of_passing(numa):
    # A reader that forgot a managed key used to pass it as "kernel lacks it" (fail open).
    state = sysctl()
    del state["live"]["vm.zone_reclaim_mode"]
    control = grade(numa("epyc-2s-nps2"), tuned_state(sysctl=state))["numa.balancing"]
    assert control["status"] == "fail" and "no value for vm.zone_reclaim_mode" in control["finding"], control


def test_the_audit_reads_and_judges_every_kernel_setting_of_the_one_table():
    from ansible_collections.ktune.inference.plugins.module_utils import concerns, host_state
    assert host_state.MANAGED_SYSCTLS == concerns.NUMA_SYSCTL_NAMES
    assert set(concerns.NUMA_SYSCTL_VARIABLES) <= set(ac.SETTING_NAMES)


def test_governor_fails_listing_policies_and_skips_without_cpufreq(numa):
    nps2 = numa("epyc-2s-nps2")
    control = grade(nps2, tuned_state(cpufreq=cpufreq(governor="powersave")))["cpufreq.governor"]
    assert control["status"] == "fail"
    assert control["finding"] == "expected governor performance, found policy0-63: powersave"
    assert "--tags cpu_governor" in control["fix"]
    unavailable = grade(nps2, tuned_state(cpufreq=cpufreq(governor="powersave")),
                        ktune_cpu_governor="schedutil")["cpufreq.governor"]
    assert "does not offer schedutil" in unavailable["fix"]
    vm = {"applicable": False, "policy_count": 0, "bare_metal": False, "dmi": None,
          "virtual": "virtual machine: the CPUs have the hypervisor flag"}
    none = grade(numa("vm-1node-no-cpufreq"), tuned_state(cpufreq=vm))
    assert none["cpufreq.governor"]["status"] == "skip"
    assert "hypervisor flag" in none["cpufreq.governor"]["finding"]
    assert none["cpufreq.epp"]["status"] == "skip"


def test_bare_metal_without_cpufreq_fails_the_governor_control(numa):
    metal = {"applicable": False, "policy_count": 0, "bare_metal": True, "virtual": None,
             "dmi": "Dell Inc. PowerEdge R7625"}
    controls = grade(numa("epyc-2s-nps2"), tuned_state(cpufreq=metal))
    governor = controls["cpufreq.governor"]
    assert (governor["status"], governor["severity"]) == ("fail", "error")
    assert governor["finding"].startswith("expected governor performance, found no cpufreq policies on bare metal")
    assert "DMI: Dell Inc. PowerEdge R7625" in governor["finding"]
    assert "amd_pstate=active" in governor["fix"]
    assert controls["cpufreq.epp"]["status"] == "skip"


def test_epp_follows_the_active_mode_rule_or_the_setting(numa):
    nps2 = numa("epyc-2s-nps2")
    held = grade(nps2, tuned_state(cpufreq=cpufreq(epp="balance_performance")))["cpufreq.epp"]
    assert held["status"] == "fail" and held["severity"] == "warning"
    assert "expected EPP performance" in held["finding"]
    unmanaged = grade(nps2, tuned_state(cpufreq=cpufreq(governor="performance", epp="power", driver="amd-pstate",
                                                        active=False)))["cpufreq.epp"]
    assert unmanaged["status"] == "skip"
    set_ = grade(nps2, tuned_state(cpufreq=cpufreq(governor="powersave", epp="power")),
                 ktune_cpu_governor="powersave", ktune_cpu_epp="power")["cpufreq.epp"]
    assert set_["status"] == "pass"
    no_epp = grade(nps2, tuned_state(cpufreq=cpufreq(epp=None, driver="acpi-cpufreq", active=False)))["cpufreq.epp"]
    assert no_epp["status"] == "skip" and "acpi-cpufreq" in no_epp["finding"]


def test_cron_job_as_configured_and_drift(numa):
    nps2 = numa("epyc-2s-nps2")
    assert grade(nps2, tuned_state())["page_cache.cron"]["status"] == "pass"
    moved = grade(nps2, tuned_state(page_cache=cron_job(schedule=("0", "*", "*", "*", "*"))))["page_cache.cron"]
    assert moved["status"] == "fail"
    assert "expected '43 * * * * root %s --level 3 --procfs-root /proc'" % SCRIPT in moved["finding"]
    assert "found '0 * * * * root" in moved["finding"]
    fixture_proc = grade(nps2, tuned_state(), ktune_procfs_root="/opt/p")["page_cache.cron"]
    assert fixture_proc["status"] == "fail"
    skip_unit = grade(nps2, tuned_state(page_cache=cron_job(args=(
        "--level", "1", "--procfs-root", "/proc", "--skip-unit", "ktransformers@r1.service", "--skip-state",
        "activating"))), ktune_drop_caches_level=1, ktune_drop_caches_skip_unit="ktransformers@r1.service")
    assert skip_unit["page_cache.cron"]["status"] == "pass"
    no_script = grade(nps2, tuned_state(page_cache=cron_job(executable=False)))["page_cache.cron"]
    assert no_script["status"] == "fail" and "not executable" in no_script["finding"]


def test_cron_job_absent_when_configured_absent(numa):
    nps2 = numa("epyc-2s-nps2")
    present = grade(nps2, tuned_state(), ktune_drop_caches_state="absent")["page_cache.cron"]
    assert present["status"] == "fail" and "absent" in present["finding"]
    gone = {"path": "/etc/cron.d/ktune-drop-caches", "present": False, "jobs": []}
    absent = grade(nps2, tuned_state(page_cache=gone), ktune_drop_caches_state="absent")
    assert absent["page_cache.cron"]["status"] == "pass"
    missing = grade(nps2, tuned_state(page_cache=gone))["page_cache.cron"]
    assert missing["status"] == "fail" and "found none" in missing["finding"]


def test_use_numa_zero_is_reported_as_numa_effectively_on(numa):
    control = grade(numa("epyc-2s-nps1"), tuned_state(use_numa=use_numa(("/etc/environment", "0"))),
                    ktune_use_numa=False)["use_numa.policy"]
    assert control["status"] == "fail"
    assert "USE_NUMA=0 in /etc/environment:1" in control["finding"]
    assert "NUMA effectively ON" in control["finding"]
    assert "rebuild" in control["fix"]


def test_use_numa_policy_on_and_off(numa):
    nps2 = numa("epyc-2s-nps2")
    assert grade(nps2, tuned_state(), ktune_use_numa=True)["use_numa.policy"]["status"] == "pass"
    missing = grade(nps2, tuned_state(use_numa=use_numa()), ktune_use_numa=True)["use_numa.policy"]
    assert missing["status"] == "fail" and "USE_NUMA not defined" in missing["finding"]
    env_only = grade(nps2, tuned_state(use_numa=use_numa(("/etc/ktransformers/r1.env", "1"))),
                     ktune_use_numa=True)["use_numa.policy"]
    assert env_only["status"] == "fail"
    single = grade(numa("vm-1node-no-cpufreq"), tuned_state(use_numa=use_numa()))["use_numa.policy"]
    assert single["status"] == "pass" and "gains nothing" in single["finding"]


def test_use_numa_true_where_it_cannot_work_fails_with_the_reason(numa):
    control = grade(numa("epyc-2s-nps4"), tuned_state(use_numa=use_numa()), ktune_use_numa=True,
                    ktune_model_size_gb=100)
    assert control["use_numa.policy"]["status"] == "fail"
    assert "100 GiB x 8 nodes = 800.0 GiB needed" in control["use_numa.policy"]["finding"]
    assert control["use_numa.memory"]["status"] == "fail"
    assert control["use_numa.memory"]["finding"].endswith("800.0 GiB needed, 512.0 GiB RAM")


def test_use_numa_memory_skips_when_off_or_size_unknown(numa):
    nps2 = numa("epyc-2s-nps2")
    assert grade(nps2, tuned_state(use_numa=use_numa()), ktune_use_numa=False,
                 ktune_model_size_gb=400)["use_numa.memory"]["status"] == "skip"
    assert grade(nps2, tuned_state(), ktune_use_numa=True)["use_numa.memory"]["status"] == "skip"
    fits = grade(nps2, tuned_state(), ktune_use_numa=True, ktune_model_size_gb=60)["use_numa.memory"]
    assert fits["status"] == "pass"
    bad = grade(nps2, tuned_state(), ktune_model_size_gb="-5")["use_numa.memory"]
    assert bad["status"] == "fail" and "ktune_model_size_gb" in bad["finding"]


def _unit(name, active="active", health=200, state="present"):
    return {"name": name, "state": state, "unit": "ktransformers@%s.service" % name, "backend": "legacy",
            "health_url": "http://127.0.0.1:10002/v1/models", "active_state": active, "health_status": health,
            "health_message": "HTTP %s" % health if health else "Connection refused"}


def test_services_skip_without_instances_and_grade_units(numa):
    nps2 = numa("epyc-2s-nps2")
    none = grade(nps2, tuned_state())
    assert none["service.active"]["status"] == none["service.healthy"]["status"] == "skip"
    instances = [{"name": "r1", "model_path": "/m"}]
    good = grade(nps2, tuned_state(services={"units": [_unit("r1")]}), ktune_service_instances=instances)
    assert good["service.active"]["status"] == good["service.healthy"]["status"] == "pass"
    down = grade(nps2, tuned_state(services={"units": [_unit("r1", active="failed", health=None)]}),
                 ktune_service_instances=instances)
    assert down["service.active"]["finding"] == "expected active: ktransformers@r1.service failed"
    assert down["service.healthy"]["status"] == "fail"
    assert "Connection refused" in down["service.healthy"]["finding"]
    sick = grade(nps2, tuned_state(services={"units": [_unit("r1", health=503)]}), ktune_service_instances=instances)
    assert sick["service.active"]["status"] == "pass" and sick["service.healthy"]["status"] == "fail"
    leftover = grade(nps2, tuned_state(services={"units": [_unit("r1", state="absent")]}),
                     ktune_service_instances=[{"name": "r1", "state": "absent"}])
    assert leftover["service.active"]["status"] == "fail"


def test_unreadable_sections_fail_naming_the_file(numa):
    controls = grade(numa("epyc-2s-nps2"), tuned_state(cpufreq={"error": "/sys/x/scaling_driver: cannot read"}))
    assert controls["cpufreq.governor"]["status"] == "fail"
    assert "/sys/x/scaling_driver" in controls["cpufreq.governor"]["finding"]
    missing_numa = dict((c["id"], c) for c in ac.evaluate({"ktune_host_state": tuned_state()}, settings()))
    assert missing_numa["numa.layout"]["status"] == "fail"


def test_warnings_alone_do_not_fail_a_host():
    assert ac.host_status([ac.control("cpufreq.epp", "fail", "warning", "x")]) == "pass"
    assert ac.host_status([ac.control("numa.layout", "fail", "error", "x")]) == "fail"
    assert ac.host_status([ac.control("numa.layout", "skip", "error", "x")]) == "pass"


def test_cron_job_needs_a_running_cron_daemon_when_systemd_can_tell(numa):
    nps2 = numa("epyc-2s-nps2")
    running = cron_job()
    running["daemon"] = {"units": {"cron.service": {"load_state": "loaded", "active_state": "active",
                                                    "unit_file_state": "enabled"}}}
    control = grade(nps2, tuned_state(page_cache=running))["page_cache.cron"]
    assert control["status"] == "pass" and control["finding"].endswith("run by cron.service")
    stopped = cron_job()
    stopped["daemon"] = {"units": {"cron.service": {"load_state": "loaded", "active_state": "inactive",
                                                    "unit_file_state": "disabled"}}}
    control = grade(nps2, tuned_state(page_cache=stopped))["page_cache.cron"]
    assert control["status"] == "fail"
    assert control["finding"].endswith("found cron.service inactive, disabled at boot")
    missing = cron_job()
    missing["daemon"] = {"units": {}}
    assert "no cron unit installed" in grade(nps2, tuned_state(page_cache=missing))["page_cache.cron"]["finding"]
    unknown = cron_job()
    unknown["daemon"] = {"units": None, "unknown": "systemd is not running here"}
    control = grade(nps2, tuned_state(page_cache=unknown))["page_cache.cron"]
    assert control["status"] == "pass" and "cron daemon not checked: systemd is not running here" in control["finding"]


def test_service_listen_fails_an_instance_open_beyond_loopback_without_protection(numa):
    from ansible_collections.ktune.inference.plugins.module_utils.host_state import expected_instances

    nps2 = numa("epyc-2s-nps2")
    configured = [{"name": "r1", "model_path": "/m", "gguf_path": "/g"},
                  {"name": "k2", "backend": "sglang", "model_path": "/m", "kt_weight_path": "/w",
                   "host": "0.0.0.0", "api_key": "0123456789abcdef", "share_cpus_with": ["r1"]}]
    units, error = expected_instances(configured, nps2, {})
    assert error is None and [unit["exposure"] for unit in units] == [None, None]
    good = grade(nps2, tuned_state(services={"units": units}), ktune_service_instances=configured)
    assert good["service.listen"]["status"] == "pass"
    assert good["service.listen"]["finding"] == ("listening: ktransformers@r1.service on 127.0.0.1, "
                                                 "ktransformers@k2.service on 0.0.0.0")
    opened = [dict(configured[0], host="0.0.0.0"), dict(configured[1], api_key=None, host="10.1.2.3")]
    units, _problems = expected_instances(opened, nps2, {})
    bad = grade(nps2, tuned_state(services={"units": units}), ktune_service_instances=opened)["service.listen"]
    assert bad["status"] == "fail" and bad["severity"] == "error"
    assert bad["finding"] == (
        "expected loopback or a guarded API: ktransformers@r1.service listens on all addresses, and the legacy "
        "server checks its API key on POST /v1/chat/completions only: /v1/completions and the Ollama routes are "
        "open; ktransformers@k2.service listens on 10.1.2.3 without an API key")
    assert "front the port with an authenticating proxy" in bad["fix"]
    assert grade(nps2, tuned_state())["service.listen"]["status"] == "skip"


def _measured(unit, resident, **fields):
    result = {"name": unit, "state": "present", "unit": "ktransformers@%s.service" % unit, "backend": "sglang",
              "numactl": "none", "numa_node": None, "kt_numa_nodes": [0, 1, 2, 3],
              "numa_resident_kb": dict((str(node), kb) for node, kb in resident.items())}
    result.update(fields)
    return result


def test_service_numa_placement_checks_what_the_binding_promises(numa):
    nps2 = numa("epyc-2s-nps2")
    configured = [{"name": "k2", "model_path": "/m"}]

    def placement(*units, **settings_):
        on_host = use_numa(("/etc/environment", "1")) if settings_.get("ktune_use_numa") else use_numa()
        return grade(nps2, tuned_state(services={"units": list(units)}, use_numa=on_host),
                     ktune_service_instances=configured, **settings_)["service.numa_placement"]

    GIB_KB = 1024 * 1024
    spread = placement(_measured("k2", {0: 30 * GIB_KB, 1: 28 * GIB_KB, 2: 31 * GIB_KB, 3: 29 * GIB_KB}))
    assert spread["status"] == "pass" and spread["severity"] == "warning"
    assert spread["finding"] == "as promised: ktransformers@k2.service kt-kernel's thread pools on nodes 0-3"
    lopsided = placement(_measured("k2", {0: 100 * GIB_KB, 1: 4 * GIB_KB, 2: 30 * GIB_KB, 3: 30 * GIB_KB}))
    assert lopsided["status"] == "fail"
    assert lopsided["finding"].startswith("ktransformers@k2.service: nodes 1 hold less than half an even share of "
                                          "its 164.0 GiB resident (kt-kernel's thread pools on nodes 0-3)")
    bound = _measured("k2", {2: 50 * GIB_KB, 0: 10 * GIB_KB}, numactl="bind", numa_node=2, kt_numa_nodes=[2])
    bad = placement(bound)
    assert bad["status"] == "fail" and "83% of its 60.0 GiB resident is on node 2, expected >= 90%" in bad["finding"]
    assert placement(dict(bound, numa_resident_kb={"2": 59 * GIB_KB, "0": GIB_KB}))["status"] == "pass"
    # a legacy server without USE_NUMA and without numactl promises nothing
    legacy = _measured("r1", {0: GIB_KB}, backend="legacy", kt_numa_nodes=None)
    assert placement(legacy, ktune_use_numa=False)["status"] == "pass"
    copies = placement(legacy, ktune_use_numa=True)
    assert copies["status"] == "fail" and "a legacy USE_NUMA build's copy per node" in copies["finding"]
    assert placement(dict(legacy, numa_resident_kb=None))["status"] == "skip"
    assert grade(nps2, tuned_state())["service.numa_placement"]["status"] == "skip"


# --- BIOS, read through the BMC ---------------------------------------------------------

def bmc_read(current="2", pending=None, pending_nodes=None, **extra):
    """What ktune.inference.bios_layout returns without nodes_per_socket (a Dell BIOS)."""
    result = {"changed": False, "state": "read", "attribute": "NumaNodesPerSocket", "current": current,
              "pending": pending, "staged": pending is not None and pending != current,
              "pending_nodes_per_socket": pending_nodes, "system": "/redfish/v1/Systems/System.Embedded.1"}
    result.update(extra)
    return result


def grade_bios(bmc, **overrides):
    controls = ac.evaluate({"ktune_numa": {"error": "not read"}, "ktune_host_state": {}, "ktune_bmc": bmc},
                           settings(**overrides))
    found = dict((c["id"], c) for c in controls)
    return found["bios.pending"], found["bios.readable"]


def test_bios_controls_are_skipped_without_a_bmc():
    for bmc in (None, {"skipped": True, "false_condition": "ktune_bmc_address | default('') | length > 0"}):
        pending, readable = grade_bios(bmc)
        assert (pending["status"], readable["status"]) == ("skip", "skip")
        assert "ktune_bmc_address is not set" in readable["finding"]


def test_bios_nothing_staged_passes():
    pending, readable = grade_bios(bmc_read(current="2", pending="2"), ktune_expected_nodes_per_socket=2)
    assert (pending["status"], readable["status"]) == ("pass", "pass")
    assert pending["finding"] == 'NumaNodesPerSocket is "2"; nothing staged'
    assert (pending["severity"], readable["severity"]) == ("warning", "warning")


def test_a_staged_layout_waiting_for_a_reboot_is_a_warning_naming_the_reboot():
    pending, dummy = grade_bios(bmc_read(current="4", pending="2", pending_nodes=2), ktune_expected_nodes_per_socket=2)
    assert (pending["status"], pending["severity"]) == ("fail", "warning")
    assert pending["finding"] == ('expected the staged BIOS layout to be applied, found NumaNodesPerSocket "2" staged '
                                  '(current "4"): staged, applies at next reboot')
    assert pending["fix"] == ("restart the host in its maintenance window: ansible-playbook playbooks/bios.yml "
                              "-i INVENTORY --limit HOST -e ktune_bios_reboot=true")


def test_a_stale_staged_layout_names_the_layout_it_would_give_and_the_restaging():
    pending, dummy = grade_bios(bmc_read(current="2", pending="4", pending_nodes=4), ktune_expected_nodes_per_socket=2)
    assert (pending["status"], pending["severity"]) == ("fail", "warning")
    assert pending["finding"].startswith("expected no BIOS layout change other than 2 nodes per socket waiting for "
                                         "a reboot, found NumaNodesPerSocket \"4\" staged (current \"2\")")
    assert pending["finding"].endswith("which gives 4 nodes per socket")
    assert pending["fix"].startswith("replace the stale change with ansible-playbook playbooks/bios.yml -i INVENTORY "
                                     "--limit HOST, then restart")


def test_an_unreadable_bmc_is_unknown_not_pass():
    failed = {"failed": True, "msg": "BMC https://bmc-7.example: expected the BMC at https://bmc-7.example to "
                                     "answer GET /redfish/v1, found [Errno 111] Connection refused"}
    pending, readable = grade_bios(failed)
    assert (readable["status"], readable["severity"]) == ("unknown", "warning")
    assert readable["finding"] == ("expected the BIOS layout read through the BMC, found the read failed: BMC "
                                   "https://bmc-7.example: expected the BMC at https://bmc-7.example to answer GET "
                                   "/redfish/v1, found [Errno 111] Connection refused")
    assert "ktune_bmc_password" in readable["fix"]
    assert pending["status"] == "skip" and "bios.readable" in pending["finding"]
    assert ac.host_status([pending, readable]) == "pass"  # a warning: shown, not fatal

    # a read that failed with a fix of its own keeps that fix
    dummy, readable = grade_bios({"failed": True, "msg": "BMC x: expected a NUMA layout attribute, found none. "
                                                         "Fix: set the layout in this BIOS's setup by hand"})
    assert readable["fix"] == "set the layout in this BIOS's setup by hand"


# --- kt-kernel's weights against the thread pools (kt_weights.weight_split_finding) -------------

def _weights_graded(numa_facts, weights_root, configured):
    from ansible_collections.ktune.inference.plugins.module_utils.host_state import expected_instances, read_services

    units, error = expected_instances(configured, numa_facts, {})
    assert error is None
    services = read_services(units, lambda names: {}, lambda url: (200, "HTTP 200"), None, str(weights_root))
    return grade(numa_facts, tuned_state(services=services), ktune_service_instances=configured)


def test_weights_converted_on_nps2_fail_the_audit_after_the_bios_went_nps4(numa, tmp_path):
    from ansible_collections.ktune.inference.tests.unit.kt_weight_tree import write_merged

    # 2 sockets x NPS2: 4 nodes, so the instance starts 4 pools and its weights were cut for 4.
    write_merged(str(tmp_path / "models" / "DeepSeek-V3-AMXINT4-NUMA4"), 4)
    configured = [{"name": "k2", "backend": "sglang", "model_path": "/models/DeepSeek-V3",
                   "kt_weight_path": "/models/DeepSeek-V3-AMXINT4-NUMA4", "kt_cpuinfer": 60}]
    before = _weights_graded(numa("epyc-2s-nps2"), tmp_path, configured)["service.weights_layout"]
    assert before["status"] == "pass" and before["severity"] == "error"
    assert before["finding"] == "k2: /models/DeepSeek-V3-AMXINT4-NUMA4 is cut for 4 thread pools, as started"
    # The same inventory after the BIOS change to NPS4: 8 nodes, 8 pools, the same weights.
    after = _weights_graded(numa("epyc-2s-nps4"), tmp_path, configured)["service.weights_layout"]
    assert after["status"] == "fail" and after["severity"] == "error"
    assert after["finding"] == ("k2: expected kt-kernel weights cut for 8 thread pools (--kt-threadpool-count 8, "
                                "nodes 0 1 2 3 4 5 6 7), found 4 thread pools in /models/DeepSeek-V3-AMXINT4-NUMA4")
    assert after["fix"] == (
        "convert the weights again for 8 pools on the host: python kt-kernel/scripts/convert_cpu_weights.py "
        "--input-path /models/DeepSeek-V3 --input-type fp8|fp16|bf16 (as the model) --output "
        "/models/DeepSeek-V3-AMXINT4-NUMA8 --quant-method int4 --cpuinfer-threads 60 --threadpool-count 8; "
        "then set kt_weight_path: /models/DeepSeek-V3-AMXINT4-NUMA8")


def test_weights_the_audit_cannot_read_safely_are_unknown_and_others_skipped(numa, tmp_path):
    nps2 = numa("epyc-2s-nps2")
    assert grade(nps2, tuned_state())["service.weights_layout"]["status"] == "skip"
    legacy = [{"name": "r1", "model_path": "/m", "gguf_path": "/g"}]
    skipped = _weights_graded(nps2, tmp_path, legacy)["service.weights_layout"]
    assert skipped == {"id": "service.weights_layout", "status": "skip", "severity": "error",
                       "finding": "r1 loads no kt-kernel weights", "fix": ""}
    os.mkdir(str(tmp_path / "models"))
    os.mkfifo(str(tmp_path / "models" / "w"))
    sglang = [{"name": "k2", "backend": "sglang", "model_path": "/m", "kt_weight_path": "/models/w"}]
    unknown = _weights_graded(nps2, tmp_path, sglang)["service.weights_layout"]
    assert unknown["status"] == "unknown"
    assert unknown["finding"] == "k2: /models/w: expected a directory, found another kind of file"
    unread = grade(nps2, tuned_state(services={"error": "boom"}), ktune_service_instances=sglang)
    assert unread["service.weights_layout"]["status"] == "fail"
