"""The router of a sharded entry (issue 25) judged by the released smg (PyPI `smg`, the SGLang model gateway).

Its command line is parsed by smg's own parser (smg.cli's subcommand, then smg.launch_router's
parse_router_args, which also runs smg's value checks); then the real router runs in front of test
servers standing in for the replicas, and ktune's judgement of its worker list
(router_worker_problems, shared by the role and the audit) is compared with what it routes.
smg comes from requirements-test.txt, pinned to the version the role installs.
"""

import importlib.metadata
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

import topologies
from playbook_run import run_playbook
from ansible_collections.ktune.inference.plugins.filter.ktransformers import ktransformers_router_failure
from ansible_collections.ktune.inference.plugins.module_utils import audit_controls, host_state
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import resolve_instances
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
from ansible_collections.ktune.inference.plugins.module_utils.router_workers import (
    json_sender,
    listed_worker,
    put_back,
    take_out,
)
from ansible_collections.ktune.inference.plugins.module_utils.router import (
    ROUTER_VERSION,
    router_plan,
    router_worker_problems,
)

from smg.cli import create_parser
from smg.launch_router import parse_router_args

ROOT = Path(__file__).resolve().parents[2]
FAKE_SERVER = ROOT / "tests" / "fake_ktransformers" / "server.py"
API_KEY = "router-test-key"
TOPOLOGIES = ["epyc-2s-nps1", "epyc-2s-nps2", "epyc-2s-nps4", "xeon-1s-snc3", "xeon-2s-cxl-memory-only",
              "epyc-2s-nps1-hbm-sparse", "epyc-2s-nps2-memoryless"]
_FACTS = {}


def facts(name, tmp_path_factory):
    if name not in _FACTS:
        tree = topologies.write_tree(topologies.catalog()[name], tmp_path_factory.mktemp(name))
        _FACTS[name] = gather_numa_facts(str(tree / "sys"), str(tree / "proc"))
    return _FACTS[name]


def entry(**extra):
    item = {"name": "kimi", "backend": "sglang", "model_path": "/srv/models/kimi",
            "kt_weight_path": "/srv/models/kimi-cpu", "replicas": "per_numa_node"}
    item.update(extra)
    return item


def smg_parses(argv):
    """What `python -m smg ARGV` would start with: smg.cli picks the subcommand, parse_router_args the rest."""
    command, rest = create_parser().parse_known_args(argv)
    assert command.command == "launch"
    return parse_router_args(rest)


def test_the_tested_smg_is_the_release_the_role_installs():
    # The distribution's version (smg.__version__ in the 1.13.0 wheel still says 1.1.0).
    assert importlib.metadata.version("smg") == ROUTER_VERSION
    defaults = yaml.safe_load((ROOT / "roles/ktransformers_service/defaults/main.yml").read_text())
    assert defaults["ktune_service_router_version"] == ROUTER_VERSION


@pytest.mark.parametrize("name, layout, host", list(itertools.product(
    TOPOLOGIES, ["per_numa_node", "per_socket"], ["127.0.0.1", "::1"])))
def test_every_router_line_parses_with_smg(tmp_path_factory, name, layout, host):
    resolved = resolve_instances([entry(replicas=layout, host=host, port=30000)], facts(name, tmp_path_factory))
    replicas = [item for item in resolved if item.get("replica_of") == "kimi"]
    [router] = router_plan(resolved, {"router_health_interval_s": 7})
    parsed = smg_parses(router["argv"])
    assert (parsed.host, parsed.port) == (host, 30000)
    assert parsed.worker_urls == ["http://127.0.0.1:%d" % item["port"] for item in replicas]
    assert [item["host"] for item in replicas] == ["127.0.0.1"] * len(replicas)
    assert (parsed.policy, parsed.health_check_endpoint, parsed.health_check_interval_secs) == ("round_robin",
                                                                                                "/health", 7)
    assert (parsed.prometheus_host, parsed.prometheus_port) == ("127.0.0.1", 30000 + len(replicas) + 1)
    assert parsed.worker_startup_timeout_secs == 1800
    assert not parsed.pd_disaggregation and not parsed.enable_igw


