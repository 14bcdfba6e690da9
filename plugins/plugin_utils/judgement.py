# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning roles' judgement of a host, on the controller: each role's settings against its
argument specification and its own checks, the host's state, and what the role would change.

Used by the ktune.inference.judge action: tune.yml judges every role in one task (one read of the
host for all of them) and skips the roles with nothing to change; a role run alone does the same
for itself (tasks/validate.yml).

A role takes part through Python functions (role_settings.py for its own checks of the settings,
role_judgements.py for the rest) or, not moved there yet, through variables named after it in its
vars/main.yml (ROLE_VARIABLES).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What a role defines (each optional), by the name after "<role>_".
ROLE_VARIABLES = {
    # Deprecated: a role's own checks are Python (role_settings.py); still added where one is set.
    "settings_problems": "its own checks of the settings, one string per problem ('' for a passed check)",
    "state_request": "what it reads from the host, as ktune.inference.managed_state options",
    "host_problems": "host state it cannot work with (templated only when the settings pass)",
    "drift_items": "what it would change, one line per item (only when there are no host problems)",
    "notes": "what to show the operator (only when there are no host problems)",
    "exports": "variables for the roles that follow, such as the USE_NUMA decision (only when judged)",
}
LIST_OPTIONS = ("files", "units", "sysctls", "packages")
# Options of a role that a caller passes (the state tune.yml read), not settings with a default.
CALLER_INPUTS = ("ktune_managed_state",)


class RoleSpecError(Exception):
    pass


class RequestConflict(Exception):
    pass


def role_variable(role, part):
    """The name of a role's part of the judgement, one of ROLE_VARIABLES."""
    if part not in ROLE_VARIABLES:
        raise ValueError("%r is not a part of a role's judgement: expected one of %s" % (part, ", ".join(ROLE_VARIABLES)))
    return "%s_%s" % (role, part)


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


def spec_defaults(role, collection_root=COLLECTION_ROOT):
    """The defaults of a role's settings, from its argument specification: an option without a
    default is null, as the role's defaults/main.yml has it, unless its choices leave null out
    (Ansible's own check would refuse that null: such an option is unset, as
    ktune_transparent_hugepage); the caller's inputs (CALLER_INPUTS) stay undefined."""
    return dict((name, option.get("default")) for name, option in role_options(role, collection_root=collection_root).items()
                if name not in CALLER_INPUTS and not _unset_by_default(option))


def _unset_by_default(option):
    return "default" not in option and bool(option.get("choices")) and None not in option["choices"]


def spec_problems(options, values):
    """The argument specification's complaints about the settings given (types, choices, required).

    values: {name: value} for the names set on the host; an unset name takes the spec's default.
    """
    provided = dict((name, value) for name, value in values.items() if name in options)
    result = ArgumentSpecValidator(options).validate(provided)
    return list(result.error_messages)


def selected_by_tags(roles, run_tags, skip_tags):
    """The roles whose tag (the role's name) this run's --tags and --skip-tags select."""
    run = set(run_tags or ["all"])
    skip = set(skip_tags or [])
    return [role for role in roles
            if role not in skip and "tagged" not in skip and run & set(["all", "tagged", role])]


def layered(defaults, task_vars, role_vars, extra_vars):
    """The variables a role's templates see, in Ansible's order: the roles' defaults under the
    task's variables (inventory, play), the roles' vars over them, extra vars (-e) over all.

    defaults, role_vars: lists of dicts, later ones over earlier ones.
    """
    variables = {}
    for layer in defaults:
        variables.update(layer or {})
    variables.update(task_vars)
    for layer in role_vars:
        variables.update((name, value) for name, value in (layer or {}).items() if name not in extra_vars)
    return variables


def merged_request(requests):
    """One ktune.inference.managed_state request out of several roles' requests."""
    merged = {}
    for request in requests:
        for name, value in (request or {}).items():
            if name in LIST_OPTIONS:
                known = merged.setdefault(name, [])
                known.extend(item for item in value or [] if item not in known)
            elif name in ("file_line_patterns", "cpufreq"):
                combine_options(merged.setdefault(name, {}), value or {}, name)
            elif name == "os":
                merged[name] = bool(merged.get(name)) or bool(value)
            elif merged.get(name, value) != value:
                raise RequestConflict("two roles ask for different %s: %r and %r" % (name, merged[name], value))
            else:
                merged[name] = value
    return merged


def combine_options(known, more, name):
    for key, value in more.items():
        if value is None:
            continue
        if known.get(key, value) != value:
            raise RequestConflict("two roles ask for different %s of %s: %r and %r" % (name, key, known[key], value))
        known[key] = value


def listed(items):
    """A role's list of findings without the empty strings its Jinja leaves for passed checks."""
    if items is None:
        return []
    if isinstance(items, (str, bytes)) or not isinstance(items, (list, tuple)):
        items = [items]
    return [str(item).strip() for item in items if item is not None and str(item).strip()]


def judgement(problems, host_problems, drift, notes):
    """One role's judgement: problems, host_problems, drift and notes.

    problems: the settings' problems (the argument specification's, or the role's own checks).
    host_problems, drift and notes are callables returning the role's lists, called in that order
    and each only when everything before it passed: the host state may need valid settings, what
    differs and the notes a host the role can work on. What was not judged is empty.
    """
    found = {"problems": listed(problems), "host_problems": [], "drift": [], "notes": []}
    if not found["problems"]:
        found["host_problems"] = listed(host_problems())
        if not found["host_problems"]:
            found["drift"] = listed(drift())
            found["notes"] = listed(notes())
    return found


def combined(judgements):
    """Every role's lists and exports in one, and the roles that have something to change."""
    found = {"problems": [], "host_problems": [], "drift": [], "notes": []}
    for role, judged in judgements.items():
        for part in found:
            found[part].extend(judged.get(part, []))
    found["exports"] = {}
    for judged in judgements.values():
        found["exports"].update(judged.get("exports") or {})
    found["roles_with_drift"] = [role for role, judged in judgements.items() if judged.get("drift")]
    # What a role judged alone applies (its tasks/validate.yml registers this result).
    found["plan"] = list(judgements.values())[0].get("plan", {}) if len(judgements) == 1 else {}
    return found
