"""Text from hosts (names, groups, findings, fixes, reasons) in the audit's files and the
diagnosis summary, each read back by its format's own consumer: the JUnit file by libxml2
(lxml) against Jenkins xunit's JUnit schema, audit.json by a JSON parser and a strict UTF-8
encoder, the console table by the splitlines() that audit.yml uses, summary.md by a CommonMark
parser (markdown-it-py). Issue 21, item 5."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import html
import json
import os

from hypothesis import given, settings, strategies as st
from lxml import etree
from markdown_it import MarkdownIt

from hostile_text import controls_in, hostile_text, is_ordinary
from ansible_collections.ktune.inference.plugins.module_utils import diagnosis
from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import CONTROL_IDS, control
from ansible_collections.ktune.inference.plugins.module_utils.audit_report import (
    build_report,
    to_json,
    to_junit,
    to_table,
    verdicts,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures")
JUNIT_SCHEMA = etree.XMLSchema(etree.parse(os.path.join(FIXTURES, "junit", "junit-10.xsd")))
STRICT_XML = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
OUTCOMES = [("pass", "error"), ("fail", "error"), ("fail", "warning"), ("skip", "error"), ("skip", "warning")]
EXAMPLES = settings(max_examples=100, deadline=None)


@st.composite
def hostile_fleets(draw):
    """(results, groups, unknown reasons) with hostile host names, groups and texts."""
    names = draw(st.lists(hostile_text(min_size=1).filter(bool), min_size=1, max_size=4, unique=True))
    results, groups, unknown = {}, {}, {}
    for name in names:
        groups[name] = draw(hostile_text(min_size=1).filter(bool))
        if draw(st.booleans()):
            unknown[name] = draw(hostile_text())
        else:
            finding, fix = draw(hostile_text()), draw(hostile_text())
            outcomes = draw(st.lists(st.sampled_from(OUTCOMES), min_size=len(CONTROL_IDS), max_size=len(CONTROL_IDS)))
            results[name] = [control(cid, status, severity, finding, fix)
                             for cid, (status, severity) in zip(CONTROL_IDS, outcomes)]
    return results, groups, unknown


def report_of(fleet):
    results, groups, unknown = fleet
    return build_report(results, groups, "2026-11-25T04:00:00Z", unknown)


def strings_in(tree):
    for element in tree.iter():
        yield from list(element.attrib.values()) + [element.text or "", element.tail or ""]


@EXAMPLES
@given(hostile_fleets())
def test_junit_from_hostile_text_is_xml_1_0_and_valid_junit(fleet):
    document = to_junit(report_of(fleet)).encode("utf-8")
    root = etree.fromstring(document, STRICT_XML)
    JUNIT_SCHEMA.assertValid(root)
    assert all(not controls_in(value, allowed="\t\n\r") for value in strings_in(root))
    results, _groups, unknown = fleet
    cases = root.findall("testsuite/testcase")
    assert len(cases) == (len(results) + len(unknown)) * len(CONTROL_IDS)
    by_case = dict(((case.get("classname"), case.get("name")), case) for case in cases)
    for host, items in results.items():
        if not is_ordinary(host):
            continue
        for item in items:
            case = by_case[(host, item["id"])]
            if item["status"] == "fail" and item["severity"] == "error" and is_ordinary(item["finding"]):
                assert case.find("failure").get("message") == item["finding"]
            if item["status"] == "pass" and is_ordinary(item["finding"]):
                assert (case.find("system-out").text or "") == item["finding"]


def test_one_control_character_in_one_finding_leaves_audit_xml_parseable_and_visible():
    items = [control(cid, "fail", "error", "governor is power\x07save\x1b[0m", "echo \x00") for cid in CONTROL_IDS]
    root = etree.fromstring(to_junit(report_of(({"h": items}, {"h": "g"}, {}))).encode("utf-8"), STRICT_XML)
    failure = root.find("testsuite/testcase/failure")
    assert failure.get("message") == "governor is power\\x07save\\x1b[0m"
    assert failure.text == "Fix: echo \\x00"


def test_junit_keeps_carriage_returns_and_cdata_ends_as_text():
    items = [control(cid, "pass", "error", "a\r\nb ]]> <x/> &amp;", "") for cid in CONTROL_IDS]
    root = etree.fromstring(to_junit(report_of(({"h": items}, {"h": "g"}, {}))).encode("utf-8"), STRICT_XML)
    assert root.find("testsuite/testcase/system-out").text == "a\r\nb ]]> <x/> &amp;"


def all_strings(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from all_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from all_strings(item)
    elif isinstance(value, str):
        yield value


@EXAMPLES
@given(hostile_fleets())
def test_audit_json_from_hostile_text_is_valid_unicode_and_keeps_ordinary_text(fleet):
    document = json.loads(to_json(report_of(fleet)))
    for text in all_strings(document):
        text.encode("utf-8")  # a lone surrogate cannot be encoded: strict JSON parsers refuse it
    results, _groups, unknown = fleet
    assert len(document["hosts"]) == len(results) + len(unknown)
    for host in list(results) + list(unknown):
        if is_ordinary(host, allowed="\t\n\r\x00-\x1f"):
            assert host in document["hosts"]


@EXAMPLES
@given(hostile_fleets())
def test_console_table_from_hostile_text_has_one_line_per_row_and_no_control_characters(fleet):
    table = to_table(report_of(fleet))
    assert not controls_in(table, allowed="\n")
    results, _groups, unknown = fleet
    # audit.yml prints ktune_audit.table.splitlines(): header, hosts, why each unknown one was not audited, totals.
    assert len(table.splitlines()) == 1 + len(results) + len(unknown) + len(unknown) + 1


@EXAMPLES
@given(hostile_fleets())
def test_verdicts_from_hostile_text_are_single_lines_without_control_characters(fleet):
    found = verdicts(report_of(fleet))
    assert all(not controls_in(why) and len(why.splitlines()) == 1 for why in found.values())


# --- summary.md (diagnosis) --------------------------------------------------------

# The token types summary_markdown's own template makes; host text must add none.
TEMPLATE_TOKENS = {"heading_open", "heading_close", "paragraph_open", "paragraph_close", "ordered_list_open",
                   "ordered_list_close", "bullet_list_open", "bullet_list_close", "list_item_open", "list_item_close",
                   "inline", "text", "strong_open", "strong_close", "softbreak", "hardbreak"}


def tokens_of(markdown):
    for token in MarkdownIt("commonmark").parse(markdown):
        yield token
        yield from token.children or []


def heading_texts(markdown):
    tokens = MarkdownIt("commonmark").parse(markdown)
    return [(token.tag, tokens[i + 1].content) for i, token in enumerate(tokens) if token.type == "heading_open"]


@EXAMPLES
@given(host=hostile_text(min_size=1).filter(bool), evidence=hostile_text(), tool=hostile_text(min_size=1).filter(bool),
       why=hostile_text(), layout=hostile_text(), name=hostile_text(min_size=1).filter(bool))
def test_summary_md_from_hostile_text_adds_no_markup(host, evidence, tool, why, layout, name):
    data = {"host": host, "collected_at": "2026-11-25T04:00:00Z", "window_s": 5,
            "kernel_log": "[1.0] mce: [Hardware Error]: " + evidence, "service_journal": "Traceback " + evidence,
            "missing": {tool: why}, "numa_summary": [layout], "files": [name]}
    markdown = diagnosis.summary_markdown(data)
    assert not controls_in(markdown, allowed="\n")
    kinds = set(token.type for token in tokens_of(markdown))
    assert kinds <= TEMPLATE_TOKENS, kinds - TEMPLATE_TOKENS
    headings = heading_texts(markdown)
    assert [tag for tag, _text in headings] == ["h1", "h2", "h2", "h2", "h2"]
    if is_ordinary(host, allowed=""):
        assert shown_text(headings[0][1]) == " ".join(("Diagnosis of " + host).split())


def shown_text(inline_source):
    """The text a CommonMark renderer shows for an inline source (whitespace collapsed)."""
    return " ".join(html.unescape(MarkdownIt("commonmark").renderInline(inline_source)).split())
