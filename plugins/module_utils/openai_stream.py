# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A streamed chat completion against an OpenAI-compatible server, timed per token.

Standard library only (http.client), so it runs with the host's bare Python.

Per request: time to first token (from sending the request to the first chunk with
content), decode tokens/s (tokens after the first divided by the time from the first to
the last token, so prefill does not count), its inverse the time per output token, the
inter-token latencies (every gap between chunks with text) and total latency (until the
stream ends).

Counting tokens: each streamed chunk whose delta carries text (content or
reasoning_content) is one token; ktransformers and SGLang send one token per chunk. When
the server also sends usage.completion_tokens (asked for with stream_options.include_usage)
that count is used instead, since a server may pack several tokens into one chunk.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import socket
import ssl
import time

import http.client as http_client
from urllib.parse import urlsplit

try:
    from ansible_collections.ktune.inference.plugins.module_utils.http_body import (
        EVENT_LIMIT,
        AnswerTooLarge,
        read_body,
        read_line,
    )
except ImportError:  # installed on a host next to the guard, outside the collection
    from http_body import EVENT_LIMIT, AnswerTooLarge, read_body, read_line

BODY_EXCERPT = 300
CHAT_PATH = "/v1/chat/completions"


class StreamError(Exception):
    """A request that gave no measurement; str() says what happened, `kind` classifies it."""

    def __init__(self, kind, message):
        super(StreamError, self).__init__(message)
        self.kind = kind


class Endpoint(object):
    """Where to send requests: scheme, host, port and the path prefix of a base URL."""

    def __init__(self, url):
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("url = %r is not an http(s) base URL: expected one such as http://127.0.0.1:10002"
                             % url)
        try:
            port = parts.port
        except ValueError:
            raise ValueError("url = %r has an invalid port" % url)
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = port or (443 if parts.scheme == "https" else 80)
        prefix = parts.path.rstrip("/")
        if prefix.endswith("/v1"):
            prefix = prefix[:-3]
        self.prefix = prefix
        self.display = "%s://%s:%d%s" % (self.scheme, _host_in_url(self.host), self.port, self.prefix)

    def connection(self, timeout, validate_certs=True):
        if self.scheme == "https":
            context = ssl.create_default_context()
            if not validate_certs:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            return http_client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)
        return http_client.HTTPConnection(self.host, self.port, timeout=timeout)