def test_a_line_smg_would_refuse_is_refused_by_the_parser_used_here():
    with pytest.raises(SystemExit):
        smg_parses(["launch", "--port", "30000", "--policy", "fastest"])


# --- the real router in front of test servers ---------------------------------------------------

def free_port_block(count):
    """A port whose next COUNT ports are free too (the router, its replicas, its metrics)."""
    for _attempt in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + count > 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + count):
                taken = socket.socket()
                sockets.append(taken)
                taken.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for taken in sockets:
                taken.close()
    raise AssertionError("no block of %d free ports on 127.0.0.1" % count)


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        return json.loads(answer.read().decode("utf-8"))


def chat(url, model, key=API_KEY):
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = "Bearer " + key
    request = urllib.request.Request(url + "/v1/chat/completions", data=body, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last is True:
                return
        except OSError as exc:
            last = exc
        time.sleep(0.3)
    raise AssertionError("%s within %s s; last: %r" % (what, timeout, last))


def start_replica(replica, model, tmp_path):
    """A test server in a replica's place; a streamed answer takes about half a second (in flight
    long enough for a restart to cut it)."""
    env = dict(os.environ, HOME=str(tmp_path), FAKE_TOKENS_PER_S="10",
               FAKE_ARGV_FILE=str(tmp_path / ("argv-%s.json" % replica["name"])))
    return subprocess.Popen(
        [sys.executable, str(FAKE_SERVER), "sglang", "--model-path", str(model), "--host", replica["host"],
         "--port", str(replica["port"]), "--api-key", API_KEY], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)


@pytest.fixture
def sharded(tmp_path, tmp_path_factory):
    """A 2-socket host's per_socket entry: two test servers as the replicas, smg as its router."""
    model = tmp_path / "model"
    model.mkdir()
    base = free_port_block(4)
    resolved = resolve_instances([entry(replicas="per_socket", port=base, model_path=str(model))],
                                 facts("epyc-2s-nps2", tmp_path_factory))
    [router] = router_plan(resolved, {"router_health_interval_s": 1})
    processes = []
    env = dict(os.environ, HOME=str(tmp_path))
    for replica in (item for item in resolved if item.get("replica_of")):
        processes.append(start_replica(replica, model, tmp_path))
    log = (tmp_path / "router.log").open("w")
    processes.append(subprocess.Popen([sys.executable, "-m", "smg"] + router["argv"], env=dict(env, NO_COLOR="1"),
                                      stdout=log, stderr=subprocess.STDOUT))
    try:
        yield router, processes, str(model), tmp_path / "router.log", resolved
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
        log.close()


def test_the_real_router_routes_to_exactly_the_replicas_and_ktune_sees_a_lost_one(sharded):
    router, processes, model, log, _resolved = sharded
    wait_for(lambda: router_worker_problems(router, get_json(router["workers_url"])) == [], 60,
             "smg lists both replicas, healthy (log: %s)" % log)
    wait_for(lambda: urllib.request.urlopen(router["health_url"], timeout=5).status == 200, 10,
             "the router's health URL answers 200")
    assert [chat("http://127.0.0.1:%d" % router["port"], model) for _request in range(4)] == [200] * 4
    # The router passes the client's key on; the replicas keep refusing a request without it.
    assert chat("http://127.0.0.1:%d" % router["port"], model, key=None) == 401
    # A replica lost: the router's own health checks take it out, and ktune names it.
    processes[1].terminate()
    processes[1].wait(timeout=15)
    lost = router["workers"][1]
    wait_for(lambda: router_worker_problems(router, get_json(router["workers_url"])) in (
        ["%s does not route to %s (expected every replica registered)" % (router["unit"], lost)],
        ["%s marks %s unhealthy" % (router["unit"], lost)]), 60, "ktune names the lost replica")
    # The requests keep being served by the replica left.
    assert [chat("http://127.0.0.1:%d" % router["port"], model) for _request in range(4)] == [200] * 4


def audit_of_the_router(resolved, settings, host="gpu-a"):
    """service.router as the audit grades it from the host's own read of the real router (host_state)."""
    def no_systemd(units):
        raise OSError("the test's processes are not systemd units")
    keys = ("name", "state", "unit", "health_url", "host", "port", "replica_of", "router_host", "router_port",
            "health_timeout_s")
    instances = [dict((key, item.get(key)) for key in keys) for item in resolved]
    routers = host_state.read_routers(instances, no_systemd, host_state.http_json_reader(5))
    facts = audit_controls.with_bmc({"ktune_numa": {"error": "not read here"},
                                     "ktune_host_state": {"services": {"units": [], "routers": routers}}},
                                    {"inventory_hostname": host})
    [control] = [item for item in audit_controls.evaluate(facts, settings) if item["id"] == "service.router"]
    return control


def test_the_audit_passes_the_real_router_and_fails_it_naming_the_replica_that_went_down(sharded):
    router, processes, model, log, resolved = sharded
    settings = {"ktune_service_instances": [entry(replicas="per_socket", port=router["port"], model_path=model)]}
    wait_for(lambda: audit_of_the_router(resolved, settings)["status"] == "pass", 60,
             "service.router passes once smg has both replicas healthy (log: %s)" % log)
    assert audit_of_the_router(resolved, settings)["finding"] == "%s routes to %s, all healthy" % (
        router["unit"], ", ".join(router["workers"]))
    processes[0].terminate()
    processes[0].wait(timeout=15)
    lost_url, lost_unit = router["workers"][0], router["replica_units"][0]
    wait_for(lambda: audit_of_the_router(resolved, settings)["status"] == "fail", 60,
             "service.router fails once smg sees the replica down")
    control = audit_of_the_router(resolved, settings)
    assert control["severity"] == "error"
    assert control["finding"].startswith("expected %s on gpu-a to route to exactly %s, all healthy; found: " % (
        router["unit"], ", ".join(router["workers"])))
    assert control["finding"].endswith(lost_url + " unhealthy") or control["finding"].endswith(
        "does not route to %s (expected every replica registered)" % lost_url)
    assert router["workers"][1] not in control["finding"].split("found: ")[1]
    assert control["fix"].startswith("on gpu-a, systemctl status %s shows" % lost_unit)
    assert router["replica_units"][1] not in control["fix"]
    # The role's check after a start says the same from the same answer (its fail task's filter).
    message = ktransformers_router_failure(router, get_json(router["workers_url"]), "gpu-a")
    assert message.startswith(control["finding"] + ". Fix: on gpu-a, systemctl status %s shows" % lost_unit)
    assert message.endswith("run playbooks/tune.yml --tags service on gpu-a again")


# --- a rolling restart through the router's worker API (router_workers, the router_worker module) -------


def streamed_chat(url, model):
    """(ok, seconds, what went wrong): one streamed answer read to its end through the router."""
    body = json.dumps({"model": model, "stream": True,
                       "messages": [{"role": "user", "content": "a b"}]}).encode()
    request = urllib.request.Request(url + "/v1/chat/completions", data=body, headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + API_KEY})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            text = answer.read().decode("utf-8", "replace")
            ok = answer.status == 200 and "data: [DONE]" in text
            return ok, time.monotonic() - started, "" if ok else "HTTP %d, %r" % (answer.status, text[-200:])
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return False, time.monotonic() - started, repr(exc)


