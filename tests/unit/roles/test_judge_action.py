"""The judge action in a real play: the argument specification and the role's checks first, the
host state and what differs templated only when the settings passed (so a broken expression
there cannot hide the settings' message)."""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def judge(variables, host_problems="__host", drift="__drift"):
    play = [{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(ROOT / "roles/page_cache/defaults/main.yml")],
        "tasks": [{
            "name": "Judge",
            "ktune.inference.judge": {"role": "page_cache", "problems": "{{ __problems }}",
                                      "host_problems": host_problems, "drift": drift},
            "register": "judged",
        }, {
            "name": "Keep the facts",
            "ansible.builtin.copy": {
                "content": "{{ {'problems': judged.problems, 'host': judged.host_problems, 'drift': judged.drift,"
                           " 'fact': ansible_facts.keys() | select('match', '__') | list} | to_json }}",
                "dest": "{{ __out }}", "mode": "0644"},
        }],
    }]
    with tempfile.TemporaryDirectory() as tmp:
        playbook = os.path.join(tmp, "judge.yml")
        with open(playbook, "w") as handle:
            yaml.safe_dump(play, handle)
        extra = os.path.join(tmp, "vars.json")
        with open(extra, "w") as handle:
            json.dump(dict(variables, __out=os.path.join(tmp, "out.json"), ansible_python_interpreter=sys.executable),
                      handle)
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_LOCALHOST_WARNING="0",
                   ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
        done = subprocess.run(["ansible-playbook", "-i", "localhost,", playbook, "-e", "@" + extra], cwd=str(ROOT),
                              env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        with open(os.path.join(tmp, "out.json")) as handle:
            return json.load(handle)


GOOD = {"__problems": [""], "__host": [], "__drift": ["/etc/cron.d/ktune-drop-caches: missing"]}


def test_a_host_with_good_settings_gets_its_drift_and_sets_no_fact():
    facts = judge(GOOD)
    assert facts == {"problems": [], "host": [], "drift": ["/etc/cron.d/ktune-drop-caches: missing"], "fact": []}


def test_a_type_error_in_the_settings_is_named_and_nothing_else_is_templated():
    facts = judge(dict(GOOD, ktune_drop_caches_level=7, __broken="{{ undefined_thing.attribute }}"),
                  drift="__broken")
    assert len(facts["problems"]) == 1 and "ktune_drop_caches_level" in facts["problems"][0], facts
    assert facts["drift"] == []


def test_the_roles_own_problems_stop_the_judgement_too():
    facts = judge(dict(GOOD, __problems=["ktune_drop_caches_minute = '61' is out of range"],
                       __broken="{{ undefined_thing.attribute }}"), host_problems="__broken")
    assert facts["problems"] == ["ktune_drop_caches_minute = '61' is out of range"]
    assert facts["host"] == [] and facts["drift"] == []


def test_host_problems_leave_the_drift_unjudged():
    facts = judge(dict(GOOD, __host=["unknown OS family"], __broken="{{ undefined_thing.attribute }}"),
                  drift="__broken")
    assert facts["problems"] == [] and facts["host"] == ["unknown OS family"] and facts["drift"] == []
