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
    evaluate_task = {
        "name": "Evaluate",
        "ansible.builtin.debug": {"msg": dict((name, "{{ %s }}" % expr) for name, expr in expressions.items())},
        "loop": "{{ __cases }}", "vars": dict((key, "{{ item[%r] }}" % key) for key in names),
        "register": "__evaluated",
    }
    return run_local_play([evaluate_task], {"__cases": cases}, "__evaluated.results | map(attribute='msg') | list",
                          vars_files=[ROOT / "roles" / role / "defaults/main.yml", ROOT / "roles" / role / "vars/main.yml"])


def ansible_playbook():
    """The ansible-playbook of the ansible-core this Python imports, so each core's unit run tests itself."""
    beside = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    return beside if os.access(beside, os.X_OK) else "ansible-playbook"


def run_local_play(tasks, variables, keep, vars_files=(), argv=()):
    """Run tasks in a play on localhost with variables as extra vars; return the value of the
    expression keep afterwards (the keeping task is tagged always, so argv may hold --tags)."""
    keep_task = {
        # A file, not the json stdout callback: ansible-core 2.16 has no ansible.builtin.json.
        "name": "Keep the result",
        "ansible.builtin.copy": {"content": "{{ %s | to_json }}" % keep, "dest": "{{ __out }}", "mode": "0644"},
        "tags": ["always"],
    }
    play = [{"hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars_files": [str(path) for path in vars_files], "tasks": list(tasks) + [keep_task]}]
    with tempfile.TemporaryDirectory() as tmp:
        playbook = os.path.join(tmp, "play.yml")
        extra = os.path.join(tmp, "vars.json")
        with open(playbook, "w") as handle:
            yaml.safe_dump(play, handle)
        with open(extra, "w") as handle:
            json.dump(dict(variables, __out=os.path.join(tmp, "result.json"), ansible_python_interpreter=sys.executable),
                      handle)
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
                   ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
        done = subprocess.run([ansible_playbook(), "-i", "localhost,", playbook, "-e", "@" + extra] + list(argv),
                              cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with open(os.path.join(tmp, "result.json")) as handle:
            return json.load(handle)
