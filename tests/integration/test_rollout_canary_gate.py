"""The canary gate of playbooks/rollout.yml end to end: real ansible-playbook runs on local hosts
reading fixture trees, each host served by its own streaming test server on 127.0.0.1.

h2 and h3 record the fleet baseline on ktransformers 0.4.0 (playbooks/baseline.yml, scope fleet);
the rollout's canary then runs "0.5.0". The rollout runs with --tags service and no service
entries, so no tuning role changes this machine: the upgrade is played by a thread that, once the
gate has recorded the canary's service configuration, writes the new version into the canary's
environment file and adds a file, as an upgrade would before the canary is measured.
"""

import json
import socket
import sys
import threading
import time

import pytest
from lxml import etree

import topologies
from fake_ktransformers.server import StreamPlan, bench_server, stop_bench_server
from playbook_run import PROJECT, recap, rollout_status, run_playbook

JUNIT_SCHEMA = etree.XMLSchema(etree.parse(str(PROJECT / "tests/fixtures/junit/junit-10.xsd")))
FLEET = ("h2", "h3")
FAST = dict(tokens_per_s=200, ttft_s=0.05, fixed_length=True)
SLOW = dict(tokens_per_s=60, ttft_s=0.25, fixed_length=True)
OLD, NEW = "KTRANSFORMERS_VERSION=0.4.0\n", "KTRANSFORMERS_VERSION=0.5.0\n"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server(object):
    """A bench server on a fixed port, started and stopped around each run."""

    def __init__(self, port):
        self.port, self.running = port, None

    def start(self, **plan_settings):
        self.plan = StreamPlan(**plan_settings)
        self.server = bench_server(self.plan, "127.0.0.1", self.port)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        return self.plan

    def stop(self):
        stop_bench_server(self.server, self.plan)
        self.thread.join(10)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("canary")
    tree = topologies.catalog()["epyc-2s-nps2"]
    (base / "environment").write_text('PATH="/usr/bin:/bin"\n')
    hosts = {}
    # Inventory order: the canary first (the rollout's first batch), odd second (used with --limit).
    for host in ("canary", "odd") + FLEET:
        topologies.write_tree(tree, base / host)
        for path in (base / host / "sys/devices/system/cpu/cpufreq").glob("policy*/scaling_governor"):
            path.write_text("performance\n")
        (base / host / "etc").mkdir()
        hosts[host] = {
            "ktune_sysfs_root": str(base / host / "sys"), "ktune_procfs_root": str(base / host / "proc"),
            "ktune_baseline_url": "http://127.0.0.1:%d" % free_port(),
            "ktune_baseline_fingerprint_extra": {"ktransformers": "0.4.0" if host in FLEET else "0.5.0"},
            "ktune_canary_gate_rollback_files": [str(base / host / "etc/ktransformers.env"),
                                                 str(base / host / "etc/added-by-upgrade.conf")],
            "ktune_canary_gate_state_dir": str(base / host / "state"),
        }
    # The odd canary runs another kernel than the fleet.
    (base / "odd/proc/sys/kernel/osrelease").write_text("6.11.0-odd\n")
    inventory = {"all": {"vars": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "ktune_expected_nodes_per_socket": 2, "ktune_drop_caches_state": "absent", "ktune_use_numa": False,
        "ktune_baseline_environment_file": str(base / "environment"),
        "ktune_baseline_max_tokens": 16, "ktune_baseline_requests": 6, "ktune_baseline_repetitions": 3,
        "ktune_baseline_timeout_s": 10, "ktune_baseline_slo": {"ttft_s": 1.0, "tpot_s": 0.1},
        "ktune_canary_gate_max_regression_pct": 30,
    }, "hosts": hosts}}
    (base / "hosts.yml").write_text(json.dumps(inventory, indent=1))
    servers = dict((host, Server(int(hosts[host]["ktune_baseline_url"].rsplit(":", 1)[1]))) for host in hosts)
    for host in FLEET:
        servers[host].start(**FAST)
    try:
        done = run_playbook("baseline.yml", [base / "hosts.yml"], "--limit", ",".join(FLEET),
                            "-e", "ktune_baseline_scope=fleet", "-e", "ktune_baseline_mode=record", cwd=base, timeout=300)
    finally:
        for host in FLEET:
            servers[host].stop()
    assert done.returncode == 0, done.output[-3000:]
    recorded = sorted(path.name for path in (base / "ktune-baselines/fleet").glob("*/*.json"))
    assert recorded == ["h2.json", "h3.json"], recorded

    def rollout(canary, plan, name, *extra, breaks_governor=False):
        """The rollout with `canary` first; its server paced by plan; returns the run with .junit, .plan, .upgraded_at.
        breaks_governor: the upgrade also leaves the canary's CPUs on powersave, which its audit gate refuses."""
        etc = base / canary / "etc"
        governors = sorted((base / canary / "sys/devices/system/cpu/cpufreq").glob("policy*/scaling_governor"))
        for path in governors:
            path.write_text("performance\n")
        (etc / "ktransformers.env").write_text(OLD)
        if (etc / "added-by-upgrade.conf").exists():
            (etc / "added-by-upgrade.conf").unlink()
        manifest = base / canary / "state/rollback/manifest.json"
        if manifest.exists():
            manifest.unlink()
        upgraded = {}

        def upgrade():
            deadline = time.time() + 240
            while not manifest.exists() and time.time() < deadline:
                time.sleep(0.01)
            if manifest.exists():
                for path in governors if breaks_governor else ():
                    path.write_text("powersave\n")
                (etc / "ktransformers.env").write_text(NEW)
                (etc / "added-by-upgrade.conf").write_text("new\n")
                upgraded["at"] = time.monotonic()

        upgrader = threading.Thread(target=upgrade, daemon=True)
        upgrader.start()
        served = servers[canary].start(**plan)
        try:
            done = run_playbook("rollout.yml", [base / "hosts.yml"], "--limit", ",".join((canary,) + FLEET),
                                "--tags", "service", "-e", '{"ktune_rollout_batches": ["100%"]}',
                                "-e", "ktune_canary_gate=true", "-e", "ktune_report_dir=%s" % (base / name),
                                *extra, cwd=base, timeout=600)
        finally:
            servers[canary].stop()
            upgrader.join(0)
        files = sorted((base / name).glob("rollout-*/canary-gate.xml"))
        done.junit = files[0] if files else None
        done.plan, done.upgraded_at, done.etc = served, upgraded.get("at"), etc
        return done

    rollout.base = base
    return rollout


