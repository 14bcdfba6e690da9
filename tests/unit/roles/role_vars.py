"""Evaluate a role's own Jinja judgements (defaults + vars/main.yml) with ansible-playbook on
localhost, for given inputs: what tune would decide, without a host."""

import json
import os
import subprocess
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def evaluate(role, expressions, cases):
    """[{name: value}] per case: each expression rendered with the role's defaults and vars,
    overlaid with the case's variables (a variable another case sets falls back to its default)."""
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults/main.yml").read_text()) or {}
    names = sorted(set(key for case in cases for key in case))
    cases = [dict(dict((key, defaults.get(key)) for key in names), **case) for case in cases]
    play = [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(ROOT / "roles" / role / "defaults/main.yml"), str(ROOT / "roles" / role / "vars/main.yml")],
        "tasks": [{
            "name": "Evaluate",
            "ansible.builtin.debug": {"msg": dict((name, "{{ %s }}" % expr) for name, expr in expressions.items())},
            "loop": "{{ __cases }}", "vars": dict((key, "{{ item[%r] }}" % key)
                                                  for key in names),
        }],
    }]
    with tempfile.TemporaryDirectory() as tmp:
        playbook = os.path.join(tmp, "evaluate.yml")
        extra = os.path.join(tmp, "cases.json")
        with open(playbook, "w") as handle:
            yaml.safe_dump(play, handle)
        with open(extra, "w") as handle:
            json.dump({"__cases": cases}, handle)
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
        done = subprocess.run(["ansible-playbook", "-i", "localhost,", playbook, "-e", "@" + extra],
                              cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["results"]
    return [entry["msg"] for entry in result]
