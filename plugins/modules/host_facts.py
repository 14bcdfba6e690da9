#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_facts
short_description: Read everything the fleet audit grades (deprecated, use managed_state's host_state)
version_added: "0.1.0"
deprecated:
  removed_in: "1.0.0"
  why: >-
    One module reads the host for tune, the audit, the rollout gate and the diagnosis:
    M(ktune.inference.managed_state) returns the same facts with its O(ktune.inference.managed_state#module:host_state) option.
  alternative: >-
    Use M(ktune.inference.managed_state) with these options under
    O(ktune.inference.managed_state#module:host_state) (C(sysfs_root) and C(procfs_root) stay top-level).
description:
  - The same read as M(ktune.inference.managed_state) with O(ktune.inference.managed_state#module:host_state),
    by the same code, under the options it had before the two modules became one.
  - Returns the C(ktune_numa) and C(ktune_host_state) facts. Never writes.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ktune.inference.host_roots
  - ktune.inference.attributes.facts
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
options:
  cron_file:
    description: As O(ktune.inference.managed_state#module:host_state.cron_file).
    type: path
    default: /etc/cron.d/ktune-drop-caches
  cron_units:
    description: As O(ktune.inference.managed_state#module:host_state.cron_units).
    type: list
    elements: str
    default: [cron.service, crond.service, cronie.service]
  sysctl_file:
    description: As O(ktune.inference.managed_state#module:host_state.sysctl_file).
    type: path
    default: /etc/sysctl.d/90-ktune-numa.conf
  sysctls:
    description: As O(ktune.inference.managed_state#module:host_state.sysctls).
    type: list
    elements: str
    default: [kernel.numa_balancing, vm.zone_reclaim_mode]
  environment_file:
    description: As O(ktune.inference.managed_state#module:host_state.environment_file).
    type: path
    default: /etc/environment
  env_dir:
    description: As O(ktune.inference.managed_state#module:host_state.env_dir).
    type: path
    default: /etc/ktransformers
  extra_env_files:
    description: As O(ktune.inference.managed_state#module:host_state.extra_env_files).
    type: list
    elements: path
  instances:
    description: As O(ktune.inference.managed_state#module:host_state.instances).
    type: list
    elements: raw
    default: []
  service_settings:
    description: As O(ktune.inference.managed_state#module:host_state.service_settings).
    type: dict
    default: {}
  health_timeout:
    description: As O(ktune.inference.managed_state#module:host_state.health_timeout).
    type: float
    default: 5
  removed_marker:
    description: As O(ktune.inference.managed_state#module:host_state.removed_marker).
    type: path
    default: /var/lib/ktune-removed
  tune_record:
    description: As O(ktune.inference.managed_state#module:host_state.tune_record).
    type: path
    default: /var/lib/ktune-tuned
    version_added: 0.2.0
  weights_root:
    description: As O(ktune.inference.managed_state#module:host_state.weights_root).
    type: path
    default: /
seealso:
  - module: ktune.inference.managed_state
"""

EXAMPLES = r"""
# Deprecated: move the options under managed_state's host_state (see its examples).
- name: Read the host state for the audit, under the old option names
  ktune.inference.host_facts:
    procfs_root: /proc
    cron_units: [cron.service]
    extra_env_files: [/etc/ktransformers/r1.env]
  register: ktune_audit_facts
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host, as RV(ktune.inference.managed_state#module:ansible_facts) with host_state.
  returned: always
  type: dict
  contains:
    ktune_numa:
      description: The NUMA layout, or a dictionary with an C(error) key.
      returned: always
      type: dict
    ktune_host_state:
      description: Everything else the audit grades.
      returned: always
      type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.host_state import host_state_options, read_host_state
from ansible_collections.ktune.inference.plugins.module_utils.sysctl import SysctlError


def main():
    options = host_state_options()
    module = AnsibleModule(
        argument_spec=dict(sysfs_root=dict(type="path", default="/sys"),
                           procfs_root=dict(type="path", default="/proc"), **options),
        supports_check_mode=True,
    )
    try:
        facts = read_host_state(module, dict((name, module.params[name]) for name in options),
                                module.params["sysfs_root"], module.params["procfs_root"])
    except SysctlError as exc:
        module.fail_json(msg="sysctls: %s" % exc)
    module.exit_json(changed=False, ansible_facts=facts)


if __name__ == "__main__":
    main()
