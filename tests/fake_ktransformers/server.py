"""A stand-in for the ktransformers server and sglang.launch_server, for the molecule tests.

Never shipped (tests/ is left out of the collection build). Standard library only, so it
runs on the test image's bare python3.

    server.py legacy ARGS...   accepts the flags of `ktransformers` (the legacy server)
    server.py sglang ARGS...   accepts the flags of `python -m sglang.launch_server` (kt-kernel)
    server.py bench ARGS...    a streaming server with a programmable token rate, per-request
                               degradation, noise and faults, for the inference_benchmark tests
                               (server.py bench --help); no model paths needed

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
  FAKE_TOKENS_PER_S=N   legacy/sglang: pace streamed answers at N tokens/s (unset: as fast as possible)
  FAKE_DEGRADATION=SPEC legacy/sglang: per-request rate factors, as bench --degradation
  FAKE_DEGRADE_FILE=PATH legacy/sglang: while PATH holds a factor (such as 0.3) and was written
                        after this process started, answers are paced at that factor: a test
                        degrades a running server by writing the file, and a restart cures it

Streams answer stream_options.include_usage with a last chunk carrying usage.completion_tokens,
like OpenAI, SGLang and vLLM. In bench mode the answer has max_tokens tokens (one chunk each).
Bench mode logs requests only with FAKE_LOG=1, and serves POST /fake/reset (the request count starts again at 0, like a restart)
and GET /fake/stats ({"requests": N}). A bench server given a BatchedDecode (tests only, in process) also serves
SGLang's GET /metrics (sglang:num_running_reqs, sglang:gen_throughput) from the streams it has open: a test drives
the load with concurrent streamed requests it holds open, and slows the server down with BatchedDecode.slowdown.
The serving-SLO tests give StreamPlan `slots` (at most that many answers at once, the others queue) and read
plan.clock_log, the server's own arrival, first-token and end time of each chat request.
"""

import argparse
import contextlib
import json
import os
import pwd
import random
import sys
import threading
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
    parser.add_argument("--kt-gpu-experts-ratio", type=float)
    parser.add_argument("--watchdog-timeout", type=float, default=300)
    parser.add_argument("--enable-metrics", action="store_true")
    parser.add_argument("--kt-amx-weight-path", type=str)
    return parser


def simple_yaml(path):
    """key: value lines (what the tests and the role's launcher write), quotes stripped."""
    result = {}
    with open(path) as handle:
        for line in handle:
            if not line.strip() or line.lstrip().startswith("#") or ":" not in line:
                continue
            key, _sep, value = line.partition(":")
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


FAULTS = ("none", "http500", "cut", "stall", "malformed")
WORDS = ("the", "keeper", "climbed", "to", "lamp", "and", "watched", "sea", "for", "a", "ship", "that")


def parse_degradation(spec):
    """Rate factor per request index from a SPEC.

    "1,0.7@5,0.65@10": factor 1 from the first request, 0.7 from the 6th (after 5), 0.65 from
    the 11th. Without any @: one factor per request, the last repeated ("1,1,0.9,0.8").
    """
    items = [item.strip() for item in str(spec).split(",") if item.strip()]
    if not items:
        raise ValueError("empty degradation spec")
    if any("@" in item for item in items):
        steps = []
        for item in items:
            factor, _sep, start = item.partition("@")
            steps.append((int(start or 0), float(factor)))
        steps.sort()
        if steps[0][0] != 0:
            steps.insert(0, (0, 1.0))

        def factor_at(index):
            return [factor for start, factor in steps if start <= index][-1]
    else:
        factors = [float(item) for item in items]

        def factor_at(index):
            return factors[min(index, len(factors) - 1)]
    for index in range(0, 64):
        if factor_at(index) <= 0:
            raise ValueError("rate factors must be > 0: %r" % spec)
    return factor_at


