# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: concern_judgement
short_description: A tuning role's share of the registered concern judgements, from one read of the host
version_added: "0.1.0"
description:
  - For every control of the collection's control registry (C(plugins/module_utils/concern_registry.py)) that
    names a judgement and whose tag is the role's, what the role must read, what it refuses in the settings,
    what stops it on this host and what it would change, decided by the same function as the audit's control.
  - Reads the controls' settings from the variables the lookup sees (inventory over role defaults, as a task
    sees them); a variable that is not set takes its default from the role's argument specification, and
    C(ktune_sysfs_root) is the sysfs mount.
options:
  _terms:
    description:
      - The role's name; then, optionally, the result of M(ktune.inference.managed_state) read with
        RV(_raw[].request) and C(numa=true), and the NUMA layout it read (C(ktune_numa)). Without those two
        only RV(_raw[].request) and RV(_raw[].problems) are worked out.
    type: list
    elements: raw
    required: true
author:
  - ktune contributors (@ktune)
"""

EXAMPLES = r"""
- name: What the numa_env role would change for its registered concerns
  ansible.builtin.debug:
    msg: "{{ lookup('ktune.inference.concern_judgement', 'numa_env', ktune_managed_state, ktune_numa).drift }}"
"""

RETURN = r"""
_raw:
  description: One dictionary.
  type: list
  elements: dict
  contains:
    request:
      description: The M(ktune.inference.managed_state) options that read what the judgements need.
      type: dict
    problems:
      description: What the settings get wrong, naming the variable (empty when nothing).
      type: list
      elements: str
    host_problems:
      description: Host state that stops the change (empty without a read).
      type: list
      elements: str
    drift:
      description: What the role would change, one line each (empty without a read).
      type: list
      elements: str
    drift_by_control:
      description: The same lines by control id.
      type: dict
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.ktune.inference.plugins.module_utils import concern_registry as registry
from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import role_options
from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import role_judgement


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        if len(terms) not in (1, 3) or not isinstance(terms[0], str):
            raise AnsibleLookupError("concern_judgement: expected a role's name, then optionally the managed_state "
                                     "result and ktune_numa, got %d terms" % len(terms))
        entries = registry.judged_by_role(terms[0])
        options = role_options(terms[0]) if entries else {}
        settings = {}
        for entry in entries:
            for name in entry.settings:
                if name in variables:
                    settings[name] = self._templar.template(variables[name])
                else:
                    settings[name] = (options.get(name) or {}).get("default")
        sysfs_root = self._templar.template(variables["ktune_sysfs_root"]) if "ktune_sysfs_root" in variables else "/sys"
        return [role_judgement(entries, settings, sysfs_root, *terms[1:])]
