# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ktransformers_router_failure: the role's failure sentence for a router, from the audit's judgement (issue 25)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.filter.ktransformers import ktransformers_router_failure
from ansible_collections.ktune.inference.plugins.module_utils.router import router_plan

REPLICAS = [{"name": "kimi-socket%d" % number, "replica_of": "kimi", "router_port": 30000, "state": "present",
             "unit": "ktransformers@kimi-socket%d.service" % number, "host": "127.0.0.1", "port": 30001 + number}
            for number in (0, 1)]


@pytest.fixture
def router():
    [planned] = router_plan(REPLICAS)
    return planned


def worker(port, healthy=True):
    return {"url": "http://127.0.0.1:%d" % port, "is_healthy": healthy, "status": "ready" if healthy else "not_ready"}


def test_nothing_to_say_when_both_replicas_are_healthy(router):
    assert ktransformers_router_failure(router, {"workers": [worker(30001), worker(30002)]}, "gpu-a") == ""


def test_a_missing_replica_is_named_with_the_host_the_router_and_its_unit(router):
    message = ktransformers_router_failure(router, {"workers": [worker(30002)]}, "gpu-a")
    assert message == (
        "expected ktransformers-router@kimi.service on gpu-a to route to exactly http://127.0.0.1:30001, "
        "http://127.0.0.1:30002, all healthy; found: ktransformers-router@kimi.service does not route to "
        "http://127.0.0.1:30001 (expected every replica registered). Fix: on gpu-a, systemctl status "
        "ktransformers@kimi-socket0.service shows why a replica is down or missing and journalctl -u "
        "ktransformers-router@kimi.service what the router saw; then run playbooks/tune.yml --tags service on gpu-a again")


def test_a_router_that_does_not_answer_is_said_with_the_uri_error(router):
    message = ktransformers_router_failure(router, None, "gpu-a", "Connection refused")
    assert "does not answer at http://127.0.0.1:30000/workers: Connection refused" in message
    assert "systemctl status ktransformers@kimi-socket0.service ktransformers@kimi-socket1.service shows" in message


def test_anything_but_a_router_is_refused():
    with pytest.raises(AnsibleFilterError, match="expected one router of ktransformers_routers"):
        ktransformers_router_failure("kimi", {}, "gpu-a")
