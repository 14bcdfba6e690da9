# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tokens/s against request number as a self-contained SVG (no script, font or link outside).

Used by the tokens_chart_svg filter: the performance_baseline role writes the chart next to
each host's baseline, and the audit report embeds what svg_allowlist.py keeps of it (all of a
chart drawn here). Each curve is a <g> with class "series" and data-label, holding one
<polyline> and a <circle> per request whose data-request / data-value attributes carry the
numbers, so tests and tools can read the chart back without parsing coordinates.

The title and labels carry host text (its name, its facts): they are written as XML 1.0
(xml_text, xml_attr), so a control character in a fact cannot make the file unreadable.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.ktune.inference.plugins.module_utils.report_encoding import xml_attr, xml_text

WIDTH = 720
HEIGHT = 360
MARGIN = {"left": 64, "right": 20, "top": 40, "bottom": 72}
COLOURS = {"baseline": "#7f7f7f", "latest": "#1f77b4", "threshold": "#d62728"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b")


def nice_step(span, ticks=5):
    """A round tick step (1, 2 or 5 times a power of ten) giving about `ticks` intervals."""
    if span <= 0:
        return 1.0
    raw = span / float(ticks)
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _fmt(value):
    return ("%.3f" % value).rstrip("0").rstrip(".")


def _label(value, step):
    decimals = max(0, -int(math.floor(math.log10(step)))) if step < 1 else 0
    return "%.*f" % (decimals, value)


class Scale(object):
    def __init__(self, count, top, width=WIDTH, height=HEIGHT, title_lines=1):
        self.count = max(count, 2)
        self.step = nice_step(top)
        self.top = self.step * max(1, math.ceil(top / self.step)) if top > 0 else 1.0
        self.left = MARGIN["left"]
        self.right = width - MARGIN["right"]
        self.upper = MARGIN["top"] + 16 * (max(1, title_lines) - 1)
        self.lower = height - MARGIN["bottom"]

    def x(self, request):
        return self.left + (request - 1) * (self.right - self.left) / float(self.count - 1)

    def y(self, value):
        return self.lower - value * (self.lower - self.upper) / float(self.top)


def _svg_opening(title, title_lines, width, height, left):
    """The <svg> element's opening, its title and background, and the title's lines (a long title,
    facts of now; facts of the baseline, is split at "; " into lines)."""
    return [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
        'font-family="sans-serif" font-size="12" role="img" aria-label=%s>' % (width, height, width, height,
                                                                               xml_attr(title)),
        "<title>%s</title>" % xml_text(title),
        '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (width, height),
    ] + ['<text class="title" x="%d" y="%d" font-size="14"%s>%s</text>' % (
        left, 22 + 16 * number, ' font-weight="bold"' if number == 0 else "", xml_text(line))
        for number, line in enumerate(title_lines)]


def _numbers(values, name):
    result = []
    for value in values or []:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
            raise ValueError("%s: expected tokens/s numbers >= 0, got %r" % (name, value))
        result.append(float(value))
    return result


def tokens_chart(curves, title="tokens/s per request", threshold=None, width=WIDTH, height=HEIGHT):
    """SVG text for curves [(label, [tokens/s, ...]), ...]; the first request is request 1.

    threshold: an optional horizontal line (such as the minimum tokens/s), drawn dashed.
    """
    curves = [(label, _numbers(values, label)) for label, values in curves if values]
    count = max([len(values) for _unused, values in curves] or [2])
    top = max([max(values) for _unused, values in curves] + [threshold or 0] + [0]) * 1.1
    title_lines = title.split("; ")
    scale = Scale(count, top, width, height, len(title_lines))
    parts = _svg_opening(title, title_lines, width, height, scale.left)
    parts += _axes(scale, count)
    if threshold is not None:
        y = scale.y(threshold)
        parts.append('<g class="threshold" data-value="%s"><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" '
                     'stroke-dasharray="6 4"/><text x="%s" y="%s" fill="%s" text-anchor="end">%s</text></g>' % (
                         _fmt(threshold), _fmt(scale.left), _fmt(y), _fmt(scale.right), _fmt(y),
                         COLOURS["threshold"], _fmt(scale.right), _fmt(y - 4), COLOURS["threshold"],
                         xml_text("threshold %s tokens/s" % _fmt(threshold))))
    for position, (label, values) in enumerate(curves):
        parts.append(_curve(scale, label, values, COLOURS.get(label, PALETTE[position % len(PALETTE)])))
    parts += _legend(scale, curves, height)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _axes(scale, count):
    parts = ['<g class="axes" stroke="#000000">',
             '<line x1="%s" y1="%s" x2="%s" y2="%s"/>' % (scale.left, scale.lower, scale.right, scale.lower),
             '<line x1="%s" y1="%s" x2="%s" y2="%s"/>' % (scale.left, scale.upper, scale.left, scale.lower),
             "</g>", '<g class="y-ticks" text-anchor="end">']
    ticks = int(round(scale.top / scale.step))
    for tick in range(ticks + 1):
        value = tick * scale.step
        y = scale.y(value)
        parts.append('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0"/><text x="%s" y="%s" '
                     'data-value="%s">%s</text>' % (_fmt(scale.left), _fmt(y), _fmt(scale.right), _fmt(y),
                                                    _fmt(scale.left - 6), _fmt(y + 4), _fmt(value),
                                                    _label(value, scale.step)))
    parts.append('</g><g class="x-ticks" text-anchor="middle">')
    every = max(1, int(math.ceil(count / 20.0)))
    for request in range(1, count + 1):
        if request % every and request != 1:
            continue
        x = scale.x(request)
        parts.append('<text x="%s" y="%s" data-request="%d">%d</text>' % (_fmt(x), _fmt(scale.lower + 16), request, request))
    parts.append("</g>")
    parts.append('<text class="x-label" x="%s" y="%s" text-anchor="middle">request number</text>' % (
        _fmt((scale.left + scale.right) / 2.0), _fmt(scale.lower + 36)))
    parts.append('<text class="y-label" x="14" y="%s" text-anchor="middle" transform="rotate(-90 14 %s)">'
                 'tokens/s</text>' % (_fmt((scale.upper + scale.lower) / 2.0), _fmt((scale.upper + scale.lower) / 2.0)))
    return parts


def _curve(scale, label, values, colour):
    points = " ".join("%s,%s" % (_fmt(scale.x(request)), _fmt(scale.y(value)))
                      for request, value in enumerate(values, 1))
    parts = ['<g class="series" data-label=%s>' % xml_attr(label),
             '<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (colour, points)]
    for request, value in enumerate(values, 1):
        parts.append('<circle cx="%s" cy="%s" r="3" fill="%s" data-request="%d" data-value="%s"><title>%s</title>'
                     '</circle>' % (_fmt(scale.x(request)), _fmt(scale.y(value)), colour, request, repr(value),
                                    xml_text("%s, request %d: %s tokens/s" % (label, request, _fmt(value)))))
    parts.append("</g>")
    return "".join(parts)


def _legend(scale, curves, height, colours=None):
    parts = ['<g class="legend">']
    x = scale.left
    for position, (label, _unused) in enumerate(curves):
        colour = colours[position] if colours else COLOURS.get(label, PALETTE[position % len(PALETTE)])
        parts.append('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>'
                     '<text x="%s" y="%s">%s</text>' % (x, height - 12, x + 20, height - 12, colour, x + 26, height - 8, xml_text(label)))
        x += 40 + 8 * len(label)
    parts.append("</g>")
    return parts


# The sweep chart: each bounded metric's p99 against the request rate, as a share of its SLO
# bound, so TTFT (seconds) and TPOT (milliseconds) share one axis and the SLO is the line at 1.
RATIO_CAP = 4.0
METRIC_COLOURS = {"ttft_s": "#1f77b4", "tpot_s": "#ff7f0e", "itl_s": "#2ca02c", "latency_s": "#9467bd"}


class RateScale(object):
    def __init__(self, top_rate, top_ratio, width, height, title_lines):
        self.left = MARGIN["left"]
        self.right = width - MARGIN["right"]
        self.upper = MARGIN["top"] + 16 * (max(1, title_lines) - 1)
        self.lower = height - MARGIN["bottom"]
        self.rate_step = nice_step(top_rate)
        self.top_rate = self.rate_step * max(1, math.ceil(top_rate * 1.05 / self.rate_step))
        self.ratio_step = nice_step(top_ratio)
        self.top_ratio = self.ratio_step * max(1, math.ceil(top_ratio / self.ratio_step))

    def x(self, rate):
        return self.left + rate * (self.right - self.left) / float(self.top_rate)

    def y(self, ratio):
        return self.lower - min(ratio, self.top_ratio) * (self.lower - self.upper) / float(self.top_ratio)


def sweep_chart(points, slo, knee=None, title="p99 against request rate", width=WIDTH, height=HEIGHT):
    """SVG text: the p99 of each bounded metric of a sweep against the rate, the SLO line at 1.

    points: [{request_rate, slo_p99: {metric: seconds or None}}] (run_summary of each rate); a
    p99 of None (failed requests decide it) or beyond RATIO_CAP times its bound is drawn on the
    top edge, marked off-scale. slo: {metric: bound in seconds}; knee: the rate marked.
    """
    bounded = [(name, float(slo[name])) for name in ("ttft_s", "tpot_s", "itl_s", "latency_s") if slo.get(name)]
    points = sorted(points, key=lambda point: point["request_rate"])
    if not points or not bounded:
        raise ValueError("a sweep chart needs at least one rate and one SLO bound")
    rates = _numbers([point["request_rate"] for point in points], "request_rate")
    ratios = [[_ratio(point, name, bound) for point in points] for name, bound in bounded]
    top_ratio = min(RATIO_CAP, max([1.0] + [value for series in ratios for value in series if value is not None]) * 1.1)
    title_lines = title.split("; ")
    scale = RateScale(max(rates), top_ratio, width, height, len(title_lines))
    parts = _svg_opening(title, title_lines, width, height, scale.left)
    parts += _rate_axes(scale, rates)
    y = scale.y(1.0)
    parts.append('<g class="threshold" data-value="1"><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" '
                 'stroke-dasharray="6 4"/><text x="%s" y="%s" fill="%s" text-anchor="end">SLO</text></g>' % (
                     _fmt(scale.left), _fmt(y), _fmt(scale.right), _fmt(y), COLOURS["threshold"],
                     _fmt(scale.right), _fmt(y - 4), COLOURS["threshold"]))
    if knee is not None:
        x = scale.x(float(knee))
        parts.append('<g class="knee" data-rate="%s"><line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#2ca02c" '
                     'stroke-dasharray="2 3"/><text x="%s" y="%s" fill="#2ca02c">%s</text></g>' % (
                         _fmt(float(knee)), _fmt(x), _fmt(scale.upper), _fmt(x), _fmt(scale.lower), _fmt(x + 4),
                         _fmt(scale.upper + 12), xml_text("knee %s requests/s" % _fmt(float(knee)))))
    for (name, bound), series in zip(bounded, ratios):
        parts.append(_rate_curve(scale, name, bound, rates, series, points))
    parts += _legend(scale, [("p99 %s / SLO %s" % (name, _fmt(bound)), None) for name, bound in bounded], height,
                     [METRIC_COLOURS[name] for name, _bound in bounded])
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _ratio(point, name, bound):
    value = (point.get("slo_p99") or {}).get(name)
    return None if value is None else float(value) / bound


def _rate_axes(scale, rates):
    parts = ['<g class="axes" stroke="#000000">',
             '<line x1="%s" y1="%s" x2="%s" y2="%s"/>' % (scale.left, scale.lower, scale.right, scale.lower),
             '<line x1="%s" y1="%s" x2="%s" y2="%s"/>' % (scale.left, scale.upper, scale.left, scale.lower),
             "</g>", '<g class="y-ticks" text-anchor="end">']
    for tick in range(int(round(scale.top_ratio / scale.ratio_step)) + 1):
        value = tick * scale.ratio_step
        y = scale.y(value)
        parts.append('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="#e0e0e0"/><text x="%s" y="%s" '
                     'data-value="%s">%s</text>' % (_fmt(scale.left), _fmt(y), _fmt(scale.right), _fmt(y),
                                                    _fmt(scale.left - 6), _fmt(y + 4), _fmt(value),
                                                    _label(value, scale.ratio_step)))
    parts.append('</g><g class="x-ticks" text-anchor="middle">')
    for rate in rates:
        parts.append('<text x="%s" y="%s" data-rate="%s">%s</text>' % (
            _fmt(scale.x(rate)), _fmt(scale.lower + 16), _fmt(rate), _fmt(rate)))
    parts.append("</g>")
    parts.append('<text class="x-label" x="%s" y="%s" text-anchor="middle">request rate (requests/s)</text>' % (
        _fmt((scale.left + scale.right) / 2.0), _fmt(scale.lower + 36)))
    middle = _fmt((scale.upper + scale.lower) / 2.0)
    parts.append('<text class="y-label" x="14" y="%s" text-anchor="middle" transform="rotate(-90 14 %s)">'
                 'p99 / SLO bound</text>' % (middle, middle))
    return parts


def _rate_curve(scale, name, bound, rates, ratios, points):
    colour = METRIC_COLOURS[name]
    drawn = [(rate, scale.top_ratio if ratio is None else ratio) for rate, ratio in zip(rates, ratios)]
    parts = ['<g class="series" data-label=%s>' % xml_attr(name),
             '<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>' % (
                 colour, " ".join("%s,%s" % (_fmt(scale.x(rate)), _fmt(scale.y(ratio))) for rate, ratio in drawn))]
    for (rate, ratio), point in zip(drawn, points):
        seconds = (point.get("slo_p99") or {}).get(name)
        off_scale = seconds is None or ratio > scale.top_ratio
        shown = "failed requests" if seconds is None else "%s s" % _fmt(float(seconds))
        parts.append('<circle class="%s" cx="%s" cy="%s" r="%s" fill="%s" data-rate="%s" data-value="%s"><title>%s'
                     '</title></circle>' % (
                         "off-scale" if off_scale else "point", _fmt(scale.x(rate)), _fmt(scale.y(ratio)),
                         5 if off_scale else 3, colour, _fmt(rate), "" if seconds is None else repr(float(seconds)),
                         xml_text("p99 %s at %s requests/s: %s (SLO %s s)%s" % (
                             name, _fmt(rate), shown, _fmt(bound), ", off the scale" if off_scale else ""))))
    parts.append("</g>")
    return "".join(parts)
