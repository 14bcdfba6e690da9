# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter cron_field_problems: judge one field of a cron schedule before it is written to /etc/cron.d."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleFilterError

# field: (lowest, highest, names or None). Names map to numbers; weekday 0 and 7 are both Sunday.
FIELDS = {
    "minute": (0, 59, None),
    "hour": (0, 23, None),
    "day": (1, 31, None),
    "month": (1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    "weekday": (0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
}
ALIASES = {"day_of_month": "day", "dom": "day", "dow": "weekday", "day_of_week": "weekday"}

FIELD_EXAMPLES = {
    "minute": "'17', '*/15', '0,30' or '5-55/10'",
    "hour": "'*', '3', '*/6' or '8-18'",
    "day": "'*', '1', '1,15' or '*/2'",
    "month": "'*', '1', '1-6' or 'jan'",
    "weekday": "'*', '0' (Sunday), '1-5' or 'mon'",
}

_NUMBER = re.compile(r"[0-9]+")
_ELEMENT = re.compile(r"(?P<base>[^/]*)(?:/(?P<step>.*))?", re.S)


def _show(value):
    """A value as the user wrote it in YAML: quoted strings, null, true/false."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


def allowed(field):
    """The sentence that describes what a field accepts."""
    low, high, names = FIELDS[field]
    text = "%s-%s" % (low, high)
    if field == "weekday":
        text += " (0 and 7 are Sunday)"
    if names:
        text += ", or one name alone (%s-%s)" % (names[0], names[-1])
    return text + ", '*', ranges a-b, steps */n or a-b/n (n 1-%s), comma lists" % high


def _number(text, field):
    """Problem with one number of a field, or None."""
    low, high = FIELDS[field][:2]
    if not _NUMBER.fullmatch(text):
        return "%r is not a number" % text
    if not low <= int(text) <= high:
        return "%s is outside %s-%s" % (text, low, high)
    return None


def _element_problem(element, field):
    """Problem with one comma-separated element (range, number or *, with an optional step), or None."""
    low, high, names = FIELDS[field]
    if element == "":
        return "empty list element (stray comma)"
    if names and element.lower() in names:
        return "names such as %r are only allowed alone, not in a list; use numbers (%s=%s)" % (
            element, element, names.index(element.lower()) + low)
    match = _ELEMENT.fullmatch(element)
    base, step = match.group("base"), match.group("step")
    if step is not None:
        if not _NUMBER.fullmatch(step):
            return "step %r in %r is not a number" % (step, element)
        if not 1 <= int(step) <= high:
            return "step %s in %r is outside 1-%s" % (step, element, high)
        if base != "*" and "-" not in base:
            return "a step needs * or a range before it (%r: write %s-%s/%s)" % (element, base, high, step)
    if base == "*":
        return None
    if "-" in base:
        first, _sep, last = base.partition("-")
        for part in (first, last):
            problem = _number(part, field)
            if problem:
                if names and part.lower() in names:
                    return "names are not allowed in ranges (%r); use numbers" % element
                return "%s (in %r)" % (problem, element)
        if int(first) > int(last):
            return "range %r runs backwards; write %s-%s" % (element, last, first)
        return None
    return _number(base, field)


def cron_field_problems(value, field, name=None):
    """Problems with one cron schedule field, as sentences naming the variable, the value and what is allowed.

    An empty list means the field is valid for Vixie cron (Debian), cronie (RHEL) and busybox alike:
    numbers, *, ranges a-b, steps */n and a-b/n, comma lists, and month or weekday names standing alone.
    """
    key = ALIASES.get(str(field).lower(), str(field).lower())
    if key not in FIELDS:
        raise AnsibleFilterError("cron_field_problems: unknown cron field %r; expected one of %s"
                                 % (field, ", ".join(FIELDS)))
    label = name or key
    intro = "%s = %s is not a valid cron %s field" % (label, _show(value), key)
    fix = "allowed: %s; for example %s" % (allowed(key), FIELD_EXAMPLES[key])

    if value is None or isinstance(value, bool) or not isinstance(value, (str, int)):
        return ["%s: expected a string such as %s, got %s; %s" % (
            intro, FIELD_EXAMPLES[key], "null" if value is None else type(value).__name__, fix)]

    text = str(value)
    if text.strip() == "":
        return ["%s: it is empty; %s" % (intro, fix)]
    if re.search(r"\s", text):
        return ["%s: it contains whitespace, which would shift the other fields; %s" % (intro, fix)]
    if text.startswith("@"):
        return ["%s: %s is a whole-schedule shortcut, not a field; %s" % (intro, text, fix)]

    names = FIELDS[key][2]
    if names and text.lower() in names:
        return []
    problems = []
    for element in text.split(","):
        problem = _element_problem(element, key)
        if problem and problem not in problems:
            problems.append(problem)
    if not problems:
        return []
    return ["%s: %s; %s" % (intro, "; ".join(problems), fix)]


class FilterModule(object):
    def filters(self):
        return {
            "cron_field_problems": cron_field_problems,
        }
