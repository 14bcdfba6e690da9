#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: inference_benchmark
short_description: Measure tokens/s and serving latencies of streamed requests, closed or open loop, against an SLO
version_added: 0.1.0
description:
  - Sends O(requests) streamed chat completions (C(POST /v1/chat/completions) with C(stream) set to true)
    to an OpenAI-compatible server such as ktransformers or SGLang/kt-kernel, one after the other or
    O(concurrency) at a time, and times each one.
  - Per request it measures the time to the first token, the decode speed (tokens after the first
    divided by the time from the first token to the last, so prefill does not count) and the total
    latency.
  - Tokens are counted as streamed chunks with text (C(delta.content) or C(delta.reasoning_content));
    ktransformers and SGLang send one token per chunk. When the server sends
    C(usage.completion_tokens) (the module asks for it with C(stream_options.include_usage), see
    O(include_usage)), that count is used instead, since a server may pack several tokens into one chunk.
  - The run is judged on robust averages, never single requests. RV(degradation_pct) compares the median
    tokens/s of the first O(window) requests with the median of the last O(window). The users' symptom
    (15 tokens/s at first, 30% slower after 5 requests, 65% of the start after 10) is a degradation of
    about 35%.
  - The task fails when the run degrades more than O(max_degradation_pct), or its start or end is slower
    than O(min_tokens_per_s), unless O(fail_on_regression=false). A request that gives no measurement
    (connection refused, HTTP error, malformed stream, stream cut in the middle, timeout) fails the task
    with a message naming the request and what happened.
  - Runs on the host (measuring through its loopback) or delegated to the controller. It never changes
    the host; C(changed) is always false. Standard library only.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The requests are sent in check mode too. They only read from the server (a completion
      changes nothing on the host), and a check run of a rollout gate must measure to be any use.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  url:
    description:
      - Base URL of the server, such as C(http://127.0.0.1:10002). A trailing C(/v1) is accepted.
      - C(https) URLs are verified unless O(validate_certs=false).
    type: str
    required: true
  model:
    description:
      - Model name sent in each request.
      - When omitted, the first model listed by C(GET /v1/models).
    type: str
  prompt:
    description: The user message of each request. The same prompt every time, so the requests are alike.
    type: str
    default: Write a short story about a lighthouse keeper who finds a message in a bottle.
  max_tokens:
    description: Tokens to generate per request (C(max_tokens)). At least 2 are needed to measure decode speed.
    type: int
    default: 128
  requests:
    description: How many requests to send. The degradation shows after 5 to 10 requests, so at least 10 is wise.
    type: int
    default: 12
  concurrency:
    description:
      - How many requests are in flight at once. C(1) sends them one after the other.
      - The series keep the order in which requests were sent.
    type: int
    default: 1
  timeout:
    description: Seconds a request may take in all, and may go without a byte from the server.
    type: float
    default: 300
  api_key:
    description:
      - Sent as C(Authorization Bearer KEY) when set.
      - Never in clear over the network - with a plain C(http://) O(url) that is not loopback the module
        refuses to send it, unless O(allow_plaintext_key=true).
    type: str
  allow_plaintext_key:
    description:
      - Send O(api_key) over plain HTTP to an address other than loopback (anyone on the path can read it).
    type: bool
    default: false
  max_degradation_pct:
    description:
      - Most the median tokens/s of the last O(window) requests may fall below that of the first O(window),
        in percent. Omit to not judge the degradation.
    type: float
    default: 20
  min_tokens_per_s:
    description: Least median tokens/s the first and the last O(window) requests must reach. Omit for no minimum.
    type: float
  window:
    description:
      - How many requests are averaged (median) at each end of the run.
      - Default a quarter of O(requests), between 1 and 5.
    type: int
  fail_on_regression:
    description:
      - Fail the task when RV(passed) is false. With V(false) the module only reports.
      - Requests that give no measurement fail the task either way.
    type: bool
    default: true
  include_usage:
    description:
      - Ask for C(usage.completion_tokens) in the stream (C(stream_options.include_usage)).
      - Turn off for a server that refuses unknown request fields.
    type: bool
    default: true
  validate_certs:
    description: Verify the server's TLS certificate for C(https) URLs.
    type: bool
    default: true
  request_rate:
    description:
      - Open-loop load, in requests/s. Each request is sent at its time on an arrival schedule,
        whether or not the earlier ones have been answered, and is timed from its own send, so
        queueing in an overloaded server shows in the latencies (a closed loop hides it).
      - As many requests are in flight as the schedule makes; there is no worker pool, and
        O(concurrency) must stay 1.
      - A request that fails does not stop the run; it counts as not good (see O(slo)) and is
        listed in RV(errors).
      - Unset keeps the closed loop (one after the other, or O(concurrency) at a time).
    type: float
  burstiness:
    description:
      - Shape of the gamma distribution of the gaps between arrivals, whose mean is 1/O(request_rate).
      - V(1) is a Poisson process; below 1 the arrivals come in bursts, above 1 more evenly (as vLLM's C(--burstiness)).
    type: float
    default: 1.0
  arrival_seed:
    description: Seed of the arrival schedule; the same seed gives the same schedule. Unset draws a new one each run.
    type: int
  slo:
    description:
      - Latency bounds, in seconds, that a request must meet to be good. Omit a bound to not judge it.
      - The run meets the SLO when the 99th percentile of each bounded metric is within its bound,
        a failed request ranking worst. Otherwise RV(passed) is false and the task fails (see O(fail_on_regression)).
    type: dict
    suboptions:
      ttft_s:
        description: Time to the first token.
        type: float
      tpot_s:
        description: Time per output token after the first ((end of the stream - first token) / (tokens - 1)).
        type: float
      itl_s:
        description: Inter-token latency; a request meets it when its worst gap between streamed tokens does.
        type: float
      latency_s:
        description: End-to-end latency, from the send to the end of the stream.
        type: float
  warmup_requests:
    description:
      - Requests sent before the measured ones and left out of every figure (percentiles, SLO judgement,
        degradation), so a cold cache, a first compilation or an empty batch does not count.
      - In the open loop they come first on the same arrival schedule; in the closed loop one after the other.
      - O(requests) are measured after them, so O(requests) + the warm-up reach the server.
    type: int
    default: 0
  warmup_s:
    description:
      - Seconds of warm-up, with or after O(warmup_requests). In the open loop every request the schedule
        sends before this many seconds is a warm-up request; in the closed loop requests are sent one after
        the other until this many seconds have passed.
    type: float
    default: 0
  repetitions:
    description:
      - Run the whole measurement (warm-up included) this many times. Repetition N uses O(arrival_seed) + N - 1,
        so the spread between repetitions shows what the arrivals and the server vary by themselves.
      - RV(repetitions) lists each repetition's figures; the series, percentiles and judgement returned are the
        last repetition's, and RV(passed) is false when any repetition fails.
      - The performance_baseline role's gate judges a regression over the repetitions with a stated confidence.
    type: int
    default: 1
  request_rates:
    description:
      - A sweep - one open-loop run (with its warm-up) at each of these request rates, lowest first, reporting
        RV(sweep) (the curve) and RV(knee_rps), the highest rate whose p99 meets O(slo) with every lower rate
        meeting it too. Requires O(slo); excludes O(request_rate) and O(repetitions) above 1.
      - The series, percentiles and judgement returned are the run at RV(knee_rps) (the lowest rate when no
        rate meets the SLO, which fails the task).
    type: list
    elements: float
notes:
  - The timing is taken where the module runs; delegate it to the controller to include the network.
"""

EXAMPLES = r"""
- name: Measure the first ktransformers instance, fail when it degrades more than 20%
  ktune.inference.inference_benchmark:
    url: http://127.0.0.1:10002
    requests: 12
    max_tokens: 128
    max_degradation_pct: 20
    min_tokens_per_s: 8

- name: Only report, from the controller, four requests at a time
  ktune.inference.inference_benchmark:
    url: "http://{{ inventory_hostname }}:30000"
    model: Kimi-K2
    api_key: "{{ vault_sglang_api_key }}"
    concurrency: 4
    requests: 16
    fail_on_regression: false
  delegate_to: localhost
  register: bench

- name: Poisson arrivals at 2 requests/s, judged against an MLPerf-like SLO
  ktune.inference.inference_benchmark:
    url: http://127.0.0.1:30000
    requests: 200
    request_rate: 2
    arrival_seed: 1
    slo:
      ttft_s: 2.0
      tpot_s: 0.08
  register: slo_run

- name: Find the highest rate within the SLO, five warm-up seconds at each rate
  ktune.inference.inference_benchmark:
    url: http://127.0.0.1:30000
    requests: 100
    request_rates: [1, 2, 4, 8]
    warmup_s: 5
    arrival_seed: 1
    slo:
      ttft_s: 2.0
      tpot_s: 0.08
  register: sweep

- name: Show the goodput
  ansible.builtin.debug:
    msg: "{{ slo_run.slo_judgement.goodput_rps }} good requests/s, {{ slo_run.slo_judgement.good_fraction }} of them good"

- name: Show the curve
  ansible.builtin.debug:
    msg: "{{ bench.msg }}: {{ bench.tokens_per_s }}"
"""

RETURN = r"""
tokens_per_s:
  description: Decode tokens/s of each request, in the order they were sent.
  returned: always
  type: list
  elements: float
  sample: [15.02, 14.97, 15.01, 14.99, 15.0, 10.51, 10.49, 10.5, 10.52, 10.5, 9.75, 9.74]
ttft_s:
  description: Seconds to the first token of each request.
  returned: always
  type: list
  elements: float
  sample: [0.41, 0.39, 0.4]
latency_s:
  description: Seconds from sending each request to the end of its stream.
  returned: always
  type: list
  elements: float
  sample: [8.9, 8.9, 8.91]
tpot_s:
  description: Seconds per output token after the first, of each measured request.
  returned: always
  type: list
  elements: float
  sample: [0.0667, 0.0667, 0.0668]
sent_s:
  description: Seconds from the start of the run at which each request was sent, measured requests or not.
  returned: always
  type: list
  elements: float
  sample: [0.0, 0.41, 0.52]
errors:
  description: The requests that gave no measurement in an open-loop run (O(request_rate)), which does not stop at them.
  returned: always
  type: list
  elements: dict
  sample: [{request: 7, kind: timeout, msg: "no data from http://127.0.0.1:30000 for 300 s (timeout)"}]
slo_judgement:
  description:
    - The run against O(slo) (with no O(slo), the rates only). Failed requests count as not good and rank worst.
  returned: always
  type: dict
  contains:
    passed:
      description: Whether the p99 of every bounded metric is within O(slo).
      type: bool
    problems:
      description: Each bound missed, one sentence each.
      type: list
      elements: str
    requests:
      description: Requests sent.
      type: int
    failed_requests:
      description: Requests that gave no measurement.
      type: int
    good_requests:
      description: Requests that finished and met every bound.
      type: int
    good_fraction:
      description: Good requests / requests sent.
      type: float
    goodput_rps:
      description: Good requests per second of the run (first send to last answer).
      type: float
    request_throughput_rps:
      description: Finished requests per second of the run.
      type: float
    output_tokens_per_s:
      description: Tokens generated per second of the run, all requests together.
      type: float
    p99:
      description: The 99th percentile of each bounded metric, failed requests ranking worst (null when they decide it).
      type: dict
    slo:
      description: The bounds judged.
      type: dict
  sample:
    passed: true
    problems: []
    requests: 200
    failed_requests: 0
    good_requests: 199
    good_fraction: 0.995
    goodput_rps: 1.97
    request_throughput_rps: 1.98
    output_tokens_per_s: 253.4
    p99: {ttft_s: 1.2, tpot_s: 0.071}
    slo: {ttft_s: 2.0, tpot_s: 0.08}
warmup:
  description: The warm-up requests sent before the measured ones (left out of every figure).
  returned: always
  type: dict
  sample: {requests: 3, failed_requests: 0}
repetitions:
  description:
    - The figures of each repetition (see O(repetitions)), in order; one entry without repetitions.
    - C(p50) and C(p99) of each latency series, C(slo_p99) the judged p99 (failed requests ranking worst),
      C(goodput_rps), C(good_fraction), C(first_tokens_per_s), C(last_tokens_per_s), C(request_rate), C(arrival_seed).
  returned: always
  type: list
  elements: dict
sweep:
  description: With O(request_rates), the figures of each rate (as in RV(repetitions)), lowest rate first.
  returned: when O(request_rates) is set
  type: list
  elements: dict
knee_rps:
  description:
    - With O(request_rates), the highest rate meeting O(slo) with every lower rate meeting it too; null when the
      lowest rate already misses it.
  returned: when O(request_rates) is set
  type: float
  sample: 4.0
tokens:
  description: Tokens generated by each request (see RV(token_count_source)).
  returned: always
  type: list
  elements: int
  sample: [128, 128, 128]
token_count_source:
  description: C(usage) when every request's count came from C(usage.completion_tokens), C(chunks) when
    counted from the streamed chunks, C(mixed) otherwise.
  returned: always
  type: str
  sample: usage
percentiles:
  description:
    - C(p50), C(p90), C(p95), C(p99), C(min), C(max) and C(mean) of each series over the measured requests
      (linear interpolation between closest ranks).
    - C(itl_s) pools every gap between streamed tokens of every request.
  returned: always
  type: dict
  sample:
    tokens_per_s: {p50: 10.5, p90: 15.0, p95: 15.01, p99: 15.02, min: 9.74, max: 15.02, mean: 12.0}
    ttft_s: {p50: 0.4, p90: 0.41, p95: 0.41, p99: 0.41, min: 0.39, max: 0.41, mean: 0.4}
    tpot_s: {p50: 0.095, p90: 0.1, p95: 0.1, p99: 0.1, min: 0.067, max: 0.103, mean: 0.086}
    itl_s: {p50: 0.095, p90: 0.1, p95: 0.1, p99: 0.11, min: 0.06, max: 0.12, mean: 0.086}
    latency_s: {p50: 12.5, p90: 13.4, p95: 13.5, p99: 13.6, min: 8.9, max: 13.6, mean: 11.8}
degradation_pct:
  description: How far the median tokens/s of the last RV(window) requests is below that of the first
    RV(window), in percent (negative when faster). V(null) with fewer than 2 requests.
  returned: always
  type: float
  sample: 35.0
first_tokens_per_s:
  description: Median tokens/s of the first RV(window) requests.
  returned: always
  type: float
  sample: 15.0
last_tokens_per_s:
  description: Median tokens/s of the last RV(window) requests.
  returned: always
  type: float
  sample: 9.75
window:
  description: Requests averaged at each end.
  returned: always
  type: int
  sample: 3
passed:
  description: Whether the run met O(max_degradation_pct), O(min_tokens_per_s) and O(slo), and (open loop
    without O(slo)) no request failed.
  returned: always
  type: bool
  sample: false
problems:
  description: What made the run fail, one sentence each.
  returned: always
  type: list
  elements: str
model:
  description: The model the requests named.
  returned: always
  type: str
  sample: DeepSeek-R1
settings:
  description: The benchmark settings, to tell whether two runs are comparable.
  returned: always
  type: dict
  sample: {url: "http://127.0.0.1:10002", model: DeepSeek-R1, max_tokens: 128, requests: 12, concurrency: 1,
           request_rate: null, burstiness: 1.0, arrival_seed: null, slo: null}
msg:
  description: One readable line about the run, and what failed.
  returned: always
  type: str
  sample: >-
    FAILED over 12 requests to http://127.0.0.1:10002: median 15.00 tokens/s at the start, 9.75 at the end
    (-35.0%). tokens/s fell 35.0% from the first 3 requests to the last 3 requests ...
"""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils import benchmark, slo
from ansible_collections.ktune.inference.plugins.module_utils.openai_stream import (
    Endpoint,
    StreamError,
    plaintext_key_problem,
    list_models,
    stream_chat,
)


def argument_spec():
    return dict(
        url=dict(type="str", required=True),
        model=dict(type="str"),
        prompt=dict(type="str", default="Write a short story about a lighthouse keeper who finds a message in a bottle."),
        max_tokens=dict(type="int", default=128, no_log=False),
        requests=dict(type="int", default=12),
        concurrency=dict(type="int", default=1),
        timeout=dict(type="float", default=300),
        api_key=dict(type="str", no_log=True),
        max_degradation_pct=dict(type="float", default=20),
        min_tokens_per_s=dict(type="float", no_log=False),
        window=dict(type="int"),
        fail_on_regression=dict(type="bool", default=True),
        include_usage=dict(type="bool", default=True),
        validate_certs=dict(type="bool", default=True),
        allow_plaintext_key=dict(type="bool", default=False),
        request_rate=dict(type="float"),
        burstiness=dict(type="float", default=1.0),
        arrival_seed=dict(type="int"),
        slo=dict(type="dict", options=dict((name, dict(type="float")) for name in slo.SLO_METRICS)),
        warmup_requests=dict(type="int", default=0),
        warmup_s=dict(type="float", default=0),
        repetitions=dict(type="int", default=1),
        request_rates=dict(type="list", elements="float"),
    )


def input_problems(params):
    problems = []
    if params["max_tokens"] < 2:
        problems.append("max_tokens = %d: expected at least 2 (decode speed needs a second token)" % params["max_tokens"])
    if params["requests"] < 1:
        problems.append("requests = %d: expected at least 1 (10 or more show the degradation)" % params["requests"])
    if params["concurrency"] < 1 or params["concurrency"] > max(1, params["requests"]):
        problems.append("concurrency = %d: expected 1 to requests (%d)" % (params["concurrency"], params["requests"]))
    if params["timeout"] <= 0:
        problems.append("timeout = %g: expected seconds > 0" % params["timeout"])
    if params["max_degradation_pct"] is not None and not 0 <= params["max_degradation_pct"] < 100:
        problems.append("max_degradation_pct = %g: expected a percentage from 0 to 100" % params["max_degradation_pct"])
    if params["min_tokens_per_s"] is not None and params["min_tokens_per_s"] < 0:
        problems.append("min_tokens_per_s = %g: expected tokens/s >= 0" % params["min_tokens_per_s"])
    if params["window"] is not None and params["window"] < 1:
        problems.append("window = %d: expected at least 1 request" % params["window"])
    if params["request_rate"] is not None:
        if params["request_rate"] <= 0:
            problems.append("request_rate = %g: expected requests/s > 0, or unset for the closed loop"
                            % params["request_rate"])
        if params["concurrency"] != 1:
            problems.append("concurrency = %d with request_rate: the open loop sends on the arrival schedule, "
                            "expected concurrency unset (1)" % params["concurrency"])
    if params["burstiness"] <= 0:
        problems.append("burstiness = %g: expected a gamma shape > 0 (1 is Poisson)" % params["burstiness"])
    if params["warmup_requests"] < 0:
        problems.append("warmup_requests = %d: expected 0 or more requests" % params["warmup_requests"])
    if params["warmup_s"] < 0:
        problems.append("warmup_s = %g: expected 0 or more seconds" % params["warmup_s"])
    if params["repetitions"] < 1:
        problems.append("repetitions = %d: expected at least 1" % params["repetitions"])
    problems += sweep_problems(params)
    problems += slo.slo_problems(params["slo"])
    return problems


def sweep_problems(params):
    rates = params["request_rates"]
    if rates is None:
        return []
    problems = []
    if not rates or any(rate <= 0 for rate in rates):
        problems.append("request_rates = %r: expected a list of requests/s > 0" % (rates,))
    if params["request_rate"] is not None:
        problems.append("request_rate and request_rates are both set: expected one rate, or a sweep of rates")
    if params["concurrency"] != 1:
        problems.append("concurrency = %d with request_rates: expected concurrency unset (1)" % params["concurrency"])
    if params["repetitions"] > 1:
        problems.append("repetitions = %d with request_rates: expected one run per rate (repetitions unset)"
                        % params["repetitions"])
    if not slo.bounds(params["slo"]):
        problems.append("request_rates without slo: the sweep looks for the highest rate within the SLO, "
                        "expected slo with at least one bound, such as {ttft_s: 2.0, tpot_s: 0.08}")
    return problems


class Run(object):
    """The requests of one benchmark, sent in order, `concurrency` at a time; stops at the first error."""

    def __init__(self, endpoint, params, model):
        self.endpoint = endpoint
        self.params = params
        self.model = model
        self.results = [None] * params["requests"]
        self.error = None
        self.lock = threading.Lock()

    def one(self, index):
        with self.lock:
            if self.error:
                return
        sent = time.monotonic()
        try:
            result = self.send(index)
        except StreamError as exc:
            with self.lock:
                if self.error is None or index < self.error[0]:
                    self.error = (index, exc)
            return
        result["sent_at"] = sent
        self.results[index] = result

    def send(self, index):
        return stream_chat(self.endpoint, self.model, self.params["prompt"], self.params["max_tokens"],
                           self.params["timeout"], api_key=self.params["api_key"],
                           include_usage=self.params["include_usage"],
                           validate_certs=self.params["validate_certs"])

    def run(self):
        count = self.params["requests"]
        if self.params["concurrency"] == 1:
            for index in range(count):
                self.one(index)
                if self.error:
                    break
        else:
            with ThreadPoolExecutor(max_workers=self.params["concurrency"]) as pool:
                list(pool.map(self.one, range(count)))
        return [result for result in self.results if result is not None]


class OpenLoop(object):
    """Requests sent on an arrival schedule, each on its own thread, whatever the server's speed.

    A request that fails is recorded with its error and the run goes on: in overload,
    failures are part of what is measured.
    """

    def __init__(self, send, offsets, clock=time.monotonic, sleep=time.sleep):
        self.send = send
        self.offsets = offsets
        self.clock = clock
        self.sleep = sleep
        self.records = [None] * len(offsets)
        self.started = None
        self.finished = None

    def one(self, index, sent_at):
        try:
            record = self.send(index)
        except StreamError as exc:
            record = {"error": str(exc), "kind": exc.kind}
        record["sent_at"] = sent_at
        record["done_at"] = self.clock()
        self.records[index] = record

    def run(self):
        self.started = self.clock()
        threads = []
        for index, offset in enumerate(self.offsets):
            delay = self.started + offset - self.clock()
            if delay > 0:
                self.sleep(delay)
            thread = threading.Thread(target=self.one, args=(index, self.clock()), name="ktune-open-loop-%d" % index)
            thread.daemon = True
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        self.finished = max([self.started] + [record["done_at"] for record in self.records])
        return self.records


def token_source(measured):
    sources = set(result["token_count_source"] for result in measured)
    return sources.pop() if len(sources) == 1 else ("mixed" if sources else None)


def report(params, model, endpoint, records, duration_s):
    """The module's result from every request sent (records with an error gave no measurement)."""
    measured = [record for record in records if not record.get("error")]
    series = dict((name, [result[name] for result in measured]) for name in benchmark.SERIES + ("tpot_s",))
    judgement = benchmark.judge_run(series["tokens_per_s"], params["max_degradation_pct"],
                                    params["min_tokens_per_s"], params["window"])
    serving = slo.slo_judgement(records, params["slo"], duration_s)
    first_send = min([record["sent_at"] for record in records] or [0])
    errors = [{"request": index + 1, "kind": record.get("kind"), "msg": record["error"]}
              for index, record in enumerate(records) if record.get("error")]
    stats = dict((name, benchmark.series_stats(values)) for name, values in series.items())
    stats["itl_s"] = benchmark.series_stats([gap for record in measured for gap in record["itl_s"]])
    result = dict(series)
    result.update(judgement)
    problems = list(judgement["problems"])
    if params["slo"]:
        problems += serving["problems"]
    elif errors:
        problems.append("%d of %d requests failed (first: request %d, %s)" % (
            len(errors), len(records), errors[0]["request"], errors[0]["msg"]))
    msg = benchmark.run_message(judgement, len(measured), endpoint.display)
    if params["request_rate"] is not None or params["slo"]:
        msg += ". Open loop at %g requests/s: " % params["request_rate"] if params["request_rate"] else ". "
        msg += slo.slo_message(serving)
    result.update({
        "changed": False,
        "passed": not problems,
        "problems": problems,
        "tokens": [item["tokens"] for item in measured],
        "token_count_source": token_source(measured),
        "sent_s": [round(record["sent_at"] - first_send, 6) for record in records],
        "errors": errors,
        "slo_judgement": serving,
        "percentiles": stats,
        "model": model,
        "settings": {"url": endpoint.display, "model": model, "max_tokens": params["max_tokens"],
                     "requests": params["requests"], "concurrency": params["concurrency"],
                     "request_rate": params["request_rate"], "burstiness": params["burstiness"],
                     "arrival_seed": params["arrival_seed"], "slo": params["slo"],
                     "warmup_requests": params["warmup_requests"], "warmup_s": params["warmup_s"],
                     "repetitions": params["repetitions"], "request_rates": params["request_rates"]},
        "msg": msg,
    })
    return result


def warmup_summary(records):
    return {"requests": len(records), "failed_requests": len([record for record in records if record.get("error")])}


def open_loop(endpoint, params, model):
    """One open-loop run at params' request_rate: the warm-up, then `requests` measured ones."""
    run = Run(endpoint, params, model)
    offsets, warm = slo.warmup_schedule(params["requests"], params["request_rate"], params["arrival_seed"],
                                        params["burstiness"], params["warmup_requests"], params["warmup_s"])
    loop = OpenLoop(run.send, offsets)
    records = loop.run()
    measured = records[warm:]
    # The rates are over the measured requests: from the first one's send to the last answer.
    duration = max(record["done_at"] for record in measured) - min(record["sent_at"] for record in measured)
    result = report(params, model, endpoint, measured, duration)
    result["warmup"] = warmup_summary(records[:warm])
    return result


def closed_warmup(module, run, params):
    """Warm-up requests one after the other: warmup_requests, then on until warmup_s has passed."""
    started = time.monotonic()
    sent = 0
    while sent < params["warmup_requests"] or time.monotonic() - started < params["warmup_s"]:
        try:
            run.send(sent)
        except StreamError as exc:
            module.fail_json(msg="warm-up request %d failed, nothing was measured: %s" % (sent + 1, exc),
                             changed=False, passed=False, error_kind=exc.kind)
        sent += 1
    return {"requests": sent, "failed_requests": 0}


def measure(module, endpoint, params, model):
    """One run, open or closed loop, with its warm-up; a closed loop fails the task at a failed request."""
    if params["request_rate"] is not None:
        result = open_loop(endpoint, params, model)
    else:
        run = Run(endpoint, params, model)
        warmup = closed_warmup(module, run, params)
        started = time.monotonic()
        measured = run.run()
        duration = time.monotonic() - started
        if run.error:
            index, exc = run.error
            result = report(params, model, endpoint, [item for item in run.results[:index] if item is not None],
                            duration)
            result.update(passed=False, failed_request=index + 1, error_kind=exc.kind)
            module.fail_json(**dict(result, msg="request %d of %d failed: %s" % (index + 1, params["requests"], exc)))
        result = report(params, model, endpoint, measured, duration)
        result["warmup"] = warmup
    result["repetitions"] = [slo.run_summary(result)]
    return result


def repeated(params, results):
    """The last repetition's result, with every repetition's figures; it fails when any repetition does."""
    result = dict(results[-1])
    # The load is the asked seed, whichever repetition is shown (each repetition's is in its figures).
    result["settings"] = dict(result["settings"], arrival_seed=params["arrival_seed"])
    result["repetitions"] = [summary for item in results for summary in item["repetitions"]]
    if len(results) > 1:
        problems = ["repetition %d: %s" % (number, problem) for number, item in enumerate(results, 1)
                    for problem in item["problems"]]
        result.update(passed=not problems, problems=problems)
        result["msg"] = "%d repetitions, %d passed%s; the last: %s" % (
            len(results), len([item for item in results if item["passed"]]),
            " (%s)" % "; ".join(problems) if problems else "", result["msg"])
    return result


def sweep(module, endpoint, params, model):
    """One open-loop run per rate, lowest first; the result is the run at the knee (see RETURN)."""
    runs = [measure(module, endpoint, dict(params, request_rate=rate), model) for rate in sorted(params["request_rates"])]
    points = [run["repetitions"][0] for run in runs]
    knee = slo.sweep_knee(points)
    result = dict(runs[0] if knee is None else [run for run in runs if run["settings"]["request_rate"] == knee][0])
    result.update(sweep=points, knee_rps=knee, repetitions=result["repetitions"])
    # The load of a sweep is its list of rates, whichever run is shown.
    result["settings"] = dict(result["settings"], request_rate=None)
    curve = ", ".join("%g/s %s" % (point["request_rate"], "meets" if point["slo_passed"] else "MISSES")
                      for point in points)
    if knee is None:
        problem = "no request rate meets the SLO (the lowest, %g/s: %s)" % (
            points[0]["request_rate"], "; ".join(runs[0]["slo_judgement"]["problems"]))
        result.update(passed=False, problems=[problem] + [item for item in result["problems"] if item not in
                                                          runs[0]["slo_judgement"]["problems"]])
        result["msg"] = "FAILED sweep of %s: %s" % (curve, problem)
    else:
        result["msg"] = "sweep of %s: the highest rate within the SLO is %g requests/s. At that rate: %s" % (
            curve, knee, result["msg"])
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    problems = input_problems(params)
    try:
        endpoint = Endpoint(params["url"])
    except ValueError as exc:
        problems.insert(0, str(exc))
    else:
        problems += [problem for problem in [plaintext_key_problem(endpoint, params["api_key"],
                                                                   params["allow_plaintext_key"])] if problem]
    if problems:
        module.fail_json(msg="; ".join(problems), changed=False)

    model = params["model"]
    if not model:
        try:
            models = list_models(endpoint, params["timeout"], params["api_key"], params["validate_certs"])
        except StreamError as exc:
            module.fail_json(msg="cannot find the model to ask for (model not set): %s" % exc, changed=False)
        if not models:
            module.fail_json(msg="GET %s/v1/models lists no model: set model" % endpoint.display, changed=False)
        model = models[0]

    if params["request_rates"]:
        result = sweep(module, endpoint, params, model)
    else:
        results = []
        for repetition in range(params["repetitions"]):
            seed = None if params["arrival_seed"] is None else params["arrival_seed"] + repetition
            results.append(measure(module, endpoint, dict(params, arrival_seed=seed), model))
        result = repeated(params, results)
    if not result["passed"] and params["fail_on_regression"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
