# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ktransformers_restart_routes and ktransformers_replica_restart_failure: the role's restart of a replica through
its router (issue 25), as instance.yml calls them."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.filter.ktransformers import (
    ktransformers_replica_restart_failure,
    ktransformers_restart_routes,
)
from ansible_collections.ktune.inference.plugins.module_utils.router import router_plan

REPLICAS = [{"name": "kimi-socket%d" % number, "replica_of": "kimi", "router_port": 30000, "state": "present",
             "unit": "ktransformers@kimi-socket%d.service" % number, "host": "127.0.0.1", "port": 30001 + number}
            for number in (0, 1)]


def test_the_routes_come_from_the_looped_uri_results():
    [router] = router_plan(REPLICAS)
    routes = ktransformers_restart_routes([router], [{"item": router, "json": {"workers": []}, "status": 200}])
    urls = [routes[unit]["worker_url"] for unit in sorted(routes)]
    assert urls == ["http://127.0.0.1:30001", "http://127.0.0.1:30002"]


@pytest.mark.parametrize("routers, readings", [({}, []), ([], {}), (None, [])])
def test_anything_but_two_lists_is_refused(routers, readings):
    with pytest.raises(AnsibleFilterError, match="ktransformers_restart_routes: expected the output of"):
        ktransformers_restart_routes(routers, readings)


def test_each_stage_has_its_words_and_an_unknown_one_is_refused():
    [router] = router_plan(REPLICAS)
    serving = {"workers": [{"url": url, "is_healthy": True} for url in router["workers"]]}
    route = ktransformers_restart_routes([router], [{"item": router, "json": serving}])[REPLICAS[0]["unit"]]
    assert ktransformers_replica_restart_failure(route, "gpu-a", "take_out", "expected X, found Y. Fix: Z").startswith(
        "gpu-a: ktransformers@kimi-socket0.service was not restarted: expected ktransformers-router@kimi.service "
        "(http://127.0.0.1:30000) to take it out and let its requests end, found: expected X, found Y. No request")
    assert ktransformers_replica_restart_failure(route, "gpu-a", "health", "http://127.0.0.1:30001/health").endswith(
        "which keeps routing to ktransformers@kimi-socket1.service; the next run of the service role on gpu-a puts "
        "it back once it answers HTTP 200 at http://127.0.0.1:30001/health")
    with pytest.raises(AnsibleFilterError, match="stage must be take_out or health, got 'restart'"):
        ktransformers_replica_restart_failure(route, "gpu-a", "restart", "")
    with pytest.raises(AnsibleFilterError, match="expected one route of ktransformers_restart_routes"):
        ktransformers_replica_restart_failure({}, "gpu-a", "health", "")


def test_with_no_other_replica_serving_the_words_say_so():
    [router] = router_plan(REPLICAS)
    route = ktransformers_restart_routes([router], [{"item": router, "json": {"workers": []}}])[REPLICAS[0]["unit"]]
    assert "which keeps routing to no other replica (none was listed healthy when this one went out);" in \
        ktransformers_replica_restart_failure(route, "gpu-a", "health", "http://127.0.0.1:30001/health")