class BatchedDecode(object):
    """SGLang-like batched decode behind GET /metrics: the load is the streams open right now.

    One decode step gives every running request a token, and a step takes longer the more
    requests it serves: each request's speed falls as concurrency rises while the batch's total
    rises. slowdown (1 healthy, 0.6 is 40% slower) scales every step; a restart
    (POST /fake/reset) cures it. While held, open streams wait after their first chunk, so a
    test keeps N requests running for as long as it reads the metrics.
    """

    def __init__(self, single_stream_tokens_per_s=20.0, per_extra_request_s=0.01):
        self.single_stream_tokens_per_s = single_stream_tokens_per_s
        self.per_extra_request_s = per_extra_request_s
        self.slowdown = 1.0
        self.running = 0
        self.last_throughput = 0.0
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.released.set()

    def per_request_tokens_per_s(self, running):
        step_s = 1.0 / self.single_stream_tokens_per_s + self.per_extra_request_s * (max(running, 1) - 1)
        return self.slowdown / step_s

    def hold(self):
        self.released.clear()

    def release(self):
        self.released.set()

    def wait_for_release(self, stopping):
        while not self.released.wait(0.05) and not stopping.is_set():
            pass

    @contextlib.contextmanager
    def decoding(self):
        with self.lock:
            self.running += 1
        try:
            yield
        finally:
            with self.lock:
                self.running -= 1

    def metrics_text(self, model_name):
        """Prometheus text as SGLang's --enable-metrics serves it; idle, the throughput is the last one (stale)."""
        with self.lock:
            running = self.running
            if running:
                self.last_throughput = running * self.per_request_tokens_per_s(running)
            throughput = self.last_throughput
        label = '{model_name="%s"}' % model_name
        return ("# HELP sglang:num_running_reqs The number of running requests\n"
                "# TYPE sglang:num_running_reqs gauge\n"
                "sglang:num_running_reqs%s %r\n"
                "# HELP sglang:gen_throughput The generate throughput (token/s)\n"
                "# TYPE sglang:gen_throughput gauge\n"
                "sglang:gen_throughput%s %r\n") % (label, float(running), label, float(throughput))


class StreamPlan(object):
    """How streamed answers are paced and broken; one per server, counting the chat requests."""

    def __init__(self, tokens_per_s=None, degradation="1", noise=0.0, seed=0, ttft_s=0.0, fault="none",
                 fault_from=0, fault_after_tokens=3, stall_s=30.0, fixed_length=False, batch=None, slots=None):
        if fault not in FAULTS:
            raise ValueError("fault %r: expected one of %s" % (fault, ", ".join(FAULTS)))
        self.tokens_per_s = tokens_per_s
        self.factor_at = parse_degradation(degradation)
        self.noise = noise
        self.seed = seed
        self.ttft_s = ttft_s
        self.fault = fault
        self.fault_from = fault_from
        self.fault_after_tokens = fault_after_tokens
        self.stall_s = stall_s
        self.fixed_length = fixed_length
        self.batch = batch
        # The service model: at most `slots` answers at once, the others queue (FIFO enough for
        # the tests); unset, every request is served at once.
        self.slots = threading.Semaphore(slots) if slots else None
        # The server's own clock, per chat request: arrival, first token, end (monotonic seconds).
        self.clock_log = []
        self.count = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.degrade_file = None
        self.started = time.time()

    def file_factor(self):
        """The factor in degrade_file when it was written after the start, else 1."""
        if not self.degrade_file:
            return 1.0
        try:
            if os.stat(self.degrade_file).st_mtime <= self.started:
                return 1.0
            with open(self.degrade_file) as handle:
                return float(handle.read().strip() or 1)
        except (OSError, ValueError):
            return 1.0

    def next_index(self):
        with self.lock:
            index = self.count
            self.count += 1
            self.clock_log.append({"arrival": time.monotonic(), "first": None, "end": None})
            return index

    def mark(self, index, event):
        with self.lock:
            self.clock_log[index][event] = time.monotonic()

    def slot(self):
        return _slot(self.slots) if self.slots else contextlib.nullcontext()

    def reset(self):
        with self.lock:
            self.count = 0
        if self.batch:
            self.batch.slowdown = 1.0

    def decoding(self):
        """Counts the stream as a running request of the batch, when the plan has one."""
        return self.batch.decoding() if self.batch else contextlib.nullcontext()

    def rate(self, index):
        """Tokens/s of request `index`: the base rate, its degradation factor and seeded noise."""
        if not self.tokens_per_s:
            return None
        factor = self.factor_at(index) * self.file_factor()
        if self.noise:
            factor *= 1 + random.Random("%s:%d" % (self.seed, index)).uniform(-self.noise, self.noise)
        return self.tokens_per_s * factor

    def fault_for(self, index):
        return self.fault if index >= self.fault_from else "none"

    def wait_until(self, deadline):
        delay = deadline - time.monotonic()
        if delay > 0:
            self.stopping.wait(delay)


