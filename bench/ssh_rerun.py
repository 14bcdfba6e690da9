"""Re-run cost over SSH with inventories/production as shipped (monitoring on): a no-change
tune.yml and a no-change `tune.yml --tags service` against `ansible -m ping`, over the same hosts.

Uses the molecule `ssh` scenario's hosts (systemd containers reached over SSH, group_vars from
inventories/production), converged once so that every run below changes nothing:

    export KTUNE_FIXTURE_ROOT=/var/tmp/ktune-fixtures
    molecule create -s ssh && molecule prepare -s ssh && molecule converge -s ssh
    python bench/ssh_rerun.py --inventory ~/.cache/molecule/<project>/ssh/inventory [--runs 5]
    molecule destroy -s ssh

The three commands run alternately, several times each; prints medians and the ratios
(targets, issue 22: tune.yml <= 2.0x ping, --tags service <= 2.0x ping), and exits 1 when a
ratio misses its target; fails if a run changed anything.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from playbook_run import recap  # noqa: E402

TARGETS = {"tune": 2.0, "service": 2.0}  # issue 22: each median at most this many times ping's


def timed(command, env):
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit("%s failed (%d):\n%s%s" % (" ".join(command), done.returncode, done.stdout[-4000:], done.stderr))
    changed = dict((host, row["changed"]) for host, row in recap(done.stdout).items() if row["changed"] != "0")
    if changed:
        sys.exit("%s changed something (%s): converge the hosts first" % (" ".join(command), changed))
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    parser.add_argument("--inventory", required=True, help="the ssh scenario's inventory folder")
    parser.add_argument("--hosts", default="fleet", help="host pattern (default: the scenario's tuned group)")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    # The scenario's host_vars find this run's SSH key through it.
    env.setdefault("MOLECULE_EPHEMERAL_DIRECTORY", str(Path(options.inventory).resolve().parent))
    inventory = ["-i", options.inventory]
    commands = {
        "ping": ["ansible", options.hosts, "-m", "ansible.builtin.ping"] + inventory,
        "tune": ["ansible-playbook", "playbooks/tune.yml", "-e", "ktune_hosts=" + options.hosts] + inventory,
        "service": ["ansible-playbook", "playbooks/tune.yml", "--tags", "service",
                    "-e", "ktune_hosts=" + options.hosts] + inventory,
    }
    for command in commands.values():  # warm up: ssh control sockets, caches
        timed(command, env)
    times = dict((name, []) for name in commands)
    for _run in range(options.runs):
        for name, command in commands.items():
            times[name].append(timed(command, env))
    medians = dict((name, statistics.median(values)) for name, values in times.items())
    pinged = subprocess.run(commands["ping"], cwd=ROOT, capture_output=True, text=True, env=env, check=False)
    hosts = len(re.findall(r"^(\S+) \| SUCCESS", pinged.stdout, re.M))
    print("hosts: %d over SSH, %d runs each (medians)" % (hosts, options.runs))
    for name in commands:
        print("%-8s %6.2f s  %s" % (name, medians[name], " ".join("%.2f" % t for t in times[name])))
    labels = {"tune": "tune.yml no-change / ping:", "service": "tune.yml --tags service / ping:"}
    missed = []
    for name, target in TARGETS.items():
        ratio = medians[name] / medians["ping"]
        verdict = "pass" if ratio <= target else "FAIL"
        if ratio > target:
            missed.append(name)
        print("%-34s %.2fx (target <= %.1fx) %s" % (labels[name], ratio, target, verdict))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
