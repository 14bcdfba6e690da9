"""The fleet audit's verdicts, exit code and read-only promise; the rollout's canary stop."""

import re
import subprocess

import pytest

from conftest import HOSTS, run_playbook
from playbook_run import recap, rollout_status

# (host, control) -> status, for the controls whose verdict the scenario sets up.
EXPECTED = {
    "fleet-nps4-prod": {"status": "fail", "numa.layout": "fail", "numa.memory_balance": "pass",
                        "cpufreq.governor": "fail", "cpufreq.epp": "fail", "page_cache.cron": "fail",
                        "use_numa.policy": "fail", "use_numa.memory": "skip", "service.active": "skip"},
    "fleet-nps2-prod": {"status": "pass", "numa.layout": "pass", "numa.memory_balance": "pass",
                        "numa.memory_only_nodes": "pass", "numa.balancing": "pass", "cpufreq.governor": "pass",
                        "cpufreq.epp": "pass", "page_cache.cron": "pass", "use_numa.policy": "pass",
                        "use_numa.memory": "pass", "service.active": "pass", "service.healthy": "pass"},
    "fleet-snc2-prod": {"status": "fail", "numa.layout": "pass", "cpufreq.governor": "fail", "cpufreq.epp": "fail",
                        "numa.balancing": "fail", "page_cache.cron": "fail", "use_numa.policy": "fail",
                        "service.active": "fail", "service.healthy": "fail"},
    "fleet-nps1-dev": {"status": "fail", "numa.layout": "pass", "cpufreq.governor": "pass", "cpufreq.epp": "skip",
                       "page_cache.cron": "pass", "numa.balancing": "pass", "use_numa.policy": "fail",
                       "service.active": "skip"},
    "fleet-vm-dev": {"status": "pass", "numa.layout": "pass", "cpufreq.governor": "skip", "cpufreq.epp": "skip",
                     "page_cache.cron": "pass", "numa.balancing": "pass", "use_numa.policy": "pass",
                     "use_numa.memory": "skip"},
}
CASES = [(host, control, status) for host, controls in EXPECTED.items() for control, status in controls.items()]


def controls_of(report, host):
    return dict((item["id"], item) for item in report["hosts"][host]["controls"])


def test_audit_fails_the_hosts_that_fail_and_exits_4_for_the_unreachable_one(audit):
    assert audit["report"] is not None, audit["run"].output[-4000:]
    assert audit["run"].returncode == 4, audit["run"].output[-4000:]
    rows = recap(audit["run"].output)
    assert dict((host, rows[host]["failed"]) for host in HOSTS) == dict(
        (host, "1" if EXPECTED[host]["status"] == "fail" else "0") for host in HOSTS), rows
    assert rows["fleet-gone"]["unreachable"] == "1", rows
    assert "fleet-nps4-prod: fails error controls: numa.layout" in audit["run"].output


@pytest.mark.parametrize("host, control, status", CASES)
def test_verdict(audit, host, control, status):
    if control == "status":
        assert audit["report"]["hosts"][host]["status"] == status
    else:
        assert controls_of(audit["report"], host)[control]["status"] == status, controls_of(audit["report"], host)


def test_findings_and_fixes_say_what_to_do(audit):
    nps4 = controls_of(audit["report"], "fleet-nps4-prod")["numa.layout"]
    assert nps4["severity"] == "error"
    assert nps4["finding"] == "expected NPS2 (4 nodes on 2 sockets), found NPS4 (8 nodes with CPUs on 2 sockets)"
    assert "NumaNodesPerSocket" in nps4["fix"]
    drift = controls_of(audit["report"], "fleet-nps1-dev")["use_numa.policy"]
    assert "USE_NUMA=0 in /etc/environment" in drift["finding"]
    assert "NUMA effectively ON" in drift["finding"]
    service = controls_of(audit["report"], "fleet-snc2-prod")["service.active"]
    assert "ktransformers@r1.service" in service["finding"]
    cron = controls_of(audit["report"], "fleet-vm-dev")["page_cache.cron"]
    assert cron["finding"].endswith("in /etc/cron.d/ktune-drop-caches, as configured, run by cron.service")
    governor = controls_of(audit["report"], "fleet-snc2-prod")["cpufreq.governor"]
    assert governor["finding"] == "expected governor performance, found policy0-63: powersave"


