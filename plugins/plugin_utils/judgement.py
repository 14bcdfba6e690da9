# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One role's judgement of a host, on the controller: its settings against the role's argument
specification and its own checks, the host's state, and what the role would change.

Used by the ktune.inference.judge action (each tuning role's tasks/judge.yml), so tune.yml
decides every role in one task per role and skips a role with nothing to change.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class RoleSpecError(Exception):
    pass


def role_options(role, entry_point="main", collection_root=COLLECTION_ROOT):
    """The options of a role's entry point, from its meta/argument_specs.yml."""
    path = os.path.join(collection_root, "roles", role, "meta", "argument_specs.yml")
    try:
        with open(path) as handle:
            specs = yaml.safe_load(handle) or {}
    except (IOError, OSError, yaml.YAMLError) as exc:
        raise RoleSpecError("cannot read the argument specification of role %s (%s): %s" % (role, path, exc))
    entry = (specs.get("argument_specs") or {}).get(entry_point)
    if not isinstance(entry, dict):
        raise RoleSpecError("role %s has no entry point %r in %s" % (role, entry_point, path))
    return entry.get("options") or {}


def spec_problems(options, values):
    """The argument specification's complaints about the settings given (types, choices, required).

    values: {name: value} for the names set on the host; an unset name takes the spec's default.
    """
    provided = dict((name, value) for name, value in values.items() if name in options)
    result = ArgumentSpecValidator(options).validate(provided)
    return list(result.error_messages)


def listed(items):
    """A role's list of findings without the empty strings its Jinja leaves for passed checks."""
    if items is None:
        return []
    if isinstance(items, (str, bytes)) or not isinstance(items, (list, tuple)):
        items = [items]
    return [str(item).strip() for item in items if item is not None and str(item).strip()]


def judgement(spec_errors, problems, host_problems, drift, notes):
    """What the judge action returns: problems, host_problems, drift and notes.

    host_problems, drift and notes are callables returning the role's lists, called in that order
    and each only when everything before it passed: the host state may need valid settings, what
    differs and the notes a host the role can work on. What was not judged is empty.
    """
    found = {"problems": listed(spec_errors) + listed(problems), "host_problems": [], "drift": [], "notes": []}
    if not found["problems"]:
        found["host_problems"] = listed(host_problems())
        if not found["host_problems"]:
            found["drift"] = listed(drift())
            found["notes"] = listed(notes())
    return found
