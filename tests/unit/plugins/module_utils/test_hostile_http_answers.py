"""Oversized answers from a server on a managed host (issue 21, item 7): a clean error, in bounded memory.

A local test server floods /v1/models, a streamed chat answer, or one server-sent event line.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from bounded_memory import MIB, traced
from flood_server import flooding
from ansible_collections.ktune.inference.plugins.module_utils.openai_stream import (
    Endpoint,
    StreamError,
    list_models,
    stream_chat,
)


def test_an_oversized_models_list_is_refused_in_bounded_memory():
    with flooding(b'{"data": [', b'{"id": "m"},') as url:
        endpoint = Endpoint(url)
        outcome, peak = traced(list_models, endpoint, timeout=10)
    assert isinstance(outcome, StreamError) and outcome.kind == "too_large"
    assert "GET %s/v1/models" % endpoint.display in str(outcome)
    assert "expected an answer of at most 4194304 bytes, found more" in str(outcome)
    assert peak < 16 * MIB


def test_an_endless_event_line_is_refused_in_bounded_memory():
    with flooding(b"data: ", b"x", content_type="text/event-stream") as url:
        endpoint = Endpoint(url)
        outcome, peak = traced(stream_chat, endpoint, "m", "hi", 8, timeout=10)
    assert isinstance(outcome, StreamError) and outcome.kind == "too_large"
    assert "expected event lines of at most 1048576 bytes, found more" in str(outcome)
    assert peak < 8 * MIB


def test_an_endless_event_of_many_data_lines_is_refused_in_bounded_memory():
    with flooding(b"", b"data: " + b"x" * 249 + b"\n", content_type="text/event-stream") as url:
        endpoint = Endpoint(url)
        outcome, peak = traced(stream_chat, endpoint, "m", "hi", 8, timeout=10)
    assert isinstance(outcome, StreamError) and outcome.kind == "too_large"
    assert "expected events of at most 1048576 bytes, found more" in str(outcome)
    assert peak < 8 * MIB