def test_unreachable_host_is_unknown_never_missing(audit):
    assert audit["report"]["hosts"]["fleet-gone"] == {"status": "unknown", "controls": []}
    assert audit["report"]["summary"]["unknown_hosts"]["fleet-gone"].startswith("unreachable:")
    assert audit["report"]["summary"]["groups"]["production"] == [
        "fleet-gone", "fleet-nps2-prod", "fleet-nps4-prod", "fleet-snc2-prod"]
    assert audit["report"]["summary"]["groups"]["development"] == ["fleet-nps1-dev", "fleet-vm-dev"]


def test_summary_and_stdout_table(audit):
    summary = audit["report"]["summary"]
    assert (summary["hosts"], summary["pass"], summary["fail"], summary["unknown"]) == (6, 2, 3, 1)
    table = audit["run"].output
    assert re.search(r"fleet-nps2-prod\s+production\s+pass\s+-", table)
    assert re.search(r"fleet-nps4-prod\s+production\s+fail\s+numa\.layout,", table)
    assert "6 hosts: 2 pass, 3 fail, 1 unknown" in table


def test_junit_and_html_are_written(audit):
    # Every reachable host is graded on every control; the unreachable one gets a test case and a
    # matrix cell per control all the same.
    per_host = len(controls_of(audit["report"], "fleet-nps2-prod"))
    assert per_host >= 11
    assert all(len(controls_of(audit["report"], host)) == per_host for host in HOSTS)
    xml = (audit["dir"] / "audit.xml").read_text()
    assert xml.count("<testcase ") == (len(HOSTS) + 1) * per_host
    html = (audit["dir"] / "audit.html").read_text()
    assert "production (4)" in html and "development (2)" in html
    assert html.count('class="s unknown"') == per_host


@pytest.mark.parametrize("host", HOSTS)
def test_audit_changed_nothing(audit, host):
    assert audit["before"][host] == audit["after"][host]
    assert audit["before"][host].count("/sys/devices/system/cpu/") > 10


def test_audit_made_one_remote_call_per_host(audit):
    rows = recap(audit["run"].output)
    for host in HOSTS:
        assert rows[host]["changed"] == "0"
        assert rows[host]["ok"] in ("1", "2", "3", "4")  # the fact task, plus run_once tasks on the first host
    assert audit["run"].output.count("TASK [Read the host state in one pass]") == 1


def test_rollout_stops_after_the_failing_canary(failed_rollout):
    run = failed_rollout["run"]
    assert run.returncode == 2, run.output[-4000:]
    status = rollout_status(run.output)
    assert status == {"rolled out and passed the gate": [],
                      "failed in this batch (may be partly changed)": ["fleet-nps4-prod"],
                      "not touched": ["fleet-nps2-prod", "fleet-snc2-prod"]}, run.output[-6000:]
    assert "expected NPS2 (4 nodes on 2 sockets), found NPS4" in run.output
    rows = recap(run.output)
    assert rows["fleet-nps2-prod"]["changed"] == rows["fleet-snc2-prod"]["changed"] == "0"


@pytest.mark.parametrize("host", ["fleet-nps2-prod", "fleet-snc2-prod", "fleet-nps4-prod"])
def test_rollout_left_untouched_and_failed_hosts_unchanged(failed_rollout, host):
    assert failed_rollout["before"][host] == failed_rollout["after"][host]


def test_rollout_of_development_fixes_the_drift_batch_by_batch(audit, failed_rollout, tmp_path):
    # Runs after the audit, which graded the drift this rollout removes.
    run = run_playbook("rollout.yml", "-e", "ktune_hosts=development", "-e", "ktune_report_dir=%s" % tmp_path,
                       "-e", '{"ktune_rollout_batches": ["100%"]}')
    assert run.returncode == 0, run.output[-4000:]
    assert rollout_status(run.output) == {"rolled out and passed the gate": ["fleet-nps1-dev", "fleet-vm-dev"],
                                          "failed in this batch (may be partly changed)": [],
                                          "not touched": []}, run.output[-6000:]
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1 and re.match(r"rollout-\d{8}T\d{6}Z$", runs[0].name), runs
    assert sorted(path.name for path in runs[0].iterdir()) == ["gate-fleet-nps1-dev", "gate-fleet-vm-dev"]
    environment = subprocess.run(["podman", "exec", "fleet-nps1-dev", "cat", "/etc/environment"],
                                 capture_output=True, text=True, check=True).stdout
    assert "USE_NUMA" not in environment
