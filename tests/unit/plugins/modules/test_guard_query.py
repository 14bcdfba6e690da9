"""ktune.inference.guard_query: asks a guard with its token, read on the host without following
links; returns only fixed vocabulary, never the guard's free text or the token."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import guard_query

TOKEN = "guard-query-test-token-0123456789"
HOSTILE = "{{ lookup('ansible.builtin.pipe', 'id') }}"


@pytest.fixture
def guard(tmp_path):
    """A guard stand-in that answers its token only; yields (url, state_dir, answers seen)."""
    seen = []
    answer = [{"instance": "r1", "state": "hot", "ready": True, "reason": "hot " + HOSTILE},
              {"instance": "r2", "state": "drained", "guard_state": "serving", "ready": False, "reason": HOSTILE}]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            ok = self.headers.get("Authorization") == "Bearer " + TOKEN and self.path == "/status"
            body = json.dumps(answer).encode() if ok else b""
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state = tmp_path / "state"
    state.mkdir()
    (state / "token").write_text(TOKEN + "\n")
    (state / "token").chmod(0o600)
    yield "http://127.0.0.1:%d" % server.server_address[1], state, seen
    server.shutdown()
    server.server_close()


def test_answers_fixed_vocabulary_with_the_token(guard):
    url, state, seen = guard
    result, failed = run_module(guard_query, {"url": url, "state_dir": str(state)})
    assert not failed and not result["changed"]
    assert result["answer"] == "ok" and result["http_status"] == 200
    assert result["instances"] == [{"instance": "r1", "state": "hot", "ready": True},
                                   {"instance": "r2", "state": "drained", "guard_state": "serving", "ready": False}]
    assert seen == ["Bearer " + TOKEN]
    assert TOKEN not in json.dumps(result) and "lookup" not in json.dumps(result)


def test_a_refused_token_is_unauthorized(guard):
    url, state, _seen = guard
    (state / "token").write_text("another-token-0123456789\n")
    result, failed = run_module(guard_query, {"url": url, "state_dir": str(state)})
    assert not failed and (result["answer"], result["http_status"], result["instances"]) == ("unauthorized", 401, None)


@pytest.mark.parametrize("plant", ["symlink", "readable", "missing"])
def test_an_unsafe_token_file_is_never_read(guard, tmp_path, plant):
    url, state, seen = guard
    token = state / "token"
    if plant == "symlink":
        token.rename(tmp_path / "secret")
        token.symlink_to(tmp_path / "secret")
    elif plant == "readable":
        token.chmod(0o644)
    else:
        token.unlink()
    result, failed = run_module(guard_query, {"url": url, "state_dir": str(state)})
    assert not failed and result["answer"] == "no_token" and str(token) in result["msg"]
    assert seen == []  # nothing sent


def test_nothing_listening_is_unreachable(tmp_path, guard):
    _url, state, _seen = guard
    result, _failed = run_module(guard_query, {"url": "http://127.0.0.1:9", "state_dir": str(state), "timeout": 2})
    assert (result["answer"], result["http_status"]) == ("unreachable", None)
