# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Inventory mistakes named in one line each, on the controller.

The types, choices and field names come from the roles' meta/argument_specs.yml, read as data:
the same specification Ansible validates a role's arguments against, only the messages differ
(one line per problem, the list index and instance name, the closest known field for a typo).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import os
import re

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.common.parameters import DEFAULT_TYPE_VALIDATORS

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What a value of each argument-spec type looks like, as an operator would write it.
EXPECTED = {
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
    "str": "a string",
    "path": "a path",
    "list": "a list (one '- item' per line)",
    "dict": "a mapping (key: value)",
    "bytes": "a size such as 10G",
    "bits": "a size in bits such as 1Mb",
}
# The closest known name must be this similar to be offered (difflib's ratio).
SIMILAR_ENOUGH = 0.6


class SpecError(Exception):
    pass


def read_specs(role, collection_root=COLLECTION_ROOT):
    """A role's meta/argument_specs.yml: {entry_point: {options...}}."""
    path = os.path.join(collection_root, "roles", role, "meta", "argument_specs.yml")
    try:
        with open(path) as handle:
            specs = (yaml.safe_load(handle) or {}).get("argument_specs") or {}
    except (IOError, OSError, yaml.YAMLError) as exc:
        raise SpecError("cannot read the argument specification of role %s (%s): %s" % (role, path, exc))
    return dict((entry, (spec or {}).get("options") or {}) for entry, spec in specs.items())


def role_names(collection_root=COLLECTION_ROOT):
    """The collection's roles that have an argument specification."""
    roles_dir = os.path.join(collection_root, "roles")
    return sorted(name for name in os.listdir(roles_dir)
                  if os.path.isfile(os.path.join(roles_dir, name, "meta", "argument_specs.yml")))


def closest(name, known):
    """The known name nearest to a misspelt one, or None when none is near."""
    found = difflib.get_close_matches(name, sorted(known), n=1, cutoff=SIMILAR_ENOUGH)
    return found[0] if found else None


def did_you_mean(name, known):
    nearest = closest(name, known)
    return "did you mean %s?" % nearest if nearest else "no known name is close"


def expected(spec):
    wanted = spec.get("type", "str")
    if wanted == "list" and spec.get("elements"):
        return "a list of %s" % {"dict": "mappings"}.get(spec["elements"], EXPECTED.get(spec["elements"], spec["elements"]))
    return EXPECTED.get(wanted, wanted)


def kind(value):
    """What the operator wrote, in their words (never an internal class name)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (int, float)):
        return "a number"
    return "a value"


def shown(value):
    """The value as the operator wrote it, one line, short."""
    if isinstance(value, str):
        text = repr(str(value))
    elif isinstance(value, (bool, int, float)) or value is None:
        text = repr(value)
    else:
        return kind(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= 60 else text[:57] + "..."


def converted(value, spec):
    """The value converted to the spec's type, or raises (TypeError, ValueError)."""
    wanted = spec.get("type", "str")
    validator = DEFAULT_TYPE_VALIDATORS.get(wanted)
    if validator is None or wanted == "raw":
        return value
    return validator(value)


def value_mistakes(where, value, spec):
    """Problems of one value against its option spec, each a line starting with `where`."""
    if value is None:
        return null_mistakes(where, spec)
    try:
        value = converted(value, spec)
    except (TypeError, ValueError):
        if spec.get("type") in ("list", "dict"):
            return ["%s: expected %s, found %s" % (where, expected(spec), kind(value))]
        return ["%s = %s: expected %s" % (where, shown(value), expected(spec))]
    choices = spec.get("choices")
    if choices and spec.get("type") != "list" and value not in choices:
        hint = closest(str(value), [str(choice) for choice in choices])
        listed = ", ".join(str(choice) for choice in choices)
        return ["%s = %s: expected one of %s%s" % (where, shown(value), listed, " (did you mean %s?)" % hint if hint else "")]
    if spec.get("type") == "list":
        return items_mistakes(where, value, spec)
    if spec.get("type") == "dict" and spec.get("options"):
        return fields_mistakes(where, value, spec["options"])
    return []


