"""The host's own HTTP reads (host_state.http_json_reader for the routers' worker lists, router_workers.json_sender
for router_worker, host_state.http_prober for the health checks of service_health and the audit) against local
servers: the timeout bounds the whole answer, however slowly it trickles, no redirect is followed, and a deeply
nested answer is "not JSON", not a crash."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import threading
import time

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import host_state
from ansible_collections.ktune.inference.plugins.module_utils.router_workers import RouterWorkerError, json_sender

TIMEOUT = 1.0


class Server(object):
    """A one-thread server on 127.0.0.1 that answers each connection with answer(port) -> (head, drip): head
    sent at once, then drip one byte every DRIP seconds until the client goes away. Records each request."""

    DRIP = 0.3

    def __init__(self, answer):
        self.answer = answer
        self.requests = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.serve)
        self.thread.daemon = True
        self.thread.start()

    def url(self, path="/workers"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def serve(self):
        while not self.stopped.is_set():
            try:
                conn, _peer = self.listener.accept()
            except socket.timeout:
                continue
            conn.settimeout(2)
            try:
                self.requests.append(conn.recv(65536))
                head, drip = self.answer(self.port)
                conn.sendall(head)
                for byte in drip:
                    if self.stopped.wait(self.DRIP):
                        break
                    conn.sendall(bytes(bytearray([byte])))
            except OSError:
                pass
            finally:
                conn.close()

    def stop(self):
        self.stopped.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def serve():
    servers = []

    def start(answer):
        servers.append(Server(answer))
        return servers[-1]
    yield start
    for server in servers:
        server.stop()


def ok_head(length):
    return b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % length


DRIPS = {
    "body": lambda port: (ok_head(200), b"{" + b" " * 198 + b"}"),
    "headers": lambda port: (b"HTTP/1.0 200 OK\r\n", b"X-Slow: " + b"a" * 200 + b"\r\n\r\n{}"),
}


@pytest.mark.parametrize("where", sorted(DRIPS))
def test_an_answer_dripping_in_ends_the_worker_list_read_at_the_timeout(serve, where):
    server = serve(DRIPS[where])
    started = time.monotonic()
    answer, error = host_state.http_json_reader(TIMEOUT)(server.url())
    took = time.monotonic() - started
    assert answer is None and error == "no whole answer within 1 s"
    assert took < 2 * TIMEOUT


@pytest.mark.parametrize("where", sorted(DRIPS))
def test_an_answer_dripping_in_ends_the_router_worker_request_at_the_timeout(serve, where):
    server = serve(DRIPS[where])
    started = time.monotonic()
    with pytest.raises(RouterWorkerError, match="expected the router to answer at %s, found: no whole answer "
                                                "within 1 s" % server.url()):
        json_sender(TIMEOUT)("GET", server.url(), None)
    assert time.monotonic() - started < 2 * TIMEOUT


@pytest.mark.parametrize("where", sorted(DRIPS))
def test_an_answer_dripping_in_ends_the_health_probe_at_the_timeout(serve, where):
    server = serve(DRIPS[where])
    started = time.monotonic()
    status, message = host_state.http_prober(TIMEOUT)(server.url("/v1/models"))
    took = time.monotonic() - started
    if where == "headers":
        assert (status, message) == (None, "no whole answer within 1 s")
    else:
        assert (status, message) == (200, "HTTP 200")  # the probe asks for the status only, never waits for a body
    assert took < 2 * TIMEOUT


def redirect_to(target):
    def answer(port):
        return (b"HTTP/1.0 302 Found\r\nLocation: %s\r\nContent-Length: 2\r\n\r\n{}" % target.url().encode(), b"")
    return answer


def test_a_redirect_is_not_followed(serve):
    elsewhere = serve(lambda port: (ok_head(2) + b"{}", b""))
    router = serve(redirect_to(elsewhere))
    assert host_state.http_json_reader(TIMEOUT)(router.url()) == (None, "HTTP 302 Found (a redirect, not followed)")
    assert json_sender(TIMEOUT)("POST", router.url(), {"url": "http://127.0.0.1:30001"}) == (302, {})
    assert len(router.requests) == 2 and elsewhere.requests == []


def test_a_health_url_that_redirects_is_not_healthy_and_the_redirect_is_not_followed(serve):
    elsewhere = serve(lambda port: (ok_head(2) + b"{}", b""))
    service = serve(redirect_to(elsewhere))
    assert host_state.http_prober(TIMEOUT)(service.url("/v1/models")) == (302, "HTTP 302 Found (a redirect, not followed)")
    assert len(service.requests) == 1 and elsewhere.requests == []


def test_a_deeply_nested_answer_is_not_json_not_a_crash(serve):
    nested = b"[" * 200000 + b"]" * 200000
    server = serve(lambda port: (ok_head(len(nested)) + nested, b""))
    answer, error = host_state.http_json_reader(5)(server.url())
    assert answer is None and error.startswith("not JSON")
    assert json_sender(5)("GET", server.url(), None) == (200, None)
