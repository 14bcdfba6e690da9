"""Fleet audit speed: playbooks/audit.yml over N hosts against `ansible all -m ping` over the
same N, and the report's generation time for 1,000 synthetic host results.

The N hosts are cheap `ansible_connection: local` hosts, each pointed at a fixture sysfs/procfs
tree (tests/topologies.py) through ktune_sysfs_root/ktune_procfs_root, in two inventory groups.
Both commands run alternately, several times each; prints medians and the ratio
(target, issue 22: <= 1.5x over 24 hosts), then the time to grade and render 1,000 hosts
(target <= 2 s); exits 1 when either misses its target.

    python bench/fleet.py [--hosts 24] [--runs 5] [--report-hosts 1000]
"""

import argparse
import json
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
sys.path.insert(0, str(checkout.ensure_collection_link()))
import topologies  # noqa: E402
import yaml  # noqa: E402
from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import (  # noqa: E402
    evaluate,
    host_settings,
    load_role_defaults,
)
from ansible_collections.ktune.inference.plugins.module_utils.audit_report import (  # noqa: E402
    build_report,
    to_html,
    to_json,
    to_junit,
    to_table,
)
from ansible_collections.ktune.inference.plugins.module_utils.host_state import gather_host_state  # noqa: E402

TOPOLOGIES = ("epyc-2s-nps2", "epyc-2s-nps4", "epyc-2s-nps1", "xeon-2s-snc2-interleaved", "vm-1node-no-cpufreq",
              "epyc-2s-64c-nps4")
AUDIT_TARGET = 1.5  # issue 22: audit.yml's median at most this many times ping's
REPORT_TARGET = 2.0  # seconds to grade and render --report-hosts hosts
GROUPS = {"production": {"ktune_expected_nodes_per_socket": 2, "ktune_use_numa": True},
          "development": {"ktune_expected_nodes_per_socket": 1, "ktune_use_numa": False}}


def write_inventory(folder, count):
    trees = {}
    for name in TOPOLOGIES:
        trees[name] = topologies.write_tree(topologies.catalog()[name], Path(folder) / name)
    children = dict((group, {"vars": dict(values), "hosts": {}}) for group, values in GROUPS.items())
    for index in range(count):
        tree = trees[TOPOLOGIES[index % len(TOPOLOGIES)]]
        group = "production" if index % 2 == 0 else "development"
        children[group]["hosts"]["host%03d" % index] = {"ktune_sysfs_root": str(tree / "sys"),
                                                        "ktune_procfs_root": str(tree / "proc")}
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                         "children": children}}
    path = Path(folder) / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path, trees


def timed(command):
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"))
    started = time.perf_counter()
    done = subprocess.run(command, check=False, cwd=ROOT, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, done


def run_audit(inventory, report_dir, count):
    elapsed, done = timed(["ansible-playbook", str(ROOT / "playbooks/audit.yml"), "-i", str(inventory),
                           "-e", "ktune_report_dir=%s" % report_dir])
    report = Path(report_dir) / "audit.json"
    # The fixture hosts are untuned, so the audit fails them (exit 2); anything else is an error.
    if done.returncode not in (0, 2) or not report.exists():
        sys.exit("audit.yml failed (rc %d):\n%s%s" % (done.returncode, done.stdout[-3000:], done.stderr[-2000:]))
    hosts = json.loads(report.read_text())["hosts"]
    if len(hosts) != count or any(entry["status"] == "unknown" for entry in hosts.values()):
        sys.exit("audit.yml graded %d of %d hosts" % (len(hosts), count))
    return elapsed


def run_ping(inventory, count):
    elapsed, done = timed(["ansible", "all", "-i", str(inventory), "-m", "ansible.builtin.ping"])
    if done.returncode != 0 or done.stdout.count("SUCCESS") != count:
        sys.exit("ping failed (rc %d):\n%s%s" % (done.returncode, done.stdout[-3000:], done.stderr[-2000:]))
    return elapsed


def synthetic_results(trees, count):
    """Host facts read once per topology through the module's own code, graded for count hosts."""
    defaults = load_role_defaults(str(ROOT), yaml.safe_load)
    facts = {}
    for name, tree in trees.items():
        params = {"sysfs_root": str(tree / "sys"), "procfs_root": str(tree / "proc"),
                  "cron_file": str(tree / "none/cron"), "sysctl_file": str(tree / "none/sysctl.conf"),
                  "sysctls": ["kernel.numa_balancing", "vm.zone_reclaim_mode"],
                  "environment_file": str(tree / "none/environment"), "env_dir": str(tree / "none"),
                  "extra_env_files": None, "instances": [], "service_settings": {},
                  "removed_marker": str(tree / "none/removed")}
        state = gather_host_state(params, None, None)
        facts[name] = {"ktune_numa": state.pop("numa"), "ktune_host_state": state}
    hosts, groups = [], {}
    for index in range(count):
        group = "production" if index % 2 == 0 else "development"
        host = "host%04d" % index
        groups[host] = group
        hosts.append((host, facts[TOPOLOGIES[index % len(TOPOLOGIES)]], host_settings(defaults, GROUPS[group])))
    return hosts, groups


def report_time(trees, count):
    hosts, groups = synthetic_results(trees, count)
    started = time.perf_counter()
    results = dict((host, evaluate(facts, settings)) for host, facts, settings in hosts[:-5])
    unknown = dict((host, "unreachable: synthetic") for host, _plan, _seconds in hosts[-5:])
    report = build_report(results, groups, "2026-01-01T00:00:00Z", unknown)
    sizes = [len(text) for text in (to_json(report), to_junit(report), to_html(report), to_table(report))]
    return time.perf_counter() - started, sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=24)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--report-hosts", type=int, default=1000)
    options = parser.parse_args()
    if options.hosts < 20:
        parser.error("--hosts must be at least 20")
    with tempfile.TemporaryDirectory() as folder:
        inventory, trees = write_inventory(folder, options.hosts)
        run_ping(inventory, options.hosts)  # warm caches before measuring
        run_audit(inventory, Path(folder) / "warm", options.hosts)
        ping, audit = [], []
        for run in range(options.runs):
            ping.append(run_ping(inventory, options.hosts))
            audit.append(run_audit(inventory, Path(folder) / ("report%d" % run), options.hosts))
        seconds, sizes = report_time(trees, options.report_hosts)
    print("%d local hosts (%s), %d runs each" % (options.hosts, ", ".join(TOPOLOGIES), options.runs))
    print("ansible all -m ping       median %.3f s  (min %.3f, max %.3f)" % (statistics.median(ping), min(ping), max(ping)))
    print("playbooks/audit.yml       median %.3f s  (min %.3f, max %.3f)" % (statistics.median(audit), min(audit), max(audit)))
    ratio = statistics.median(audit) / statistics.median(ping)
    print("ratio audit.yml / ping: %.2fx (target <= %.2fx) %s" % (ratio, AUDIT_TARGET, verdict(ratio, AUDIT_TARGET)))
    print("report for %d hosts (grade + json + junit + html + table): %.3f s (target <= %.0f s) %s; sizes %s bytes"
          % (options.report_hosts, seconds, REPORT_TARGET, verdict(seconds, REPORT_TARGET),
             "/".join(str(size) for size in sizes)))
    return 0 if ratio <= AUDIT_TARGET and seconds <= REPORT_TARGET else 1


def verdict(value, target):
    return "pass" if value <= target else "FAIL"


if __name__ == "__main__":
    sys.exit(main())
