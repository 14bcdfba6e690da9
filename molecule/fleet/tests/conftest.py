"""Controller-side helpers: run the real audit.yml and rollout.yml against the fleet's containers."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests"))

HOSTS = ("fleet-nps4-prod", "fleet-nps2-prod", "fleet-snc2-prod", "fleet-nps1-dev", "fleet-vm-dev")
# A host that is in the inventory but cannot be reached: nothing listens on port 9 of loopback.
UNREACHABLE = """\
production:
  hosts:
    fleet-gone:
      ansible_connection: ssh
      ansible_host: 127.0.0.1
      ansible_port: 9
      ansible_ssh_common_args: -o ConnectTimeout=5
"""


def run_playbook(playbook, *args, extra_inventory=None):
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    command = ["ansible-playbook", str(PROJECT / "playbooks" / playbook), "-i", inventory]
    if extra_inventory:
        command += ["-i", str(extra_inventory)]
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    done = subprocess.run(command + list(args), check=False, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=1200)
    done.output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    return done


def snapshot(host):
    done = subprocess.run(["podman", "exec", host, "/var/lib/ktune-test/snapshot.sh"], capture_output=True, text=True,
                          timeout=300, check=True)
    return done.stdout


def snapshots():
    return dict((host, snapshot(host)) for host in HOSTS)


@pytest.fixture(scope="session")
def audit(tmp_path_factory):
    """One real audit run (not in check mode) with snapshots of every host before and after."""
    folder = tmp_path_factory.mktemp("audit")
    extra = folder / "unreachable.yml"
    extra.write_text(UNREACHABLE)
    before = snapshots()
    done = run_playbook("audit.yml", "-e", "ktune_report_dir=%s" % (folder / "report"), extra_inventory=extra)
    after = snapshots()
    report_file = folder / "report" / "audit.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else None
    return {"run": done, "before": before, "after": after, "report": report, "dir": folder / "report"}


@pytest.fixture(scope="session")
def failed_rollout(tmp_path_factory):
    """rollout.yml over the production group with the misconfigured NPS4 host as the canary."""
    folder = tmp_path_factory.mktemp("rollout")
    before = snapshots()
    done = run_playbook("rollout.yml", "-e", "ktune_hosts=production", "-e", "ktune_rollout_canary=fleet-nps4-prod",
                        "-e", "ktune_report_dir=%s" % folder)
    return {"run": done, "before": before, "after": snapshots()}
