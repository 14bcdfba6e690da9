"""The legacy build's checks (tasks/validate_build.yml) on localhost: a revision after the legacy
server's last release (v0.4.1) is refused by name before anything is built."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check what the legacy build needs
      ansible.builtin.include_role:
        name: ktune.inference.ktransformers_service
        tasks_from: validate_build
"""


def run(tmp_path, version):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    variables = {"ansible_python_interpreter": sys.executable, "ktune_use_numa_enabled": False,
                 "ktune_service_build_version": version, "ktune_service_build_src": str(tmp_path),
                 "ktune_service_cuda_home": str(tmp_path / "no-cuda")}
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           str(tmp_path / "play.yml"), "-e", json.dumps(variables)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def test_a_revision_after_the_last_legacy_release_is_refused(tmp_path):
    rc, output = run(tmp_path, "HEAD")
    assert rc == 2, output
    assert "ktune_service_build_version = 'HEAD' is not a release of the legacy server: expected a tag from " \
           "v0.2.4 to v0.4.1 (or a commit id)" in output
    rc, output = run(tmp_path, "v0.4.1")
    assert rc == 2 and "the CUDA toolkit is missing" in output, output
    assert "ktune_service_build_version" not in output
