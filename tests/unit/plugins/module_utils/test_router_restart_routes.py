# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The restart of a sharded entry's replicas through their router (issue 25): which replicas go through it,
and the words when one does not come back or the router will not let it go."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import resolve_instances
from ansible_collections.ktune.inference.plugins.module_utils.router import (
    left_out_of_router,
    not_taken_out,
    restart_order,
    restart_routes,
    router_plan,
)

ENTRIES = [{"name": "kimi", "backend": "sglang", "model_path": "/srv/models/kimi", "kt_weight_path": "/srv/kimi-cpu",
            "replicas": "per_socket", "port": 30000},
           {"name": "k2", "backend": "sglang", "model_path": "/srv/models/k2", "kt_weight_path": "/srv/k2-cpu",
            "replicas": "per_socket", "port": 31000, "share_cpus_with": ["kimi"]},
           {"name": "solo", "backend": "sglang", "model_path": "/srv/models/solo", "kt_weight_path": "/srv/solo-cpu",
            "port": 32000, "share_cpus_with": ["kimi", "k2"]}]


def answered(router, workers=()):
    """A looped uri result of a router that answered its GET /workers."""
    return {"item": router, "status": 200, "json": {"workers": [{"url": url, "is_healthy": True} for url in workers]}}


def no_answer(router):
    return {"item": router, "status": -1, "msg": "Status code was -1 and not [200]: Connection refused"}


def test_the_replicas_of_an_answering_router_restart_through_it_each_with_its_worker(numa):
    resolved = resolve_instances(ENTRIES, numa("epyc-2s-nps2"))
    kimi, k2 = router_plan(resolved)
    routes = restart_routes([kimi, k2], [answered(kimi, kimi["workers"]), no_answer(k2)])
    assert sorted(routes) == ["ktransformers@kimi-socket0.service", "ktransformers@kimi-socket1.service"]
    assert routes["ktransformers@kimi-socket1.service"] == {
        "router_unit": "ktransformers-router@kimi.service", "router_url": "http://127.0.0.1:30000",
        "worker_url": "http://127.0.0.1:30002", "replica_unit": "ktransformers@kimi-socket1.service",
        "listed": True, "others": ["ktransformers@kimi-socket0.service"]}
    # k2's router does not answer (a fresh host, or it is down): its replicas keep the plain restart, as does
    # the entry without replicas.
    assert not any(unit.startswith(("ktransformers@k2-", "ktransformers@solo")) for unit in routes)


def test_a_router_that_answers_without_a_replica_still_routes_its_restart(numa):
    """A replica an earlier run left out is restarted through the router and put back."""
    [kimi] = router_plan(resolve_instances(ENTRIES[:1], numa("epyc-2s-nps2")))
    routes = restart_routes([kimi], [answered(kimi, kimi["workers"][:1])])
    assert routes["ktransformers@kimi-socket1.service"]["worker_url"] == "http://127.0.0.1:30002"


def test_an_answer_that_is_no_worker_list_or_skipped_is_no_route(numa):
    [kimi] = router_plan(resolve_instances(ENTRIES[:1], numa("epyc-2s-nps2")))
    for reading in ({"item": kimi, "json": {"error": "nope"}}, {"item": kimi, "json": ["x"]},
                    {"item": kimi, "skipped": True}, {"json": {"workers": []}}, "text", None):
        assert restart_routes([kimi], [reading]) == {}, reading
    assert restart_routes([kimi], []) == {}
    assert restart_routes([], [answered(kimi)]) == {}


def test_the_ipv6_router_is_reached_at_its_bracketed_address(numa):
    entry = dict(ENTRIES[0], host="::1")
    [kimi] = router_plan(resolve_instances([entry], numa("epyc-2s-nps2")))
    routes = restart_routes([kimi], [answered(kimi)])
    assert routes["ktransformers@kimi-socket0.service"]["router_url"] == "http://[::1]:30000"


