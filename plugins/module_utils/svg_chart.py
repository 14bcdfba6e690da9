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
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
        'font-family="sans-serif" font-size="12" role="img" aria-label=%s>' % (width, height, width, height,
                                                                               xml_attr(title)),
        "<title>%s</title>" % xml_text(title),
        '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (width, height),
    ]
    # A long title (facts of now; facts of the baseline) is split at "; " into lines.
    parts += ['<text class="title" x="%d" y="%d" font-size="14"%s>%s</text>' % (
        scale.left, 22 + 16 * number, ' font-weight="bold"' if number == 0 else "", xml_text(line))
        for number, line in enumerate(title_lines)]
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


def _legend(scale, curves, height):
    parts = ['<g class="legend">']
    x = scale.left
    for position, (label, _unused) in enumerate(curves):
        colour = COLOURS.get(label, PALETTE[position % len(PALETTE)])
        parts.append('<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s" stroke-width="2"/>'
                     '<text x="%s" y="%s">%s</text>' % (x, height - 12, x + 20, height - 12, colour, x + 26, height - 8, xml_text(label)))
        x += 40 + 8 * len(label)
    parts.append("</g>")
    return parts
