# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""An SVG file's markup rebuilt from an allow-list, for inline use in the audit's HTML page.

The file is parsed with the standard library's XML parser (expat, the parser under xml.etree),
which refuses anything that is not well-formed XML; a DOCTYPE is refused outright, so no entity
can be declared. What comes out is written anew, never copied: only the elements and attributes
svg_chart.py draws with, each attribute value matching the grammar of its kind (numbers, a
colour, words), every text escaped. No event handler, link (href, xlink:href), style, script,
foreignObject, use, image or animation can pass, and no value can hold url() or javascript:,
so the page neither runs nor fetches anything from a chart.

``rebuild(text)`` returns the markup or raises UnsafeSvg naming why the whole file was refused.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from xml.parsers import expat

from ansible_collections.ktune.inference.plugins.module_utils.report_encoding import html_text

SVG_NAMESPACE = "http://www.w3.org/2000/svg"

ELEMENTS = frozenset(("svg", "g", "title", "desc", "text", "tspan", "rect", "line", "polyline", "path", "circle"))
# The elements whose character data is shown (or read out); any other text is dropped.
TEXT_ELEMENTS = frozenset(("title", "desc", "text", "tspan"))

_NUMBER = r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
_LENGTH = re.compile(r"^%s(?:px|%%)?\Z" % _NUMBER)
_NUMBER_LIST = re.compile(r"^\s*(?:%s(?:[\s,]+%s)*)?\s*\Z" % (_NUMBER, _NUMBER))
_PATH_DATA = re.compile(r"^[MmLlHhVvCcSsQqTtAaZz0-9eE.,+\-\s]*\Z")
# Hex or a colour keyword (none, currentColor, red ...): no url(), so nothing to fetch.
_COLOUR = re.compile(r"^(?:#[0-9A-Fa-f]{3,8}|[A-Za-z]+)\Z")
_TRANSFORM = re.compile(r"^(?:\s*(?:matrix|translate|scale|rotate|skewX|skewY)\(\s*%s(?:[\s,]+%s)*\s*\))*\s*\Z"
                        % (_NUMBER, _NUMBER))
_WORDS = re.compile(r"^[A-Za-z0-9 ,_-]*\Z")
_ANY_TEXT = re.compile(r"", re.S)

ATTRIBUTES = {
    "width": _LENGTH, "height": _LENGTH, "x": _LENGTH, "y": _LENGTH, "x1": _LENGTH, "y1": _LENGTH,
    "x2": _LENGTH, "y2": _LENGTH, "cx": _LENGTH, "cy": _LENGTH, "r": _LENGTH, "font-size": _LENGTH,
    "stroke-width": _LENGTH, "viewBox": _NUMBER_LIST, "points": _NUMBER_LIST, "stroke-dasharray": _NUMBER_LIST,
    "d": _PATH_DATA, "fill": _COLOUR, "stroke": _COLOUR, "transform": _TRANSFORM,
    "font-family": _WORDS, "font-weight": _WORDS, "text-anchor": _WORDS, "class": _WORDS, "role": _WORDS,
    # Text nothing interprets: the chart's label and its numbers for tools, the accessible name.
    "aria-label": _ANY_TEXT, "data-label": _ANY_TEXT, "data-value": _ANY_TEXT, "data-request": _ANY_TEXT,
    # The sweep chart's request rate of a point or tick (svg_chart.sweep_chart).
    "data-rate": _LENGTH,
}


class UnsafeSvg(ValueError):
    pass


def rebuild(text):
    """The allowed part of an SVG document as markup; UnsafeSvg when the document is refused."""
    writer = _Writer()
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.ordered_attributes = True
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.StartElementHandler = writer.start
    parser.EndElementHandler = writer.end
    parser.CharacterDataHandler = writer.data
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise UnsafeSvg("not well-formed XML (%s)" % exc)
    return writer.markup()


def _refuse_doctype(*_unused):
    raise UnsafeSvg("it has a DOCTYPE, which could declare entities; the charts ktune draws have none")


class _Writer(object):
    """Writes each allowed element as it is parsed; a refused element is skipped with all it holds."""

    def __init__(self):
        self.parts = []
        self.open = []  # the kept elements' names, innermost last
        self.skipped_depth = 0
        self.empty = False  # the last start tag is not closed yet: it may end as <name .../>

    def start(self, name, attributes):
        if self.skipped_depth or not self._allowed(name):
            self._check_root(name)
            self.skipped_depth += 1
            return
        local = name.split(" ", 1)[1]
        self._close_start_tag()
        kept = "".join(" %s=\"%s\"" % (key, html_text(value)) for key, value in _pairs(attributes)
                       if key in ATTRIBUTES and ATTRIBUTES[key].match(value))
        self.parts.append("<%s%s%s" % (local, " xmlns=\"%s\"" % SVG_NAMESPACE if not self.open else "", kept))
        self.open.append(local)
        self.empty = True

    def end(self, name):
        if self.skipped_depth:
            self.skipped_depth -= 1
            return
        local = self.open.pop()
        self.parts.append("/>" if self.empty else "</%s>" % local)
        self.empty = False

    def data(self, text):
        if self.skipped_depth or not self.open or self.open[-1] not in TEXT_ELEMENTS:
            return
        self._close_start_tag()
        self.parts.append(html_text(text))

    def markup(self):
        return "".join(self.parts)

    def _allowed(self, name):
        namespace, _sep, local = name.rpartition(" ")
        if namespace != SVG_NAMESPACE or local not in ELEMENTS:
            return False
        # The root is the chart's <svg>, and there is no second <svg> inside it.
        return (local == "svg") == (not self.open)

    def _check_root(self, name):
        if not self.parts:
            raise UnsafeSvg("its root element is %s, not <svg> in the SVG namespace" % name.replace(" ", ":"))

    def _close_start_tag(self):
        if self.empty:
            self.parts.append(">")
            self.empty = False


def _pairs(flat):
    return zip(flat[0::2], flat[1::2])
