"""The EDA event source ktune.inference.guard_status (extensions/eda/plugins/event_source/guard_status.py):
one event per instance whose guard state changed, drained instances reported by their guard state,
an unreachable guard as one "unreachable" event; and its main loop against a real guard endpoint.

The whole rulebook with the real ansible-rulebook: tests/integration/test_guard_rulebook.py.
"""

import asyncio
import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def load_source():
    spec = importlib.util.spec_from_file_location(
        "guard_status", ROOT / "extensions/eda/plugins/event_source/guard_status.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


guard_status = load_source()


def test_only_changes_become_events():
    last = {}
    hot = [{"instance": "r1", "state": "hot", "ready": True, "reason": "hot: DIMM A"}]
    events = guard_status.changes("gpu-a", hot, None, last)
    assert events == [{"ktune_guard": {"host": "gpu-a", "instance": "r1", "state": "hot", "drained": False,
                                       "ready": True, "reason": "hot: DIMM A", "previous": None}}]
    assert guard_status.changes("gpu-a", hot, None, last) == []
    drained = [{"instance": "r1", "state": "drained", "guard_state": "hot", "ready": False, "reason": "drained by x"}]
    event = guard_status.changes("gpu-a", drained, None, last)[0]["ktune_guard"]
    assert (event["state"], event["drained"], event["previous"]) == ("hot", True, "hot")
    event = guard_status.changes("gpu-a", None, "connection refused", last)[0]["ktune_guard"]
    assert (event["instance"], event["state"], event["reason"]) == ("*", "unreachable", "connection refused")


def test_main_polls_each_guard_and_stops_after_max_polls():
    answers = [[{"instance": "r1", "state": "serving", "ready": True, "reason": "serving"}],
               [{"instance": "r1", "state": "hot", "ready": True, "reason": "hot"}]]

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            body = json.dumps(answers[0] if len(answers) == 1 else answers.pop(0)).encode()
            self.send_response(200 if self.path == "/status" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        queue = asyncio.Queue()
        url = "http://127.0.0.1:%d" % server.server_address[1]
        asyncio.run(guard_status.main(queue, {"guards": {"gpu-a": url}, "interval": 0.05, "max_polls": 3}))
        events = []
        while not queue.empty():
            events.append(queue.get_nowait()["ktune_guard"])
    finally:
        server.shutdown()
        server.server_close()
    assert [(e["state"], e["previous"]) for e in events] == [("serving", None), ("hot", "serving")]
