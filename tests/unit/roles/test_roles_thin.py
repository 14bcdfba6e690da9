"""Roles thin, plugins that do not imitate Ansible: no plugin reads a role's defaults/ or vars/
(a role's meta/argument_specs.yml, read as data, is the one source of its settings' defaults), and
a role's vars/main.yml holds no Jinja control logic ({% %}, inline if/for): a role's judgement is
Python (plugins/plugin_utils/role_settings.py, role_judgements.py)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# A path into a role's defaults or vars folder, written as a string or joined from parts.
ROLE_FILE = re.compile(r"""roles/[^"'\s]*/(?:defaults|vars)/|["'](?:defaults|vars)["']\s*,\s*["']main\.yml["']""")
# {% ... %}, or an if/for inside {{ ... }}.
CONTROL = re.compile(r"\{%|\{\{(?:(?!\}\}).)*?\b(?:if|for)\b(?:(?!\}\}).)*?\}\}", re.S)
# The roles whose judgement is not all Python yet: the judge action still templates their
# vars/main.yml (and only theirs). Remove a role from here when its vars/main.yml is constants only.
NOT_YET_THIN = {"monitoring"}
JUDGE_ACTION = "plugins/action/judge.py"


def plugin_files():
    files = sorted(ROOT.glob("plugins/**/*.py"))
    assert files
    return files


def code_lines(path):
    """The lines of a Python file that are not comments or documentation strings' prose."""
    return [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]


def readers(pattern):
    found = []
    for path in plugin_files():
        for line in code_lines(path):
            if pattern.search(line) and "C(" not in line and not line.strip().startswith(('"""', "'''")):
                found.append("%s: %s" % (path.relative_to(ROOT).as_posix(), line.strip()))
    return found


def test_no_plugin_reads_a_roles_defaults():
    assert readers(re.compile(r"""roles/[^"'\s]*/defaults/|["']defaults["']\s*,\s*["']main\.yml["']""")) == []


def test_only_the_judge_action_still_loads_vars_and_only_of_the_roles_not_yet_thin():
    found = readers(ROLE_FILE)
    assert [line.split(":")[0] for line in found] == [JUDGE_ACTION], found
    from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import ROLE_PARTS
    assert not NOT_YET_THIN & set(ROLE_PARTS)


def test_the_detectors_find_what_they_look_for():
    assert ROLE_FILE.search('path = os.path.join(root, "roles", role, "vars", "main.yml")')
    assert ROLE_FILE.search("glob('roles/*/defaults/main.yml')")
    assert CONTROL.search("x: \"{{ [] if a else b }}\"") and CONTROL.search("x: >-\n  {%- for a in b -%}")
    assert not CONTROL.search("x: \"{{ a | ktune.inference.files_differ(b) }}\"")
    assert not CONTROL.search("x: {path: /etc/if/for}")


@pytest.mark.parametrize("role", sorted(path.name for path in (ROOT / "roles").iterdir() if path.is_dir()))
def test_a_roles_vars_hold_no_jinja_control_logic(role):
    path = ROOT / "roles" / role / "vars" / "main.yml"
    found = CONTROL.findall(path.read_text()) if path.exists() else []
    if role in NOT_YET_THIN:
        assert found, "%s/vars/main.yml is thin now: remove it from NOT_YET_THIN" % role
    else:
        assert found == [], "%s/vars/main.yml holds Jinja control logic: move it into Python" % role
