"""A local HTTP server that floods every answer, for tests of bounded readers (loopback only)."""

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MIB = 1024 * 1024


@contextmanager
def flooding(prefix, filler, size=64 * MIB, suffix=b"", content_type="application/json"):
    """A server answering every request with prefix, `size` bytes of filler, then suffix; yields its base URL."""
    block = filler * (64 * 1024 // len(filler))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.end_headers()
            try:
                self.wfile.write(prefix)
                for _block in range(size // len(block)):
                    self.wfile.write(block)
                self.wfile.write(suffix)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading: what a bounded reader does

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.do_GET()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
