"""A first run on a healthy host prints nothing the operator has to ignore: tune in check mode
(with an instance whose service user does not exist yet), the audit and remove in check mode,
run on a local fixture host as an operator would, print no Ansible [WARNING] or [DEPRECATION
WARNING] and no Python warning (CryptographyDeprecationWarning and the like). Ansible's own
warnings stay on: the harness check proves a warning Ansible prints is seen."""

import json
import re
import sys

import pytest

import topologies
from playbook_run import run_playbook

# What Ansible and Python print for a warning: "[WARNING]: ...", "[DEPRECATION WARNING]: ...",
# "path.py:18: CryptographyDeprecationWarning: ...", "Warning: ..." (ansible-core 2.19's banner).
WARNING_LINE = re.compile(r"^\s*(\[(DEPRECATION )?WARNING\]|\S+:\d+: \w*Warning:|\w*Warning: )", re.I | re.M)
# Everything that could hide a warning is put back to what a fresh shell has.
LOUD = {"PYTHONWARNINGS": "", "ANSIBLE_DEPRECATION_WARNINGS": "True", "ANSIBLE_ACTION_WARNINGS": "True",
        "ANSIBLE_SYSTEM_WARNINGS": "True", "ANSIBLE_LOCALHOST_WARNING": "True",
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "True"}


def warnings_in(output):
    """Each warning line with the line after it (Python prints the offending source there)."""
    lines = output.splitlines()
    return [" / ".join(lines[number:number + 2]) for number, line in enumerate(lines) if WARNING_LINE.match(line)]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    """A host as tune leaves it: NPS2 as expected, governor performance, no cron, USE_NUMA off;
    one ktransformers instance for a service user that does not exist yet."""
    base = tmp_path_factory.mktemp("noise")
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], base / "tree")
    for path in (tree / "sys/devices/system/cpu/cpufreq").glob("policy*/scaling_governor"):
        path.write_text("performance\n")
    models = base / "models"
    for name in ("R1", "R1-gguf"):
        (models / name).mkdir(parents=True)
        (models / name / "weights.bin").write_bytes(b"\0" * 1024)
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "ktune_expected_nodes_per_socket": 2,
            "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
            "ktune_drop_caches_state": "absent", "ktune_use_numa": False,
            "ktune_sysctl_file": str(base / "90-ktune-numa.conf"),
            "ktune_service_user": "ktune-noise-nobody", "ktune_service_home": str(base / "home"),
            "ktune_service_sglang_install": False,
            "ktune_service_instances": [{"name": "r1", "model_path": str(models / "R1"),
                                         "gguf_path": str(models / "R1-gguf"), "port": 10002,
                                         "executable": sys.executable}]}
    (base / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"gpu-a": host}}}))
    (base / "work").mkdir()

    def run(playbook, *args):
        return run_playbook(playbook, [base / "hosts.yml"], *args, cwd=base / "work", timeout=600, env=LOUD)

    return run


@pytest.mark.parametrize("playbook, args", [
    ("tune.yml", ["--check", "--diff"]),
    # No instance here: none runs on this machine, and a host whose instance is down fails its audit.
    ("audit.yml", ["-e", '{"ktune_service_instances": []}']),
    ("remove.yml", ["--check"]),
])
def test_a_clean_run_on_a_healthy_host_prints_no_warning(healthy, playbook, args):
    done = healthy(playbook, *args)
    assert done.returncode == 0, done.output[-4000:]
    assert warnings_in(done.output) == [], (
        "CryptographyDeprecationWarning comes from cryptography>=51 under ansible-core's ssh agent: "
        "requirements.txt keeps cryptography<51; reinstall it (pip install -r requirements.txt)")


def test_the_harness_sees_the_warnings_ansible_prints(healthy):
    done = healthy("audit.yml", "-e", "ktune_hosts=no-such-group")
    found = warnings_in(done.output)
    assert any("no-such-group" in line for line in found), done.output[-4000:]


def test_the_warning_pattern_knows_each_kind_of_warning():
    output = "\n".join([
        "[WARNING]: Could not match supplied host pattern, ignoring: x",
        "[DEPRECATION WARNING]: something. This feature will be removed",
        "/venv/lib/ansible/_ssh_agent.py:18: CryptographyDeprecationWarning: DSA is deprecated",
        "  from cryptography.hazmat.primitives.asymmetric.dsa import (",
        "ok: [gpu-a] => msg: - 'good: 2 warning controls failed'",
        "    - HOST  GROUP      STATUS  FAILED  WARNINGS",
    ])
    assert [line.split(":")[0] for line in warnings_in(output)] == [
        "[WARNING]", "[DEPRECATION WARNING]", "/venv/lib/ansible/_ssh_agent.py"]
    assert "from cryptography" in warnings_in(output)[2]
