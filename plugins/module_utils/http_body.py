# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bounded reads of HTTP answers from servers on a managed host.

An answer is untrusted data: a broken or hostile server may send an endless body, so every
body is read up to a limit and refused beyond it. Standard library only, no imports: the
guard role installs this file next to its daemon.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# A /v1/models list, a guard's /status or SGLang's /metrics page is a few KiB to a few
# hundred KiB; 4 MiB is far above any real answer and still small for the host.
ANSWER_LIMIT = 4 * 1024 * 1024
# One server-sent event line, and one event, of a streamed completion: one token's chunk is
# well under 1 KiB.
EVENT_LIMIT = 1024 * 1024


class AnswerTooLarge(Exception):
    """An answer longer than its limit; str() is "expected ... at most N bytes, found more"."""

    def __init__(self, what, limit):
        super(AnswerTooLarge, self).__init__("expected %s of at most %d bytes, found more" % (what, limit))
        self.limit = limit


def read_body(response, limit=ANSWER_LIMIT):
    """The body of an http.client/urllib response, of at most limit bytes; AnswerTooLarge beyond."""
    body = response.read(limit + 1)
    if len(body) > limit:
        raise AnswerTooLarge("an answer", limit)
    return body


def read_line(response, limit=EVENT_LIMIT):
    """One line of a streamed answer (b"" at its end), of at most limit bytes; AnswerTooLarge beyond."""
    line = response.readline(limit + 1)
    if len(line) > limit:
        raise AnswerTooLarge("event lines", limit)
    return line