def loopback(host):
    """Whether a URL's host name is this machine's loopback (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def plaintext_key_problem(endpoint, api_key, allowed):
    """Why sending api_key to endpoint would put it on the network in clear, or None."""
    if not api_key or endpoint.scheme == "https" or allowed or loopback(endpoint.host):
        return None
    return ("url %s is plain HTTP to %s, not this machine: the API key would cross the network in clear. Fix: "
            "use https:// (an authenticating proxy in front of the instance), measure on the host itself, or set "
            "allow_plaintext_key to accept it" % (endpoint.display, endpoint.host))


def _host_in_url(host):
    return "[%s]" % host if ":" in host else host


def _headers(api_key):
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if api_key:
        headers["Authorization"] = "Bearer %s" % api_key
    return headers


def _excerpt(data):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    text = " ".join(text.split())
    return text if len(text) <= BODY_EXCERPT else text[:BODY_EXCERPT] + "..."


def _network_error(endpoint, exc, timeout):
    if isinstance(exc, socket.timeout):
        return StreamError("timeout", "no data from %s for %s s (timeout)" % (endpoint.display, _num(timeout)))
    if isinstance(exc, ConnectionRefusedError):
        return StreamError("refused", "connection refused by %s: is the server running and listening on port %d?"
                           % (endpoint.display, endpoint.port))
    if isinstance(exc, socket.gaierror):
        return StreamError("resolve", "cannot resolve %s: %s" % (endpoint.host, exc))
    if isinstance(exc, ssl.SSLError):
        return StreamError("tls", "TLS error with %s: %s" % (endpoint.display, exc))
    return StreamError("connection", "cannot talk to %s: %s" % (endpoint.display, exc))


def _num(value):
    return ("%g" % value) if isinstance(value, float) else str(value)


def list_models(endpoint, timeout, api_key=None, validate_certs=True):
    """Model ids from GET /v1/models (OpenAI's {"data": [...]} or ktransformers' bare list)."""
    conn = endpoint.connection(timeout, validate_certs)
    try:
        conn.request("GET", endpoint.prefix + "/v1/models", headers=_headers(api_key))
        response = conn.getresponse()
        body = read_body(response)
    except AnswerTooLarge as exc:
        raise StreamError("too_large", "GET %s/v1/models: %s" % (endpoint.display, exc))
    except (OSError, http_client.HTTPException) as exc:
        raise _network_error(endpoint, exc, timeout)
    finally:
        conn.close()
    if response.status != 200:
        raise StreamError("http", "GET %s/v1/models answered HTTP %d %s: %s" % (
            endpoint.display, response.status, response.reason, _excerpt(body)))
    try:
        data = json.loads(body.decode("utf-8"))
    except ValueError:
        raise StreamError("malformed", "GET %s/v1/models did not answer JSON: %s" % (endpoint.display, _excerpt(body)))
    entries = data.get("data") if isinstance(data, dict) else data
    ids = [entry.get("id") for entry in entries or [] if isinstance(entry, dict) and entry.get("id")]
    return ids


def request_body(model, prompt, max_tokens, include_usage):
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
            "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode("utf-8")


class _Timing(object):
    def __init__(self, clock):
        self.clock = clock
        self.start = clock()
        self.first = None
        self.last = None
        self.chunk_times = []
        self.chunks = 0
        self.usage_tokens = None
        self.finished = False


def stream_chat(endpoint, model, prompt, max_tokens, timeout, api_key=None, include_usage=True,
                validate_certs=True, clock=time.monotonic):
    """Send one streamed chat completion; return its measurement as a dict.

    timeout: seconds without a byte from the server, and the limit for the whole request.
    Raises StreamError for anything that gives no measurement.
    """
    conn = endpoint.connection(timeout, validate_certs)
    timing = _Timing(clock)
    try:
        try:
            conn.request("POST", endpoint.prefix + CHAT_PATH, body=request_body(model, prompt, max_tokens, include_usage),
                         headers=_headers(api_key))
            response = conn.getresponse()
        except (OSError, http_client.HTTPException) as exc:
            raise _network_error(endpoint, exc, timeout)
        _check_response(endpoint, response, timeout)
        _read_events(endpoint, response, timing, timeout)
    finally:
        conn.close()
    return _measurement(endpoint, timing)


def _check_response(endpoint, response, timeout):
    if response.status != 200:
        try:
            body = response.read(4096)
        except (OSError, http_client.HTTPException):
            body = b""
        raise StreamError("http", "POST %s%s answered HTTP %d %s: %s" % (
            endpoint.display, CHAT_PATH, response.status, response.reason, _excerpt(body) or "(empty body)"))
    content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "text/event-stream":
        try:
            body = response.read(4096)
        except (OSError, http_client.HTTPException):
            body = b""
        raise StreamError("malformed", "POST %s%s answered %s instead of a stream (text/event-stream): the server "
                          "ignored \"stream\": true? Body: %s" % (endpoint.display, CHAT_PATH,
                                                                  content_type or "no Content-Type", _excerpt(body)))


def _too_large(endpoint, timing, exc):
    return StreamError("too_large", "the stream from %s after %s: %s" % (endpoint.display, _tokens_so_far(timing), exc))


def _add_data(endpoint, event, value, timing):
    """The event's data with one more data line (lines joined by a newline), at most EVENT_LIMIT bytes."""
    if event is None:
        event = bytearray()
    else:
        event += b"\n"
    event += value
    if len(event) > EVENT_LIMIT:
        raise _too_large(endpoint, timing, AnswerTooLarge("events", EVENT_LIMIT))
    return event


