"""The audit page's SVG allow-list: hostile baseline charts lose every script, handler, link and
fetch (or are refused with a note), while the charts svg_chart draws pass whole. The browser
test (tests/integration/test_audit_html_in_chromium.py) loads the same vectors in Chromium."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time
import xml.etree.ElementTree as ET

import pytest

import hostile_svg
from ansible_collections.ktune.inference.plugins.module_utils.audit_report import safe_svg
from ansible_collections.ktune.inference.plugins.module_utils.svg_allowlist import ELEMENTS, UnsafeSvg, rebuild
from ansible_collections.ktune.inference.plugins.module_utils.svg_chart import tokens_chart

SVG = "{http://www.w3.org/2000/svg}"
BEACON = "http://127.0.0.1:9/beacon"
NOTE = '<p class="muted">The performance baseline chart is not shown: '


def chart(title="gpu-a: tokens/s; baseline NPS2, performance, 2026-11-25T04:00:00Z"):
    return tokens_chart([("baseline", [15.0, 15.1, 14.9]), ("latest", [15.0, 12.0, 10.5])], title, threshold=10.0)


def outline(svg):
    """Every element with its attributes and text, in document order."""
    return [(element.tag, dict(element.attrib), (element.text or "").strip()) for element in ET.fromstring(svg).iter()]


@pytest.mark.parametrize("name", sorted(hostile_svg.VECTORS))
def test_hostile_svg_keeps_no_script_handler_link_or_fetch(name):
    shown = safe_svg(hostile_svg.vector(name, BEACON))
    if shown.startswith(NOTE):
        return
    for tag, attributes, _text in outline(shown):
        assert tag.startswith(SVG) and tag[len(SVG):] in ELEMENTS, tag
        for key, value in attributes.items():
            assert not key.lower().startswith("on") and "href" not in key and key != "style", (key, value)
            assert not any(word in value.lower() for word in ("javascript:", "url(", "data:", BEACON)), (key, value)


@pytest.mark.parametrize("name, why", [
    ("unquoted-onload", "not well-formed XML"),
    ("slash-separated-onload", "not well-formed XML"),
    ("script-rebuilt-by-removal", "not well-formed XML"),
    ("internal-dtd-entity", "it has a DOCTYPE"),
])
def test_what_is_not_well_formed_svg_is_refused_with_a_visible_note(name, why):
    assert safe_svg(hostile_svg.vector(name, BEACON)).startswith(NOTE + why)


def test_a_chart_svg_chart_draws_passes_whole():
    svg = chart()
    assert outline(rebuild(svg)) == outline(svg)


def test_a_chart_whose_title_carries_control_characters_and_markup_is_well_formed_and_shown():
    svg = chart(title="gpu-\x1b[31ma\x00: tokens/s; baseline </title><script>x</script> ]]> \ud800")
    shown = rebuild(svg)
    assert outline(shown) == outline(svg)
    title = ET.fromstring(shown).find(SVG + "title").text
    assert title == "gpu-\\x1b[31ma\\x00: tokens/s; baseline </title><script>x</script> ]]> \\ud800"


def test_attribute_values_outside_their_grammar_are_dropped_and_the_rest_kept():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><rect x="1" y="2.5" width="10%" fill="url(#p)" stroke="#d62728" '
           'style="fill:red" class="a b"/><text transform="rotate(-90 14 20)" font-family="sans-serif;x:url(y)">t'
           '</text></svg>')
    assert rebuild(svg) == ('<svg xmlns="http://www.w3.org/2000/svg"><rect x="1" y="2.5" width="10%" stroke="#d62728" '
                            'class="a b"/><text transform="rotate(-90 14 20)">t</text></svg>')


def test_entity_expansion_is_refused_before_any_expansion():
    lol = "".join('<!ENTITY l%d "%s">' % (level, ("&l%d;" % (level - 1)) * 10 if level else "lol") for level in range(10))
    started = time.time()
    with pytest.raises(UnsafeSvg, match="DOCTYPE"):
        rebuild('<!DOCTYPE svg [%s]><svg xmlns="http://www.w3.org/2000/svg"><text>&l9;</text></svg>' % lol)
    assert time.time() - started < 1


def test_a_second_svg_inside_the_chart_is_dropped_with_what_it_holds():
    svg = ('<svg xmlns="http://www.w3.org/2000/svg"><svg><text>inner</text></svg><text>outer</text></svg>')
    assert rebuild(svg) == '<svg xmlns="http://www.w3.org/2000/svg"><text>outer</text></svg>'


@pytest.mark.parametrize("document", ['<g xmlns="http://www.w3.org/2000/svg"><text>t</text></g>',
                                      '<svg><text>t</text></svg>', '<html xmlns="http://www.w3.org/1999/xhtml"/>'])
def test_a_document_whose_root_is_not_an_svg_is_refused(document):
    with pytest.raises(UnsafeSvg, match="root element"):
        rebuild(document)
