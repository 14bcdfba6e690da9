# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service.router control (issue 25): the router of a sharded entry up, every replica registered and healthy.

The judgement (router.router_reading_problems, router.router_failure) on worker lists shaped as smg
1.13.0 answers GET /workers (tests/integration/test_router_contract.py runs the real one), the host
side read (host_state.read_routers, http_json_reader) and the audit's grade through evaluate().
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading

import pytest

from ansible.module_utils.six.moves import BaseHTTPServer

from ansible_collections.ktune.inference.plugins.module_utils import audit_controls as ac
from ansible_collections.ktune.inference.plugins.module_utils import host_state
from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import resolve_instances
from ansible_collections.ktune.inference.plugins.module_utils.router import (
    router_failure,
    router_message,
    router_plan,
    router_reading_problems,
)

ENTRY = {"name": "kimi", "backend": "sglang", "model_path": "/srv/models/kimi", "kt_weight_path": "/srv/models/kimi-cpu",
         "replicas": "per_socket", "port": 30000}
WORKERS = ["http://127.0.0.1:30001", "http://127.0.0.1:30002"]
REPLICAS = ["ktransformers@kimi-socket0.service", "ktransformers@kimi-socket1.service"]
ROUTER = "ktransformers-router@kimi.service"


def smg_worker(url, healthy=True):
    """One worker as smg 1.13.0 lists it (fields ktune does not read included)."""
    return {"id": "01a2520b-b088-7372-9f4f-04714ff3bd19", "model_id": "/srv/models/kimi", "url": url,
            "worker_type": "regular", "connection_mode": "http", "runtime_type": "sglang", "priority": 50,
            "cost": 1.0, "is_healthy": healthy, "status": "ready" if healthy else "not_ready", "load": 0}


def smg_answer(*workers):
    return {"workers": list(workers), "total": len(workers),
            "stats": {"prefill_count": 0, "decode_count": 0, "regular_count": len(workers)}}


@pytest.fixture
def resolved(numa):
    return resolve_instances([ENTRY], numa("epyc-2s-nps2"))


@pytest.fixture
def router(resolved):
    [planned] = router_plan(resolved)
    return planned


def reading(answer, active_state="active", error=None):
    return {"active_state": active_state, "workers": answer, "error": error}


def test_the_plan_the_control_reads_is_the_entrys_router_and_its_two_replicas(router):
    assert (router["unit"], router["workers"], router["replica_units"]) == (ROUTER, WORKERS, REPLICAS)
    assert router["workers_url"] == "http://127.0.0.1:30000/workers"


def test_a_router_routing_to_both_healthy_replicas_has_no_problem(router):
    assert router_reading_problems(router, reading(smg_answer(*[smg_worker(url) for url in WORKERS]))) == []
    # smg may list a URL with a trailing slash; it is the same worker.
    assert router_reading_problems(router, reading(smg_answer(smg_worker(WORKERS[0] + "/"), smg_worker(WORKERS[1])))) == []


def test_a_missing_replica_is_named_with_its_unit_in_the_fix(router):
    answer = smg_answer(smg_worker(WORKERS[0]))
    problems = router_reading_problems(router, reading(answer))
    assert problems == ["%s does not route to %s (expected every replica registered)" % (ROUTER, WORKERS[1])]
    finding, fix = router_failure("gpu-a", router, problems, reading(answer))
    assert finding.startswith("expected %s on gpu-a to route to exactly %s, all healthy; found: " % (ROUTER, ", ".join(WORKERS)))
    assert WORKERS[1] in finding
    assert "systemctl status %s " % REPLICAS[1] in fix and REPLICAS[0] not in fix
    assert fix.startswith("on gpu-a,") and "journalctl -u %s" % ROUTER in fix


def test_an_unhealthy_replica_is_named_and_only_its_unit_is_in_the_fix(router):
    answer = smg_answer(smg_worker(WORKERS[0], healthy=False), smg_worker(WORKERS[1]))
    problems = router_reading_problems(router, reading(answer))
    assert problems == ["%s marks %s unhealthy" % (ROUTER, WORKERS[0])]
    message = router_message("gpu-a", router, problems, reading(answer))
    assert message.startswith("expected %s on gpu-a" % ROUTER)
    assert ". Fix: on gpu-a, systemctl status %s shows" % REPLICAS[0] in message
    assert REPLICAS[1] not in message


def test_a_router_that_is_down_or_silent_fails_and_the_fix_names_every_replica(router):
    problems = router_reading_problems(router, reading(None, active_state="failed", error="Connection refused"))
    assert problems == ["%s is failed (expected active)" % ROUTER,
                        "%s does not answer at http://127.0.0.1:30000/workers: Connection refused" % ROUTER]
    _finding, fix = router_failure("gpu-a", router, problems, reading(None))
    assert "systemctl status %s %s " % tuple(REPLICAS) in fix