def _read_events(endpoint, response, timing, timeout):
    """Read server-sent events until data: [DONE] (or the end of a finished stream)."""
    event = None
    while True:
        if timing.clock() - timing.start > timeout:
            raise StreamError("timeout", "the stream from %s took longer than %s s after %s (timeout)" % (
                endpoint.display, _num(timeout), _tokens_so_far(timing)))
        try:
            line = read_line(response)
        except AnswerTooLarge as exc:
            raise _too_large(endpoint, timing, exc)
        except socket.timeout:
            raise StreamError("timeout", "the stream from %s stalled: no data for %s s after %s (timeout)" % (
                endpoint.display, _num(timeout), _tokens_so_far(timing)))
        except (OSError, http_client.HTTPException) as exc:
            raise StreamError("cut", "the stream from %s broke after %s: %s" % (
                endpoint.display, _tokens_so_far(timing), exc.__class__.__name__ if not str(exc) else exc))
        if not line:
            if event is not None:
                _handle_event(endpoint, bytes(event), timing)
            if timing.finished:
                return
            raise StreamError("cut", "the stream from %s ended after %s without a finish_reason or data: [DONE] "
                              "(cut in the middle)" % (endpoint.display, _tokens_so_far(timing)))
        line = line.rstrip(b"\r\n")
        if not line:
            if event is not None:
                done = _handle_event(endpoint, bytes(event), timing)
                event = None
                if done:
                    return
            continue
        if line.startswith(b":"):
            continue
        field, _sep, value = line.partition(b":")
        if field == b"data":
            event = _add_data(endpoint, event, value[1:] if value.startswith(b" ") else value, timing)
        elif field not in (b"event", b"id", b"retry"):
            raise StreamError("malformed", "malformed stream from %s after %s: %r is not a server-sent event line" % (
                endpoint.display, _tokens_so_far(timing), _excerpt(line)))


def _tokens_so_far(timing):
    return "%d token%s" % (timing.chunks, "" if timing.chunks == 1 else "s")


def _handle_event(endpoint, data, timing):
    """Account one event; True at data: [DONE]."""
    if data.strip() == b"[DONE]":
        return True
    try:
        chunk = json.loads(data.decode("utf-8"))
    except ValueError:
        raise StreamError("malformed", "malformed stream from %s after %s: a data line is not JSON: %s" % (
            endpoint.display, _tokens_so_far(timing), _excerpt(data)))
    if not isinstance(chunk, dict):
        raise StreamError("malformed", "malformed stream from %s after %s: expected a JSON object, got %s" % (
            endpoint.display, _tokens_so_far(timing), _excerpt(data)))
    if chunk.get("error"):
        error = chunk["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise StreamError("server", "the server at %s reported an error in the stream after %s: %s" % (
            endpoint.display, _tokens_so_far(timing), _excerpt(json.dumps(message))))
    usage = chunk.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        timing.usage_tokens = usage["completion_tokens"]
    choices = chunk.get("choices")
    if choices is None:
        return False
    if not isinstance(choices, list):
        raise StreamError("malformed", "malformed stream from %s after %s: choices is not a list: %s" % (
            endpoint.display, _tokens_so_far(timing), _excerpt(data)))
    for choice in choices:
        if not isinstance(choice, dict) or not isinstance(choice.get("delta", {}), dict):
            raise StreamError("malformed", "malformed stream from %s after %s: a choice without a delta object: %s"
                              % (endpoint.display, _tokens_so_far(timing), _excerpt(data)))
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("reasoning_content"):
            now = timing.clock()
            if timing.first is None:
                timing.first = now
            timing.last = now
            timing.chunk_times.append(now)
            timing.chunks += 1
        if choice.get("finish_reason"):
            timing.finished = True
    return False


def _measurement(endpoint, timing):
    end = timing.clock()
    tokens = timing.usage_tokens if timing.usage_tokens else timing.chunks
    if timing.first is None or tokens < 2 or timing.last <= timing.first:
        raise StreamError("short", "the stream from %s gave %s: at least 2 tokens, streamed apart, are needed to "
                          "measure decode speed. Fix: raise max_tokens, or use a prompt that gets a longer answer"
                          % (endpoint.display, _tokens_so_far(timing)))
    return {
        "ttft_s": round(timing.first - timing.start, 6),
        "tokens_per_s": round((tokens - 1) / (timing.last - timing.first), 4),
        "tpot_s": round((timing.last - timing.first) / (tokens - 1), 6),
        "itl_s": inter_token_gaps(timing.chunk_times, tokens),
        "latency_s": round(end - timing.start, 6),
        "tokens": tokens,
        "token_count_source": "usage" if timing.usage_tokens else "chunks",
    }


def inter_token_gaps(chunk_times, tokens):
    """Seconds between streamed chunks, per token: a gap is shared by the tokens its chunk carries.

    With usage.completion_tokens above the chunk count the server packed several tokens into a
    chunk; each gap is divided by the average tokens per chunk, so it stays a per-token latency.
    """
    chunks = len(chunk_times)
    per_chunk = max(1.0, float(tokens) / chunks) if chunks else 1.0
    return [round((later - earlier) / per_chunk, 6) for earlier, later in zip(chunk_times, chunk_times[1:])]
