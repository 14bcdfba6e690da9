"""One client of a guard's GET /status (plugins/module_utils/guard_client.py): the guard_query
module and the fleet's event source both ask through ask_status, so the same answer means the
same thing to both; the event source loads it by path, outside the collection."""

import json
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import guard_client, http_body

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "extensions/eda/plugins/event_source/guard_status.py"
MODULE = ROOT / "plugins/modules/guard_query.py"
TOKEN = "guard-client-test-token-0123456789"
WELL_FORMED = [{"instance": "r1", "state": "hot", "ready": True, "reason": "hot {{ lookup('pipe', 'id') }}"}]


def serve(status, body, headers=()):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            self.server.seen.append(self.headers.get("Authorization"))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.seen = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.parametrize("status, body, headers, answer", [
    (200, json.dumps(WELL_FORMED).encode(), (), "ok"),
    (401, b"", (), "unauthorized"),
    (403, b"", (), "unauthorized"),
    (500, b"", (), "invalid"),
    (302, b"", (("Location", "http://127.0.0.1:9/status"),), "invalid"),
    (200, b"not json", (), "invalid"),
    (200, b'{"instances": []}', (), "invalid"),
    (200, b"[" + b" " * http_body.ANSWER_LIMIT + b"]", (), "invalid"),  # too large: never parsed
])
def test_every_answer_maps_to_fixed_vocabulary(status, body, headers, answer):
    server = serve(status, body, headers)
    try:
        found, http_status, statuses = guard_client.ask_status("http://127.0.0.1:%d/" % server.server_address[1],
                                                               TOKEN, 10)
    finally:
        server.shutdown()
        server.server_close()
    assert (found, http_status) == (answer, status)
    assert statuses == ([{"instance": "r1", "state": "hot", "ready": True}] if answer == "ok" else None)
    assert server.seen == ["Bearer " + TOKEN]


def test_nothing_listening_is_unreachable():
    assert guard_client.ask_status("http://127.0.0.1:9", TOKEN, 2) == ("unreachable", None, None)


def test_both_callers_ask_through_the_one_client():
    source, module = SOURCE.read_text(), MODULE.read_text()
    assert "guard_client.ask_status(" in source and "ask_status(params[" in module
    for text in (source, module):
        assert not re.search(r"\burllib\b|\bopen_url\b|\.read\(", text)


def test_the_event_source_loads_the_client_outside_the_collection_and_lends_no_name_for_good():
    """ansible-rulebook runs the source without the collection on sys.path (python -I: no
    PYTHONPATH, no site directory of the checkout)."""
    probe = (
        "import importlib.util, sys\n"
        "assert not importlib.util.find_spec('ansible_collections')\n"
        "spec = importlib.util.spec_from_file_location('guard_status', %r)\n"
        "source = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(source)\n"
        "assert source.guard_client.guard is source.guard and source.guard_client.http_body is source.http_body\n"
        "assert 'guard' not in sys.modules and 'http_body' not in sys.modules\n"
        "print(source.fetch('http://127.0.0.1:9', 't' * 32, 2))\n" % str(SOURCE))
    done = subprocess.run([sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=False,
                          cwd="/", env={"PATH": os.environ.get("PATH", "")})
    assert done.returncode == 0, done.stderr
    assert done.stdout == "(None, 'unreachable')\n"
