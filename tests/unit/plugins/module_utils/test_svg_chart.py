"""The chart is valid SVG whose points, ticks and labels follow the data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import xml.etree.ElementTree as ET

import pytest

from ansible_collections.ktune.inference.plugins.module_utils.svg_chart import Scale, nice_step, tokens_chart

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
