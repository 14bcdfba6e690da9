# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters kt_weights_root and kt_weights_root_problems: the directory kt-kernel weight paths are read
under (ktune_weights_root), checked by the one judgement the audit and the service role share."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.kt_weights import weights_root_problem


def kt_weights_root_problems(value, variable="ktune_weights_root"):
    problem = weights_root_problem(value, variable)
    return [problem] if problem else []


def kt_weights_root(value, variable="ktune_weights_root"):
    problem = weights_root_problem(value, variable)
    if problem:
        raise AnsibleFilterError("%s. Fix: correct it in the inventory or on the command line" % problem)
    return value


class FilterModule(object):
    def filters(self):
        return {"kt_weights_root": kt_weights_root, "kt_weights_root_problems": kt_weights_root_problems}