def test_every_replica_of_a_per_numa_node_entry_names_the_others_that_stay_in(numa):
    entry = dict(ENTRIES[0], replicas="per_numa_node")
    [kimi] = router_plan(resolve_instances([entry], numa("epyc-2s-nps2")))
    routes = restart_routes([kimi], [answered(kimi, kimi["workers"])])
    units = ["ktransformers@kimi-node%d.service" % node for node in range(4)]
    assert sorted(routes) == units
    for unit in units:
        assert routes[unit]["others"] == [other for other in units if other != unit]


ROUTE = {"router_unit": "ktransformers-router@kimi.service", "router_url": "http://127.0.0.1:30000",
         "worker_url": "http://127.0.0.1:30002", "replica_unit": "ktransformers@kimi-socket1.service",
         "others": ["ktransformers@kimi-socket0.service"]}


def test_a_replica_that_does_not_come_back_stays_out_and_the_others_keep_serving():
    assert left_out_of_router("gpu-a", ROUTE, "http://127.0.0.1:30002/health") == (
        "ktransformers@kimi-socket1.service stays out of ktransformers-router@kimi.service (taken out for its "
        "restart), which keeps routing to ktransformers@kimi-socket0.service; the next run of the service role on "
        "gpu-a puts it back once it answers HTTP 200 at http://127.0.0.1:30002/health")


def test_a_router_that_will_not_let_go_names_host_replica_expected_found_and_fix():
    error = ("expected http://127.0.0.1:30002 to leave http://127.0.0.1:30000/workers within 600 s once its requests "
             "ended, found it listed, not healthy (status draining). Fix: on this host, systemctl status and "
             "journalctl -u of the router's unit and of the replica's unit show why; run again once both are up")
    message = not_taken_out("gpu-a", ROUTE, error)
    assert message == (
        "gpu-a: ktransformers@kimi-socket1.service was not restarted: expected ktransformers-router@kimi.service "
        "(http://127.0.0.1:30000) to take it out and let its requests end, found: expected http://127.0.0.1:30002 "
        "to leave http://127.0.0.1:30000/workers within 600 s once its requests ended, found it listed, not healthy "
        "(status draining). No request was cut; its new files are written and the next run restarts it through "
        "the router (if the router let it go meanwhile, it serves nothing until then). Fix: on gpu-a, systemctl "
        "status ktransformers-router@kimi.service and journalctl -u "
        "ktransformers-router@kimi.service show why the router did not let it go; then run the service role on "
        "gpu-a again")
    assert message.count("Fix:") == 1


def test_a_route_says_whether_its_replica_is_listed_and_who_serves_meanwhile(numa):
    [kimi] = router_plan(resolve_instances(ENTRIES[:1], numa("epyc-2s-nps2")))
    zero, one = "ktransformers@kimi-socket0.service", "ktransformers@kimi-socket1.service"
    routes = restart_routes([kimi], [answered(kimi, kimi["workers"][:1])])
    assert (routes[zero]["listed"], routes[zero]["others"]) == (True, [])
    assert (routes[one]["listed"], routes[one]["others"]) == (False, [zero])
    # Listed but not healthy: it serves no request, so it is no "other" that keeps serving.
    sick = {"item": kimi, "json": {"workers": [{"url": kimi["workers"][0], "is_healthy": False},
                                               {"url": kimi["workers"][1] + "/", "is_healthy": True}]}}
    routes = restart_routes([kimi], [sick])
    assert routes[zero]["listed"] and routes[one]["listed"]
    assert (routes[zero]["others"], routes[one]["others"]) == ([one], [])


def test_replicas_out_of_their_router_go_first_the_rest_in_their_order(numa):
    resolved = resolve_instances(ENTRIES, numa("epyc-2s-nps2"))
    kimi, k2 = router_plan(resolved)
    routes = restart_routes([kimi, k2], [answered(kimi, kimi["workers"][:1]), no_answer(k2)])
    present = [item for item in resolved if item.get("state", "present") == "present"]
    order = [item["unit"] for item in restart_order(present, routes)]
    assert order[0] == "ktransformers@kimi-socket1.service"
    assert order[1:] == [item["unit"] for item in present if item["unit"] != "ktransformers@kimi-socket1.service"]
    assert restart_order(present, {}) == present
