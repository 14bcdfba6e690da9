"""Run ansible-playbook as a user would and read what it prints: shared by the integration
tests and the molecule scenarios' controller-side tests (import it after putting tests/ on
sys.path)."""

import os
import re
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def recap(output):
    """PLAY RECAP rows as {host: {"ok": "3", "changed": "0", "unreachable": "0", "failed": "1", ...}}."""
    rows = {}
    for match in re.finditer(r"^(\S+)\s+:\s+(ok=\d+.*)$", ANSI.sub("", output), re.M):
        rows[match.group(1)] = dict(field.split("=") for field in match.group(2).split())
    return rows


def rollout_status(output):
    """The lines of rollout.yml's last 'Show the rollout status' task, as {label: [hosts]}."""
    block = output.rsplit("TASK [Show the rollout status after this batch]", 1)[-1].split("TASK [", 1)[0]
    status = {}
    for label, hosts in re.findall(r"^\s*- '?([a-z ()-]+): (.*?)'?$", block, re.M):
        status[label] = [] if hosts == "none" else sorted(hosts.split(", "))
    return status


def run_playbook(playbook, inventories, *args, cwd=None, timeout=1200, env=None):
    """ansible-playbook PROJECT/playbooks/PLAYBOOK -i INV... ARGS; the result has .output (stdout+stderr, no colours)."""
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(PROJECT / "playbooks" / playbook)]
    for inventory in inventories:
        command += ["-i", str(inventory)]
    environment = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_FORCE_COLOR="0", ANSIBLE_COLLECTIONS_PATH=str(PROJECT / "collections"),
                       PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    environment.update(env or {})
    done = subprocess.run(command + [str(arg) for arg in args], cwd=cwd or PROJECT, env=environment,
                          capture_output=True, text=True, timeout=timeout, check=False)
    done.output = ANSI.sub("", done.stdout + done.stderr)
    return done
