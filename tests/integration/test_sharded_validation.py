"""Sharded serving (issue 25) through the role's own checks (tasks_from: validate) on localhost, against a
fixture sysfs tree of a 2-socket NPS2 host: replicas are laid out and host-wide CPU and memory fit are
judged before anything changes, in the role's words."""

import json
import os
import subprocess
import sys
from pathlib import Path

import topologies

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check the service settings
      ansible.builtin.include_role:
        name: ktune.inference.ktransformers_service
        tasks_from: validate
    - name: Show the replicas
      ansible.builtin.debug:
        msg: "REPLICAS {{ ktransformers_service_resolved | map(attribute='unit') | join(' ') }}"
"""


def run(tmp_path, instances, **extra):
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "host")
    for name in ("k2", "k2-cpu", "r1", "r1-gguf"):
        (tmp_path / "models" / name).mkdir(parents=True, exist_ok=True)
    for tool in ("python", "numactl", "ktransformers"):
        path = tmp_path / "bin" / tool
        path.parent.mkdir(exist_ok=True)
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    variables = {"ansible_python_interpreter": sys.executable, "ktune_use_numa_enabled": False,
                 "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
                 "ktune_service_python": str(tmp_path / "bin" / "python"),
                 "ktune_service_executable": str(tmp_path / "bin" / "ktransformers"),
                 "ktune_service_numactl_path": str(tmp_path / "bin" / "numactl"),
                 "ktune_service_instances": instances}
    variables.update(extra)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-v", "-i", "localhost,",
                           str(tmp_path / "play.yml"), "-e", json.dumps(variables)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def k2(tmp_path, **extra):
    instance = {"name": "k2", "backend": "sglang", "model_path": str(tmp_path / "models" / "k2"),
                "kt_weight_path": str(tmp_path / "models" / "k2-cpu"), "replicas": "per_numa_node", "port": 31000}
    instance.update(extra)
    return instance


def test_a_sharded_entry_becomes_one_unit_per_node_and_says_what_it_did_not_check(tmp_path):
    rc, output = run(tmp_path, [k2(tmp_path)])
    assert rc == 0, output
    assert "REPLICAS ktransformers@k2-node0.service ktransformers@k2-node1.service ktransformers@k2-node2.service " \
           "ktransformers@k2-node3.service" in output
    # The fixture's weights are empty directories: du measures them, so the fit is judged (-v shows it).
    assert "k2-node0, k2-node1, k2-node2, k2-node3: settings, paths, ports, CPU sets and memory checked" in output


def test_an_instance_on_a_replicas_cpus_is_refused_before_any_change(tmp_path):
    r1 = {"name": "r1", "model_path": str(tmp_path / "models" / "r1"), "gguf_path": str(tmp_path / "models" / "r1-gguf"),
          "numactl": "bind", "numa_node": 1}
    rc, output = run(tmp_path, [k2(tmp_path), r1])
    assert rc == 2, output
    assert "localhost: ktune_service_instances[0] (k2-node1) and ktune_service_instances[1] (r1) share CPUs " \
           "8-15,40-47" in output
    assert "set share_cpus_with: [k2] on r1. Nothing was changed." in output


def test_replicas_that_together_overflow_a_node_are_refused(tmp_path):
    """Sparse files stand in for the weights: du -sbL measures their apparent size, as on a real host."""
    for name, gib in (("k2.weights", 40), ("r1.gguf", 30)):
        with open(str(tmp_path / name), "wb") as weights:
            weights.truncate(gib * 1024 ** 3)
    r1 = {"name": "r1", "model_path": str(tmp_path / "models" / "r1"), "gguf_path": str(tmp_path / "r1.gguf"),
          "numactl": "bind", "numa_node": 1, "share_cpus_with": ["k2"]}
    rc, output = run(tmp_path, [k2(tmp_path, kt_weight_path=str(tmp_path / "k2.weights")), r1])
    assert rc == 2, output
    assert "localhost: host-wide memory: NUMA node 1 would hold 70.0 GiB of weights (ktune_service_instances[0] " \
           "(k2-node1) 40.0 GiB, ktune_service_instances[1] (r1) 30.0 GiB), and has 64.0 GiB" in output
    assert "NUMA node 0 would" not in output and "NUMA node 2 would" not in output and "Nothing was changed." in output
