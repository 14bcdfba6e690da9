# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action ktune.inference.preflight: the inventory's mistakes, one line each, on the controller,
before any role's own argument validation or any change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase
from ansible.template import Templar

from ansible_collections.ktune.inference.plugins.plugin_utils.mistakes import (
    SpecError,
    known_variables,
    read_specs,
    settings_mistakes,
    unknown_variables,
)

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*\Z")
UNKNOWN_VARIABLES = ("warn", "fail", "ignore")


def resolve(templar, name):
    """The value of a variable, templated (ansible-core 2.19 and 2.16)."""
    if hasattr(templar, "resolve_variable_expression"):
        return templar.resolve_variable_expression(name)
    return templar.template("{{ %s }}" % name)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _supports_check_mode = True

    def _list_arg(self, name):
        value = self._task.args.get(name) or []
        if isinstance(value, string_types):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, string_types) and ROLE_NAME.match(item) for item in value):
            raise AnsibleActionFail("preflight: %s must be a list of role names of this collection, got %r" % (name, value))
        return value

    def _settings_mistakes(self, roles, task_vars):
        """Each role's settings set for this host against its main entry point, one line each."""
        templar = Templar(loader=self._loader, variables=task_vars)
        problems = []
        for role in roles:
            try:
                options = read_specs(role).get("main") or {}
            except SpecError as exc:
                raise AnsibleActionFail("preflight: %s" % exc)
            values = {}
            for name in options:
                if name not in task_vars:
                    continue
                try:
                    values[name] = resolve(templar, name)
                except AnsibleError as exc:
                    problems.append("%s cannot be evaluated: %s" % (name, to_text(exc).splitlines()[0]))
            problems.extend(settings_mistakes(options, values))
        return problems

    def _unknown_variables(self, task_vars):
        """(problems, warnings) for the ktune_* variables set here that the collection does not know."""
        mode = self._task.args.get("unknown_variables", "warn")
        if mode not in UNKNOWN_VARIABLES:
            return ["ktune_unknown_variables = %r: expected one of %s" % (mode, ", ".join(UNKNOWN_VARIABLES))], []
        if mode == "ignore":
            return [], []
        found = ["%s is not a variable of ktune.inference: %s" % (name, hint)
                 for name, hint in unknown_variables(task_vars, known_variables())]
        if mode == "fail":
            return found, []
        host = task_vars.get("inventory_hostname", "this host")
        return [], ["%s: %s; it is ignored (ktune_unknown_variables: fail stops on it)" % (host, line) for line in found]

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        host = task_vars.get("inventory_hostname", "this host")
        problems, warnings = self._unknown_variables(task_vars)
        problems += self._settings_mistakes(self._list_arg("roles"), task_vars)
        result["changed"] = False
        if warnings:
            result["warnings"] = warnings
        if problems:
            result["failed"] = True
            result["msg"] = "\n".join(
                ["%s: %d mistake%s in the settings, nothing was changed:" % (host, len(problems), "" if len(problems) == 1 else "s")]
                + problems
                + ["Fix: correct %s in the inventory, host/group vars or -e." % ("it" if len(problems) == 1 else "them")])
        return result