class OpenLoad(object):
    """Streamed requests at RATE per second, each on its own thread, as the schedule makes them."""

    def __init__(self, url, model, rate):
        self.url, self.model, self.interval = url, model, 1.0 / rate
        self.results, self.phase, self.threads = [], "steady", []
        self.stopping = threading.Event()
        self.scheduler = threading.Thread(target=self._schedule, daemon=True)

    def _one(self, phase):
        self.results.append((phase,) + streamed_chat(self.url, self.model))

    def _schedule(self):
        next_at = time.monotonic()
        while not self.stopping.is_set():
            thread = threading.Thread(target=self._one, args=(self.phase,), daemon=True)
            thread.start()
            self.threads.append(thread)
            next_at += self.interval
            self.stopping.wait(max(0.0, next_at - time.monotonic()))

    def start(self):
        self.scheduler.start()

    def stop(self):
        self.stopping.set()
        self.scheduler.join()
        for thread in self.threads:
            thread.join(timeout=60)

    def failures(self, phase=None):
        return [item for item in self.results if not item[1] and phase in (None, item[0])]

    def p99(self, phase):
        latencies = sorted(item[2] for item in self.results if item[0] == phase and item[1])
        return latencies[min(len(latencies) - 1, int(round(0.99 * (len(latencies) - 1))))]


