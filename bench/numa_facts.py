"""numa_facts on a 2-socket, 384-CPU NPS4 tree against ansible.builtin.ping.

Both run through the same `ansible` ad-hoc command on localhost, alternating,
several times each; prints the medians and their ratio (target: <= 1.2).

    python bench/numa_facts.py [--runs 9]
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


def adhoc(module, args):
    command = ["ansible", "localhost", "-c", "local", "-i", "localhost,", "-m", module]
    if args:
        command += ["-a", args]
    started = time.perf_counter()
    done = subprocess.run(command, check=False, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0 or "SUCCESS" not in done.stdout:
        sys.exit("%s failed:\n%s%s" % (module, done.stdout, done.stderr))
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--topology", default="epyc-2s-nps4-384")
    options = parser.parse_args()
    os.environ.setdefault("ANSIBLE_PYTHON_INTERPRETER", sys.executable)
    with tempfile.TemporaryDirectory() as tree:
        topology = topologies.catalog()[options.topology]
        topologies.write_tree(topology, tree)
        facts_args = "sysfs_root=%s/sys procfs_root=%s/proc" % (tree, tree)
        adhoc("ansible.builtin.ping", "")  # warm caches before measuring
        adhoc("ktune.inference.numa_facts", facts_args)
        ping, facts = [], []
        for _unused in range(options.runs):
            ping.append(adhoc("ansible.builtin.ping", ""))
            facts.append(adhoc("ktune.inference.numa_facts", facts_args))
    ping_median, facts_median = statistics.median(ping), statistics.median(facts)
    print("topology: %s (%d CPUs online, %d nodes), %d runs each" % (
        options.topology, len(topology.online), len(topology.nodes), options.runs))
    print("ansible.builtin.ping           median %.3f s  (min %.3f, max %.3f)" % (ping_median, min(ping), max(ping)))
    print("ktune.inference.numa_facts     median %.3f s  (min %.3f, max %.3f)" % (facts_median, min(facts), max(facts)))
    print("ratio numa_facts / ping: %.2fx (target <= 1.20x)" % (facts_median / ping_median))


if __name__ == "__main__":
    main()
