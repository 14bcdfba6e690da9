# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action ktune.inference.preflight: the inventory's mistakes, one line each, on the controller,
before any role's own argument validation or any change."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.errors import AnsibleActionFail, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.template import Templar

from ansible_collections.ktune.inference.plugins.plugin_utils.mistakes import (
    SpecError,
    known_variables,
    read_specs,
    root_problem,
    settings_mistakes,
    uid_of,
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
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) and ROLE_NAME.match(item) for item in value):
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

    def _login_uid(self):
        """The uid this connection logs in as: known without asking where the connection says it
        (local, an explicit root user), else one `id -u` round trip (no module)."""
        if getattr(self._connection, "transport", None) == "local":
            return os.geteuid()
        try:
            user = self._connection.get_option("remote_user")
        except (AnsibleError, KeyError):
            user = self._play_context.remote_user
        if user == "root":
            return 0
        try:
            probe = self._low_level_execute_command("id -u", sudoable=False)
        except AnsibleError:
            return None
        return uid_of(probe.get("rc"), probe.get("stdout"))

    def _root_problems(self, task_vars):
        if not self._task.args.get("root", False):
            return []
        become = bool(self._play_context.become)
        problem = root_problem(become, self._play_context.become_user, None if become else self._login_uid())
        if problem is None:
            return []
        return ["this run changes the host and needs root, but it %s (checked in check mode too: the real run would "
                "fail at its first write). Fix: add --become (-b) to the command, or set become: true (ansible_become: "
                "true in the inventory)%s" % (problem, " with become_user root" if become else "")]

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        host = task_vars.get("inventory_hostname", "this host")
        problems, warnings = self._unknown_variables(task_vars)
        problems += self._settings_mistakes(self._list_arg("roles"), task_vars)
        result["changed"] = False
        if warnings:
            result["warnings"] = warnings
        lines = []
        if problems:
            lines = (["%s: %d mistake%s in the settings, nothing was changed:" % (host, len(problems), "" if len(problems) == 1 else "s")]
                     + problems
                     + ["Fix: correct %s in the inventory, host/group vars or -e." % ("it" if len(problems) == 1 else "them")])
        else:  # the login is asked about only when the settings are right
            lines = ["%s: %s; nothing was changed." % (host, problem) for problem in self._root_problems(task_vars)]
        if lines:
            result["failed"] = True
            result["msg"] = "\n".join(lines)
        return result
