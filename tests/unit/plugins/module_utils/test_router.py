# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The router in front of a sharded entry (issue 25): where it listens, its workers, and its worker list judged."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import instance_problems, resolve_instances
from ansible_collections.ktune.inference.plugins.module_utils.router import (
    leftover_units,
    router_plan,
    router_worker_problems,
)


def sglang(**extra):
    instance = {"name": "k2", "backend": "sglang", "model_path": "/srv/models/k2",
                "kt_weight_path": "/srv/models/k2-cpu", "replicas": "per_numa_node", "port": 30000}
    instance.update(extra)
    return instance


def flag(argv, name, count=1):
    index = argv.index(name)
    return argv[index + 1:index + 1 + count]


def test_one_router_per_sharded_entry_on_its_host_and_port_the_replicas_on_loopback(numa):
    resolved = resolve_instances([sglang(host="::1"), {"name": "solo", "backend": "sglang", "port": 31000,
                                  "model_path": "/m", "kt_weight_path": "/w", "share_cpus_with": ["k2"]}],
                                 numa("epyc-2s-nps2"))
    assert [item["host"] for item in resolved if item.get("replica_of")] == ["127.0.0.1"] * 4
    routers = router_plan(resolved)
    assert len(routers) == 1
    router = routers[0]
    assert router["unit"] == "ktransformers-router@k2.service"
    assert (router["host"], router["port"], router["metrics_port"]) == ("::1", 30000, 30005)
    assert router["workers"] == ["http://127.0.0.1:%d" % port for port in (30001, 30002, 30003, 30004)]
    assert router["replica_units"] == ["ktransformers@k2-node%d.service" % node for node in range(4)]
    assert router["health_url"] == "http://[::1]:30000/health"
    argv = router["argv"]
    assert argv[0] == "launch"
    assert flag(argv, "--host") == ["::1"] and flag(argv, "--port") == ["30000"]
    assert flag(argv, "--worker-urls", 4) == router["workers"]
    assert flag(argv, "--prometheus-host") == ["127.0.0.1"] and flag(argv, "--prometheus-port") == ["30005"]


def test_a_router_beyond_loopback_is_refused(numa):
    assert instance_problems([sglang(host="0.0.0.0")], numa("epyc-2s-nps2")) == [
        "ktune_service_instances[0] (k2): host = '0.0.0.0': expected loopback (127.0.0.1 or ::1) for an entry with "
        "replicas: its router's worker API (add or remove backends by URL) has no authentication without a key on "
        "its command line, which every user could read. Fix: keep host: 127.0.0.1 and front the port with an "
        "authenticating proxy (docs/sharded-serving.md)"]


def test_an_entry_being_removed_has_no_router(numa):
    assert router_plan(resolve_instances([sglang(state="absent")], numa("epyc-2s-nps2"))) == []


def test_the_routers_metrics_port_may_not_be_another_instances(numa):
    other = {"name": "solo", "backend": "sglang", "port": 30005, "model_path": "/m", "kt_weight_path": "/w",
             "share_cpus_with": ["k2"]}
    assert instance_problems([sglang(), other], numa("epyc-2s-nps2")) == [
        "ktune_service_instances[1] (solo): port = 30005 is also the port of ktune_service_instances[0]: expected a "
        "different port per instance. Fix: give this instance another port"]
    assert instance_problems([other, sglang()], numa("epyc-2s-nps2")) == [
        "ktune_service_instances[1] (k2): port 30005 (its router's metrics, after its replicas) is also the port of "
        "ktune_service_instances[0]: expected a different port per instance. Fix: give one of them another port"]


def socket_router(numa):
    return router_plan(resolve_instances([sglang(replicas="per_socket")], numa("epyc-2s-nps2")))[0]


def listing(*workers):
    return {"workers": [{"url": url, "is_healthy": healthy} for url, healthy in workers]}


def test_a_router_routing_to_exactly_its_healthy_replicas_passes(numa):
    workers = listing(("http://127.0.0.1:30002", True), ("http://127.0.0.1:30001/", True))
    assert router_worker_problems(socket_router(numa), workers) == []


def test_a_missing_an_unhealthy_and_a_foreign_worker_are_each_named(numa):
    workers = listing(("http://127.0.0.1:30002", False), ("http://127.0.0.1:40000", True))
    assert router_worker_problems(socket_router(numa), workers) == [
        "ktransformers-router@k2.service does not route to http://127.0.0.1:30001 (expected every replica registered)",
        "ktransformers-router@k2.service marks http://127.0.0.1:30002 unhealthy",
        "ktransformers-router@k2.service also routes to http://127.0.0.1:40000, which is no replica of k2 (expected "
        "exactly http://127.0.0.1:30001, http://127.0.0.1:30002)"]


def test_an_answer_without_a_worker_list_is_a_problem(numa):
    assert router_worker_problems(socket_router(numa), {"error": "nope"}) == [
        "ktransformers-router@k2.service answers no worker list at http://127.0.0.1:30000/workers "
        "(expected smg's {\"workers\": [...]})"]


def test_a_layout_change_leaves_the_old_replicas_and_no_router_behind(numa):
    host = numa("epyc-2s-nps2")
    files = ["k2-node0.env", "k2-node1.env", "k2-node2.env", "k2-node3.env", "router-k2.env", "k2-node0.credentials",
             "k2-socket0.env", "k2-notes.env", "other.env", "router-gone.env", "solo-node1.env"]
    solo = {"name": "solo", "backend": "sglang", "port": 31000, "model_path": "/m", "kt_weight_path": "/w",
            "share_cpus_with": ["k2"]}
    # per_numa_node -> per_socket: node0..3 go, socket0/1 stay, the router stays (it has replicas);
    # solo, sharded once, is one instance now: its replica goes.
    assert leftover_units(resolve_instances([sglang(replicas="per_socket"), solo], host), files) == {
        "replicas": ["k2-node0", "k2-node1", "k2-node2", "k2-node3", "solo-node1"], "routers": ["gone"]}
    # replicas removed from the entry: every replica and its router go; the single instance k2 stays.
    single = sglang(replicas=None, share_cpus_with=["solo"])
    assert leftover_units(resolve_instances([single, solo], host), files) == {
        "replicas": ["k2-node0", "k2-node1", "k2-node2", "k2-node3", "k2-socket0", "solo-node1"],
        "routers": ["gone", "k2"]}


def test_an_instance_named_like_a_replica_is_no_leftover(numa):
    twin = {"name": "k2-node9", "backend": "sglang", "port": 31000, "model_path": "/m", "kt_weight_path": "/w",
            "share_cpus_with": ["k2"]}
    resolved = resolve_instances([sglang(), twin], numa("epyc-2s-nps2"))
    assert leftover_units(resolved, ["k2-node9.env", "k2-node1.env", "router-k2.env"]) == {
        "replicas": [], "routers": []}
