"""Controller-side helpers: run the real tune.yml against the scenario's containers."""

import os
import re
import subprocess
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]


def run_tune(*args):
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    done = subprocess.run(["ansible-playbook", str(PROJECT / "playbooks/tune.yml"), "-i", inventory] + list(args),
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900, check=False)
    done.output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    return done


def recap(output):
    """PLAY RECAP rows as {host: {"ok": "3", "changed": "0", "failed": "1", ...}}."""
    return dict((match.group(1), dict(field.split("=") for field in match.group(2).split()))
                for match in re.finditer(r"^(\S+)\s+:\s+(ok=\d+.*)$", output, re.M))


@pytest.fixture(scope="session")
def tune():
    return run_tune
