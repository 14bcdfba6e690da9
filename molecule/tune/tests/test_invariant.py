"""The invariant of one desired state, on a real converged host: the audit passes; after
injected drifts exactly the matching controls fail, tune.yml --check changes exactly the
matching roles, and tune.yml brings the audit back to all pass.
"""

import json
import os
import re
import subprocess

import testinfra

from conftest import PROJECT, run_tune
from playbook_run import recap

HOST = "amd-nps2"  # production: NUMA on, amd-pstate-epp
CONTROL_ROLE = {"cpufreq.governor": "cpu_governor", "cpufreq.epp": "cpu_governor", "use_numa.policy": "numa_env",
                "numa.balancing": "numa_env", "page_cache.cron": "page_cache",
                "memory.transparent_hugepage": "numa_env", "memory.transparent_hugepage_persisted": "numa_env"}
DRIFTS = {
    "cpufreq.governor": "for p in /sys/devices/system/cpu/cpufreq/policy*; do echo powersave > $p/scaling_governor; "
                        "done",
    # A service env file that lacks USE_NUMA while /etc/environment has it (the audit used to pass this).
    "use_numa.policy": "mkdir -p /etc/ktransformers && echo KTUNE_INSTANCE=ds > /etc/ktransformers/ds.env",
    # Running now, but disabled at boot (the audit used to pass this too).
    "page_cache.cron": "systemctl disable --quiet cron.service && systemctl is-active --quiet cron.service",
    "numa.balancing": "echo 1 > /opt/ktune-fixture/proc/sys/kernel/numa_balancing",
    # The fixture's THP file (bind-mounted over the kernel's): another mode now, and none kept at boot.
    "memory.transparent_hugepage": "echo always > /sys/kernel/mm/transparent_hugepage/enabled",
    "memory.transparent_hugepage_persisted": "rm /etc/tmpfiles.d/ktune-transparent-hugepage.conf",
}


def audit(tmp_path):
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    report = tmp_path / "report"
    done = subprocess.run(["ansible-playbook", str(PROJECT / "playbooks/audit.yml"), "-i", inventory, "--limit", HOST,
                           "-e", "ktune_report_dir=%s" % report], cwd=PROJECT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    assert (report / "audit.json").exists(), done.stdout[-3000:] + done.stderr[-3000:]
    controls = json.loads((report / "audit.json").read_text())["hosts"][HOST]["controls"]
    return set(c["id"] for c in controls if c["status"] == "fail")


def changed_roles(output):
    """Roles with a changed task in a tune.yml run's output."""
    roles, role = set(), None
    for line in output.splitlines():
        task = re.match(r"^TASK \[ktune\.inference\.(\w+) : ", line)
        if line.startswith("TASK ["):
            role = task.group(1) if task else None
        elif role and re.match(r"^changed: \[%s\]" % re.escape(HOST), line):
            roles.add(role)
    return roles


def test_audit_tune_check_and_tune_agree_on_the_drift(tmp_path):
    host = testinfra.get_host("podman://" + HOST)
    assert audit(tmp_path / "converged") == set()

    host.run_expect([0], " && ".join(DRIFTS.values()))
    assert audit(tmp_path / "drifted") == set(DRIFTS)

    predicted = run_tune("--limit", HOST, "--check")
    assert predicted.returncode == 0, predicted.output[-3000:]
    assert changed_roles(predicted.output) == set(CONTROL_ROLE[control] for control in DRIFTS), \
        predicted.output[-6000:]

    repaired = run_tune("--limit", HOST)
    assert repaired.returncode == 0, repaired.output[-3000:]
    assert audit(tmp_path / "tuned") == set()
    again = run_tune("--limit", HOST)
    assert recap(again.output)[HOST]["changed"] == "0", again.output[-3000:]
    host.run_expect([0], "rm -f /etc/ktransformers/ds.env")
