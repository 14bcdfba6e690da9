# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Samples from the Prometheus text exposition format (version 0.0.4), as SGLang's /metrics serves it.

Standard library only: the guard daemon reads sglang:num_running_reqs and
sglang:gen_throughput with it on the host. Comments (# HELP, # TYPE) are skipped; each
sample line is a metric name (colons allowed), optional {labels} with escaped values
(backslash, double quote, newline), a value (floats, NaN, +Inf, -Inf) and an optional
timestamp, which is dropped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class ParseError(ValueError):
    pass


def _labels(line, position, number):
    """Parse {a="x",b="y"} starting at line[position] == "{"; return (labels, position after })."""
    labels = {}
    position += 1
    while True:
        while position < len(line) and line[position] in " \t":
            position += 1
        if position < len(line) and line[position] == "}":
            return labels, position + 1
        match = LABEL_NAME.match(line, position)
        if not match:
            raise ParseError("line %d: expected a label name at column %d: %r" % (number, position + 1, line))
        name = match.group(0)
        position = match.end()
        while position < len(line) and line[position] in " \t":
            position += 1
        if line[position:position + 2] != '="':
            raise ParseError("line %d: expected =\" after label %s: %r" % (number, name, line))
        position += 2
        value = []
        while True:
            if position >= len(line):
                raise ParseError("line %d: unterminated label value: %r" % (number, line))
            char = line[position]
            if char == "\\":
                escaped = line[position + 1:position + 2]
                value.append(ESCAPES.get(escaped, "\\" + escaped))
                position += 2
            elif char == '"':
                position += 1
                break
            else:
                value.append(char)
                position += 1
        labels[name] = "".join(value)
        while position < len(line) and line[position] in " \t":
            position += 1
        if position < len(line) and line[position] == ",":
            position += 1


def _value(text, number, line):
    try:
        return float(text)  # float() reads NaN, +Inf, -Inf, 1e+06 as Prometheus writes them
    except ValueError:
        raise ParseError("line %d: %r is not a sample value: %r" % (number, text, line))


def parse(text):
    """[(name, {label: value}, float)] in the order of the text; ParseError on a bad line."""
    samples = []
    # Only \n ends a line: splitlines() would also split inside label values at \x1e, \x85, \u2028.
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip(" \t\r")
        if not line or line.startswith("#"):
            continue
        match = NAME.match(line)
        if not match:
            raise ParseError("line %d: expected a metric name: %r" % (number, line))
        name = match.group(0)
        position = match.end()
        labels = {}
        if line[position:position + 1] == "{":
            labels, position = _labels(line, position, number)
        rest = line[position:].split()
        if not rest or len(rest) > 2:
            raise ParseError("line %d: expected a value (and an optional timestamp) after %s: %r" % (
                number, name, line))
        samples.append((name, labels, _value(rest[0], number, line)))
    return samples


def total(samples, name):
    """Sum of the samples called name (over every label set), or None when there is none."""
    values = [value for sample_name, _labels, value in samples if sample_name == name]
    return sum(values) if values else None