def restart_replica(processes, number, replica, model, tmp_path):
    processes[number].terminate()
    processes[number].wait(timeout=15)
    processes[number] = start_replica(replica, model, tmp_path)
    wait_for(lambda: urllib.request.urlopen("http://127.0.0.1:%d/health" % replica["port"], timeout=5).status == 200,
             30, "the restarted replica answers its health check")


@pytest.fixture
def loaded_router(sharded):
    router, processes, model, log, resolved = sharded
    wait_for(lambda: router_worker_problems(router, get_json(router["workers_url"])) == [], 60,
             "smg lists both replicas, healthy (log: %s)" % log)
    load = OpenLoad("http://127.0.0.1:%d" % router["port"], model, rate=20)
    load.start()
    try:
        time.sleep(3)
        yield router, processes, model, [item for item in resolved if item.get("replica_of")], load
    finally:
        load.stop()


def test_a_rolling_restart_through_the_router_drops_no_request_under_load(loaded_router, tmp_path):
    router, processes, model, replicas, load = loaded_router
    send = json_sender(10)
    router_url = "http://127.0.0.1:%d" % router["port"]
    load.phase = "rolling"
    for number, replica in enumerate(replicas):
        worker = router["workers"][number]
        assert take_out(send, router_url, worker, timeout=60, interval=0.2) is True
        assert listed_worker(get_json(router["workers_url"]), worker) is None
        restart_replica(processes, number, replica, model, tmp_path)
        assert put_back(send, router_url, worker, timeout=60, interval=0.2) is True
        assert router_worker_problems(router, get_json(router["workers_url"])) == []
    # Once done, the same calls change nothing.
    assert put_back(send, router_url, router["workers"][0], timeout=5, interval=0.2) is False
    load.phase = "after"
    time.sleep(2)
    load.stop()
    rolling = [item for item in load.results if item[0] == "rolling"]
    assert len(rolling) >= 20, "the restart ran under load"
    assert load.failures() == []
    print("rolling restart: %d requests (%d during the restart), none failed; p99 steady %.3f s, during %.3f s"
          % (len(load.results), len(rolling), load.p99("steady"), load.p99("rolling")))


def test_a_restart_without_taking_the_replica_out_loses_requests_in_flight(loaded_router, tmp_path):
    # The control for the test above: under the same load, the same restart without the worker API
    # cuts the answers the replica was streaming.
    router, processes, model, replicas, load = loaded_router
    load.phase = "rolling"
    restart_replica(processes, 0, replicas[0], model, tmp_path)
    load.stop()
    # The answers cut are those in flight when the replica stopped (started before the restart).
    print("restart without the worker API: %d of %d requests failed: %s" % (
        len(load.failures()), len(load.results), sorted(set((item[0], round(item[2]), item[3][:80]) for item in load.failures()))))
    assert load.failures() != []
    assert all("[DONE]" not in item[3] for item in load.failures())


