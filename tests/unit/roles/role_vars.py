"""Evaluate a role's own Jinja judgements (defaults + vars/main.yml) with ansible-playbook on
localhost, for given inputs: what tune would decide, without a host."""

import json
import os
import subprocess
import sys
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
            "loop": "{{ __cases }}", "vars": dict((key, "{{ item[%r] }}" % key) for key in names),
            "register": "__evaluated",
        }, {
            # A file, not the json stdout callback: ansible-core 2.16 has no ansible.builtin.json.
            "name": "Keep the results",
            "ansible.builtin.copy": {"content": "{{ __evaluated.results | map(attribute='msg') | list | to_json }}",
                                     "dest": "{{ __out }}", "mode": "0644"},
        }],
    }]
    with tempfile.TemporaryDirectory() as tmp:
        playbook = os.path.join(tmp, "evaluate.yml")
        extra = os.path.join(tmp, "cases.json")
        with open(playbook, "w") as handle:
            yaml.safe_dump(play, handle)
        with open(extra, "w") as handle:
            json.dump({"__cases": cases, "__out": os.path.join(tmp, "results.json"),
                       "ansible_python_interpreter": sys.executable}, handle)
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
        done = subprocess.run(["ansible-playbook", "-i", "localhost,", playbook, "-e", "@" + extra],
                              cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with open(os.path.join(tmp, "results.json")) as handle:
            return json.load(handle)
