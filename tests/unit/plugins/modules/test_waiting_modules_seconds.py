"""service_health and router_worker refuse a second count that is not above zero, naming the option, before they
read a unit or send a request (both check through module_utils.durations)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import router_worker, service_health

NOWHERE = "http://127.0.0.1:9/"


@pytest.mark.parametrize("name", ["timeout_s", "interval_s", "request_timeout_s"])
def test_service_health_refuses_a_count_that_is_not_positive(name):
    result, failed = run_module(service_health, {"unit": "ktransformers@r1.service", "url": NOWHERE, name: 0})
    assert failed
    assert result["msg"] == "%s must be a positive number of seconds, got 0" % name


@pytest.mark.parametrize("name, value, shown", [("timeout_s", -1, "-1"), ("interval_s", 0, "0.0"),
                                                ("request_timeout_s", 0, "0")])
def test_router_worker_refuses_a_count_that_is_not_positive(name, value, shown):
    result, failed = run_module(router_worker, {"router_url": NOWHERE, "worker_url": "http://127.0.0.1:30001",
                                                "state": "present", name: value})
    assert failed
    assert result["msg"] == "%s must be a positive number of seconds, got %s" % (name, shown)
    assert "elapsed_s" not in result  # refused before any request to the router
