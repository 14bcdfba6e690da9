# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters cpulist_expand and cpulist_compress."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
)


def cpulist_expand(text):
    try:
        return parse_cpulist(text)
    except CpulistError as exc:
        raise AnsibleFilterError("cpulist_expand: %s" % exc)


def cpulist_compress(ids):
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
        raise AnsibleFilterError("cpulist_compress: expected a list of CPU ids, got %r" % (ids,))
    try:
        return format_cpulist(ids)
    except (CpulistError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("cpulist_compress: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {
            "cpulist_expand": cpulist_expand,
            "cpulist_compress": cpulist_compress,
        }