ROUTER_WORKER_PLAY = """
- name: The router_worker module against the real smg
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Check mode says it would take the replica out, and does not
      ktune.inference.router_worker: {router_url: "{{ router_url }}", worker_url: "{{ worker_url }}", state: absent}
      check_mode: true
      register: would
    - name: Take it out
      ktune.inference.router_worker: {router_url: "{{ router_url }}", worker_url: "{{ worker_url }}", state: absent,
                                      interval_s: 0.2}
      register: taken
    - name: Again
      ktune.inference.router_worker: {router_url: "{{ router_url }}", worker_url: "{{ worker_url }}", state: absent}
      register: taken_again
    - name: Put it back
      ktune.inference.router_worker: {router_url: "{{ router_url }}", worker_url: "{{ worker_url }}", state: present,
                                      interval_s: 0.2}
      register: back
    - name: Again
      ktune.inference.router_worker: {router_url: "{{ router_url }}", worker_url: "{{ worker_url }}", state: present}
      register: back_again
    - name: A router that does not answer
      ktune.inference.router_worker: {router_url: "http://127.0.0.1:1", worker_url: "{{ worker_url }}", state: absent}
      register: nobody
      failed_when: false
    - name: Show the results
      ansible.builtin.debug:
        msg: "RESULTS {{ [would.changed, taken.changed, taken_again.changed, back.changed, back_again.changed] | to_json }}
          NOBODY {{ nobody.msg }}"
"""


def test_the_router_worker_module_takes_a_replica_out_and_puts_it_back_in_the_real_router(sharded, tmp_path):
    router, _processes, _model, log, _resolved = sharded
    wait_for(lambda: router_worker_problems(router, get_json(router["workers_url"])) == [], 60,
             "smg lists both replicas, healthy (log: %s)" % log)
    play = tmp_path / "router_worker.yml"
    play.write_text(ROUTER_WORKER_PLAY)
    done = run_playbook(str(play), ["localhost,"], "-e", "router_url=http://127.0.0.1:%d" % router["port"],
                        "-e", "worker_url=%s" % router["workers"][1], "-e", "ansible_python_interpreter=" + sys.executable)
    assert done.returncode == 0, done.output
    output = " ".join(done.output.split())
    assert "RESULTS [true, true, false, true, false]" in output
    assert "NOBODY expected the router to answer at http://127.0.0.1:1/workers, found: " in output
    assert "Fix: on this host, systemctl status and journalctl -u of the router" in output
    assert router_worker_problems(router, get_json(router["workers_url"])) == []


def test_the_audit_playbook_reads_the_real_router_on_the_host_and_grades_service_router(sharded, tmp_path):
    """audit.yml end to end: managed_state reads the router on the host (its module payload carries
    router.py), the audit grades service.router: pass, then fail naming the replica that went down."""
    router, processes, model, log, _resolved = sharded
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "host")
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
            "ktune_expected_nodes_per_socket": 2, "ktune_drop_caches_state": "absent", "ktune_use_numa": False,
            "ktune_service_instances": [entry(replicas="per_socket", port=router["port"], model_path=model)]}
    (tmp_path / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"gpu-a": host}}}))

    def audited(name):
        report = tmp_path / name
        done = run_playbook("audit.yml", [tmp_path / "hosts.yml"], "-e", "ktune_report_dir=%s" % report,
                            cwd=tmp_path, timeout=600)
        assert (report / "audit.json").exists(), done.output[-3000:]
        controls = json.loads((report / "audit.json").read_text())["hosts"]["gpu-a"]["controls"]
        return [item for item in controls if item["id"] == "service.router"][0]

    wait_for(lambda: router_worker_problems(router, get_json(router["workers_url"])) == [], 60,
             "smg lists both replicas, healthy (log: %s)" % log)
    control = audited("healthy")
    assert (control["status"], control["finding"]) == (
        "pass", "%s routes to %s, all healthy" % (router["unit"], ", ".join(router["workers"])))
    processes[1].terminate()
    processes[1].wait(timeout=15)
    wait_for(lambda: router_worker_problems(router, get_json(router["workers_url"])) != [], 60,
             "smg sees the replica down")
    control = audited("one-down")
    assert (control["status"], control["severity"]) == ("fail", "error")
    assert control["finding"].startswith("expected %s on gpu-a to route to exactly" % router["unit"])
    assert router["workers"][1] in control["finding"].split("found: ")[1]
    assert control["fix"].startswith("on gpu-a, systemctl status %s shows" % router["replica_units"][1])
    assert "--limit gpu-a --tags service" in control["fix"]
