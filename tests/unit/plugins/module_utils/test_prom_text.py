"""The small Prometheus text parser, judged by prometheus_client's own parser."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math
from pathlib import Path

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.ktune.inference.plugins.module_utils import prom_text

FIXTURE = Path(__file__).resolve().parents[3] / "fixtures" / "sglang" / "metrics.txt"


def judged(text):
    """[(name, labels, value)] as prometheus_client reads the text."""
    return [(sample.name, dict(sample.labels), sample.value)
            for family in text_string_to_metric_families(text) for sample in family.samples]


def same(ours, theirs):
    assert len(ours) == len(theirs)
    for (name, labels, value), (their_name, their_labels, their_value) in zip(ours, theirs):
        assert (name, labels) == (their_name, their_labels)
        assert (math.isnan(value) and math.isnan(their_value)) or value == their_value


def test_sglang_example_matches_prometheus_client():
    text = FIXTURE.read_text()
    samples = prom_text.parse(text)
    same(samples, judged(text))
    assert prom_text.total(samples, "sglang:num_running_reqs") == 162
    assert prom_text.total(samples, "sglang:gen_throughput") == pytest.approx(86.508, abs=0.001)
    assert prom_text.total(samples, "sglang:absent") is None


def test_total_sums_label_sets():
    text = 'sglang:num_running_reqs{tp_rank="0"} 2\nsglang:num_running_reqs{tp_rank="1"} 3 1700000000000\n'
    assert prom_text.total(prom_text.parse(text), "sglang:num_running_reqs") == 5


@pytest.mark.parametrize("line", ["{a=\"b\"} 1", "name{a=b} 1", "name{a=\"b} 1", "name", "name one",
                                  "name 1 2 3"])
def test_bad_lines_raise(line):
    with pytest.raises(prom_text.ParseError):
        prom_text.parse(line)


label_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
metric_name = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)


@hsettings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(metric_name, st.sampled_from(["gauge", "counter", "histogram"]),
                          st.lists(st.tuples(label_text, st.floats(allow_nan=True, allow_infinity=True,
                                                                   min_value=None)), max_size=3)),
                max_size=4, unique_by=lambda item: item[0]))
def test_what_prometheus_client_writes_reads_the_same(metrics):
    registry = CollectorRegistry()
    for name, kind, values in metrics:
        if kind == "gauge":
            metric = Gauge("ktest_" + name, "help \\ with \n odd text", ["label"], registry=registry)
            for label, value in values:
                metric.labels(label).set(value)
        elif kind == "counter":
            metric = Counter("ktest_" + name, "help", ["label"], registry=registry)
            for label, value in values:
                if not math.isnan(value) and value >= 0:
                    metric.labels(label).inc(value)
        else:
            metric = Histogram("ktest_" + name, "help", ["label"], registry=registry, buckets=(0.5, 2.0))
            for label, value in values:
                if not math.isnan(value):
                    metric.labels(label).observe(value)
    text = generate_latest(registry).decode("utf-8")
    same(prom_text.parse(text), judged(text))


def test_only_newline_ends_a_line():
    """str.splitlines() would also break at \\x1e, \\x85 or \\u2028 inside a label value."""
    text = 'ktest{label="a\x1eb\u2028c\x85d"} 1\n'
    assert prom_text.parse(text) == [("ktest", {"label": "a\x1eb\u2028c\x85d"}, 1.0)]
    same(prom_text.parse(text), judged(text))
