"""The tuning roles are listed once (playbooks/vars/tuning_roles.yml): tune.yml and both plays of
rollout.yml judge exactly that list, and it holds every role tasks/apply_roles.yml runs from a
judgement."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests/unit/roles"))
from role_vars import ansible_playbook, run_local_play  # noqa: E402

LIST_FILE = ROOT / "playbooks" / "vars" / "tuning_roles.yml"
PLAYBOOKS = ("playbooks/tune.yml", "playbooks/rollout.yml")


def tasks_in(node):
    if isinstance(node, dict):
        yield node
        for key in ("tasks", "block", "rescue", "always"):
            for task in node.get(key) or []:
                yield from tasks_in(task)
    elif isinstance(node, list):
        for item in node:
            yield from tasks_in(item)


def load(path):
    return yaml.safe_load((ROOT / path).read_text())


def imported(task):
    return task.get("ansible.builtin.import_tasks") or task.get("ansible.builtin.include_tasks")


def play_judges(play):
    """The judge tasks of a play, the ones in the task files it imports included."""
    found = []
    for task in tasks_in(play.get("tasks") or []):
        if "ktune.inference.judge" in task:
            found.append(task)
        if imported(task) == "tasks/tune_host.yml":
            found += [item for item in tasks_in(load("playbooks/tasks/tune_host.yml"))
                      if "ktune.inference.judge" in item]
    return found


@pytest.mark.parametrize("path", PLAYBOOKS)
def test_every_play_that_judges_the_tuning_roles_reads_the_one_list(path):
    judging = [play for play in load(path) if play_judges(play)]
    assert judging
    for play in judging:
        assert "vars/tuning_roles.yml" in (play.get("vars_files") or []), play["name"]
        for task in play_judges(play):
            assert task["ktune.inference.judge"]["roles"] in (
                "{{ __ktune_tuning_roles }}", "{{ __ktune_tuning_roles | select('in', __tune_selected_roles) | list }}"), task["name"]


def rendered(monitoring):
    return run_local_play([], {"ktune_monitoring_enabled": monitoring}, "__ktune_tuning_roles",
                          vars_files=[LIST_FILE])


def test_the_list_adds_monitoring_only_when_it_is_enabled():
    assert rendered(False) == ["nps_layout", "cpu_governor", "page_cache", "numa_env"]
    assert rendered(True) == ["nps_layout", "cpu_governor", "page_cache", "numa_env", "monitoring"]


def test_every_role_applied_from_a_judgement_is_in_the_list():
    """One include_role applies every judged role with drift (a loop, not a block per role); it
    passes each role its own judgement and runs under each role's tag."""
    includes = [task for task in tasks_in(load("playbooks/tasks/apply_roles.yml"))
                if "__tune_judgement" in str(task.get("loop"))]
    assert len(includes) == 1
    include = includes[0]
    assert include["ansible.builtin.include_role"]["name"] == "ktune.inference.{{ __tune_role }}"
    assert include["ansible.builtin.include_role"]["apply"]["tags"] == ["{{ __tune_role }}"]
    applied = set(name[2:-len("_judgement")] for name in include["vars"] if name.endswith("_judgement"))
    assert applied == {"cpu_governor", "page_cache", "numa_env", "monitoring"} == set(include["tags"])
    assert applied <= set(rendered(True))


SELECT_FILE = ROOT / "playbooks" / "tasks" / "select_roles.yml"


def selected(argv):
    """The tuning roles tune_host.yml judges under these --tags/--skip-tags (Ansible decides)."""
    tasks = [{"name": "Select", "ansible.builtin.import_tasks": str(SELECT_FILE)}]
    return run_local_play(tasks, {"ktune_monitoring_enabled": True},
                          "__ktune_tuning_roles | select('in', __tune_selected_roles) | list",
                          vars_files=[LIST_FILE], argv=argv)


@pytest.mark.parametrize("argv, expected", [
    ([], ["nps_layout", "cpu_governor", "page_cache", "numa_env", "monitoring"]),
    (["--tags", "page_cache,monitoring"], ["page_cache", "monitoring"]),
    (["--skip-tags", "cpu_governor"], ["nps_layout", "page_cache", "numa_env", "monitoring"]),
    (["--tags", "tagged", "--skip-tags", "numa_env"], ["nps_layout", "cpu_governor", "page_cache", "monitoring"]),
    (["--tags", "service"], []),
])
def test_ansibles_own_tags_select_the_roles_to_judge(argv, expected):
    assert selected(argv) == expected


def test_every_tuning_role_has_its_tagged_selection_task():
    tags = [task.get("tags") for task in load("playbooks/tasks/select_roles.yml")]
    assert tags[0] == ["always"]
    assert [tag for (tag,) in tags[1:]] == rendered(True)


def test_tune_judges_the_selected_roles_and_does_not_parse_tags_itself():
    judge = [task for task in tasks_in(load("playbooks/tasks/tune_host.yml")) if "ktune.inference.judge" in task][0]
    assert "select_by_tags" not in judge["ktune.inference.judge"]
    assert "__tune_selected_roles" in judge["ktune.inference.judge"]["roles"]


def test_every_host_of_the_play_gets_the_selection_made_once(tmp_path):
    """select_roles.yml runs each set_fact once (run_once): every host of the play, not only the
    one it ran on, must judge the roles the run's tags select."""
    keep = {"name": "Keep each host's selection", "tags": ["always"],
            "ansible.builtin.copy": {"content": "{{ __ktune_tuning_roles | select('in', __tune_selected_roles) | list | to_json }}",
                                     "dest": str(tmp_path / "{{ inventory_hostname }}.json"), "mode": "0644"}}
    play = [{"hosts": "all", "gather_facts": False, "vars_files": [str(LIST_FILE)],
             "vars": {"ktune_monitoring_enabled": True},
             "tasks": [{"name": "Select", "ansible.builtin.import_tasks": str(SELECT_FILE)}, keep]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    done = subprocess.run([ansible_playbook(), "-i", "host-a,host-b,host-c,", str(tmp_path / "play.yml"),
                           "-e", "ansible_connection=local", "-e", "ansible_python_interpreter=%s" % sys.executable,
                           "--tags", "page_cache,monitoring"],
                          cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "ok: [host-b]" not in done.stdout.split("TASK [Select page_cache]")[1].split("TASK [")[0]  # ran once
    for host in ("host-a", "host-b", "host-c"):
        assert json.loads((tmp_path / ("%s.json" % host)).read_text()) == ["page_cache", "monitoring"], host
