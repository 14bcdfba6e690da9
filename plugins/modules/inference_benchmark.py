#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: inference_benchmark
short_description: Measure tokens/s over consecutive streamed requests and fail a degrading server
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
  description: C(p50), C(p95), C(p99), C(min), C(max) and C(mean) of each series.
  returned: always
  type: dict
  sample:
    tokens_per_s: {p50: 10.5, p95: 15.01, p99: 15.02, min: 9.74, max: 15.02, mean: 12.0}
    ttft_s: {p50: 0.4, p95: 0.41, p99: 0.41, min: 0.39, max: 0.41, mean: 0.4}
    latency_s: {p50: 12.5, p95: 13.5, p99: 13.6, min: 8.9, max: 13.6, mean: 11.8}
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
  description: Whether the run met O(max_degradation_pct) and O(min_tokens_per_s).
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
  sample: {url: "http://127.0.0.1:10002", model: DeepSeek-R1, max_tokens: 128, requests: 12, concurrency: 1}
msg:
  description: One readable line about the run, and what failed.
  returned: always
  type: str
  sample: >-
    FAILED over 12 requests to http://127.0.0.1:10002: median 15.00 tokens/s at the start, 9.75 at the end
    (-35.0%). tokens/s fell 35.0% from the first 3 requests to the last 3 requests ...
"""

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils import benchmark
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
        try:
            result = stream_chat(self.endpoint, self.model, self.params["prompt"], self.params["max_tokens"],
                                 self.params["timeout"], api_key=self.params["api_key"],
                                 include_usage=self.params["include_usage"],
                                 validate_certs=self.params["validate_certs"])
        except StreamError as exc:
            with self.lock:
                if self.error is None or index < self.error[0]:
                    self.error = (index, exc)
            return
        self.results[index] = result

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


def token_source(measured):
    sources = set(result["token_count_source"] for result in measured)
    return sources.pop() if len(sources) == 1 else ("mixed" if sources else None)


def report(params, model, endpoint, measured):
    series = dict((name, [result[name] for result in measured]) for name in benchmark.SERIES)
    judgement = benchmark.judge_run(series["tokens_per_s"], params["max_degradation_pct"],
                                    params["min_tokens_per_s"], params["window"])
    result = dict(series)
    result.update(judgement)
    result.update({
        "changed": False,
        "tokens": [item["tokens"] for item in measured],
        "token_count_source": token_source(measured),
        "percentiles": dict((name, benchmark.series_stats(values)) for name, values in series.items()),
        "model": model,
        "settings": {"url": endpoint.display, "model": model, "max_tokens": params["max_tokens"],
                     "requests": params["requests"], "concurrency": params["concurrency"]},
        "msg": benchmark.run_message(judgement, len(measured), endpoint.display),
    })
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

    run = Run(endpoint, params, model)
    measured = run.run()
    if run.error:
        index, exc = run.error
        result = report(params, model, endpoint, [item for item in run.results[:index] if item is not None])
        result.update(passed=False, failed_request=index + 1, error_kind=exc.kind)
        module.fail_json(**dict(result, msg="request %d of %d failed: %s" % (index + 1, params["requests"], exc)))

    result = report(params, model, endpoint, measured)
    if not result["passed"] and params["fail_on_regression"]:
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
