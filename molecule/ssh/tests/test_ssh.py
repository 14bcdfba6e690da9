"""The fleet over SSH, inventories/production as shipped: --diff that stays short, bare metal
without cpufreq failing, audit.yml's recap and exit status (one host stopped), and a rollout
stopped by a host that fails after the canary. The tests run in this order and build on each
other (the last one stops ssh-c)."""

import json
import re
import xml.etree.ElementTree as ET

import yaml

from conftest import FLEET, METAL, PROJECT, podman, run_playbook, snapshot
from playbook_run import recap, rollout_status

# A no-change run: one task names the inventory's mistakes (on the controller, none), the
# set_facts that turn the run's tags into the selected roles (no module runs on the host), one
# reads the host and judges every role (monitoring included), one shows the layout; every other
# task is skipped.
SELECT_TASKS = [task["name"] for task in yaml.safe_load((PROJECT / "playbooks/tasks/select_roles.yml").read_text())]
NO_CHANGE_TASKS = ["Name the mistakes in the settings", *SELECT_TASKS,
                   "Read the host once and judge every tuning role", "Show the NUMA layout and what the roles noted"]
SCRIPT = (PROJECT / "roles/page_cache/files/ktune-drop-caches").read_text().splitlines()


def test_check_mode_over_ssh_changes_nothing_on_the_tuned_fleet():
    before = dict((host, snapshot(host)) for host in FLEET)
    run = run_playbook("tune.yml", "--check", "-e", "ktune_hosts=fleet")
    assert run.returncode == 0, run.output[-4000:]
    rows = recap(run.output)
    assert dict((host, rows[host]["changed"]) for host in FLEET) == dict((host, "0") for host in FLEET), rows
    assert dict((host, snapshot(host)) for host in FLEET) == before
    # The monitoring role read its state in tune.yml's one read: with nothing to change, no task of
    # any role ran, only the one judge (the host's one module call) and the summary.
    ran = []
    for block in run.output.split("\nTASK [")[1:]:
        name, output = block.split("]", 1)
        if re.search(r"^(ok|changed): \[ssh-a\]", output, re.M):
            ran.append(name)
    assert ran == NO_CHANGE_TASKS, ran


def test_diff_shows_the_drop_script_in_one_line_not_95():
    podman("exec", "ssh-c", "rm", "/usr/local/sbin/ktune-drop-caches")
    for mode in (["--check"], []):
        run = run_playbook("tune.yml", "--diff", "--limit", "ssh-c", "--tags", "page_cache", *mode)
        assert run.returncode == 0, run.output[-4000:]
        assert recap(run.output)["ssh-c"]["changed"] == "1", run.output[-3000:]
        assert re.search(r"/usr/local/sbin/ktune-drop-caches: absent\s+-> sha1 [0-9a-f]{40}\s+mode 0755", run.output)
        body = [line for line in SCRIPT if len(line.strip()) > 12]
        shown = [line for line in body if line in run.output]
        assert shown == [], shown[:5]
    assert podman("exec", "ssh-c", "test", "-x", "/usr/local/sbin/ktune-drop-caches", check=False).returncode == 0


def test_bare_metal_without_cpufreq_fails_tune_before_any_change():
    """Host state, not bad input: the bare-metal host fails alone, the tuned fleet still runs."""
    before = snapshot(METAL)
    run = run_playbook("tune.yml", "-e", "ktune_hosts=fleet:metal")
    assert run.returncode == 2, run.output[-4000:]
    rows = recap(run.output)
    assert (rows[METAL]["failed"], rows[METAL]["changed"]) == ("1", "0"), rows
    assert all(rows[host]["failed"] == "0" for host in FLEET), rows
    assert "NO MORE HOSTS LEFT" not in run.output
    assert "no cpufreq policies on bare metal" in run.output
    assert "DMI: Dell Inc. PowerEdge R7625" in run.output
    assert snapshot(METAL) == before


def test_audit_of_the_tuned_fleet_passes_with_exit_0(tmp_path):
    run = run_playbook("audit.yml", "-e", "ktune_hosts=fleet", "-e", "ktune_report_dir=%s" % tmp_path)
    assert run.returncode == 0, run.output[-4000:]
    rows = recap(run.output)
    assert all(rows[host]["failed"] == "0" for host in FLEET), rows
    assert ET.parse(tmp_path / "audit.xml").getroot().get("failures") == "0"