def null_mistakes(where, spec):
    """An explicit null where the choices leave it out: Ansible refuses it; the option is meant to
    be left unset (as ktune_expected_sockets, ktune_transparent_hugepage)."""
    choices = spec.get("choices")
    if not choices or None in choices or spec.get("type") == "list":
        return []
    listed = ", ".join(str(choice) for choice in choices)
    return ["%s = null: expected one of %s. Fix: leave it unset (delete the line) rather than null" % (where, listed)]


def items_mistakes(where, items, spec):
    element = dict(type=spec.get("elements", "raw"), options=spec.get("options"), choices=spec.get("choices"))
    problems = []
    for index, item in enumerate(items):
        label = "%s[%d]" % (where, index)
        if element["type"] == "dict" and isinstance(item, dict) and isinstance(item.get("name"), str):
            label += " (%s)" % " ".join(item["name"].split())[:40]
        problems.extend(value_mistakes(label, item, element))
    return problems


def fields_mistakes(where, fields, options):
    """A mapping's fields: unknown ones (with the closest known), required ones, each value."""
    problems = []
    for field in fields:
        if field not in options:
            problems.append("%s: %s is not a field: %s" % (where, field, did_you_mean(str(field), options)))
    for field, spec in options.items():
        if spec.get("required") and fields.get(field) is None:
            problems.append("%s: %s is missing: expected %s" % (where, field, expected(spec)))
        elif field in fields:
            problems.extend(value_mistakes("%s: %s" % (where, field), fields[field], spec))
    return problems


def settings_mistakes(options, values):
    """One line per problem of the settings given ({name: value}) against a role's options.

    Whatever Ansible's own validation would still refuse is added in its words (first line of
    each), so that nothing this misses reaches the role's argument-spec dump.
    """
    given = dict((name, value) for name, value in values.items() if name in options)
    problems = []
    for name, value in given.items():
        problems.extend(value_mistakes(name, value, options[name]))
    if not problems:
        result = ArgumentSpecValidator(options).validate(given)
        problems = [message.splitlines()[0] for message in result.error_messages if message]
    return problems


VARIABLE = re.compile(r"\bktune_[a-z0-9_]*[a-z0-9]\b")
# Where the collection names the variables it reads besides the roles' settings: the playbooks
# (ktune_hosts, ktune_report_dir, ...) and the modules (the facts they set, such as ktune_numa).
NAMED_IN = (("playbooks", (".yml", ".yaml")), (os.path.join("plugins", "modules"), (".py",)))


def known_variables(collection_root=COLLECTION_ROOT):
    """Every ktune_* variable the collection knows: each role's settings (every entry point of its
    argument specification) and the names its playbooks and modules use."""
    known = set()
    for role in role_names(collection_root):
        for options in read_specs(role, collection_root).values():
            known.update(options)
    for folder, suffixes in NAMED_IN:
        for directory, _dirs, files in os.walk(os.path.join(collection_root, folder)):
            for filename in files:
                if filename.endswith(suffixes):
                    with open(os.path.join(directory, filename), encoding="utf-8", errors="replace") as handle:
                        known.update(VARIABLE.findall(handle.read()))
    return known


def unknown_variables(names, known):
    """The ktune_* names no part of the collection knows, each with a hint: [(name, hint)]."""
    return [(name, did_you_mean(name, known)) for name in sorted(names)
            if name.startswith("ktune_") and name not in known]


def root_problem(become, become_user, uid):
    """Why a run that changes the host would not be root there, or None.

    become: whether the task becomes another user; uid: the id the connection logs in as (None when
    it could not be learnt: the host's read then tells why). Logging in as root without become is a
    root run too.
    """
    if become:
        if (become_user or "root") == "root":
            return None
        return "becomes %s, not root" % become_user
    if uid is None or uid == 0:
        return None
    return "connects as uid %s without become" % uid


def uid_of(probe_rc, probe_stdout):
    """The uid printed by `id -u`, or None."""
    text = (probe_stdout or "").strip()
    return int(text) if probe_rc == 0 and text.isdigit() else None
