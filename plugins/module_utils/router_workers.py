# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Taking a replica out of its router and putting it back, through smg's worker API.

What smg 1.13.0 does (tests/integration/test_router_contract.py runs it): ``DELETE /workers/{id}``
takes the worker's UUID (a URL is refused with 400), answers 202, lists the worker as
``"status": "draining"`` (not healthy, sent no new request) until the requests it serves have
ended, then drops it from ``GET /workers``. ``POST /workers`` with ``{"url": ...}`` answers 202 and
adds it back; it answers 409 while a worker with that URL is still listed (draining included).
A replica is therefore safe to stop once its URL has left the list, and back in service once it
is listed again and healthy.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import time


# How much of a router's answer a message shows: the answer is the host's data, of any size.
SHOWN_ANSWER = 300


class RouterWorkerError(Exception):
    """The router did not do what was asked in time; the message is "expected X, found Y"."""


def _norm(url):
    """A worker URL without its trailing slash; "" for anything that is no string (a router's answer is data)."""
    return url.rstrip("/") if isinstance(url, str) else ""


def _shown(value):
    text = json.dumps(value, sort_keys=True, default=repr)
    return text if len(text) <= SHOWN_ANSWER else text[:SHOWN_ANSWER] + "..."


def listed_worker(doc, worker_url):
    """The worker entry of WORKER_URL in a GET /workers answer, or None. A list with an entry that names no
    URL is refused: whether the worker is still routed to cannot be told from it."""
    workers = doc.get("workers") if isinstance(doc, dict) else None
    if not isinstance(workers, list):
        raise RouterWorkerError("expected smg's worker list ({\"workers\": [...]}), found %s" % _shown(doc))
    odd = [worker for worker in workers if not isinstance(worker, dict)
           or not isinstance(worker.get("url"), str)]
    if odd:
        raise RouterWorkerError("expected smg's worker entries with a url string ({\"url\": \"http://...\"}), "
                                "found %s" % _shown(odd[0]))
    for worker in workers:
        if _norm(worker["url"]) == _norm(worker_url):
            return worker
    return None


def _describe(worker):
    if worker is None:
        return "not listed"
    return "listed, %s (status %s)" % ("healthy" if worker.get("is_healthy") is True else "not healthy",
                                       worker.get("status"))


def _workers(send, router_url):
    status, doc = send("GET", _norm(router_url) + "/workers", None)
    if status != 200:
        raise RouterWorkerError("expected HTTP 200 from %s/workers, found %s" % (_norm(router_url), status))
    return doc


def _wait(send, router_url, worker_url, done, timeout, interval, sleep, clock):
    """(True, worker) once done(worker) holds for the listed entry (None when absent), (False, worker) at TIMEOUT."""
    deadline = clock() + timeout
    while True:
        worker = listed_worker(_workers(send, router_url), worker_url)
        if done(worker):
            return True, worker
        if clock() >= deadline:
            return False, worker
        sleep(interval)


def take_out(send, router_url, worker_url, timeout=600, interval=1.0, check_mode=False, sleep=time.sleep,
             clock=time.monotonic):
    """Remove WORKER_URL from the router and wait until its requests have ended (it leaves the list).

    send(method, url, body) -> (HTTP status or None, parsed JSON or None). Returns True when it was
    listed (changed), False when it was not; raises RouterWorkerError when the router refuses or the
    worker is still listed after TIMEOUT seconds.
    """
    worker = listed_worker(_workers(send, router_url), worker_url)
    if worker is None:
        return False
    if check_mode:
        return True
    if worker.get("status") != "draining":
        status, answer = send("DELETE", "%s/workers/%s" % (_norm(router_url), worker.get("id")), None)
        if status not in (200, 202, 204):
            raise RouterWorkerError("expected the router to accept the removal of %s (HTTP 202), found HTTP %s: %s"
                                    % (worker_url, status, json.dumps(answer)[:300]))
    left, worker = _wait(send, router_url, worker_url, lambda found: found is None, timeout, interval, sleep, clock)
    if not left:
        raise RouterWorkerError("expected %s to leave %s/workers within %s s once its requests ended, found it %s"
                                % (worker_url, _norm(router_url), timeout, _describe(worker)))
    return True


def put_back(send, router_url, worker_url, timeout=600, interval=1.0, check_mode=False, sleep=time.sleep,
             clock=time.monotonic):
    """Add WORKER_URL to the router and wait until it is listed and healthy.

    Returns True when it had to be added (changed), False when it was listed and healthy already or
    only had to become healthy; raises RouterWorkerError when the router refuses or the worker is not
    healthy after TIMEOUT seconds.
    """
    worker = listed_worker(_workers(send, router_url), worker_url)
    if worker is not None and worker.get("is_healthy") is True:
        return False
    if check_mode:
        return worker is None or worker.get("status") == "draining"
    deadline = clock() + timeout
    changed = False
    if worker is not None and worker.get("status") == "draining":
        left, worker = _wait(send, router_url, worker_url, lambda found: found is None, timeout, interval, sleep,
                             clock)
        if not left:
            raise RouterWorkerError("expected %s to finish draining within %s s before it is added back, found it %s"
                                    % (worker_url, timeout, _describe(worker)))
        worker = None
    if worker is None:
        status, answer = send("POST", _norm(router_url) + "/workers", {"url": _norm(worker_url)})
        if status not in (200, 201, 202):
            raise RouterWorkerError("expected the router to accept %s as a worker (HTTP 202), found HTTP %s: %s"
                                    % (worker_url, status, json.dumps(answer)[:300]))
        changed = True
    healthy, worker = _wait(send, router_url, worker_url,
                            lambda found: found is not None and found.get("is_healthy") is True,
                            max(0.0, deadline - clock()), interval, sleep, clock)
    if not healthy:
        raise RouterWorkerError("expected %s listed and healthy in %s/workers within %s s, found it %s"
                                % (worker_url, _norm(router_url), timeout, _describe(worker)))
    return changed


def _error_body(error):
    """The body of an HTTP error answer, b"" when it does not come in time."""
    try:
        return error.read(1 << 16)
    except OSError:
        return b""


def json_sender(timeout):
    """send(method, url, body) over HTTP, never through a proxy nor a redirect (the router is on the host's own
    address), each exchange done within TIMEOUT seconds."""
    from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
    from ansible.module_utils.six.moves.urllib.request import Request
    from ansible_collections.ktune.inference.plugins.module_utils.local_http import local_opener
    opener = local_opener()

    def parse(body):
        try:
            return json.loads(body.decode("utf-8")) if body else None
        except (ValueError, RecursionError):
            return None

    def send(method, url, body):
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = Request(url, data=data, headers={"Content-Type": "application/json"})
        request.get_method = lambda: method
        try:
            response = opener.open(request, timeout=timeout)
            return response.getcode(), parse(response.read(1 << 20))
        except HTTPError as exc:
            return exc.code, parse(_error_body(exc))
        except (URLError, OSError, ValueError) as exc:
            raise RouterWorkerError("expected the router to answer at %s, found: %s"
                                    % (url, getattr(exc, "reason", None) or exc))
    return send
