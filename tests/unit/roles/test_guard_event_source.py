"""The EDA event source ktune.inference.guard_status (extensions/eda/plugins/event_source/guard_status.py):
one event per instance whose guard state changed, drained instances reported by their guard state,
an unreachable guard as one "unreachable" event, no free text from a guard in any event (they
become extra vars, which Ansible templates); and its main loop, with the guard's token.

The whole rulebook with the real ansible-rulebook: tests/integration/test_guard_rulebook.py.
"""

import asyncio
import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def load_source():
    spec = importlib.util.spec_from_file_location(
        "guard_status", ROOT / "extensions/eda/plugins/event_source/guard_status.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


guard_status = load_source()


HOSTILE = "hot {{ lookup('ansible.builtin.pipe', 'id > /tmp/ktune-pwned') }}"


def test_only_changes_become_events_and_no_free_text_crosses():
    last = {}
    hot = guard_status.guard.public_statuses([{"instance": "r1", "state": "hot", "ready": True, "reason": HOSTILE}])
    events = guard_status.changes("gpu-a", hot, None, last)
    assert events == [{"ktune_guard": {"host": "gpu-a", "instance": "r1", "state": "hot", "drained": False,
                                       "ready": True, "previous": None}}]
    assert guard_status.changes("gpu-a", hot, None, last) == []
    drained = guard_status.guard.public_statuses(
        [{"instance": "r1", "state": "drained", "guard_state": "hot", "ready": False, "reason": HOSTILE}])
    event = guard_status.changes("gpu-a", drained, None, last)[0]["ktune_guard"]
    assert (event["state"], event["drained"], event["previous"]) == ("hot", True, "hot")
    event = guard_status.changes("gpu-a", None, "unreachable", last)[0]["ktune_guard"]
    assert (event["instance"], event["state"]) == ("*", "unreachable")


@pytest.mark.parametrize("answer", [
    [{"instance": "r1{{ 7*7 }}", "state": "hot", "ready": True}],
    [{"instance": "r1", "state": "hot {{ 7*7 }}", "ready": True}],
    [{"instance": "r1", "state": "drained", "guard_state": "{{ x }}", "ready": False}],
    [{"instance": "r1", "state": "hot", "ready": "yes"}],
    [{"instance": "r1\n", "state": "hot", "ready": True}],
    {"instance": "r1", "state": "hot", "ready": True},
    [{"instance": "r1", "state": "hot", "ready": True}, "junk"],
])
def test_a_malformed_answer_is_invalid_as_a_whole(answer):
    assert guard_status.guard.public_statuses(answer) is None


def serve(answers, token="t" * 32):
    """A guard stand-in answering GET /status from answers (the last repeats); 401 without the token."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            seen.append(self.headers.get("Authorization"))
            if self.headers.get("Authorization") != "Bearer " + token:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = json.dumps(answers[0] if len(answers) == 1 else answers.pop(0)).encode()
            self.send_response(200 if self.path == "/status" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.seen = seen
    return server


def run_source(args):
    queue = asyncio.Queue()
    asyncio.run(guard_status.main(queue, args))
    events = []
    while not queue.empty():
        events.append(queue.get_nowait()["ktune_guard"])
    return events


def test_main_polls_each_guard_with_its_token_and_stops_after_max_polls():
    server = serve([[{"instance": "r1", "state": "serving", "ready": True, "reason": "serving"}],
                    [{"instance": "r1", "state": "hot", "ready": True, "reason": HOSTILE}]])
    try:
        url = "http://127.0.0.1:%d" % server.server_address[1]
        events = run_source({"guards": {"gpu-a": url}, "tokens": {"gpu-a": "t" * 32}, "interval": 0.05,
                             "max_polls": 3})
    finally:
        server.shutdown()
        server.server_close()
    assert [(e["state"], e["previous"]) for e in events] == [("serving", None), ("hot", "serving")]
    assert set(server.seen) == {"Bearer " + "t" * 32}
    assert "pwned" not in json.dumps(events)


def test_a_refused_token_is_one_unauthorized_event():
    server = serve([[{"instance": "r1", "state": "serving", "ready": True}]], token="u" * 32)
    try:
        url = "http://127.0.0.1:%d" % server.server_address[1]
        events = run_source({"guards": {"gpu-a": url}, "tokens": {"gpu-a": "t" * 32}, "interval": 0.05,
                             "max_polls": 2})
    finally:
        server.shutdown()
        server.server_close()
    assert [(e["instance"], e["state"]) for e in events] == [("*", "unauthorized")]


def test_tokens_from_a_directory_must_be_owner_only(tmp_path):
    (tmp_path / "gpu-a").write_text("t" * 32 + "\n")
    (tmp_path / "gpu-a").chmod(0o644)
    with pytest.raises(ValueError, match="gpu-a: expected a regular file .not a symlink. owned by .* with mode 0600 "
                                         "or 0400, found a regular file"):
        run_source({"guards": {"gpu-a": "http://127.0.0.1:9"}, "token_dir": str(tmp_path), "max_polls": 1})
    (tmp_path / "gpu-a").chmod(0o600)
    events = run_source({"guards": {"gpu-a": "http://127.0.0.1:9"}, "token_dir": str(tmp_path), "max_polls": 1,
                         "timeout": 1})
    assert [(e["instance"], e["state"]) for e in events] == [("*", "unreachable")]


def test_a_host_without_a_token_stops_the_source_naming_it():
    with pytest.raises(ValueError, match="no guard token for gpu-b"):
        run_source({"guards": {"gpu-a": "http://x", "gpu-b": "http://y"}, "tokens": {"gpu-a": "t" * 32},
                    "max_polls": 1})


def test_a_redirect_is_an_invalid_answer_and_the_token_goes_nowhere_else():
    """urllib would follow a 302 and carry the Authorization header to wherever it points."""
    elsewhere = serve([[{"instance": "r1", "state": "serving", "ready": True}]])

    class Redirect(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:%d/status" % elsewhere.server_address[1])
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        events = run_source({"guards": {"gpu-a": "http://127.0.0.1:%d" % server.server_address[1]},
                             "tokens": {"gpu-a": "t" * 32}, "max_polls": 1})
    finally:
        for one in (server, elsewhere):
            one.shutdown()
            one.server_close()
    assert [(e["instance"], e["state"]) for e in events] == [("*", "invalid")]
    assert elsewhere.seen == []
