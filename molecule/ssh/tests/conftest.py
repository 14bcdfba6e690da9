"""Controller-side helpers: run the real playbooks over SSH against the scenario's containers."""

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests"))
from playbook_run import run_playbook as run_project_playbook  # noqa: E402

FLEET = ("ssh-a", "ssh-b", "ssh-c")
METAL = "ssh-metal"


def run_playbook(playbook, *args):
    """PROJECT/playbooks/PLAYBOOK with the scenario's inventory (inventories/production's group_vars
    and the SSH host_vars), run from the project as an operator would."""
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    return run_project_playbook(playbook, [inventory], *args, timeout=1200)


def podman(*argv, check=True):
    return subprocess.run(["podman"] + list(argv), capture_output=True, text=True, timeout=300, check=check)


def snapshot(host):
    """Checksums of the files a run could touch. ssh-metal reads its fixture sysfs under
    /opt/ktune-fixture/sys; its /sys is the CI host's own, whose counters move by themselves."""
    lines = podman("exec", host, "/var/lib/ktune-test/snapshot.sh").stdout.splitlines()
    if host == METAL:
        lines = [line for line in lines if "  /sys/" not in line]
    return "\n".join(lines)