def junit(done):
    root = etree.parse(str(done.junit)).getroot()
    JUNIT_SCHEMA.assertValid(root)
    return root, dict((case.get("name"), [child.tag for child in case]) for case in root.iter("testcase"))


def test_a_canary_as_fast_as_the_fleet_lets_the_rollout_proceed(site):
    done = site("canary", FAST, "pass")
    assert done.returncode == 0, done.output[-4000:]
    assert rollout_status(done.output)["rolled out and passed the gate"] == ["canary", "h2", "h3"]
    assert "canary: passed the canary gate against the fleet baseline of fingerprint " in done.output
    assert "(h2, h3; software ktransformers 0.4.0 -> 0.5.0)" in done.output
    # Measured after the upgrade, and not rolled back.
    assert done.plan.count == 3 * 6 and min(entry["arrival"] for entry in done.plan.clock_log) > done.upgraded_at
    assert (done.etc / "ktransformers.env").read_text() == NEW and (done.etc / "added-by-upgrade.conf").exists()
    root, cases = junit(done)
    assert (root.get("failures"), root.get("errors")) == ("0", "0")
    assert set(cases) == {"canary.first_tokens_per_s", "canary.last_tokens_per_s", "canary.goodput_rps",
                          "canary.p99_ttft_s", "canary.p99_tpot_s"}


def test_a_regressing_canary_is_rolled_back_and_stops_the_rollout_before_the_next_batch(site):
    done = site("canary", SLOW, "regress")
    assert done.returncode != 0
    status = rollout_status(done.output)
    assert status["not touched"] == ["h2", "h3"] and status["rolled out and passed the gate"] == [], status
    rows = recap(done.output)
    assert rows["canary"]["failed"] == "1" and rows["h2"]["failed"] == "0", rows
    assert "canary: rollout stopped: Stop the rollout on a canary that did not pass: canary: failed the canary gate: " \
           "expected goodput, p99 latencies and tokens/s within 30% of the fleet baseline of fingerprint " in done.output
    assert "found first_tokens_per_s fell " in done.output and "p99 ttft_s rose " in done.output
    assert ". Fix: keep the fleet on its version" in done.output
    assert "The canary was rolled back to the service configuration recorded before its upgrade" in done.output
    assert (done.etc / "ktransformers.env").read_text() == OLD
    assert not (done.etc / "added-by-upgrade.conf").exists()
    root, cases = junit(done)
    assert int(root.get("failures")) >= 2 and root.get("errors") == "0"
    assert cases["canary.p99_ttft_s"] == ["failure"] and cases["canary.first_tokens_per_s"] == ["failure"]


def test_a_canary_failing_its_audit_gate_after_the_upgrade_is_rolled_back_and_stops_the_rollout(site):
    done = site("canary", FAST, "audit", breaks_governor=True)
    assert done.returncode != 0
    assert done.upgraded_at is not None
    status = rollout_status(done.output)
    assert status["not touched"] == ["h2", "h3"] and status["rolled out and passed the gate"] == [], status
    assert "canary: rollout stopped: Pass the gate (audit controls and service health): canary: failed the rollout gate: " \
        in done.output
    assert "The canary was rolled back to the service configuration recorded before its upgrade" in done.output
    # Rolled back without being benchmarked: the audit gate failed first.
    assert done.plan.count == 0
    assert (done.etc / "ktransformers.env").read_text() == OLD
    assert not (done.etc / "added-by-upgrade.conf").exists()


def test_a_canary_of_another_kernel_is_refused_naming_the_difference(site):
    done = site("odd", FAST, "refused")
    assert done.returncode != 0
    assert rollout_status(done.output)["not touched"] == ["h2", "h3"]
    assert "odd: not judged: expected the hardware, kernel and load of a fleet baseline (only the software may " \
           "differ from it), found kernel " in done.output
    assert "-> 6.11.0-odd against the closest, fingerprint " in done.output
    assert (done.etc / "ktransformers.env").read_text() == OLD
    root, cases = junit(done)
    assert cases == {"canary.fingerprint": ["error"]} and root.get("errors") == "1"


def test_check_mode_measures_records_and_writes_nothing(site):
    done = site("canary", FAST, "check", "--check")
    assert done.returncode == 0, done.output[-4000:]
    assert "canary: check mode: the canary gate would benchmark this host after its upgrade" in done.output
    assert done.plan.count == 0 and done.junit is None and done.upgraded_at is None
    assert not (site.base / "canary/state/rollback/manifest.json").exists()
    assert recap(done.output)["canary"]["changed"] == "0"


def test_a_bad_margin_stops_before_any_host_changes(site):
    done = site("canary", FAST, "bad", "-e", "ktune_canary_gate_max_regression_pct=150")
    assert done.returncode != 0
    assert "canary: ktune_canary_gate_max_regression_pct = " in done.output
    assert "expected a percentage from 0 to 100, such as 10" in done.output
    assert done.plan.count == 0 and done.upgraded_at is None