def test_audit_blames_only_the_bare_metal_host_and_exits_2(tmp_path):
    run = run_playbook("audit.yml", "-e", "ktune_report_dir=%s" % tmp_path)
    assert run.returncode == 2, run.output[-4000:]
    rows = recap(run.output)
    assert dict((host, rows[host]["failed"]) for host in FLEET + (METAL,)) == {
        "ssh-a": "0", "ssh-b": "0", "ssh-c": "0", METAL: "1"}, rows
    assert "%s: fails error controls: cpufreq.governor (expected governor performance, found no cpufreq " \
           "policies on bare metal" % METAL in run.output
    report = json.loads((tmp_path / "audit.json").read_text())
    errors = [item["id"] for item in report["hosts"][METAL]["controls"]
              if item["status"] == "fail" and item["severity"] == "error"]
    junit = ET.parse(tmp_path / "audit.xml").getroot()
    failed = [(case.get("classname"), case.get("name")) for case in junit.iter("testcase")
              if case.find("failure") is not None]
    assert failed == [(METAL, cid) for cid in errors] and "cpufreq.governor" in errors


def test_rollout_in_check_mode_writes_no_gate_report(tmp_path):
    run = run_playbook("rollout.yml", "--check", "-e", "ktune_hosts=fleet", "-e", "ktune_report_dir=%s" % tmp_path)
    assert run.returncode == 0, run.output[-4000:]
    assert list(tmp_path.iterdir()) == []


def test_rollout_stops_at_the_host_that_fails_after_the_canary(tmp_path):
    # ssh-b loses ipmitool and its apt source: the monitoring role must install the package
    # again and cannot, after the checks passed and the canary rolled out.
    podman("exec", "ssh-b", "sh", "-c", "apt-get purge -y -qq ipmitool >/dev/null && rm -f /etc/apt/sources.list.d/* "
           "&& echo 'deb http://127.0.0.1:9/debian bookworm main' > /etc/apt/sources.list")
    untouched = snapshot("ssh-c")
    run = run_playbook("rollout.yml", "-e", "ktune_hosts=fleet", "-e", "ktune_report_dir=%s" % tmp_path,
                       "-e", '{"ktune_rollout_batches": ["50%", "100%"]}')
    assert run.returncode == 2, run.output[-4000:]
    assert rollout_status(run.output) == {"rolled out and passed the gate": ["ssh-a"],
                                          "failed in this batch (may be partly changed)": ["ssh-b"],
                                          "not touched": ["ssh-c"]}, run.output[-6000:]
    rows = recap(run.output)
    assert rows["ssh-b"]["failed"] == "1" and rows["ssh-a"]["failed"] == "0", rows
    assert snapshot("ssh-c") == untouched
    runs = list(tmp_path.iterdir())
    assert len(runs) == 1 and re.match(r"rollout-\d{8}T\d{6}Z$", runs[0].name), runs
    assert [path.name for path in runs[0].iterdir()] == ["gate-ssh-a"]


def test_audit_with_a_stopped_host_shows_it_unreachable_and_exits_4(tmp_path):
    podman("stop", "ssh-c")
    run = run_playbook("audit.yml", "-e", "ktune_hosts=fleet", "-e", "ktune_report_dir=%s" % tmp_path)
    assert run.returncode == 4, run.output[-4000:]
    rows = recap(run.output)
    assert rows["ssh-c"]["unreachable"] == "1" and rows["ssh-c"]["failed"] == "0", rows
    assert rows["ssh-a"]["failed"] == rows["ssh-b"]["failed"] == "0", rows
    table = [re.sub(r"^\s*- ", "", line).strip("'\"").split() for line in run.output.splitlines()]
    assert ["ssh-c", "fleet", "unknown", "-", "-"] in table, run.output[-3000:]
    report = json.loads((tmp_path / "audit.json").read_text())
    assert report["summary"]["unknown_hosts"]["ssh-c"].startswith("unreachable:")
