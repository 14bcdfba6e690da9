"""tune.yml's second (no-change) run against `ansible -m ping`, on one systemd container.

The container sees a 2-socket, 384-CPU NPS4 tree with 384 amd-pstate-epp cpufreq
policies, so the governor is checked and kept on 384 policies in one module call.
Both commands run alternately, several times each; prints medians and the ratio
(target: <= 3x, issue 12, through podman exec; exits 1 above it). Issue 22's target for a
no-change tune.yml (<= 2.0x ping over SSH, production inventory) is bench/ssh_rerun.py's.
Needs root, podman and the harness image:

    bash tests/harness/setup-podman.sh && bash tests/harness/build-image.sh
    python bench/tune_rerun.py [--runs 5]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import checkout  # noqa: E402
import topologies  # noqa: E402

checkout.ensure_collection_link()  # the playbooks and modules run below find the collection there

TARGET = 3.0  # issue 12: the no-change run's median at most this many times ping's
IMAGE = os.environ.get("KTUNE_IMAGE", "localhost/ktune-debian12:latest")
CONTAINER = "ktune-bench-tune"
INVENTORY = """\
all:
  hosts:
    %(name)s:
      ansible_connection: containers.podman.podman
      ansible_python_interpreter: /usr/bin/python3
      ktune_procfs_root: /opt/ktune-fixture/proc
      ktune_expected_nodes_per_socket: 4
      ktune_expected_sockets: 2
      ktune_use_numa: true
"""


def run(command, **kwargs):
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True, **kwargs)
    if done.returncode != 0:
        sys.exit("%s failed (%d):\n%s%s" % (" ".join(command), done.returncode, done.stdout[-4000:], done.stderr))
    return done


def timed(command):
    started = time.perf_counter()
    done = run(command)
    return time.perf_counter() - started, done.stdout


def start_container(tree):
    subprocess.run(["podman", "rm", "-f", CONTAINER], capture_output=True, check=False)
    mounts = []
    for inner in ("sys/devices/system/node", "sys/devices/system/cpu"):
        mounts += ["-v", "%s/%s:/%s" % (tree, inner, inner)]
    mounts += ["-v", "%s/proc:/opt/ktune-fixture/proc" % tree]
    run(["podman", "run", "-d", "--name", CONTAINER, "--hostname", CONTAINER, "--privileged",
         "--systemd=always"] + mounts + [IMAGE, "/sbin/init"])
    deadline = time.time() + 60
    while time.time() < deadline:
        state = subprocess.run(["podman", "exec", CONTAINER, "systemctl", "is-system-running", "--wait"],
                               capture_output=True, text=True, check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    sys.exit("container %s did not finish booting" % CONTAINER)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    env_config = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    os.environ.update(env_config)
    with tempfile.TemporaryDirectory() as work:
        tree = Path(work) / "tree"
        topology = topologies.catalog()["epyc-2s-nps4-384"]
        topologies.write_tree(topology, tree)
        inventory = Path(work) / "inventory.yml"
        inventory.write_text(INVENTORY % {"name": CONTAINER})
        start_container(tree)
        try:
            ping = ["ansible", "all", "-i", str(inventory), "-m", "ansible.builtin.ping"]
            tune = ["ansible-playbook", "-i", str(inventory), "playbooks/tune.yml"]
            run(tune)  # the first run tunes; every later one must change nothing
            pings, tunes = [], []
            for _unused in range(options.runs):
                pings.append(timed(ping)[0])
                seconds, output = timed(tune)
                if "changed=0" not in output:
                    sys.exit("a repeated tune.yml run changed something:\n" + output[-3000:])
                tunes.append(seconds)
        finally:
            subprocess.run(["podman", "rm", "-f", CONTAINER], capture_output=True, check=False)
    policies = len(topology.online)
    print("host: 1 container, %s, %d CPUs, %d cpufreq policies, %d runs each" % (
        topology.name, len(topology.online), policies, options.runs))
    print("ansible -m ping              median %.2f s  (min %.2f, max %.2f)" % (
        statistics.median(pings), min(pings), max(pings)))
    print("tune.yml, no-change re-run   median %.2f s  (min %.2f, max %.2f)" % (
        statistics.median(tunes), min(tunes), max(tunes)))
    ratio = statistics.median(tunes) / statistics.median(pings)
    print("ratio tune.yml / ping: %.2fx (target <= %.2fx) %s" % (ratio, TARGET, "pass" if ratio <= TARGET else "FAIL"))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