def test_a_worker_that_is_no_replica_and_an_answer_that_is_no_worker_list_fail(router):
    stranger = "http://10.0.0.9:30001"
    answer = smg_answer(*[smg_worker(url) for url in WORKERS + [stranger]])
    assert router_reading_problems(router, reading(answer)) == [
        "%s also routes to %s, which is no replica of kimi (expected exactly %s)" % (ROUTER, stranger, ", ".join(WORKERS))]
    assert router_reading_problems(router, reading({"detail": "Not Found"})) == [
        "%s answers no worker list at %s (expected smg's {\"workers\": [...]})" % (ROUTER, router["workers_url"])]


# --- the host side read ------------------------------------------------------------------------------


def read(layout, answer, error=None, states=None):
    fetched = []

    def fetch_json(url):
        fetched.append(url)
        return answer, error

    def show_units(units):
        if states is None:
            raise OSError("systemd is not running here")
        return dict((unit, {"ActiveState": states.get(unit, "inactive")}) for unit in units)
    return host_state.read_routers(host_state.expected_instances([ENTRY], layout, {})[0],
                                   show_units, fetch_json), fetched


@pytest.fixture
def nps2(numa):
    return numa("epyc-2s-nps2")


def test_the_host_reads_each_router_on_its_own_address_and_keeps_only_what_is_judged(nps2):
    answer = smg_answer(*[smg_worker(url) for url in WORKERS])
    [router], fetched = read(nps2, answer, states={ROUTER: "active"})
    assert fetched == ["http://127.0.0.1:30000/workers"]
    assert router["active_state"] == "active" and router["answer_error"] is None
    assert router["answer"] == {"workers": [{"url": url, "is_healthy": True, "status": "ready"} for url in WORKERS]}
    assert (router["unit"], router["workers"], router["replica_units"]) == (ROUTER, WORKERS, REPLICAS)


def test_an_answer_that_is_no_worker_list_is_read_as_such_and_systemd_missing_is_no_state(nps2):
    [router], _fetched = read(nps2, ["not", "a", "dict"])
    assert (router["answer"], router["answer_error"], router["active_state"]) == ({}, "not smg's worker list", None)
    [router], _fetched = read(nps2, None, error="timed out")
    assert (router["answer"], router["answer_error"]) == (None, "timed out")


def test_no_sharded_entry_no_router_read(numa):
    solo = dict(ENTRY, replicas=None)
    solo.pop("replicas")
    instances, _error = host_state.expected_instances([solo], numa("epyc-2s-nps2"), {})

    def never(url):
        raise AssertionError("nothing to read, yet %s was asked" % url)
    assert host_state.read_routers(instances, lambda units: {}, never) == []


class _Answer(BaseHTTPServer.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):  # pylint: disable=invalid-name
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass


@pytest.fixture
def http_answer():
    def serve(body):
        handler = type("Handler", (_Answer,), {"body": body})
        server = BaseHTTPServer.HTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever)
        thread.daemon = True
        thread.start()
        servers.append(server)
        return "http://127.0.0.1:%d/workers" % server.server_address[1]
    servers = []
    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_the_json_reader_parses_bounds_and_refuses(http_answer):
    doc = smg_answer(smg_worker(WORKERS[0]))
    assert host_state.http_json_reader(5)(http_answer(json.dumps(doc).encode())) == (doc, None)
    answer, error = host_state.http_json_reader(5, limit=64)(http_answer(json.dumps(doc).encode()))
    assert (answer, error) == (None, "an answer longer than 64 bytes")
    answer, error = host_state.http_json_reader(5)(http_answer(b"<html>"))
    assert answer is None and error.startswith("not JSON")


def test_the_json_reader_says_why_nothing_answers():
    answer, error = host_state.http_json_reader(2)("http://127.0.0.1:1/workers")
    assert answer is None and "refused" in error.lower()


# --- the audit's grade ---------------------------------------------------------------------------


def facts_with(routers, host="gpu-a"):
    state = {"services": {"units": [], "routers": routers}}
    return ac.with_bmc({"ktune_numa": {"error": "not read in this test"}, "ktune_host_state": state},
                       {"inventory_hostname": host})


def graded(routers, settings=None):
    settings = settings if settings is not None else {"ktune_service_instances": [ENTRY]}
    controls = ac.evaluate(facts_with(routers), settings)
    return [item for item in controls if item["id"] == "service.router"][0], controls


