# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters audit_controls and audit_status: grade one host from its host state read (managed_state's host_state)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import (
    evaluate,
    host_settings,
    host_status,
    load_role_defaults,
    with_bmc,
)
from ansible_collections.ktune.inference.plugins.plugin_utils.fix_hints import host_fixes

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _facts(result, name):
    if isinstance(result, dict) and "ansible_facts" in result:
        result = result["ansible_facts"]
    if not isinstance(result, dict) or "ktune_host_state" not in result:
        raise AnsibleFilterError("%s: expected the result of ktune.inference.managed_state with host_state (or its "
                                 "ansible_facts), got %r" % (name, type(result).__name__))
    return result


def audit_controls(result, host_vars=None):
    try:
        settings = host_settings(load_role_defaults(COLLECTION_ROOT, yaml.safe_load), host_vars or {})
    except TypeError as exc:
        raise AnsibleFilterError("audit_controls: host_vars must be a mapping such as hostvars[inventory_hostname]: %s"
                                 % exc)
    return host_fixes(evaluate(with_bmc(_facts(result, "audit_controls"), host_vars), settings), host_vars)


def audit_status(controls):
    if not isinstance(controls, list):
        raise AnsibleFilterError("audit_status: expected the list audit_controls returns, got %r"
                                 % type(controls).__name__)
    return host_status(controls)


class FilterModule(object):
    def filters(self):
        return {"audit_controls": audit_controls, "audit_status": audit_status}