@contextlib.contextmanager
def _slot(semaphore):
    semaphore.acquire()
    try:
        yield
    finally:
        semaphore.release()


def plan_from_environment():
    rate = os.environ.get("FAKE_TOKENS_PER_S")
    plan = StreamPlan(tokens_per_s=float(rate) if rate else None,
                      degradation=os.environ.get("FAKE_DEGRADATION") or "1")
    plan.degrade_file = os.environ.get("FAKE_DEGRADE_FILE") or None
    return plan


def stream_answer(handler, plan, request, words, ident, created, model_name):
    """Write the server-sent events of one streamed answer, paced and broken as the plan says."""
    index = plan.next_index()
    with plan.slot():
        _stream_in_slot(handler, plan, request, words, ident, created, model_name, index)


def _stream_in_slot(handler, plan, request, words, ident, created, model_name, index):
    fault = plan.fault_for(index)
    if fault == "http500":
        handler.send_json(500, {"error": {"message": "fake internal error on request %d" % (index + 1),
                                          "type": "server_error"}})
        return
    rate = plan.rate(index)
    handler.send_response(200)
    handler.send_header("Content-Type", "text/event-stream")
    handler.send_header("Cache-Control", "no-cache")
    handler.end_headers()

    def chunk(delta, finish=None):
        body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model_name,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        handler.wfile.write(b"data: " + json.dumps(body).encode() + b"\n\n")
        handler.wfile.flush()

    start = time.monotonic()
    chunk({"role": "assistant", "content": ""})
    if plan.batch:
        plan.batch.wait_for_release(plan.stopping)
    for position, word in enumerate(words):
        if fault != "none" and position == plan.fault_after_tokens:
            if fault == "cut":
                handler.close_connection = True
                return
            if fault == "malformed":
                handler.wfile.write(b"data: {\"choices\": [{\"delta\": {\"content\": \"broken\n\n")
                handler.wfile.flush()
                handler.close_connection = True
                return
            if fault == "stall":
                plan.wait_until(time.monotonic() + plan.stall_s)
        if rate:
            # An absolute schedule: a late wake-up does not slow the tokens after it.
            plan.wait_until(start + plan.ttft_s + position / rate)
        chunk({"content": (" " if position else "") + word})
        if not position:
            plan.mark(index, "first")
    chunk({}, "stop")
    if (request.get("stream_options") or {}).get("include_usage"):
        handler.wfile.write(b"data: " + json.dumps({
            "id": ident, "object": "chat.completion.chunk", "created": created, "model": model_name, "choices": [],
            "usage": {"prompt_tokens": 1, "completion_tokens": len(words), "total_tokens": 1 + len(words)}}).encode()
            + b"\n\n")
    handler.wfile.write(b"data: [DONE]\n\n")
    handler.wfile.flush()
    plan.mark(index, "end")
    handler.close_connection = True


def answer_words(plan, request, messages):
    if plan.fixed_length:
        count = max(1, int(request.get("max_tokens") or 16))
        return [WORDS[position % len(WORDS)] for position in range(count)]
    return ["fake", "answer", "to:"] + str(messages[-1].get("content", "")).split()[:8]


def make_handler(mode, model_name, api_key, ready_at, plan=None):
    plan = plan or plan_from_environment()

    class Handler(BaseHTTPRequestHandler):
        server_version = "fake-ktransformers/1"

        def log_message(self, fmt, *args):
            if mode == "bench" and not os.environ.get("FAKE_LOG"):
                return  # hundreds of requests per test run
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
            if self.path == "/fake/stats" and mode == "bench":
                self.send_json(200, {"requests": plan.count})
            elif self.path == "/metrics" and mode == "bench" and plan.batch:
                data = plan.batch.metrics_text(model_name).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif self.path == "/health" and mode in ("sglang", "bench"):
                if not self.loading():
                    self.send_json(200, {})
            elif self.path == "/v1/models":
                if self.loading():
                    return
                if mode in ("legacy", "bench"):
                    self.send_json(200, [{"id": model_name, "name": model_name}])
                else:
                    self.send_json(200, {"object": "list", "data": [
                        {"id": model_name, "object": "model", "created": int(time.time()), "owned_by": "sglang"}]})
            else:
                self.send_json(404, {"detail": "Not Found"})

        def do_POST(self):
            if self.path == "/fake/reset" and mode == "bench":
                plan.reset()
                self.send_json(200, {"requests": 0})
                return
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
            words = answer_words(plan, request, messages)
            ident = "chatcmpl-%s" % uuid.uuid4().hex[:12]
            created = int(time.time())
            if not request.get("stream"):
                self.send_json(200, {
                    "id": ident, "object": "chat.completion", "created": created, "model": model_name,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": " ".join(words)},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": len(words), "total_tokens": 1 + len(words)}})
                return
            try:
                with plan.decoding():
                    stream_answer(self, plan, request, words, ident, created, model_name)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up (a timeout test): nothing to answer

    return Handler


