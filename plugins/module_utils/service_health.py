# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Wait for a (re)started systemd service to answer its health URL, and give up as soon as
systemd shows it is not going to: the unit failed, or it crashed and systemd is restarting it
(SubState auto-restart, NRestarts rising). A crash loop is seen within one poll interval
instead of after the whole health timeout."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

UNIT_PROPERTIES = ("Id", "ActiveState", "SubState", "Result", "NRestarts", "ExecMainStatus")


def restarts(state):
    text = str(state.get("NRestarts") or "0")
    # ASCII digits only: int() also takes the digits of other scripts.
    return int(text) if re.match(r"[0-9]{1,20}\Z", text) else 0


def describe(state):
    return "ActiveState=%s, SubState=%s, Result=%s, NRestarts=%d, last exit status %s" % (
        state.get("ActiveState") or "?", state.get("SubState") or "?", state.get("Result") or "?",
        restarts(state), state.get("ExecMainStatus") or "?")


def not_coming_up(unit, first, now):
    """Why ``unit`` will not answer, judged from its state at the first poll and now; None while
    it may still come up (activating, or active and loading its model)."""
    active, sub = now.get("ActiveState"), now.get("SubState")
    if active == "failed":
        return "%s failed (%s)" % (unit, describe(now))
    if sub == "auto-restart" or restarts(now) > restarts(first):
        return "%s is crash-looping: it exited and systemd restarted it %d time(s) while waiting (%s)" % (
            unit, max(restarts(now) - restarts(first), 1), describe(now))
    if active in ("inactive", "deactivating") or sub in ("dead", "exited"):
        return "%s stopped (%s)" % (unit, describe(now))
    return None


def wait_for_health(unit, url, timeout_s, interval_s, show_unit, probe, clock, sleep):
    """Poll ``probe(url)`` and ``show_unit(unit)`` until HTTP 200, a unit that will not come
    up, or ``timeout_s``. Returns a dict: ok, url, status, msg, elapsed_s, polls, unit_state."""
    start = clock()
    first = None
    polls = 0
    while True:
        polls += 1
        state = show_unit(unit)
        if first is None:
            first = state
        status, message = probe(url)
        elapsed = clock() - start
        result = dict(url=url, status=status, elapsed_s=round(elapsed, 1), polls=polls, unit_state=state)
        if status == 200:
            return dict(result, ok=True, msg="%s answers HTTP 200 at %s after %.1f s" % (unit, url, elapsed))
        reason = not_coming_up(unit, first, state)
        if reason:
            return dict(result, ok=False, crashed=True, msg="%s; %s answered: %s" % (reason, url, message))
        if elapsed + interval_s > timeout_s:
            return dict(result, ok=False, crashed=False,
                        msg="no HTTP 200 from %s within %d s (last answer: %s; %s)"
                        % (url, timeout_s, message, describe(state)))
        sleep(interval_s)
