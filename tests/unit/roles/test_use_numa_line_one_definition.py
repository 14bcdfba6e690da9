"""Issue 22: the regular expression of a USE_NUMA line is defined once (module_utils/concerns.py,
env_line_pattern). The audit's read (host_state), tune's read and the numa_env role
(USE_NUMA_LINE_PATTERN) and playbooks/remove.yml (the ktune.inference.env_line_pattern filter) all
take it from there; a copy written anywhere else in what users run fails here."""

import re
from pathlib import Path

import yaml

from ansible_collections.ktune.inference.plugins.filter.concerns import FilterModule
from ansible_collections.ktune.inference.plugins.module_utils import concerns, host_state
from ansible_collections.ktune.inference.tests.unit.roles.role_vars import run_local_play

ROOT = Path(__file__).resolve().parents[3]
PRODUCT = ("plugins", "roles", "playbooks")
# A pattern for the lines that define USE_NUMA allows whitespace (\s) around it. (The service role's
# search for its own exact line, USE_NUMA=1, is not one.)
REGEX_MARK = re.compile(r"\\s")
REMOVE_EXPRESSION = "{{ 'USE_NUMA' | ktune.inference.env_line_pattern }}"

DEFINING = ["USE_NUMA=1", "USE_NUMA=0", "export USE_NUMA=1", "  USE_NUMA=1", "USE_NUMA", "USE_NUMA=1 ",
            "\texport\tUSE_NUMA = \"1\"", "USE_NUMA="]
NOT_DEFINING = ["USE_NUMA_X=1", "MY_USE_NUMA=1", "# USE_NUMA=1", "OTHER=1 USE_NUMA=1", "exportUSE_NUMA=1"]


def regex_copies():
    found = []
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*")):
            if path.suffix not in (".py", ".yml", ".yaml", ".j2", ".sh") or not path.is_file():
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if "USE_NUMA" in line and REGEX_MARK.search(line):
                    found.append("%s:%d: %s" % (path.relative_to(ROOT).as_posix(), number, line.strip()))
    return found


def test_no_copy_of_the_use_numa_line_pattern_in_what_users_run():
    assert regex_copies() == []


def test_the_detector_finds_the_copies_there_were():
    for copy in (r"""        regexp: '^\s*(export\s+)?USE_NUMA(\s*=.*)?\s*$'""",
                 r'''USE_NUMA_LINE = re.compile(r"^\s*(?:export\s+)?USE_NUMA(?:\s*=(.*))?\s*\Z")''',
                 r"""regex_findall('(?m)^\s*(?:export\s+)?USE_NUMA=\s*["\']?([^"\'\s#]*)')"""):
        assert REGEX_MARK.search(copy), copy
    assert not REGEX_MARK.search("USE_NUMA_LINE_PATTERN = env_line_pattern(\"USE_NUMA\")")
    assert not REGEX_MARK.search("is search('(?m)^USE_NUMA=1$')")


def test_every_reader_takes_the_one_definition():
    assert concerns.USE_NUMA_LINE_PATTERN == concerns.env_line_pattern("USE_NUMA")
    assert host_state.USE_NUMA_LINE.pattern == concerns.USE_NUMA_LINE_PATTERN
    assert FilterModule().filters()["env_line_pattern"]("USE_NUMA") == concerns.USE_NUMA_LINE_PATTERN


def remove_task():
    play = yaml.safe_load((ROOT / "playbooks" / "remove.yml").read_text())
    tasks = [task for entry in play for block in entry.get("tasks", []) for task in block.get("block", [block])]
    found = [task for task in tasks if (task.get("ansible.builtin.lineinfile") or {}).get("path") == "/etc/environment"]
    assert len(found) == 1, found
    return found[0]["ansible.builtin.lineinfile"]


def test_remove_yml_removes_with_the_filter():
    assert remove_task()["regexp"] == REMOVE_EXPRESSION


def test_the_lines_remove_yml_takes_away_are_those_the_audit_reads(tmp_path):
    """remove.yml's own lineinfile arguments, run by Ansible on a scratch file: every line the audit
    counts as a USE_NUMA definition goes, every other line stays."""
    env = tmp_path / "environment"
    env.write_text("\n".join(DEFINING + NOT_DEFINING) + "\n")
    arguments = dict(remove_task(), path=str(env))
    run_local_play([{"name": "Remove", "ansible.builtin.lineinfile": arguments}], {}, "true")
    kept = env.read_text().splitlines()
    assert kept == NOT_DEFINING
    read = host_state.find_use_numa(str(env), "\n".join(DEFINING + NOT_DEFINING))
    assert [entry["text"] for entry in read] == DEFINING
    assert [entry["value"] for entry in read] == ["1", "0", "1", "1", None, "1", "1", ""]


def test_the_baseline_records_the_value_the_audit_reads():
    """roles/performance_baseline's use_numa fact: the last definition's value, as host_state reads it."""
    tasks = yaml.safe_load((ROOT / "roles" / "performance_baseline" / "tasks" / "facts.yml").read_text())
    expression = [task["vars"]["performance_baseline_use_numa"] for task in tasks
                  if "performance_baseline_use_numa" in (task.get("vars") or {})]
    assert len(expression) == 1
    texts = ["A=1\nUSE_NUMA=1\n", "export USE_NUMA='0'\n", "USE_NUMA_X=1\nMY_USE_NUMA=1\n", "",
             "USE_NUMA=1\n\n  USE_NUMA = \"2\" \nB=3\n"]
    task = {"name": "Evaluate", "ansible.builtin.debug": {"msg": expression[0]}, "register": "__evaluated",
            "vars": {"performance_baseline_env_text": "{{ item }}"}, "loop": "{{ __texts }}"}
    found = run_local_play([task], {"__texts": texts}, "__evaluated.results | map(attribute='msg', default='') | list")
    audit = [([entry["value"] for entry in host_state.find_use_numa("f", text)] or [None])[-1] for text in texts]
    assert audit == ["1", "0", None, None, "2"]
    # A none message: '' on ansible-core 2.16, no msg at all on 2.21.
    assert [value if value != "" else None for value in found] == audit