def router_read(router, answer, active_state="active", error=None):
    keep = ("name", "unit", "host", "port", "workers", "replica_units", "workers_url")
    return dict([(key, router[key]) for key in keep], active_state=active_state, answer=answer, answer_error=error)


def test_the_audit_passes_a_router_with_every_replica_healthy(router):
    control, controls = graded([router_read(router, smg_answer(*[smg_worker(url) for url in WORKERS]))])
    assert (control["status"], control["severity"]) == ("pass", "error")
    assert control["finding"] == "%s routes to %s, all healthy" % (ROUTER, ", ".join(WORKERS))
    assert [item["id"] for item in controls].index("service.router") == \
        [item["id"] for item in controls].index("service.listen") + 1


def test_the_audit_fails_the_host_naming_it_the_router_and_the_lost_replica(router):
    control, controls = graded([router_read(router, smg_answer(smg_worker(WORKERS[0]),
                                                               smg_worker(WORKERS[1], healthy=False)))])
    assert (control["status"], control["severity"]) == ("fail", "error")
    assert control["finding"] == ("expected %s on gpu-a to route to exactly %s, all healthy; found: %s marks %s unhealthy"
                                  % (ROUTER, ", ".join(WORKERS), ROUTER, WORKERS[1]))
    assert control["fix"].startswith("on gpu-a, systemctl status %s shows" % REPLICAS[1])
    assert control["fix"].endswith("then %s --tags service" % ac.TUNE)
    assert ac.host_status(controls) == "fail"


def test_the_audit_skips_without_a_sharded_entry_and_says_when_the_services_are_unreadable(router):
    assert graded([])[0]["status"] == "skip"
    assert graded([], settings={})[0]["finding"] == "no ktune_service_instances configured"
    facts = facts_with([])
    facts["ktune_host_state"]["services"] = {"error": "permission denied"}
    [control] = [item for item in ac.evaluate(facts, {"ktune_service_instances": [ENTRY]}) if item["id"] == "service.router"]
    assert control["status"] == "fail" and "permission denied" in control["finding"]


# --- an answer that is no worker list of strings and booleans -----------------------------------


@pytest.mark.parametrize("url", [5, ["http://127.0.0.1:30001"], {"a": 1}, None])
def test_a_worker_url_that_is_no_string_fails_this_host_naming_it_and_other_hosts_are_still_graded(router, url):
    odd = {"workers": [{"url": url}, smg_worker(WORKERS[1])]}
    control = ac.service_router({"routers": [router_read(router, odd)]}, {"ktune_service_instances": [ENTRY]},
                                host="gpu-a")
    assert control["status"] == "fail"
    assert ("%s lists a worker without a URL string (expected smg's {\"url\": \"http://...\"}, found %s)"
            % (ROUTER, json.dumps({"url": url}))) in control["finding"]
    assert "%s does not route to %s" % (ROUTER, WORKERS[0]) in control["finding"]
    assert graded([router_read(router, smg_answer(*[smg_worker(u) for u in WORKERS]))])[0]["status"] == "pass"


def test_a_worker_list_of_other_things_and_a_long_entry_fail_with_a_cut_message(router):
    strangers = [{"url": "http://10.0.0.%d:1%s" % (index, "0" * 100000)} for index in range(1000)]
    answer = {"workers": ["http://127.0.0.1:30001", 7] + [[]] * 1000 + strangers}
    control = ac.service_router({"routers": [router_read(router, answer)]}, {"ktune_service_instances": [ENTRY]})
    assert control["status"] == "fail"
    assert "%s lists a worker without a URL string (expected smg's {\"url\": \"http://...\"}, found " \
        "\"http://127.0.0.1:30001\") and 1001 more" % ROUTER in control["finding"]
    assert "%s also routes to http://10.0.0.0:1%s..., " % (ROUTER, "0" * 283) in control["finding"]
    assert " and 995 more, which is no replica of kimi" in control["finding"]
    assert len(control["finding"]) < 3000


def test_the_host_keeps_only_string_urls_and_boolean_health(nps2):
    answer = {"workers": [{"url": 5, "is_healthy": "yes", "status": ["ready"]},
                          {"url": WORKERS[0], "is_healthy": 1, "status": "ready"},
                          {"url": WORKERS[1], "is_healthy": True, "status": "ready"}]}
    [router], _fetched = read(nps2, answer, states={ROUTER: "active"})
    assert router["answer"] == {"workers": [{"url": None, "is_healthy": None, "status": None},
                                            {"url": WORKERS[0], "is_healthy": None, "status": "ready"},
                                            {"url": WORKERS[1], "is_healthy": True, "status": "ready"}]}
    assert router["answer_error"] is None
