#!/usr/bin/env python3
"""A stand-in for the ktransformers server and sglang.launch_server, for the molecule tests.

Never shipped (tests/ is left out of the collection build). Standard library only, so it
runs on the test image's bare python3.

    server.py legacy ARGS...   accepts the flags of `ktransformers` (the legacy server)
    server.py sglang ARGS...   accepts the flags of `python -m sglang.launch_server` (kt-kernel)

Unknown flags fail like argparse does (exit 2), so a wrong flag is caught. Like the real
servers it refuses a model path that does not exist, serves GET /v1/models (both) and
GET /health (sglang only: the legacy server has none), and POST /v1/chat/completions,
streamed as server-sent events (`data: {...}` chunks, then `data: [DONE]`) when asked.
API key: legacy reads server.api_key of $HOME/.ktransformers/config.yaml (or --api_key);
sglang takes --api-key, also from a --config YAML file. With a key, chat requests need
`Authorization: Bearer KEY`.

Environment:
  FAKE_FAIL_AT_START=1  print an error and exit 1 at start, like a broken configuration
  FAKE_START_DELAY_S=N  wait N seconds before listening, like a slow model load
  FAKE_LOADING_S=N      listen at once but answer 503 for N seconds (sglang's loading state)
  FAKE_ARGV_FILE=PATH   where to record the start (default $HOME/fake-argv-PORT.json)
"""

