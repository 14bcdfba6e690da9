# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter host_path_component: an inventory host name as one file name on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.report_encoding import path_component


def host_path_component(name):
    if not isinstance(name, str):
        raise AnsibleFilterError("host_path_component: expected an inventory host name, got %s" % type(name).__name__)
    try:
        return path_component(name)
    except ValueError as exc:
        raise AnsibleFilterError("host_path_component: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"host_path_component": host_path_component}
