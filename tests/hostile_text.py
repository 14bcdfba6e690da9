"""Hostile text from hosts, for the tests of the files it lands in (issue 21, item 5).

A host controls its facts, findings read from it and, through a dynamic inventory, even its
name: each can carry control characters, lone surrogates, markup and path tricks.
"""

import re

from hypothesis import strategies as st

FRAGMENTS = (
    "\x00", "\x01", "\x07", "\x08", "\x0b", "\x0c", "\x1b[31m", "\x1b]8;;http://x\x07", "\x7f", "\x85", "\x9f",
    "\ud800", "\udfff", "\udc80", "\ufffe", "\uffff", "\U0010ffff", "\u202e", "\ufdd0",
    "]]>", "<![CDATA[", "<script>document.title='pwned'</script>", "<img src=x onerror=alert(1)>",
    '"', "'", "&", "&amp;", "&#0;", "&lt;", "<", ">", "</testcase>", "</system-out>",
    "<!DOCTYPE x [<!ENTITY a 'b'>]>", "&a;", "\n", "\r", "\r\n", "\t", " ",
    "../", "..", "/", "-", ".", "%2e", "*", "_", "`", "[x](javascript:alert(1))", "![](http://127.0.0.1/)",
    "# ", "|", "\\",
)

# What a reader's tools act on instead of showing: C0 and C1 controls, DEL, lone surrogates,
# the noncharacters U+FFFE and U+FFFF, the bidirectional embeddings, overrides and isolates.
CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]")


def hostile_text(min_size=0):
    """Strings mixing the fragments above with arbitrary code points (surrogates included)."""
    pieces = st.one_of(st.sampled_from(FRAGMENTS), st.text(st.characters(), max_size=4))
    return st.lists(pieces, min_size=min_size, max_size=6).map("".join)


def controls_in(text, allowed=""):
    """The control characters (see CONTROLS) in text, but those in allowed."""
    return set(CONTROLS.findall(text)) - set(allowed)


def is_ordinary(text, allowed="\t\n\r"):
    """True for text of printable characters (and those in allowed): what must come back unchanged."""
    return all(char.isprintable() or char in allowed for char in text)