def bench_parser():
    parser = argparse.ArgumentParser(prog="server.py bench", description="streaming test server for inference_benchmark")
    parser.add_argument("--host", type=str, default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed, and written to --port-file)")
    parser.add_argument("--port-file", type=str, help="write the port here once listening")
    parser.add_argument("--model", type=str, default="fake-bench-model")
    parser.add_argument("--api-key", type=str, default="")
    parser.add_argument("--tokens-per-s", type=float, default=15.0, help="decode rate of the first request")
    parser.add_argument("--ttft-s", type=float, default=0.05, help="delay before the first token")
    parser.add_argument("--degradation", type=str, default="1",
                        help='rate factor per request: "1,0.7@5,0.65@10" (steps) or "1,0.9,0.8" (one per request)')
    parser.add_argument("--noise", type=float, default=0.0, help="random rate factor 1 +- NOISE per request")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise (the same seed, the same curve)")
    parser.add_argument("--fault", choices=FAULTS, default="none",
                        help="http500, cut (close the stream), stall (wait --stall-s), malformed (a non-JSON chunk)")
    parser.add_argument("--fault-from", type=int, default=0, help="first request (0-based) that gets the fault")
    parser.add_argument("--fault-after-tokens", type=int, default=3, help="tokens sent before a stream fault")
    parser.add_argument("--stall-s", type=float, default=30.0)
    return parser


def plan_from_bench_args(args):
    return StreamPlan(tokens_per_s=args.tokens_per_s, degradation=args.degradation, noise=args.noise, seed=args.seed,
                      ttft_s=args.ttft_s, fault=args.fault, fault_from=args.fault_from,
                      fault_after_tokens=args.fault_after_tokens, stall_s=args.stall_s, fixed_length=True)


def bench_server(plan, host="127.0.0.1", port=0, model="fake-bench-model", api_key=""):
    """A listening bench server (not yet serving): run serve_forever() in a thread, then shutdown()."""
    server = ThreadingHTTPServer((host, port), make_handler("bench", model, api_key, 0, plan))
    server.daemon_threads = True
    return server


def stop_bench_server(server, plan):
    plan.stopping.set()
    server.shutdown()
    server.server_close()


@contextlib.contextmanager
def running_bench_server(model="fake-bench-model", api_key="", **plan_settings):
    """For tests: a bench server on a free loopback port, served by a thread; yields (url, plan)."""
    plan_settings.setdefault("fixed_length", True)
    plan = StreamPlan(**plan_settings)
    server = bench_server(plan, "127.0.0.1", 0, model, api_key)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="fake-bench-server", daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1], plan
    finally:
        stop_bench_server(server, plan)
        thread.join(10)


def bench_main(args_in):
    args = bench_parser().parse_args(args_in)
    try:
        plan = plan_from_bench_args(args)
    except ValueError as exc:
        sys.exit("server.py bench: error: %s" % exc)
    server = bench_server(plan, args.host, args.port, args.model, args.api_key)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as handle:
            handle.write("%d\n" % port)
        os.replace(args.port_file + ".tmp", args.port_file)
    sys.stderr.write("fake bench: serving %s on %s:%d at %g tokens/s, degradation %s, noise %g, fault %s\n" % (
        args.model, args.host, port, args.tokens_per_s, args.degradation, args.noise, args.fault))
    sys.stderr.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return bench_main(argv[1:])
    if not argv or argv[0] not in ("legacy", "sglang"):
        sys.exit("usage: server.py legacy|sglang|bench ARGS...")
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
