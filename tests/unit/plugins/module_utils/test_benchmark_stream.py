"""The streamed chat client (openai_stream) against canned server-sent event streams over real HTTP."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from fake_ktransformers.server import running_bench_server
from ansible_collections.ktune.inference.plugins.module_utils.openai_stream import (
    Endpoint,
    StreamError,
    list_models,
    request_body,
    stream_chat,
)


def event(delta=None, finish=None, **extra):
    body = dict(extra)
    if delta is not None or finish is not None:
        body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    return b"data: " + json.dumps(body).encode() + b"\n\n"


@contextmanager
def canned(body, status=200, content_type="text/event-stream"):
    """A server answering every request with `body`; yields (Endpoint, list of request bodies)."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            seen.append(json.loads(self.rfile.read(length)) if length else None)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Endpoint("http://127.0.0.1:%d/v1/" % server.server_address[1]), seen
    finally:
        server.shutdown()
        server.server_close()


def run(endpoint):
    return stream_chat(endpoint, "m", "hi", 8, timeout=5)


def test_endpoint_accepts_a_v1_suffix_and_refuses_other_schemes():
    assert Endpoint("http://h:1/v1").prefix == "" and Endpoint("http://h:1/api/v1/").prefix == "/api"
    assert Endpoint("https://gpu-07").port == 443
    assert Endpoint("http://[::1]:8000").display == "http://[::1]:8000"
    with pytest.raises(ValueError, match="is not an http.s. base URL"):
        Endpoint("gpu-07:10002")


def test_request_asks_for_a_stream_and_usage():
    body = json.loads(request_body("m", "hello", 16, True))
    assert body["stream"] is True and body["max_tokens"] == 16
    assert body["stream_options"] == {"include_usage": True}
    assert "stream_options" not in json.loads(request_body("m", "hello", 16, False))


def test_counts_chunks_when_no_usage_is_sent():
    body = (event({"role": "assistant", "content": ""}) + b": keep-alive comment\n\n"
            + b"".join(event({"content": "w%d" % i}) for i in range(5)) + event({}, "stop") + b"data: [DONE]\n\n")
    with canned(body) as (endpoint, seen):
        result = run(endpoint)
    assert result["tokens"] == 5 and result["token_count_source"] == "chunks"
    assert result["ttft_s"] <= result["latency_s"] and result["tokens_per_s"] > 0
    assert seen[0]["messages"] == [{"role": "user", "content": "hi"}]


def test_prefers_usage_and_counts_reasoning_content():
    body = (event({"reasoning_content": "think"}) + event({"content": "a"}) + event({"content": "b"})
            + event({}, "stop") + b'data: {"choices": [], "usage": {"completion_tokens": 9}}\n\n' + b"data: [DONE]\n\n")
    with canned(body) as (endpoint, _unused):
        result = run(endpoint)
    assert result["tokens"] == 9 and result["token_count_source"] == "usage"


def test_a_finished_stream_without_done_is_accepted():
    with canned(event({"content": "a"}) + event({"content": "b"}) + event({}, "length")) as (endpoint, _unused):
        assert run(endpoint)["tokens"] == 2


def test_multi_line_data_is_joined():
    chunk = json.dumps({"choices": [{"delta": {"content": "a"}}]}, indent=1).encode()
    lines = b"".join(b"data: " + line + b"\n" for line in chunk.split(b"\n")) + b"\n"
    with canned(lines + event({"content": "b"}, "stop")) as (endpoint, _unused):
        assert run(endpoint)["tokens"] == 2


@pytest.mark.parametrize("body, kind, text", [
    (event({"content": "a"}) + b"data: [DONE]\n\n", "short", "gave 1 token: at least 2 tokens"),
    (event({"content": "a"}) + event(error={"message": "CUDA out of memory"}), "server",
     'reported an error in the stream after 1 token: "CUDA out of memory"'),
    (event({"content": "a"}) + b"data: [1, 2]\n\n", "malformed", "expected a JSON object"),
    (event({"content": "a"}) + b'data: {"choices": {"delta": 1}}\n\n', "malformed", "choices is not a list"),
    (event({"content": "a"}) + b"hello world\n\n", "malformed", "is not a server-sent event line"),
    (event({"content": "a"}) + event({"content": "b"}), "cut", "ended after 2 tokens without a finish_reason"),
])
def test_broken_streams(body, kind, text):
    with canned(body) as (endpoint, _unused):
        with pytest.raises(StreamError) as caught:
            run(endpoint)
    assert caught.value.kind == kind
    assert text in str(caught.value)


def test_json_instead_of_a_stream():
    with canned(b'{"choices": []}', content_type="application/json") as (endpoint, _unused):
        with pytest.raises(StreamError) as caught:
            run(endpoint)
    assert caught.value.kind == "malformed"
    assert "answered application/json instead of a stream" in str(caught.value)


def test_http_error_excerpt_is_bounded():
    with canned(b"x" * 5000, status=503, content_type="text/plain") as (endpoint, _unused):
        with pytest.raises(StreamError) as caught:
            run(endpoint)
    assert "answered HTTP 503 Service Unavailable: xxx" in str(caught.value)
    assert len(str(caught.value)) < 500


def test_list_models_reads_both_shapes():
    with canned(b'{"object": "list", "data": [{"id": "Kimi-K2"}]}', content_type="application/json") as (endpoint, _unused):
        assert list_models(endpoint, 5) == ["Kimi-K2"]
    with running_bench_server(model="DeepSeek-R1", tokens_per_s=1000) as (url, _unused):
        assert list_models(Endpoint(url), 5) == ["DeepSeek-R1"]
