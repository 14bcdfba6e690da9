"""The role's pinned ktransformers[sglang] install (tasks/install_sglang.yml, ansible.builtin.pip) on
localhost, from a local index of stand-in wheels: check mode reports without installing, a run
installs into the version's own virtualenv, a rerun changes nothing, a new version is a new
virtualenv next to the old one."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from standin_wheels import write_index

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Install the pinned ktransformers[sglang]
      ansible.builtin.include_role:
        name: ktune.inference.ktransformers_service
        tasks_from: install_sglang
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("sglang-install")
    index = write_index(base / "index")
    (base / "play.yml").write_text(PLAYBOOK)

    def run(version, *extra):
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_STDOUT_CALLBACK="json", PIP_DISABLE_PIP_VERSION_CHECK="1")
        variables = {"ansible_python_interpreter": sys.executable,
                     "ktune_service_venv_root": str(base / "venvs"), "ktune_service_sglang_version": version,
                     "ktune_service_venv_python": sys.executable,
                     "ktune_service_pip_environment": {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(index)}}
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                   str(base / "play.yml"), "-e", json.dumps(variables)] + list(extra)
        done = subprocess.run(command, cwd=str(base), env=env, capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        stats = json.loads(done.stdout)["stats"]["localhost"]
        return stats["changed"]

    return base, run


def installed(base, version):
    python = base / "venvs" / version / "bin" / "python"
    out = subprocess.run([str(python), "-c", "import kt_kernel, ktransformers, sglang; "
                          "print(ktransformers.__version__, sglang.__version__, kt_kernel.__version__)"],
                         capture_output=True, text=True, check=True).stdout.split()
    line = subprocess.run([str(python), "-m", "sglang.launch_server", "--kt-cpuinfer", "8"],
                          capture_output=True, text=True, check=True).stdout
    return out, json.loads(line)


def test_check_mode_reports_the_install_and_makes_nothing(site):
    base, run = site
    assert run("0.7.2", "--check") >= 1
    assert not (base / "venvs").exists()


def test_a_run_installs_into_the_versions_virtualenv_and_a_rerun_changes_nothing(site):
    base, run = site
    assert run("0.7.2") >= 1
    assert installed(base, "0.7.2") == (["0.7.2", "0.7.2", "0.7.2"], {"standin": "sglang-kt", "argv": ["--kt-cpuinfer", "8"]})
    assert run("0.7.2") == 0
    assert run("0.7.2", "--check") == 0


def test_a_new_version_is_a_new_virtualenv_beside_the_old(site):
    base, run = site
    assert run("0.7.0") >= 1
    assert installed(base, "0.7.0")[0] == ["0.7.0", "0.7.0", "0.7.0"]
    assert installed(base, "0.7.2")[0] == ["0.7.2", "0.7.2", "0.7.2"]
