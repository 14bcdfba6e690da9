"""The ktransformers_service role restarts a sharded entry's replicas through the real router (issue 25).

The role's own tasks (restart_routes.yml, then instance.yml for each replica in service.yml's order)
drive smg 1.13.0 in front of fake ktransformers servers standing in for the replicas. This machine has
no systemd as PID 1: the play runs in a private mount namespace where /run/systemd/system exists and
/etc is an overlay (the role's files land in the test's folder, never in the machine's /etc), with
tests/fake_systemd/systemctl starting and stopping the fake servers. That systemctl records, at each
restart, what the router was routing to: the order out of the router, restart, back in is read from it.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from playbook_run import ANSI, recap
from test_router_contract import (
    API_KEY,
    FAKE_SERVER,
    OpenLoad,
    entry,
    facts,
    free_port_block,
    get_json,
    wait_for,
)
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import resolve_instances
from ansible_collections.ktune.inference.plugins.module_utils.router import router_plan, router_worker_problems

ROOT = Path(__file__).resolve().parents[2]
FAKE_SYSTEMCTL = ROOT / "tests" / "fake_systemd" / "systemctl"
PLAY = """
- name: A sharded entry's replicas through the role's own instance tasks
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: What service.yml has decided before the instances (shared unit and launcher unchanged)
      ansible.builtin.set_fact:
        ktransformers_service_shared_changed: false
        ktransformers_service_shared_restore: []
        ktransformers_service_can_act: true
        # The restarts unit_freshness found lost (none unless the test says so).
        __ktransformers_service_freshness: {stale: "{{ stale_units | default([]) }}"}
        ktransformers_service_routers: >-
          {{ ktransformers_service_resolved | ktune.inference.ktransformers_routers({'router_health_interval_s': 1}) }}

    - name: Decide which replicas restart through their router
      ansible.builtin.include_role:
        name: ktune.inference.ktransformers_service
        tasks_from: restart_routes

    - name: Configure, start and check each instance
      ansible.builtin.include_role:
        name: ktune.inference.ktransformers_service
        tasks_from: instance
      loop: "{{ ktransformers_service_resolved | ktune.inference.ktransformers_restart_order(ktransformers_service_restart_routes) }}"
      loop_control:
        loop_var: ktransformers_service_instance
        label: "{{ ktransformers_service_instance.name }}"
