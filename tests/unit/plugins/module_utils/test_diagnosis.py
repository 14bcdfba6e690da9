"""Likely-cause judgement and summary.md of playbooks/diagnose.yml."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils import diagnosis

# numastat -m of a two-socket host with newer kernel noise lines (telemetry-samples 2.8 shape).
NUMASTAT_M = """\
Per-node system memory usage (in MBs):
Token Unaccepted not in hash table.
Token Unaccepted not in hash table.
                          Node 0          Node 1           Total
                 --------------- --------------- ---------------
MemTotal               771710.76       773987.20      1545697.96
MemFree                  3487.92       104793.30       108281.22
MemUsed                768222.84       669193.91      1437416.75
"""

KERNEL_LOG = """\
[76747.169437] mce: CPU0: Package temperature above threshold, cpu clock throttled (total events = 3654)
[76747.348389] mce: CPU2: Package temperature/speed normal
[ 1234.000001] mce: [Hardware Error]: Machine check events logged
"""


def thermal(throttle=None, dimms=(), governors=None, numastat=None):
    dimms = list(dimms)
    readable = [d for d in dimms if d["celsius"] is not None]
    return {"ipmi": {"available": True, "dimms": dimms,
                     "hottest": max(readable, key=lambda d: d["celsius"]) if readable else None},
            "throttle": throttle or {}, "governors": governors or [],
            "numastat": numastat or {}, "frequency_hz": {}}


def dimm(name, celsius, critical):
    return {"name": name, "celsius": celsius, "status": "ok", "upper_critical": critical}


def causes(data):
    return [item["cause"] for item in diagnosis.findings(dict({"host": "h1"}, **data))]


def test_healthy_host_has_no_findings():
    data = {"thermal_before": thermal({"0": {"core_throttle_count": 4}}, [dimm("P1-DIMMA1 Temp", 40.0, 85.0)],
                                      [{"governor": "performance", "driver": "acpi-cpufreq", "policies": 64}],
                                      {"0": {"numa_hit": 1000, "numa_miss": 1}}),
            "meminfo": "MemTotal: 1000000 kB\nMemAvailable: 800000 kB\n",
            "frequency_samples": "1 2400000 3000000 3700000\n2 2400000 3100000 3700000\n"}
    data["thermal_after"] = data["thermal_before"]
    assert causes(data) == []
    summary = diagnosis.summary_markdown(dict(data, host="h1"))
    assert "None found in the collected data." in summary
    assert "Everything was collected." in summary


def test_each_cause_is_named_with_evidence():
    before = thermal({"0": {"core_throttle_count": 4, "package_throttle_count": 10}})
    after = thermal({"0": {"core_throttle_count": 9, "package_throttle_count": 10}},
                    [dimm("P1-DIMMA1 Temp", 82.0, 85.0), dimm("P1-DIMMB1 Temp", 60.0, 85.0),
                     dimm("DIMM_C1", 88.0, None)],
                    [{"governor": "schedutil", "driver": "acpi-cpufreq", "policies": 64}],
                    {"0": {"numa_hit": 900, "numa_miss": 100}, "1": {"numa_hit": 1000, "numa_miss": 0}})
    data = {"host": "h1", "thermal_before": before, "thermal_after": after,
            "layout_problems": ["h1: expected NPS2 (4 nodes on 2 sockets), found NPS4"],
            "meminfo": "MemTotal: 1000000 kB\nMemAvailable: 50000 kB\n", "numastat_m": NUMASTAT_M,
            "kernel_log": KERNEL_LOG, "service_journal": "Traceback (most recent call last):\n",
            "frequency_samples": "1 2400000 3600000 3700000\n2 1200000 1500000 2000000\n"}
    found = {item["cause"]: item for item in diagnosis.findings(data)}
    assert set(found) == {"Wrong NUMA layout", "Hot DIMMs", "CPU thermal throttling during the sampling window",
                          "CPU governor is not performance", "CPU frequency dropped during the sampling window",
                          "Memory pressure", "NUMA node nearly full", "Cross-node memory traffic",
                          "Machine check or memory errors in the kernel log", "Errors in the ktransformers journal"}
    assert found["Hot DIMMs"]["evidence"] == ("P1-DIMMA1 Temp 82.0 °C (critical 85.0 °C); "
                                              "DIMM_C1 88.0 °C (no BMC threshold, 85 °C assumed)")
    assert found["CPU thermal throttling during the sampling window"]["evidence"] == "node 0: core_throttle_count +5"
    assert found["NUMA node nearly full"]["evidence"] == "node 0 3488 MB free of 771711 MB"
    assert found["Cross-node memory traffic"]["evidence"].startswith("node 0 numa_miss 10.0%")
    assert "node 1" not in found["Cross-node memory traffic"]["evidence"]
    assert "64 policies on schedutil" in found["CPU governor is not performance"]["evidence"]
    assert "Hardware Error" in found["Machine check or memory errors in the kernel log"]["evidence"]
    severities = [item["severity"] for item in diagnosis.findings(data)]
    assert severities == sorted(severities)  # critical before warning


def test_throttle_seen_only_in_the_log_is_reported_from_the_log():
    assert causes({"kernel_log": KERNEL_LOG.splitlines()[0]}) == ["CPU thermal throttling in the kernel log"]


def test_thresholds_can_be_changed():
    data = {"thermal_after": thermal(dimms=[dimm("DIMM_A1", 70.0, 85.0)])}
    assert causes(data) == []
    assert causes(dict(data, thresholds={"dimm_margin_c": 20})) == ["Hot DIMMs"]


def test_numastat_m_parser_skips_noise_and_reads_nodes():
    table = diagnosis.parse_numastat_m(NUMASTAT_M)
    assert table["MemTotal"] == {0: 771710.76, 1: 773987.20}
    assert diagnosis.parse_numastat_m("numastat: command not found") == {}


def test_missing_tools_are_listed_not_fatal():
    summary = diagnosis.summary_markdown({"host": "h2", "missing": {"perf": "not installed", "ipmitool": "no BMC"},
                                          "files": ["meminfo.txt"], "collected_at": "2026-01-01T00:00:00Z",
                                          "window_s": 10})
    assert summary.startswith("# Diagnosis of h2\n")
    assert "- ipmitool: no BMC\n- perf: not installed" in summary
    assert "## Files in the bundle\n\n- meminfo.txt" in summary
    assert "sampling window 10 s" in summary


def test_missing_as_tsv_and_the_ipmi_reason():
    after = thermal()
    after["ipmi"] = {"available": False, "reason": "ipmitool not found on the PATH or in /usr/sbin", "dimms": []}
    summary = diagnosis.summary_markdown({"host": "h4", "missing": "perf\tnot installed\nnumastat\tnot installed\n",
                                          "thermal_after": after})
    assert ("- ipmitool: ipmitool not found on the PATH or in /usr/sbin\n- numastat: not installed\n"
            "- perf: not installed\n") in summary
    summary = diagnosis.summary_markdown({"host": "h4", "numa_error": "/x/devices/system/cpu: no such directory"})
    assert "- numa-layout: /x/devices/system/cpu: no such directory\n" in summary


def test_garbage_inputs_do_not_crash():
    data = {"host": "h3", "meminfo": "garbage", "numastat_m": "Node x\n---\nMemTotal a b",
            "frequency_samples": "not numbers\n1 2 3\n", "kernel_log": None}
    assert diagnosis.findings(data) == []
    assert "# Diagnosis of h3" in diagnosis.summary_markdown(data)


def test_default_settings_are_valid():
    settings = {"ktune_diagnose_samples": 5, "ktune_diagnose_window_s": 10, "ktune_diagnose_perf_s": 5,
                "ktune_diagnose_log_lines": 500, "ktune_diagnose_thresholds": {}, "ktune_diagnose_dest": None,
                "ktune_diagnose_remote_tmp": "/var/tmp", "ktune_sysfs_root": "/sys", "ktune_procfs_root": "/proc"}
    assert diagnosis.settings_problems(settings) == []
    assert diagnosis.settings_problems({}) == []  # left out: the role's defaults
    # Extra vars arrive as strings.
    assert diagnosis.settings_problems({"ktune_diagnose_samples": "3", "ktune_diagnose_window_s": "0"}) == []
    assert diagnosis.settings_problems({"ktune_diagnose_thresholds": dict(diagnosis.DEFAULT_THRESHOLDS)}) == []


def named(problems):
    return [problem.split(" ")[0] for problem in problems]


def test_each_bad_setting_is_named():
    assert named(diagnosis.settings_problems({
        "ktune_diagnose_samples": 0, "ktune_diagnose_window_s": -1, "ktune_diagnose_perf_s": "5s",
        "ktune_diagnose_log_lines": True, "ktune_diagnose_remote_tmp": "var/tmp", "ktune_sysfs_root": None,
        "ktune_procfs_root": "/proc", "ktune_diagnose_dest": ["x"]})) == [
        "ktune_diagnose_samples", "ktune_diagnose_window_s", "ktune_diagnose_perf_s", "ktune_diagnose_log_lines",
        "ktune_diagnose_remote_tmp", "ktune_sysfs_root", "ktune_diagnose_dest"]


def test_thresholds_are_known_names_with_sensible_numbers():
    problems = diagnosis.settings_problems({"ktune_diagnose_thresholds": {
        "dimm_hot": 80, "numa_miss_ratio": 5, "dimm_margin_c": -2, "node_free_ratio": "x", "dimm_hot_c": "90"}})
    assert named(problems) == ["ktune_diagnose_thresholds.dimm_hot", "ktune_diagnose_thresholds.dimm_margin_c",
                               "ktune_diagnose_thresholds.node_free_ratio", "ktune_diagnose_thresholds.numa_miss_ratio"]
    assert "expected a share from 0 to 1 (default 0.05)" in problems[-1]
    assert named(diagnosis.settings_problems({"ktune_diagnose_thresholds": [1]})) == ["ktune_diagnose_thresholds"]


def test_failed_tuning_controls_are_findings_with_the_audits_words():
    controls = [
        {"id": "cpufreq.epp", "status": "fail", "severity": "warning", "finding": "expected EPP performance, found x",
         "fix": "tune --tags cpu_governor"},
        {"id": "numa.balancing", "status": "pass", "severity": "warning", "finding": "as configured", "fix": ""},
        {"id": "use_numa.policy", "status": "fail", "severity": "error", "finding": "expected USE_NUMA=1", "fix": ""},
        {"id": "cpufreq.governor", "status": "fail", "severity": "error", "finding": "own finding", "fix": ""},
        {"id": "service.active", "status": "fail", "severity": "error", "finding": "not read here", "fix": ""},
    ]
    found = [(item["cause"], item["evidence"], item["fix"], item["severity"])
             for item in diagnosis.findings({"host": "h", "controls": controls})]
    # The audit's severities (error before warning), not a diagnosis-only "warning" for all.
    assert found == [
        ("USE_NUMA differs from the host's NUMA decision (use_numa.policy)", "expected USE_NUMA=1",
         "Run playbooks/tune.yml on this host.", "error"),
        ("EPP is not what the inventory asks for (cpufreq.epp)", "expected EPP performance, found x",
         "tune --tags cpu_governor", "warning")]


def test_a_failed_page_cache_job_is_an_error_in_the_diagnosis_as_in_the_audit():
    controls = [{"id": "page_cache.cron", "status": "fail", "severity": "error", "finding": "expected the job",
                 "fix": "tune --tags page_cache"}]
    found = diagnosis.findings({"host": "h", "controls": controls})
    assert [(item["cause"], item["severity"]) for item in found] == [
        ("Page-cache job missing or not running (page_cache.cron)", "error")]


def test_the_governor_finding_takes_the_audit_controls_fix():
    wrong = thermal(governors=[{"governor": "powersave", "driver": "amd-pstate-epp", "policies": 64}])
    data = {"host": "h", "cpu_governor": "performance", "thermal_before": wrong, "thermal_after": wrong}
    fixes = dict((item["cause"], item["fix"]) for item in diagnosis.findings(data))
    assert fixes["CPU governor is not performance"] == "Run playbooks/tune.yml --tags cpu_governor on this host."
    control = {"id": "cpufreq.governor", "status": "fail", "severity": "error", "finding": "x",
               "fix": "ansible-playbook playbooks/tune.yml -i inv --limit h --tags cpu_governor"}
    fixes = dict((item["cause"], item["fix"]) for item in diagnosis.findings(dict(data, controls=[control])))
    assert fixes["CPU governor is not performance"] == control["fix"]
