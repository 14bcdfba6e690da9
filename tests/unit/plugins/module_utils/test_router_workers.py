# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Taking a replica out of smg and putting it back (router_workers), against a double that answers as smg 1.13.0
was seen to (tests/integration/test_router_contract.py runs the same calls against the real smg under load)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.module_utils.router_workers import (
    RouterWorkerError,
    listed_worker,
    put_back,
    take_out,
)

ROUTER = "http://127.0.0.1:30000"
WORKER = "http://127.0.0.1:30002"


class Smg(object):
    """A worker list that drains a removed worker after DRAIN_READS reads and makes an added one
    healthy after HEALTHY_READS reads; every request is recorded."""

    def __init__(self, listed=True, drain_reads=2, healthy_reads=2, delete_status=202, post_status=202):
        self.workers = {}
        self.sent = []
        self.drain_reads, self.healthy_reads = drain_reads, healthy_reads
        self.delete_status, self.post_status = delete_status, post_status
        if listed:
            self.workers[WORKER] = {"id": "uuid-2", "url": WORKER, "is_healthy": True, "status": "ready", "reads": 0}

    def __call__(self, method, url, body):
        self.sent.append((method, url, body))
        if method == "GET":
            for worker in list(self.workers.values()):
                worker["reads"] += 1
                if worker["status"] == "draining" and worker["reads"] >= self.drain_reads:
                    del self.workers[worker["url"]]
                elif worker["status"] == "pending" and worker["reads"] >= self.healthy_reads:
                    worker.update(status="ready", is_healthy=True)
            return 200, {"workers": [dict((key, value) for key, value in worker.items() if key != "reads")
                                     for worker in self.workers.values()], "total": len(self.workers)}
        if method == "DELETE":
            if self.delete_status == 202:
                self.workers[WORKER].update(status="draining", is_healthy=False, reads=0)
            return self.delete_status, {"status": "accepted"}
        if body["url"] in self.workers:
            return 409, {"code": "WORKER_ALREADY_EXISTS"}
        if self.post_status == 202:
            self.workers[body["url"]] = {"id": "uuid-3", "url": body["url"], "is_healthy": False, "status": "pending",
                                         "reads": 0}
        return self.post_status, {"status": "accepted"}


def fast(timeout=10, check_mode=False):
    """The waiting options with a clock that only the waits move."""
    clock = [0.0]

    def sleep(seconds):
        clock[0] += seconds
    return {"timeout": timeout, "interval": 1, "sleep": sleep, "clock": lambda: clock[0], "check_mode": check_mode}


def methods(smg):
    return [(method, url) for method, url, _body in smg.sent if method != "GET"]


def test_a_listed_worker_is_removed_by_its_id_and_waited_for_until_it_leaves_the_list():
    smg = Smg()
    assert take_out(smg, ROUTER, WORKER, **fast()) is True
    assert methods(smg) == [("DELETE", ROUTER + "/workers/uuid-2")]
    assert WORKER not in smg.workers
    assert take_out(smg, ROUTER, WORKER, **fast()) is False


def test_a_worker_that_does_not_drain_in_time_fails_naming_it_and_what_the_router_shows():
    smg = Smg(drain_reads=100)
    with pytest.raises(RouterWorkerError) as error:
        take_out(smg, ROUTER, WORKER, **fast(timeout=3))
    assert str(error.value) == ("expected %s to leave %s/workers within 3 s once its requests ended, found it listed, "
                                "not healthy (status draining)" % (WORKER, ROUTER))


def test_a_refused_removal_fails_with_the_routers_answer():
    with pytest.raises(RouterWorkerError, match="expected the router to accept the removal of .* found HTTP 400"):
        take_out(Smg(delete_status=400), ROUTER, WORKER, **fast())


def test_check_mode_only_reads():
    smg = Smg()
    assert take_out(smg, ROUTER, WORKER, **fast(check_mode=True)) is True
    assert put_back(Smg(listed=False), ROUTER, WORKER, **fast(check_mode=True)) is True
    assert methods(smg) == [] and smg.workers[WORKER]["status"] == "ready"


def test_a_worker_is_added_back_and_waited_for_until_healthy():
    smg = Smg(listed=False)
    assert put_back(smg, ROUTER, WORKER, **fast()) is True
    assert [(method, body) for method, _url, body in smg.sent if method != "GET"] == [("POST", {"url": WORKER})]
    assert smg.workers[WORKER]["is_healthy"] is True
    assert put_back(smg, ROUTER, WORKER, **fast()) is False


def test_a_worker_still_draining_is_waited_for_before_it_is_added_back():
    # smg answers 409 to a POST while the URL is listed, draining included.
    smg = Smg()
    smg.workers[WORKER].update(status="draining", is_healthy=False)
    assert put_back(smg, ROUTER, WORKER, **fast()) is True
    assert [method for method, _url in methods(smg)] == ["POST"]


def test_a_worker_that_never_turns_healthy_fails_naming_it():
    with pytest.raises(RouterWorkerError, match="expected %s listed and healthy in %s/workers within 3 s, found it "
                       "listed, not healthy \\(status pending\\)" % (WORKER, ROUTER)):
        put_back(Smg(listed=False, healthy_reads=100), ROUTER, WORKER, **fast(timeout=3))


def test_an_answer_that_is_no_worker_list_is_refused():
    with pytest.raises(RouterWorkerError, match="expected smg's worker list"):
        listed_worker({"detail": "Not Found"}, WORKER)
    assert listed_worker({"workers": [{"url": WORKER + "/"}]}, WORKER) == {"url": WORKER + "/"}


def test_a_worker_entry_without_a_url_string_is_refused_and_a_long_answer_is_cut():
    for url in (5, ["http://127.0.0.1:30002"], None):
        with pytest.raises(RouterWorkerError, match="expected smg's worker entries with a url string"):
            listed_worker({"workers": [{"url": url}]}, WORKER)
    with pytest.raises(RouterWorkerError) as raised:
        listed_worker({"detail": "x" * 100000}, WORKER)
    assert len(str(raised.value)) < 400