import argparse
import json
import os
import pwd
import sys
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def legacy_parser():
    parser = argparse.ArgumentParser(prog="ktransformers", description="fake ktransformers server")
    parser.add_argument("--host", type=str, default="0.0.0.0")
    parser.add_argument("--port", type=int, default=10002)
    parser.add_argument("--api_key", type=str, default=None)
    parser.add_argument("--ssl_keyfile", type=str)
    parser.add_argument("--ssl_certfile", type=str)
    parser.add_argument("--web", type=bool, default=False)
    parser.add_argument("--model_name", type=str, default=None)
    parser.add_argument("--model_dir", type=str)
    parser.add_argument("--model_path", type=str)
    parser.add_argument("--device", type=str, default="cuda:0")
    parser.add_argument("--architectures", type=str)
    parser.add_argument("--gguf_path", type=str)
    parser.add_argument("--q4_gguf_path", type=str)
    parser.add_argument("--optimize_config_path", type=str, default=None)
    parser.add_argument("--cpu_infer", type=int, default=10)
    parser.add_argument("--backend_type", type=str, default="ktransformers",
                        choices=["balance_serve", "ktransformers", "transformers", "exllamav2"])
    parser.add_argument("--chunk_size", type=int, default=8192)
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--max_batch_size", type=int, default=4)
    parser.add_argument("--max_new_tokens", type=int, default=2000)
    parser.add_argument("--cache_lens", type=int, default=8192)
    parser.add_argument("--cache_q4", type=bool, default=True)
    parser.add_argument("--temperature", type=float, default=0.6)
    parser.add_argument("--top_p", type=float, default=0.95)
    parser.add_argument("--page_size", type=str, default="256")
    parser.add_argument("--log_level", type=str, default="info")
    parser.add_argument("--force_think", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--use_cuda_graph", action=argparse.BooleanOptionalAction, default=True)
    return parser


def sglang_parser():
    parser = argparse.ArgumentParser(prog="sglang.launch_server", description="fake sglang + kt-kernel server")
    parser.add_argument("--model-path", "--model", dest="model_path", type=str, required=True)
    parser.add_argument("--served-model-name", type=str, default=None)
    parser.add_argument("--host", type=str, default="127.0.0.1")
    parser.add_argument("--port", type=int, default=30000)
    parser.add_argument("--api-key", type=str, default=None)
    parser.add_argument("--trust-remote-code", action="store_true")
    parser.add_argument("--tensor-parallel-size", "--tp-size", type=int, default=1)
    parser.add_argument("--mem-fraction-static", type=float)
    parser.add_argument("--chunked-prefill-size", type=int)
    parser.add_argument("--max-running-requests", type=int)
    parser.add_argument("--max-total-tokens", type=int)
    parser.add_argument("--attention-backend", type=str)
    parser.add_argument("--enable-mixed-chunk", action="store_true")
    parser.add_argument("--disable-shared-experts-fusion", action="store_true")
    parser.add_argument("--kt-weight-path", type=str)
    parser.add_argument("--kt-cpuinfer", type=int)
    parser.add_argument("--kt-threadpool-count", type=int, default=2)
    parser.add_argument("--kt-numa-nodes", type=int, nargs="+")
    parser.add_argument("--kt-method", type=str, default="AMXINT4")
    parser.add_argument("--kt-num-gpu-experts", type=int)
    parser.add_argument("--kt-amx-weight-path", type=str)
    return parser


def simple_yaml(path):
    """key: value lines (what the tests and the role's launcher write), quotes stripped."""
    result = {}
    with open(path) as handle:
        for line in handle:
            if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            result[key.strip()] = value.strip().strip("\"'")
    return result


def merge_sglang_config(argv):
    """sglang's ConfigArgumentMerger: --config FILE (YAML) goes first, the command line wins."""
    if "--config" not in argv:
        return argv
    index = argv.index("--config")
    if index + 1 >= len(argv):
        sys.exit("sglang.launch_server: error: No config file specified after --config flag!")
    path = argv[index + 1]
    if not path.endswith((".yaml", ".yml")) or not os.path.isfile(path):
        sys.exit("sglang.launch_server: error: Config file not found or not YAML: %s" % path)
    config = []
    for key, value in simple_yaml(path).items():
        config += ["--%s" % key, value]
    return config + argv[:index] + argv[index + 2:]


def legacy_api_key(args):
    if args.api_key:
        return args.api_key
    path = os.path.join(os.path.expanduser("~"), ".ktransformers", "config.yaml")
    if not os.path.isfile(path):
        return ""
    inside = False
    with open(path) as handle:
        for line in handle:
            if line.startswith("server:"):
                inside = True
            elif line[:1] not in (" ", "\t", "#", "\n", ""):
                inside = False
            elif inside and line.strip().startswith("api_key:"):
                return line.split(":", 1)[1].strip().strip("\"'")
    return ""


def model_path_writable(path):
    probe = os.path.join(path, ".fake-ktransformers-write-probe")
    try:
        with open(probe, "w") as handle:
            handle.write("x")
        os.unlink(probe)
        return True
    except OSError:
        return False


def record(args, mode, argv, api_key):
    path = os.environ.get("FAKE_ARGV_FILE") or os.path.join(
        os.path.expanduser("~"), "fake-argv-%d.json" % args.port)
    data = {
        "mode": mode,
        "argv": argv,
        "pid": os.getpid(),
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "home": os.environ.get("HOME"),
        "api_key_set": bool(api_key),
        "model_path_writable": model_path_writable(args.model_path),
        "started": time.time(),
    }
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(data, handle, indent=1)
    os.replace(tmp, path)


def make_handler(mode, model_name, api_key, ready_at):
    class Handler(BaseHTTPRequestHandler):
        server_version = "fake-ktransformers/1"

        def log_message(self, fmt, *args):
            sys.stderr.write("fake %s: %s %s\n" % (mode, self.address_string(), fmt % args))

        def send_json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def loading(self):
            if time.time() < ready_at:
                self.send_json(503, {"error": "model is still loading"})
                return True
            return False

        def do_GET(self):
            if self.path == "/health" and mode == "sglang":
                if not self.loading():
                    self.send_json(200, {})
            elif self.path == "/v1/models":
                if self.loading():
                    return
                if mode == "legacy":
                    self.send_json(200, [{"id": model_name, "name": model_name}])
                else:
                    self.send_json(200, {"object": "list", "data": [
                        {"id": model_name, "object": "model", "created": int(time.time()), "owned_by": "sglang"}]})
            else:
                self.send_json(404, {"detail": "Not Found"})

        def do_POST(self):
            if self.path != "/v1/chat/completions":
                self.send_json(404, {"detail": "Not Found"})
                return
            if self.loading():
                return
            if api_key and self.headers.get("Authorization", "") != "Bearer %s" % api_key:
                self.send_json(401, {"error": {"message": "invalid API key", "type": "authentication_error"}})
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                messages = request["messages"]
            except (ValueError, KeyError, TypeError):
                self.send_json(400, {"error": {"message": "expected a JSON body with messages"}})
                return
            words = ["fake", "answer", "to:"] + str(messages[-1].get("content", "")).split()[:8]
            ident = "chatcmpl-%s" % uuid.uuid4().hex[:12]
            created = int(time.time())
            if not request.get("stream"):
                self.send_json(200, {
                    "id": ident, "object": "chat.completion", "created": created, "model": model_name,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": len(words), "total_tokens": 1 + len(words)}})
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()

            def chunk(delta, finish=None):
                body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model_name,
                        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
                self.wfile.write(b"data: " + json.dumps(body).encode() + b"\n\n")
                self.wfile.flush()

            chunk({"role": "assistant", "content": ""})
            for index, word in enumerate(words):
                chunk({"content": (" " if index else "") + word})
            chunk({}, "stop")
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    return Handler


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("legacy", "sglang"):
        sys.exit("usage: server.py legacy|sglang ARGS...")
    mode, args_in = argv[0], argv[1:]
    if mode == "legacy":
        args = legacy_parser().parse_args(args_in)
        model_path = args.model_path or args.model_dir
        if not model_path or not os.path.isdir(model_path):
            sys.exit("ktransformers: model directory %r does not exist" % model_path)
        if not args.gguf_path or not os.path.exists(args.gguf_path):
            sys.exit("ktransformers: gguf path %r does not exist" % args.gguf_path)
        args.model_path = model_path
        api_key = legacy_api_key(args)
        model_name = args.model_name or os.path.basename(model_path.rstrip("/"))
    else:
        args = sglang_parser().parse_args(merge_sglang_config(args_in))
        if not os.path.isdir(args.model_path):
            sys.exit("sglang: model path %r does not exist" % args.model_path)
        if args.kt_weight_path and not os.path.exists(args.kt_weight_path):
            sys.exit("sglang: kt weight path %r does not exist" % args.kt_weight_path)
        api_key = args.api_key or ""
        model_name = args.served_model_name or args.model_path
    record(args, mode, args_in, api_key)
    if os.environ.get("FAKE_FAIL_AT_START") not in (None, "", "0"):
        sys.stderr.write("fake %s: FAKE_FAIL_AT_START is set: failing the start like a broken configuration\n" % mode)
        sys.stderr.flush()
        return 1
    time.sleep(float(os.environ.get("FAKE_START_DELAY_S") or 0))
    ready_at = time.time() + float(os.environ.get("FAKE_LOADING_S") or 0)
    server = ThreadingHTTPServer((args.host, args.port), make_handler(mode, model_name, api_key, ready_at))
    server.daemon_threads = True
    sys.stderr.write("fake %s: serving %s on %s:%d (cpu threads: %s)\n" % (
        mode, model_name, args.host, args.port, args.cpu_infer if mode == "legacy" else args.kt_cpuinfer))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
