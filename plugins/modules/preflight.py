#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: preflight
short_description: Name the inventory's mistakes in one line each, before anything runs
version_added: "0.1.0"
description:
  - An action that runs on the controller and never touches the host. C(tune.yml), C(rollout.yml) and
    C(audit.yml) call it first on every host.
  - For each role in O(roles), the host's values of the role's settings are checked against the role's
    C(meta/argument_specs.yml) C(main) entry point (types, choices, required fields, the fields of each
    list item), one line per problem naming the variable, the list index and the instance name, the
    value found and what is expected (see RV(msg)). A misspelt field is
    named with the closest known field. Anything Ansible's own argument validation would still refuse is
    added in its words, so the role's validation never prints the whole specification.
  - Every variable named C(ktune_*) set for the host (inventory, host and group vars, C(-e)) that the
    collection does not know is named with the closest known name, as a
    warning, or as a problem with O(unknown_variables=fail). The known names are the options of every
    role's argument specification (every entry point) and the C(ktune_*) names the collection's
    playbooks and modules use (such as C(ktune_hosts) and the C(ktune_numa) fact).
  - With O(root=true), only when the settings pass, whether the run will be root on the host, by C(become)
    to root, or a login as root (uid 0) without C(become). Where the connection does not tell (an SSH
    user other than root, or none given), one C(id -u) is run on the host (a raw command, no module).
    Else the host fails at the start, in check mode too, saying to add C(--become) or set C(become).
  - Fails the host, listing every problem, when there is one.
author:
  - ktune contributors (@ktune)
options:
  roles:
    description: The roles of this collection whose settings to check.
    type: list
    elements: str
    default: []
  unknown_variables:
    description:
      - What a C(ktune_*) variable the collection does not know is; the playbooks pass
        C(ktune_unknown_variables) (for example C(fail) in a CI pipeline).
    type: str
    choices: [warn, fail, ignore]
    default: warn
  root:
    description: The run changes the host, so it must be root there (C(tune.yml), C(rollout.yml)).
    type: bool
    default: false
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    description: Runs as an action plugin on the controller; at most one raw C(id -u) on the host (O(root)).
    support: full
  check_mode:
    support: full
    details: Changes nothing anywhere; the same result in check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
seealso:
  - module: ktune.inference.judge
"""

EXAMPLES = r"""
- name: Name the inventory's mistakes before anything runs
  ktune.inference.preflight:
    roles: [ktransformers_service]
    unknown_variables: "{{ ktune_unknown_variables | default('warn') }}"
    root: true
  tags: [always]
"""

RETURN = r"""
msg:
  description: When failed, the host, one line per problem, and the fix.
  returned: failure
  type: str
  sample: |-
    web1: 1 mistake in the settings, nothing was changed:
    ktune_service_instances[0] (kimi): kt_methd is not a field: did you mean kt_method?
    Fix: correct it in the inventory, host/group vars or -e.
"""
