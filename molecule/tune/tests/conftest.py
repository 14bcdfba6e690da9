"""Controller-side helpers: run the real tune.yml against the scenario's containers."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests"))


def run_tune(*args):
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    done = subprocess.run(["ansible-playbook", str(PROJECT / "playbooks/tune.yml"), "-i", inventory] + list(args),
                          cwd=PROJECT, env=env, capture_output=True, text=True, timeout=900, check=False)
    done.output = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    return done


@pytest.fixture(scope="session")
def tune():
    return run_tune
