# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Asking a ktune guard for its instances' states: the one client of GET /status.

The guard_query module (on the host) and the fleet's event source (on the controller, which
loads this file by path) send the same request with the guard's token and read the answer the
same way: bounded, no redirect followed (it would carry the token elsewhere), no proxy, and only
fixed vocabulary returned. Standard library only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

from urllib.error import HTTPError
from urllib.request import HTTPRedirectHandler, ProxyHandler, Request, build_opener

try:
    from ansible_collections.ktune.inference.plugins.module_utils import guard, http_body
except ImportError:  # outside the collection: next to the guard daemon, or loaded by path by the event source
    import guard
    import http_body

OK = "ok"
UNAUTHORIZED = "unauthorized"
INVALID = "invalid"
UNREACHABLE = "unreachable"


class _NoRedirect(HTTPRedirectHandler):
    """A redirect is an answer of its own (invalid): following it would carry the token to wherever it points."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def ask_status(url, token, timeout):
    """(answer, HTTP status or None, public statuses or None) of the guard at url's GET /status.

    answer is OK with a well-formed answer (the statuses), UNAUTHORIZED (401 or 403: the guard
    refused the token), INVALID (any other status, a redirect, a body too large or not a list of
    well-formed instances) or UNREACHABLE (nothing answered)."""
    opener = build_opener(ProxyHandler({}), _NoRedirect())
    request = Request(url.rstrip("/") + "/status", headers={"Authorization": "Bearer %s" % token})
    status = None
    try:
        response = opener.open(request, timeout=timeout)
        try:
            status = response.getcode()
            body = http_body.read_body(response)
        finally:
            response.close()
    except http_body.AnswerTooLarge:
        return INVALID, status, None
    except HTTPError as exc:
        return (UNAUTHORIZED if exc.code in (401, 403) else INVALID), exc.code, None
    except Exception:  # noqa: BLE001  a guard that does not answer, however it fails
        return UNREACHABLE, None, None
    try:
        statuses = guard.public_statuses(json.loads(body.decode("utf-8")))
    except ValueError:
        statuses = None
    return (OK if statuses is not None else INVALID), status, statuses
