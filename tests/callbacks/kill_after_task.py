# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only breakpoint: kill this ansible-playbook run right after a named task changed something.

Issue 21, item 6 (molecule/service/side_effect.yml): a run cut short between writing a unit and
restarting it. Enabled only by the test (ANSIBLE_CALLBACK_PLUGINS pointing here,
ANSIBLE_CALLBACKS_ENABLED=kill_after_task); never shipped in what users run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = """
name: kill_after_task
type: aggregate
short_description: Kill the run after a named task reports changed (tests only)
description:
  - Sends the signal in E(KTUNE_TEST_KILL_SIGNAL) (default KILL) to the ansible-playbook process as
    soon as the task named in E(KTUNE_TEST_KILL_AFTER) finishes with a change on some host.
requirements:
  - enabled in callbacks_enabled
"""

import os
import signal

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "kill_after_task"
    CALLBACK_NEEDS_ENABLED = True

    def v2_runner_on_ok(self, result):
        task_name = os.environ.get("KTUNE_TEST_KILL_AFTER")
        name = result.task_name or ""
        # In a role the name reads "role : task".
        if task_name and (name == task_name or name.endswith(" : " + task_name)) and result.is_changed():
            os.kill(os.getpid(), getattr(signal, "SIG" + os.environ.get("KTUNE_TEST_KILL_SIGNAL", "KILL")))
