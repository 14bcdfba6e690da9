"""The chart is valid SVG whose points, ticks and labels follow the data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.ktune.inference.plugins.module_utils.svg_allowlist import rebuild
from ansible_collections.ktune.inference.plugins.module_utils.svg_chart import Scale, nice_step, sweep_chart, tokens_chart

NS = {"svg": "http://www.w3.org/2000/svg"}
BASELINE = [15.0, 15.1, 14.9, 15.0, 15.0, 15.0, 15.1, 15.0]
LATEST = [15.0, 15.0, 14.9, 15.0, 15.0, 10.5, 10.5, 10.4, 10.5, 10.5, 9.75, 9.7]


def parse(svg):
    return ET.fromstring(svg)


def series(root):
    return {group.get("data-label"): group for group in root.iterfind(".//svg:g[@class='series']", NS)}


@pytest.mark.parametrize("span, step", [(16.5, 5), (330, 100), (1.2, 0.5), (0.07, 0.02), (0, 1)])
def test_nice_step(span, step):
    assert nice_step(span) == pytest.approx(step)


def test_points_follow_the_data():
    root = parse(tokens_chart([("baseline", BASELINE), ("latest", LATEST)], "h1: tokens/s"))
    curves = series(root)
    assert list(curves) == ["baseline", "latest"]
    for label, values in (("baseline", BASELINE), ("latest", LATEST)):
        circles = curves[label].findall("svg:circle", NS)
        assert [int(c.get("data-request")) for c in circles] == list(range(1, len(values) + 1))
        assert [float(c.get("data-value")) for c in circles] == values
        points = [tuple(map(float, pair.split(","))) for pair in
                  curves[label].find("svg:polyline", NS).get("points").split()]
        assert len(points) == len(values)
        xs = [x for x, _unused in points]
        assert xs == sorted(xs) and len(set(xs)) == len(xs)
        # Higher tokens/s is higher on the chart (smaller y), in proportion.
        ys = [y for _unused, y in points]
        for (a, ya), (b, yb) in zip(zip(values, ys), zip(values[1:], ys[1:])):
            assert (a > b) == (ya < yb) or a == b
    latest_ys = [float(c.get("cy")) for c in curves["latest"].findall("svg:circle", NS)]
    scale = Scale(len(LATEST), max(LATEST) * 1.1)
    bottom = scale.lower
    # 9.75 is 65% of 15 above the axis.
    assert (bottom - latest_ys[10]) / (bottom - latest_ys[0]) == pytest.approx(0.65, abs=0.001)


def test_axes_ticks_and_labels():
    root = parse(tokens_chart([("latest", LATEST)], "gpu-07 <NPS4> & co", threshold=12))
    assert root.find("svg:title", NS).text == "gpu-07 <NPS4> & co"
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "request number" in texts and "tokens/s" in texts
    y_ticks = [float(t.get("data-value")) for t in root.find(".//svg:g[@class='y-ticks']", NS).findall("svg:text", NS)]
    assert y_ticks[0] == 0 and y_ticks[-1] >= max(LATEST)
    x_ticks = [int(t.get("data-request")) for t in root.find(".//svg:g[@class='x-ticks']", NS).findall("svg:text", NS)]
    assert x_ticks == list(range(1, 13))
    threshold = root.find(".//svg:g[@class='threshold']", NS)
    assert float(threshold.get("data-value")) == 12
    assert "latest" in [t.text for t in root.find(".//svg:g[@class='legend']", NS).findall("svg:text", NS)]


def test_self_contained():
    svg = tokens_chart([("latest", LATEST)])
    assert "<script" not in svg and "href" not in svg and "@import" not in svg


def test_many_requests_thin_the_x_labels():
    root = parse(tokens_chart([("latest", [10.0] * 100)]))
    x_ticks = [int(t.get("data-request")) for t in root.find(".//svg:g[@class='x-ticks']", NS).findall("svg:text", NS)]
    assert x_ticks[0] == 1 and x_ticks[-1] == 100 and len(x_ticks) <= 21


def test_bad_values_are_refused():
    with pytest.raises(ValueError, match="latest: expected tokens/s numbers >= 0, got 'fast'"):
        tokens_chart([("latest", [1.0, "fast"])])


def test_a_long_title_is_split_into_lines_above_the_plot():
    one = parse(tokens_chart([("latest", LATEST)], "h1: now NPS4"))
    two = parse(tokens_chart([("latest", LATEST)], "h1: now NPS4; baseline NPS2"))
    lines = [t.text for t in two.iterfind(".//svg:text[@class='title']", NS)]
    assert lines == ["h1: now NPS4", "baseline NPS2"]
    assert two.find("svg:title", NS).text == "h1: now NPS4; baseline NPS2"

    def top_tick_y(root):
        return min(float(t.get("y")) for t in root.find(".//svg:g[@class='y-ticks']", NS).findall("svg:text", NS))
    assert top_tick_y(two) == top_tick_y(one) + 16


SWEEP = [{"request_rate": rate, "slo_p99": {"ttft_s": ttft, "tpot_s": tpot}}
         for rate, ttft, tpot in ((1, 0.5, 0.04), (2, 0.9, 0.05), (4, 2.6, 0.07), (8, None, 0.2))]
SWEEP_SLO = {"ttft_s": 2.0, "tpot_s": 0.08}


def test_the_sweep_chart_draws_each_bounded_p99_as_a_share_of_its_bound():
    root = parse(sweep_chart(SWEEP, SWEEP_SLO, knee=2, title="h1: p99 against rate"))
    curves = series(root)
    assert sorted(curves) == ["tpot_s", "ttft_s"]
    ttft = curves["ttft_s"].findall("svg:circle", NS)
    assert [float(c.get("data-rate")) for c in ttft] == [1, 2, 4, 8]
    assert [c.get("data-value") for c in ttft] == ["0.5", "0.9", "2.6", ""]
    # The SLO is the line at 1; a point within its bound lies below it, one beyond above it.
    slo_y = float(root.find(".//svg:g[@class='threshold']/svg:line", NS).get("y1"))
    assert float(ttft[1].get("cy")) > slo_y > float(ttft[2].get("cy"))
    assert all(float(c.get("cy")) > slo_y for c in curves["tpot_s"].findall("svg:circle", NS)[:3])
    # TPOT at 8/s is 2.5 times its bound, within the axis (capped at 4); TTFT there is decided by
    # failed requests, drawn on the top edge and marked off-scale.
    assert [c.get("class") for c in ttft] == ["point", "point", "point", "off-scale"]
    assert "failed requests" in ttft[3].find("svg:title", NS).text
    knee = root.find(".//svg:g[@class='knee']", NS)
    assert knee.get("data-rate") == "2" and float(knee.find("svg:line", NS).get("x1")) == float(ttft[1].get("cx"))


def test_a_p99_far_beyond_its_bound_is_capped_and_marked():
    root = parse(sweep_chart([{"request_rate": 1, "slo_p99": {"ttft_s": 1.0}},
                              {"request_rate": 2, "slo_p99": {"ttft_s": 30.0}}], {"ttft_s": 2.0}))
    points = series(root)["ttft_s"].findall("svg:circle", NS)
    assert [c.get("class") for c in points] == ["point", "off-scale"]
    assert float(points[1].get("cy")) == pytest.approx(Scale(2, 1).upper)
    assert root.find(".//svg:g[@class='knee']", NS) is None


def test_the_sweep_chart_passes_the_audit_pages_allow_list_whole():
    svg = sweep_chart(SWEEP, SWEEP_SLO, knee=2, title="gpu-\x1b[31ma: </title><script>x</script>")
    kept = rebuild(svg)
    assert [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in ET.fromstring(kept).iter()] == \
        [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in ET.fromstring(svg).iter()]
    assert "<script" not in kept


def test_a_sweep_chart_needs_a_rate_and_a_bound():
    with pytest.raises(ValueError, match="at least one rate and one SLO bound"):
        sweep_chart(SWEEP, {})
