# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""argparse parsers rebuilt from the option lists derive.py took from upstream's released code.

upstream_parser("sglang-kt-0.7.2").parse(argv) parses a command line the way that release's
`python -m sglang.launch_server` would, without importing it; parse() raises UpstreamRefused
with argparse's own message when the release would refuse the line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "upstream"
TYPES = {"int": int, "float": float, "str": str, None: None}


class UpstreamRefused(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UpstreamRefused(message)


def load(name):
    return json.loads((FIXTURES / ("%s.json" % name)).read_text())


class UpstreamParser(object):
    def __init__(self, name):
        self.fixture = load(name)
        self.name = name
        # Stricter than upstream (which allows abbreviations): ktune writes whole option names.
        self.parser = _Parser(prog=self.fixture["parser"]["prog"], allow_abbrev=False, add_help=False)
        for option in self.fixture["options"]:
            self.parser.add_argument(*option["names"], **self._kwargs(option))

    @staticmethod
    def _kwargs(option):
        action = option["action"]
        if action in ("store_true", "store_false"):
            return {"action": action}
        if action == "count":
            return {"action": "count"}
        if action == "BooleanOptionalAction":
            return {"action": argparse.BooleanOptionalAction}
        kwargs = {"type": TYPES.get(option.get("type"), str)}
        if action in ("append", "extend"):
            kwargs["action"] = action
        if option.get("nargs") is not None:
            kwargs["nargs"] = option["nargs"]
        if option.get("choices"):
            kwargs["choices"] = option["choices"]
            kwargs["type"] = str
        if option.get("required"):
            kwargs["required"] = True
        return kwargs

    @property
    def options(self):
        return set(name for option in self.fixture["options"] for name in option["names"])

    def parse(self, argv):
        return self.parser.parse_args(list(argv))

    def provenance(self):
        return "%s %s (%s)" % (self.fixture["package"], self.fixture["version"], self.fixture["artifact"])


def upstream_parser(name):
    return UpstreamParser(name)


def sglang_args(argv):
    """The words after `python -m sglang.launch_server` (and any numactl prefix)."""
    words = list(argv)
    index = words.index("sglang.launch_server")
    if words[index - 1] != "-m":
        raise AssertionError("not a python -m sglang.launch_server line: %r" % words)
    return words[index + 1:]


def legacy_args(argv, executable):
    words = list(argv)
    return words[words.index(executable) + 1:]
