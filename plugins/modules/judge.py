#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: judge
short_description: Judge the tuning roles' settings, read the host once for all of them, and list what each would change
version_added: "0.1.0"
description:
  - An action that runs on the controller. C(tune.yml) and C(rollout.yml) call it once per host for
    every tuning role; each role's C(tasks/validate.yml) calls it for that role alone.
  - For each role in O(roles), first its settings, on the controller, without touching the host (the
    host's values against the role's C(meta/argument_specs.yml) C(main) entry point, types and choices),
    then, only when those pass, the role's own checks (C(plugins/plugin_utils/role_settings.py), one
    Python function per role; a role variable C(<role>_settings_problems), where one is set, is added,
    deprecated).
  - Only when no role has a settings problem, one read-only call of M(ktune.inference.managed_state) on
    the host, with every role's request (C(<role>_state_request)) merged and the NUMA layout; none when
    O(state) is given.
  - Then, for each role, its host-state problems (C(<role>_host_problems)), and only when there are
    none what it would change (C(<role>_drift_items)), its notes (C(<role>_notes)) and what it passes to
    the roles that follow (C(<role>_exports)). A role judged in Python (C(plugins/plugin_utils/role_judgements.py),
    such as C(nps_layout)) is judged there; the others' variables are templated as the role would (its
    vars under the host's variables, its files and templates on the search path), with
    C(ktune_managed_state) and C(ktune_numa) from the read. A role's defaults are its argument
    specification's; no role's C(defaults/main.yml) is read.
  - Returns the lists to register; it never fails on what it finds (the caller decides; C(tune.yml)
    stops every host on settings problems and fails only the host on host-state problems). The only
    fact it sets is C(ktune_numa) from the read, as M(ktune.inference.managed_state) does; a read that
    fails fails the task for that host.
author:
  - ktune contributors (@ktune)
options:
  roles:
    description:
      - The tuning roles of this collection to judge, in order. An empty list still reads the NUMA layout.
    type: list
    elements: str
    required: true
  select_by_tags:
    description:
      - Deprecated, to be removed in 2.0.0, as it re-implements Ansible's tag selection. Pass in O(roles)
        the roles the run selects instead, as C(tune.yml) does with one C(set_fact) tagged with each
        role's name (C(playbooks/tasks/select_roles.yml)), so that Ansible's own C(--tags) decides.
      - Judge only the roles this run's C(--tags) and C(--skip-tags) select, each role's tag being its
        name, as the role's own tasks would be selected. The task itself is meant to be tagged C(always).
    type: bool
    default: false
  state:
    description:
      - What the host read returned already (a registered M(ktune.inference.managed_state) result); no
        read is made.
    type: dict
  numa:
    description: Read the NUMA layout too (the C(ktune_numa) fact).
    type: bool
    default: true
  tune_record:
    description:
      - Where the host keeps the record of which ktune.inference version tuned it (C(tune.yml) passes
        C(ktune_tune_record), default C(/var/lib/ktune-tuned)). Read in the same call
        (O(ktune.inference.managed_state#module:tune_record)) and compared with this collection's
        version in RV(tune_record). Null reads no record.
    type: path
    version_added: 0.2.0
  sysfs_root:
    description: Passed to the read (another sysfs tree; tests use it).
    type: path
  procfs_root:
    description: Passed to the read (another procfs tree; tests use it).
    type: path
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  action:
    description: Runs as an action plugin on the controller; the host sees one read-only module call.
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
- name: Read the host once and judge every tuning role
  ktune.inference.judge:
    roles: [nps_layout, cpu_governor, page_cache, numa_env]
  register: judged
  tags: [always]

- name: Stop on bad settings
  ansible.builtin.fail:
    msg: "{{ inventory_hostname }}: {{ judged.problems | join(' || ') }}"
  when: judged.problems | length > 0

- name: Show what would change
  ansible.builtin.debug:
    msg: "{{ judged.roles_with_drift }}: {{ judged.drift }}"
"""

RETURN = r"""
problems:
  description: Settings problems of every role judged, from the argument specifications and the roles' checks.
  returned: always
  type: list
  elements: str
  sample: ["ktune_drop_caches_level = 7 is not a drop_caches level: expected 1, 2 or 3"]
host_problems:
  description: Host-state problems (empty when some setting has a problem).
  returned: always
  type: list
  elements: str
drift:
  description: What the roles would change, one line per item (empty when not judged).
  returned: always
  type: list
  elements: str
  sample: ["/etc/cron.d/ktune-drop-caches: missing"]
notes:
  description: Notes for the operator, such as a setting that does not apply to this host (empty when not judged).
  returned: always
  type: list
  elements: str
roles_with_drift:
  description: The roles that have something to change, in the order given.
  returned: always
  type: list
  elements: str
  sample: [page_cache]
plan:
  description:
    - What the role's tasks apply, when one role judged in Python (such as C(numa_env)) is judged alone
      and passes; empty otherwise. Each role's plan is also under RV(roles).
  returned: always
  type: dict
  sample: {files_in_place: false, sysctls_in_place: true, sysctls: {kernel.numa_balancing: 0}}
exports:
  description: What the judged roles pass to the roles that follow.
  returned: always
  type: dict
  sample: {ktune_use_numa_enabled: true}
roles:
  description: Each judged role's problems, host_problems, drift, notes (and exports), by role name.
  returned: always
  type: dict
tune_record:
  description:
    - The host's record (C(path), C(state), C(version), C(tuned_at), C(reason)) against this collection's
      version C(running); C(comparison) V(none) (no record), V(same), V(upgrade), V(downgrade) or
      V(unknown); C(message), the line to print (null when there is nothing to say); C(write), whether
      tune writes its record, and C(content), what it writes then (this version and the time now).
  returned: when O(tune_record) is set and the host was read
  type: dict
  version_added: 0.2.0
  sample: {path: /var/lib/ktune-tuned, state: present, version: 0.1.0, tuned_at: "2026-12-07T23:00:00Z",
           reason: null, running: 0.2.0, comparison: upgrade, message: "ktune 0.1.0 tuned this host; this run is ktune 0.2.0",
           write: true, content: "..."}
state:
  description: What the host read returned (M(ktune.inference.managed_state)); empty when the settings had problems.
  returned: always
  type: dict
"""
