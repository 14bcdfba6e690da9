#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: audit_report
short_description: Grade hosts from their host state reads and write the fleet audit report
version_added: "0.1.0"
description:
  - An action that runs on the controller only (use it with C(run_once) and C(delegate_to) localhost).
    It reads every listed host's registered M(ktune.inference.managed_state) result (read with
    O(ktune.inference.managed_state#module:host_state)) and its variables
    through C(hostvars), grades every control of the collection's control registry
    (C(plugins/module_utils/concern_registry.py); the user guide lists them with their severities) and writes
    C(audit.json), C(audit.xml) (JUnit) and C(audit.html) to O(report_dir).
  - Each control's expected value is the host's inventory variable, or the collection's role default
    (read from the roles' C(meta/argument_specs.yml)) when the inventory does not set it.
  - A host whose result is missing, unreachable or failed is listed with status C(unknown).
  - Changes nothing on any host; the task never fails on a graded host, the play decides from
    RV(failed_hosts) and RV(unknown_hosts).
author:
  - ktune contributors (@ktune)
options:
  hosts:
    description: Inventory hostnames to grade, for example C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  facts:
    description: Name of the variable each host registered the managed_state (host_state) result in.
    type: str
    default: ktune_audit_facts
  report_dir:
    description: Controller directory for the report files (created); empty writes none.
    type: path
  baseline_dir:
    description:
      - Controller directory of performance baselines; C(<baseline_dir>/<host>/curve.svg) is
        embedded in the host's section of C(audit.html) when it exists.
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    description: Runs as an action plugin on the controller; the module file holds only this documentation.
    support: full
  check_mode:
    support: full
    details: The report is written in check mode too; hosts are only read.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
seealso:
  - module: ktune.inference.managed_state
"""

EXAMPLES = r"""
- name: Read the host state
  ktune.inference.managed_state:
    host_state: {}
  register: ktune_audit_facts
  ignore_unreachable: true

- name: Grade the fleet and write the report
  ktune.inference.audit_report:
    hosts: "{{ ansible_play_hosts_all }}"
    report_dir: ktune-reports/today
  run_once: true
  delegate_to: localhost
  register: ktune_audit
"""

RETURN = r"""
report:
  description: The audit document written to audit.json (hosts and summary).
  returned: always
  type: dict
summary:
  description: Counts of hosts and control results, failed and unknown hosts, hosts per group.
  returned: always
  type: dict
table:
  description: A compact text table, one line per host.
  returned: always
  type: str
files:
  description: Absolute paths of the written files by kind (json, xml, html).
  returned: when report_dir is set
  type: dict
failed_hosts:
  description: Hosts that fail at least one control of severity error.
  returned: always
  type: list
  elements: str
unknown_hosts:
  description: Hosts that could not be graded (unreachable, fact task failed or skipped).
  returned: always
  type: list
  elements: str
verdicts:
  description:
    - For every host in RV(failed_hosts) or RV(unknown_hosts), one line saying why, naming each
      failed error control with its finding and fix. Playbooks fail each such host with it.
  returned: always
  type: dict
  sample:
    node7: "fails error controls: numa.layout (expected NPS2 (4 nodes on 2 sockets), found NPS4; fix: ...)"
"""
