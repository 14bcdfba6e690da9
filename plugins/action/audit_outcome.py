# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action ktune.inference.audit_outcome: end one host's audit as the PLAY RECAP should count it.

audit.yml reads the hosts with ignore_unreachable, so that the report is written even when no host
can be reached (ansible-playbook ends a run whose every host is unreachable before its next task).
This action then gives each host its outcome: unreachable again for a host that could not be read
for that reason (exit status 4, "unreachable=1" in the recap), failed for a failing host (2), ok
otherwise. It connects to nothing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase


def outcome(unreachable, failed, msg):
    """The task result for a host: unreachable wins over failed."""
    if unreachable:
        return {"unreachable": True, "changed": False, "msg": msg}
    if failed:
        return {"failed": True, "changed": False, "msg": msg}
    return {"changed": False, "msg": msg}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("unreachable", "failed", "msg"))

    def run(self, tmp=None, task_vars=None):
        super(ActionModule, self).run(tmp, task_vars)
        self._supports_check_mode = True
        args = self._task.args
        flags = {}
        for name in ("unreachable", "failed"):
            try:
                flags[name] = boolean(args.get(name, False), strict=True)
            except TypeError:
                raise AnsibleActionFail("audit_outcome: %s must be true or false, got %r" % (name, args.get(name)))
        return outcome(flags["unreachable"], flags["failed"], to_text(args.get("msg", "")))
