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
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

import topologies
from ansible_collections.ktune.inference.plugins.filter.ktransformers import ktransformers_router_failure
from ansible_collections.ktune.inference.plugins.module_utils import audit_controls, host_state
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import resolve_instances
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
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

