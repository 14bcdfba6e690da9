# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Text from hosts (facts, findings, host names) encoded for the file it lands in: one helper per
format. A host controls what it reports and, through a dynamic inventory, even its name, so none
of it may become markup, a control sequence or a path on the controller.

- ``xml_text`` / ``xml_attr``: XML 1.0 character data and quoted attribute values (audit.xml, SVG);
- ``html_text``: HTML text and double-quoted attribute values (audit.html);
- ``line_text``: one line of plain text, for a terminal (the audit table, verdicts);
- ``markdown_text``: inline CommonMark text that renders as itself (the diagnosis summary.md);
- ``json_value``: a document json.dumps writes as valid Unicode (audit.json);
- ``path_component``: a host name as one file name inside a folder (reports, bundles, baselines).

Control characters are shown, not dropped: U+001B becomes the four characters ``\\x1b``, a lone
surrogate ``\\udc80`` (Python's backslashreplace notation), so a reader still sees that the host
sent one.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
from xml.sax.saxutils import escape, quoteattr

from ansible.module_utils.common.text.converters import to_text

# C0 controls but tab, line feed and carriage return; DEL and the C1 controls; lone surrogates;
# the noncharacters U+FFFE and U+FFFF; the bidirectional embeddings, overrides and isolates,
# which reorder what a reader sees (a host name can be made to read as another).
_CONTROLS = u"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069"
_NOT_TEXT = re.compile(u"[%s]" % _CONTROLS)
_NOT_ONE_LINE = re.compile(u"[\t\n\r\u2028\u2029%s]" % _CONTROLS)
_SURROGATES = re.compile(u"[\ud800-\udfff]")


def _shown(match):
    code = ord(match.group(0))
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code


def visible_text(value):
    """value as text, its control characters (tab, line feed, carriage return kept) shown as escapes."""
    return _NOT_TEXT.sub(_shown, to_text(value, errors="surrogate_then_replace"))


def line_text(value):
    """value as one line for a terminal: line breaks and tabs shown as escapes too."""
    return _NOT_ONE_LINE.sub(_shown, to_text(value, errors="surrogate_then_replace"))


# --- XML and HTML ------------------------------------------------------------------


def xml_text(value):
    """XML 1.0 character data; a carriage return as a reference, which parsers do not turn into a line feed."""
    return escape(visible_text(value), {"\r": "&#13;"})


def xml_attr(value):
    """A quoted XML 1.0 attribute value, quotes included (line breaks and tabs as references)."""
    return quoteattr(visible_text(value))


def html_text(value):
    """HTML text, also safe inside a double- or single-quoted attribute value."""
    return escape(visible_text(value), {'"': "&quot;", "'": "&#x27;"})


# --- Markdown ----------------------------------------------------------------------

# Inline CommonMark (and GitHub/GitLab) markup: escapes, code, emphasis, links and images,
# raw HTML and autolinks, entities, headings' closing #, tables, strikethrough, math. An
# underscore inside a word (numa_balancing) opens no emphasis and stays as it is.
_MARKDOWN_INLINE = re.compile(r"[$\\`*\[\]<>&#|~]|_(?![^\W_])|(?<![^\W_])_")

# What opens a block where the text starts a line or a list item: a list marker (-, +, 1. or 1)),
# a thematic break or a setext underline.
_LIST_NUMBER = re.compile(r"^([0-9]{1,9})([.)])")
_LINE_MARKER = re.compile(r"^([-+=])")


def markdown_text(value):
    """value as inline CommonMark that renders as its own characters, on one line."""
    text = _MARKDOWN_INLINE.sub(r"\\\g<0>", line_text(value))
    text = _LINE_MARKER.sub(r"\\\1", _LIST_NUMBER.sub(r"\1\\\2", text))
    # A leading space could indent the text into a code block; a reference is no indentation.
    return "&#32;" + text[1:] if text.startswith(" ") else text


# --- JSON --------------------------------------------------------------------------


def json_value(value):
    """value with every string free of lone surrogates, which json.dumps would write as \\udxxx
    escapes that strict parsers refuse. Everything else JSON carries as it is."""
    if isinstance(value, dict):
        return dict((json_value(key), json_value(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [json_value(item) for item in value]
    if isinstance(value, type(u"")):
        return _SURROGATES.sub(_shown, value)
    return value


# --- paths -------------------------------------------------------------------------

_PATH_KEPT = re.compile(r"[A-Za-z0-9._:-]")
NAME_MAX = 255


def path_component(name):
    """A host name as one file name inside a folder, for per-host reports, bundles and baselines.

    Every DNS name, IPv4 and IPv6 address comes back unchanged, so existing folders are still
    found. Any other character (``/``, NUL, control characters, ``%``, spaces, non-ASCII) is
    percent-encoded as its UTF-8 bytes, and so is a leading ``.`` or ``-``: the result is never
    ``.``, ``..``, a hidden file or an option to a command. Encoding (not refusing) keeps a host
    with an odd name in the fleet's report; it is one-to-one, so two hosts never share a folder.
    ValueError for an empty name, or one longer than a file name may be (255 bytes) once encoded.
    """
    text = to_text(name, errors="surrogate_then_replace")
    if not text:
        raise ValueError("an empty host name cannot name a file")
    encoded = "".join(char if _PATH_KEPT.match(char) else _percent(char) for char in text)
    if encoded[0] in ".-":
        encoded = _percent(encoded[0]) + encoded[1:]
    if len(encoded) > NAME_MAX:
        raise ValueError("host name %s is %d characters as a file name, more than %d"
                         % (line_text(text[:40]) + "...", len(encoded), NAME_MAX))
    return encoded


def _percent(char):
    return "".join("%%%02X" % byte for byte in bytearray(char.encode("utf-8", "surrogatepass")))
