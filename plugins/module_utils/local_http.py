# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""HTTP to services on the managed host's own addresses (the routers' worker API).

urllib's timeout bounds each socket read, not the request: a server that sends one byte a second
keeps a reader as long as it likes, and a redirect would take the request (and its body) to an
address nobody configured. So every read here is direct (no proxy), follows no redirect (the 3xx
comes back as an HTTP error), and ends when the timeout has passed since the request began,
however the bytes trickle in.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import time

from ansible.module_utils.six.moves import http_client
from ansible.module_utils.six.moves.urllib.request import HTTPHandler, HTTPRedirectHandler, ProxyHandler, build_opener


class _DeadlineSocket(socket.socket):
    """A connected socket whose every receive waits at most until DEADLINE (time.monotonic())."""

    deadline = None
    budget = None

    def _until_deadline(self, receive, args):
        left = self.deadline - time.monotonic()
        try:
            if left <= 0:
                raise socket.timeout()
            self.settimeout(left)  # never more than the whole budget, so a timeout is the deadline's
            return receive(*args)
        except socket.timeout:
            raise socket.timeout("no whole answer within %g s" % self.budget)

    def recv(self, *args):  # pylint: disable=arguments-differ
        return self._until_deadline(super(_DeadlineSocket, self).recv, args)

    def recv_into(self, *args):  # pylint: disable=arguments-differ
        return self._until_deadline(super(_DeadlineSocket, self).recv_into, args)


class _DeadlineConnection(http_client.HTTPConnection):
    """An HTTP connection that must be done within its timeout, counted from the connect."""

    def connect(self):
        budget = self.timeout if isinstance(self.timeout, (int, float)) else 60
        deadline = time.monotonic() + budget
        http_client.HTTPConnection.connect(self)
        plain = self.sock
        self.sock = _DeadlineSocket(plain.family, plain.type, plain.proto, fileno=plain.detach())
        self.sock.deadline, self.sock.budget = deadline, budget


class _DeadlineHandler(HTTPHandler):
    def http_open(self, req):
        return self.do_open(_DeadlineConnection, req)


class _NoRedirect(HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises the 3xx as an HTTPError


def local_opener():
    """A urllib opener for http:// URLs on the host: no proxy, no redirect, the timeout given to
    open() bounds the whole exchange (connect, headers and body)."""
    return build_opener(ProxyHandler({}), _DeadlineHandler(), _NoRedirect())
