# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: numa_sysctls
short_description: The NUMA kernel settings ktune manages, as this host's variables set them
version_added: "0.1.0"
description:
  - One answer for every role and report that needs the NUMA kernel settings (C(kernel.numa_balancing),
    C(vm.zone_reclaim_mode)), from the one table of them (C(concerns.NUMA_SYSCTLS) in the collection's
    module_utils), so a new kernel setting is added there and its variable in the roles' argument
    specifications, not in every role's templates.
  - Takes no terms. Reads each setting's variable from the variables the lookup sees (inventory over
    role defaults, as a task sees them); a variable that is not set takes its default from the
    C(numa_env) role's argument specification.
author:
  - ktune contributors (@ktune)
"""

EXAMPLES = r"""
- name: Show the kernel settings this host should have
  ansible.builtin.debug:
    msg: "{{ lookup('ktune.inference.numa_sysctls').wanted }}"

- name: Stop on a value outside the kernel's range
  ansible.builtin.fail:
    msg: "{{ lookup('ktune.inference.numa_sysctls').problems | join('; ') }}"
  when: lookup('ktune.inference.numa_sysctls').problems | length > 0
"""

RETURN = r"""
_raw:
  description: One dictionary.
  type: list
  elements: dict
  contains:
    names:
      description: The kernel parameters, in the table's order.
      type: list
      elements: str
      sample: [kernel.numa_balancing, vm.zone_reclaim_mode]
    settings:
      description: Each variable's value as given, by variable name.
      type: dict
      sample: {ktune_numa_balancing: 0, ktune_zone_reclaim_mode: 0}
    problems:
      description: Why a value cannot be applied, naming the variable and the kernel's range (empty when all can).
      type: list
      elements: str
    wanted:
      description: The value of each kernel parameter as an integer, by parameter name (empty when there are problems).
      type: dict
      sample: {kernel.numa_balancing: 0, vm.zone_reclaim_mode: 0}
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.ktune.inference.plugins.module_utils.concerns import (
    NUMA_SYSCTL_NAMES,
    NUMA_SYSCTL_VARIABLES,
    numa_sysctl_problems,
    numa_sysctls_wanted,
)
from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import role_options

SETTINGS_ROLE = "numa_env"


def numa_sysctls(settings, options=None):
    """The lookup's answer for settings {variable: value}; an unset variable takes the role's default."""
    options = options if options is not None else role_options(SETTINGS_ROLE)
    given = dict((variable, settings[variable] if variable in settings else options[variable].get("default"))
                 for variable in NUMA_SYSCTL_VARIABLES)
    problems = numa_sysctl_problems(given)
    return {"names": list(NUMA_SYSCTL_NAMES), "settings": given, "problems": problems,
            "wanted": {} if problems else numa_sysctls_wanted(given)}


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        settings = dict((variable, self._templar.template(variables[variable]))
                        for variable in NUMA_SYSCTL_VARIABLES if variable in variables)
        return [numa_sysctls(settings)]
