#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: audit_outcome
short_description: End a host's audit as unreachable, failed or ok, as the PLAY RECAP and exit status should count it
version_added: "0.1.0"
description:
  - An action that runs on the controller and connects to nothing.
  - C(playbooks/audit.yml) reads every host with C(ignore_unreachable), so that its reports are written
    even when no host can be reached (C(ansible-playbook) stops a play whose every host is unreachable
    before its next task). This action then gives each host the outcome the run would have had
    otherwise - unreachable (exit status 4) for a host that could not be reached, failed (exit status 2)
    for a host that fails an error control, ok otherwise - with O(msg) as its message.
author:
  - ktune contributors (@ktune)
options:
  unreachable:
    description: Report the host unreachable. Wins over O(failed).
    type: bool
    default: false
  failed:
    description: Fail the host.
    type: bool
    default: false
  msg:
    description: The message of the result.
    type: str
    default: ""
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    description: Runs as an action plugin on the controller; the module file holds only this documentation.
    support: full
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
seealso:
  - module: ktune.inference.audit_report
"""

EXAMPLES = r"""
- name: End each host's audit
  ktune.inference.audit_outcome:
    unreachable: "{{ ktune_audit_facts.unreachable | default(false) | bool }}"
    failed: "{{ inventory_hostname in ktune_audit.failed_hosts }}"
    msg: "{{ ktune_audit.verdicts[inventory_hostname] | default('passes') }}"
"""

RETURN = r"""
msg:
  description: The message given in O(msg).
  returned: always
  type: str
"""