"""


def fake_systemctl(state, *args):
    subprocess.run([sys.executable, str(FAKE_SYSTEMCTL)] + list(args), env=dict(os.environ, FAKE_SYSTEMD_STATE=str(state)),
                   check=True, timeout=60)


def calls(state, action="stopped"):
    """What the fake systemctl was asked, in order (ACTION only, or every call for None)."""
    path = state / "calls.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [item for item in map(json.loads, lines) if action in (None, item["action"])]


@pytest.fixture
def site(tmp_path, tmp_path_factory):
    """A 2-socket host's per_socket entry: two fake servers as its replicas (units of the fake systemctl), smg
    as its router, and a runner of the play in a namespace with an overlay /etc."""
    if shutil.which("unshare") is None:
        raise AssertionError("this test needs unshare(1) (util-linux, as root)")
    model = tmp_path / "model"
    model.mkdir()
    base = free_port_block(4)
    resolved = resolve_instances([entry(replicas="per_socket", port=base, model_path=str(model),
                                        health_timeout_s=30)],
                                 facts("epyc-2s-nps2", tmp_path_factory), {"health_interval_s": 1})
    replicas = [item for item in resolved if item.get("replica_of")]
    [router] = router_plan(resolved, {"router_health_interval_s": 1})
    state = tmp_path / "systemd"
    state.mkdir()
    for replica in replicas:
        (state / (replica["unit"] + ".json")).write_text(json.dumps({
            "argv": [sys.executable, str(FAKE_SERVER), "sglang", "--model-path", str(model), "--host", "127.0.0.1",
                     "--port", str(replica["port"]), "--api-key", API_KEY],
            "env": {"HOME": str(tmp_path), "FAKE_TOKENS_PER_S": "10",
                    "FAKE_ARGV_FILE": str(tmp_path / ("argv-%s.json" % replica["name"]))}}))
        fake_systemctl(state, "start", replica["unit"])
    log = (tmp_path / "router.log").open("w")
    smg = subprocess.Popen([sys.executable, "-m", "smg"] + router["argv"], env=dict(os.environ, NO_COLOR="1"),
                           stdout=log, stderr=subprocess.STDOUT)
    for folder in ("upper", "work", "ansible-tmp"):
        (tmp_path / folder).mkdir()

    def run(resolved_now, *args):
        variables = {"ansible_python_interpreter": sys.executable, "ktune_use_numa_enabled": False,
                     "ktransformers_service_resolved": resolved_now, "ktune_service_router_drain_timeout_s": 30}
        (tmp_path / "play.yml").write_text(PLAY)
        (tmp_path / "vars.json").write_text(json.dumps(variables))
        # /run/systemd/system marks a systemd host; on a runner without /run/systemd the namespace
        # gets a /run of its own to make it in
        setup = ("if [ -d /run/systemd ]; then mount -t tmpfs tmpfs /run/systemd; "
                 "else mount -t tmpfs tmpfs /run && mkdir /run/systemd; fi && mkdir /run/systemd/system && "
                 "mount -t overlay overlay -o lowerdir=/etc,upperdir=%s,workdir=%s /etc && mkdir -p /etc/ktransformers "
                 "&& exec \"$@\"" % (tmp_path / "upper", tmp_path / "work"))
        command = ["unshare", "-m", "sh", "-c", setup, "sh",
                   os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                   str(tmp_path / "play.yml"), "-e", "@%s" % (tmp_path / "vars.json")] + list(args)
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
                   ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"), FAKE_SYSTEMD_STATE=str(state),
                   FAKE_ROUTER_WORKERS_URL=router["workers_url"], ANSIBLE_REMOTE_TMP=str(tmp_path / "ansible-tmp"),
                   PATH=os.pathsep.join([str(FAKE_SYSTEMCTL.parent), os.path.dirname(sys.executable),
                                         os.environ.get("PATH", "")]))
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900, check=False)
        done.output = ANSI.sub("", done.stdout + done.stderr)
        return done

    run.state, run.router, run.replicas, run.resolved, run.model = state, router, replicas, resolved, str(model)
    run.env_file = lambda replica: tmp_path / "upper" / "ktransformers" / (replica["name"] + ".env")
    try:
        wait_for(lambda: router_worker_problems(router, get_json(router["workers_url"])) == [], 60,
                 "smg lists both replicas, healthy (log: %s)" % (tmp_path / "router.log"))
        yield run
    finally:
        smg.terminate()
        try:
            smg.wait(timeout=15)
        except subprocess.TimeoutExpired:
            smg.kill()
        log.close()
        for replica in replicas:
            fake_systemctl(state, "stop", replica["unit"])


def listed(router):
    return sorted((item["url"], item.get("is_healthy")) for item in get_json(router["workers_url"])["workers"])


def changed_command(resolved):
    """The same replicas with another command line: their environment files change, so each must restart."""
    return [dict(item, command=item["command"] + " --log-level info") for item in resolved]


def test_the_role_restarts_each_replica_out_of_the_real_router_and_drops_no_request_under_load(site):
    router, (first, second) = site.router, site.replicas
    load = OpenLoad("http://127.0.0.1:%d" % router["port"], site.model, rate=20)
    load.start()
    try:
        time.sleep(3)
        load.phase = "rolling"
        done = site(site.resolved)
        load.phase = "after"
        time.sleep(2)
    finally:
        load.stop()
    assert done.returncode == 0, done.output[-4000:]
    # One at a time, in order, each stopped only once the router no longer listed it, the other healthy in it.
    stops = calls(site.state)
    assert [item["unit"] for item in stops] == [first["unit"], second["unit"]]
    assert stops[0]["router_workers"] == [["http://127.0.0.1:%d" % second["port"], True]]
    assert stops[1]["router_workers"] == [["http://127.0.0.1:%d" % first["port"], True]]
    assert listed(router) == [("http://127.0.0.1:%d" % item["port"], True) for item in (first, second)]
    rolling = [item for item in load.results if item[0] == "rolling"]
    assert len(rolling) >= 20, "the restarts ran under load"
    assert load.failures() == []
    print("role's rolling restart: %d requests (%d during the run), none failed; p99 steady %.3f s, during %.3f s"
          % (len(load.results), len(rolling), load.p99("steady"), load.p99("rolling")))
    # A second run changes nothing and restarts nothing.
    again = site(site.resolved)
    assert again.returncode == 0, again.output[-4000:]
    assert recap(again.output)["localhost"]["changed"] == "0", again.output[-3000:]
    assert len(calls(site.state)) == 2
    # Restarts an interrupted run lost (unit_freshness) go through the router the same way.
    lost = site(site.resolved, "-e", json.dumps({"stale_units": [first["unit"], second["unit"]]}))
    assert lost.returncode == 0, lost.output[-4000:]
    stops = calls(site.state)[2:]
    assert [item["unit"] for item in stops] == [first["unit"], second["unit"]]
    assert stops[0]["router_workers"] == [["http://127.0.0.1:%d" % second["port"], True]]
    assert stops[1]["router_workers"] == [["http://127.0.0.1:%d" % first["port"], True]]
    assert listed(router) == [("http://127.0.0.1:%d" % item["port"], True) for item in (first, second)]


def test_check_mode_says_what_would_restart_and_leaves_the_router_and_the_replicas_alone(site):
    router, (first, second) = site.router, site.replicas
    assert site(site.resolved).returncode == 0
    written = site.env_file(first).read_text()
    done = site(changed_command(site.resolved), "--check")
    assert done.returncode == 0, done.output[-4000:]
    output = " ".join(done.output.split())
    for replica in (first, second):
        assert ("TASK [ktune.inference.ktransformers_service : Take out of its router and wait for its requests to "
                "end %s] *** changed: [localhost]" % replica["unit"]) in output
        assert ("TASK [ktune.inference.ktransformers_service : Restart with the new configuration %s] *** "
                "changed: [localhost]" % replica["unit"]) in output
    assert len(calls(site.state)) == 2, "only the first run's restarts"
    assert site.env_file(first).read_text() == written
    assert listed(router) == [("http://127.0.0.1:%d" % item["port"], True) for item in (first, second)]
    assert [item["action"] for item in calls(site.state, "restart")] == ["restart", "restart"]


def test_a_replica_that_does_not_come_back_stops_the_run_and_the_other_keeps_serving_in_the_router(site):
    router, (first, second) = site.router, site.replicas
    assert site(site.resolved).returncode == 0
    before = len(calls(site.state, None))
    # The changed command line breaks the first replica (it exits at start); its previous one still works.
    (site.state / (first["unit"] + ".broken")).write_text(json.dumps({"env_file": first["env_file"],
                                                                      "text": "--log-level info"}))
    done = site(changed_command(site.resolved))
    assert done.returncode == 2, done.output[-4000:]
    output = " ".join(done.output.split())
    assert ("localhost: %s did not come up with the new configuration: expected HTTP 200 from GET %s within 30 s, "
            "found: %s failed" % (first["unit"], first["health_url"], first["unit"])) in output
    assert ("Rolled back: put back %s and restarted; the previous configuration answers again at %s"
            % (first["env_file"], first["health_url"])) in output
    assert ("%s stays out of %s (taken out for its restart), which keeps routing to %s; the next run of the service "
            "role on localhost puts it back once it answers HTTP 200 at %s." % (
                first["unit"], router["unit"], second["unit"], first["health_url"])) in output
    assert "Fix: correct %s (or the model files) from the journal below, and run again." % first["label"] in output
    # The second replica was not touched, and serves alone in the router; the first is out.
    acted = [(item["action"], item["unit"]) for item in calls(site.state, None)[before:]
             if item["action"] in ("restart", "start", "stop")]
    assert acted[0] == ("restart", first["unit"]) and ("start", first["unit"]) in acted[1:], acted
    assert second["unit"] not in [unit for _action, unit in acted], acted
    assert listed(router) == [("http://127.0.0.1:%d" % second["port"], True)]
    # The next run (the configuration fixed: here, the previous one) puts it back.
    fixed = site(site.resolved)
    assert fixed.returncode == 0, fixed.output[-4000:]
    assert listed(router) == [("http://127.0.0.1:%d" % item["port"], True) for item in (first, second)]


def changed_again(resolved):
    return [dict(item, command=item["command"] + " --log-level debug") for item in resolved]


def test_a_replica_left_out_restarts_first_so_the_router_is_never_left_with_none(site):
    """The second replica fails its restart and stays out (its previous configuration answers again);
    the next change restarts both: the one out of the router goes first, back in before the other is
    taken out, so at every stop the router routes to the other, healthy."""
    router, (first, second) = site.router, site.replicas
    assert site(site.resolved).returncode == 0
    (site.state / (second["unit"] + ".broken")).write_text(json.dumps({"env_file": second["env_file"],
                                                                       "text": "--log-level info"}))
    failed = site(changed_command(site.resolved))
    assert failed.returncode == 2, failed.output[-4000:]
    assert listed(router) == [("http://127.0.0.1:%d" % first["port"], True)]
    before = len(calls(site.state))
    done = site(changed_again(site.resolved))
    assert done.returncode == 0, done.output[-4000:]
    stops = calls(site.state)[before:]
    assert [item["unit"] for item in stops] == [second["unit"], first["unit"]], stops
    assert stops[0]["router_workers"] == [["http://127.0.0.1:%d" % first["port"], True]]
    assert stops[1]["router_workers"] == [["http://127.0.0.1:%d" % second["port"], True]]
    assert listed(router) == [("http://127.0.0.1:%d" % item["port"], True) for item in (first, second)]
