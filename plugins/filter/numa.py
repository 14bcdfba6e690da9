# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters nps_layout_problems and numa_summary over the ktune_numa fact."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.ktune.inference.plugins.module_utils.layout import layout_problems, numa_summary


def _require_facts(numa, name):
    if not isinstance(numa, dict) or "available" not in numa:
        raise AnsibleFilterError("%s: expected the ktune_numa fact from ktune.inference.numa_facts, got %r"
                                 % (name, type(numa).__name__))


def nps_layout_problems(numa, expected_nodes_per_socket=None, expected_sockets=None,
                        allow_memory_only_nodes=False, require_balanced_memory=True):
    _require_facts(numa, "nps_layout_problems")
    # Extra vars (-e) arrive as strings even after argument_specs validated them.
    try:
        return layout_problems(numa, _optional_int(expected_nodes_per_socket), _optional_int(expected_sockets),
                               boolean(allow_memory_only_nodes), boolean(require_balanced_memory))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("nps_layout_problems: %s" % exc)


def _optional_int(value):
    return None if value is None or value == "" else int(value)


def numa_summary_filter(numa):
    _require_facts(numa, "numa_summary")
    return numa_summary(numa)


class FilterModule(object):
    def filters(self):
        return {
            "nps_layout_problems": nps_layout_problems,
            "numa_summary": numa_summary_filter,
        }
