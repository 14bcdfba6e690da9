# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action ktune.inference.judge: one role's settings, host state and drift, on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase

from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import (
    RoleSpecError,
    judgement,
    role_options,
    spec_problems,
)

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def resolve(templar, name):
    """The value of a variable, templated (ansible-core 2.19 and 2.16)."""
    if hasattr(templar, "resolve_variable_expression"):
        return templar.resolve_variable_expression(name)
    return templar.template("{{ %s }}" % name)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def _settings(self, options, task_vars):
        """The host's value of each option it sets; one that cannot be templated is a problem."""
        values, problems = {}, []
        for name in options:
            if name not in task_vars:
                continue
            try:
                values[name] = resolve(self._templar, name)
            except AnsibleError as exc:
                problems.append("%s cannot be evaluated: %s" % (name, to_text(exc).splitlines()[0]))
        return values, problems

    def _lazy(self, name):
        """A list variable named by the role, templated only once the settings passed."""
        if name is None:
            return []
        if not VARIABLE_NAME.match(name):
            raise AnsibleActionFail("judge: %r is not a variable name" % (name,))
        return resolve(self._templar, name)

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        role = args.get("role")
        if not role or not VARIABLE_NAME.match(role):
            raise AnsibleActionFail("judge: role must be a role name of this collection, got %r" % (role,))
        try:
            options = role_options(role, args.get("entry_point", "main"))
        except RoleSpecError as exc:
            raise AnsibleActionFail("judge: %s" % exc)
        values, template_problems = self._settings(options, task_vars)
        spec_errors = template_problems + spec_problems(options, values)
        lazy = dict((name, lambda name=name: self._lazy(args.get(name))) for name in ("host_problems", "drift", "notes"))
        # Returned, not set as facts: facts would go to the fact cache and outlive the run.
        result.update(judgement(spec_errors, args.get("problems"), lazy["host_problems"], lazy["drift"], lazy["notes"]))
        result["changed"] = False
        return result
