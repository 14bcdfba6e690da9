#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: judge
short_description: Judge one tuning role's settings, the host's state and what the role would change
version_added: "0.1.0"
description:
  - An action that runs on the controller only; it makes no call to the host. Each tuning role's
    C(tasks/judge.yml) calls it once, after the one read of the host (M(ktune.inference.managed_state)).
  - Checks the host's settings against the role's C(meta/argument_specs.yml) entry point (types,
    choices), then takes the role's own settings problems (O(problems)). Only when both pass does it
    template the role's host-state problems (O(host_problems)), and only when there are none what
    differs (O(drift)) and the notes (O(notes)), since each may need what the one before it checked.
  - Returns RV(problems), RV(host_problems), RV(drift) and RV(notes) (lists of strings, empty strings
    dropped) to register; it sets no facts, so nothing outlives the run in a fact cache. It never fails
    on what it finds; the caller decides (C(tune.yml) stops every host on settings problems, and fails
    only the host on host-state problems).
author:
  - ktune contributors (@ktune)
options:
  role:
    description: The role of this collection whose argument specification is checked.
    type: str
    required: true
  entry_point:
    description: The entry point of the role's argument specification.
    type: str
    default: main
  problems:
    description: The role's own checks of the settings, one string per problem (empty strings are passed checks).
    type: list
    elements: str
    default: []
  host_problems:
    description: Name of the role variable listing the host-state problems (templated only when the settings pass).
    type: str
  drift:
    description: Name of the role variable listing what the role would change (templated only when the settings pass).
    type: str
  notes:
    description: Name of the role variable listing notes to show, such as a setting that does not apply to this host.
    type: str
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    description: Runs as an action plugin on the controller; the module file holds only this documentation.
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
  - module: ktune.inference.managed_state
"""

EXAMPLES = r"""
- name: Judge the page cache settings and what differs
  ktune.inference.judge:
    role: page_cache
    problems: "{{ page_cache_settings_problems }}"
    drift: page_cache_drift_items
  register: page_cache_judgement

- name: Stop on bad settings
  ansible.builtin.fail:
    msg: "{{ inventory_hostname }}: {{ page_cache_judgement.problems | join(' || ') }}"
  when: page_cache_judgement.problems | length > 0
"""

RETURN = r"""
problems:
  description: Settings problems, from the argument specification and the role's checks.
  returned: always
  type: list
  elements: str
  sample: ["ktune_drop_caches_level = 7 is not a drop_caches level: expected 1, 2 or 3"]
host_problems:
  description: Host-state problems (empty when the settings have problems).
  returned: always
  type: list
  elements: str
drift:
  description: What the role would change, one line per item (empty when not judged).
  returned: always
  type: list
  elements: str
  sample: ["/etc/cron.d/ktune-drop-caches: missing"]
notes:
  description: Notes for the operator, such as a setting that does not apply to this host (empty when not judged).
  returned: always
  type: list
  elements: str
"""
