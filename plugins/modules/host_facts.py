#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_facts
short_description: Read everything the fleet audit grades, in one pass, without changing anything
version_added: "0.1.0"
description:
  - One round trip per host for C(playbooks/audit.yml) and the gates of C(playbooks/rollout.yml).
  - Returns the C(ktune_numa) fact (as M(ktune.inference.numa_facts)) and C(ktune_host_state), with the
    cpufreq governors and EPP per group of policies, the page-cache cron job, every
    C(USE_NUMA) definition and the file it is in, the managed kernel parameters (live and
    persisted), and the state and health answer of each configured C(ktransformers@) unit, with
    its main process's resident memory per NUMA node (C(PROCFS/PID/numa_maps)), the NUMA-placement proof.
  - Never writes. It opens files for reading, runs C(systemctl show) (once for the cron daemon
    when the job file exists, once for the configured instances) and sends one HTTP GET to each
    present instance's health URL.
  - Each section is read on its own; a file that cannot be read makes that section
    a dictionary with one key, C(error), naming the file and the problem, instead of failing
    the whole host.
  - Judging the state is left to the controller (the C(ktune.inference.audit_report) action and
    the C(ktune.inference.audit_controls) filter).
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ktune.inference.host_roots
  - ktune.inference.attributes.facts
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
options:
  cron_file:
    description: The page-cache job the C(ktune.inference.page_cache) role installs.
    type: path
    default: /etc/cron.d/ktune-drop-caches
  cron_units:
    description:
      - systemd units of the cron daemon (Debian C(cron), RedHat C(crond), Arch C(cronie)); the
        state of those that exist is returned with the job. Empty skips systemd for the job.
    type: list
    elements: str
    default: [cron.service, crond.service, cronie.service]
  sysctl_file:
    description: The persisted kernel parameters (the numa_env role's C(ktune_sysctl_file)).
    type: path
    default: /etc/sysctl.d/90-ktune-numa.conf
  sysctls:
    description: Kernel parameters whose live and persisted values are read.
    type: list
    elements: str
    default: [kernel.numa_balancing, vm.zone_reclaim_mode]
  environment_file:
    description: The system-wide environment file searched for C(USE_NUMA).
    type: path
    default: /etc/environment
  env_dir:
    description: Directory whose C(*.env) files are searched when O(extra_env_files) is null.
    type: path
    default: /etc/ktransformers
  extra_env_files:
    description:
      - Further environment files (the numa_env role's C(ktune_numa_env_extra_files)); null
        searches the existing C(<env_dir>/*.env) files, as the role does.
    type: list
    elements: path
  instances:
    description:
      - The configured C(ktune_service_instances); their units and health URLs are derived the
        way the C(ktune.inference.ktransformers_service) role derives them.
    type: list
    elements: raw
    default: []
  service_settings:
    description:
      - Settings of the service role that change units or health URLs, with the role's names
        without the C(ktune_service_) prefix (C(backend), C(legacy_defaults), C(sglang_defaults), C(host),
        C(sglang_variant)).
    type: dict
    default: {}
  health_timeout:
    description: Seconds to wait for each health answer.
    type: float
    default: 5
notes:
  - The module reports; it never asserts. An empty O(instances) list skips HTTP.
seealso:
  - module: ktune.inference.numa_facts
"""

EXAMPLES = r"""
- name: Read the host state for the audit
  ktune.inference.host_facts:
    sysfs_root: "{{ ktune_sysfs_root | default('/sys') }}"
    procfs_root: "{{ ktune_procfs_root | default('/proc') }}"
    instances: "{{ ktune_service_instances | default([]) }}"
  register: ktune_audit_facts

- name: Show the governors
  ansible.builtin.debug:
    msg: "{{ ktune_host_state.cpufreq.governors | default('no cpufreq') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts added to the host.
  returned: always
  type: dict
  contains:
    ktune_numa:
      description: As returned by M(ktune.inference.numa_facts), or a dictionary with an C(error) key.
      returned: always
      type: dict
    ktune_host_state:
      description: Everything else the audit grades.
      returned: always
      type: dict
      contains:
        cpufreq:
          description: >-
            C(applicable) (false without cpufreq), C(policy_count), C(driver), C(active_mode),
            C(governors) and C(epp) as {value: policy cpulist}, C(available_governors),
            C(epp_choices).
          type: dict
          sample: {applicable: true, policy_count: 64, driver: amd-pstate-epp, active_mode: true,
                   governors: {performance: "0-63"}, available_governors: [performance, powersave],
                   epp: {performance: "0-63"}, epp_choices: [default, performance]}
        page_cache:
          description: >-
            C(path), C(present), C(jobs) (schedule, user, command, argv, script, script_executable) and
            C(daemon), the cron units' C(active_state) and C(unit_file_state) (C(units) null and C(unknown)
            saying why when systemd cannot be asked).
          type: dict
        use_numa:
          description: C(files) searched (file, exists) and C(definitions) (file, line_number, line, value).
          type: dict
          sample: {files: [{file: /etc/environment, exists: true}],
                   definitions: [{file: /etc/environment, line_number: 2, line: USE_NUMA=0, value: "0"}]}
        sysctl:
          description: C(file), C(file_present), C(persisted) and C(live) values by name (live null when absent).
          type: dict
          sample: {file: /etc/sysctl.d/90-ktune-numa.conf, file_present: true,
                   persisted: {kernel.numa_balancing: 0}, live: {kernel.numa_balancing: 0}}
        services:
          description: >-
            C(units): name, state, unit, backend, host, numactl, numa_node, kt_numa_nodes, exposure,
            health_url, load_state, active_state, sub_state, unit_file_state, health_status (HTTP code
            or null), health_message, main_pid and numa_resident_kb (node id to resident kB, null when
            numa_maps cannot be read) of a running unit; C(systemd_error)
            and C(instances_error) when present.
          type: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.host_state import (
    MANAGED_SYSCTLS,
    gather_host_state,
    http_prober,
    parse_systemctl_show,
)

SHOW_PROPERTIES = "Id,LoadState,ActiveState,SubState,UnitFileState,MainPID"


def systemctl_reader(module):
    def show_units(units):
        systemctl = module.get_bin_path("systemctl")
        if systemctl is None or not os.path.isdir("/run/systemd/system"):
            raise OSError("systemd is not running here (no systemctl or /run/systemd/system)")
        rc, out, err = module.run_command([systemctl, "show", "--property=" + SHOW_PROPERTIES, "--"] + units)
        if rc != 0:
            raise OSError("systemctl show failed (rc %d): %s" % (rc, err.strip() or out.strip()))
        return parse_systemctl_show(out)
    return show_units


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sysfs_root=dict(type="path", default="/sys"),
            procfs_root=dict(type="path", default="/proc"),
            cron_file=dict(type="path", default="/etc/cron.d/ktune-drop-caches"),
            cron_units=dict(type="list", elements="str", default=["cron.service", "crond.service", "cronie.service"]),
            sysctl_file=dict(type="path", default="/etc/sysctl.d/90-ktune-numa.conf"),
            sysctls=dict(type="list", elements="str", default=list(MANAGED_SYSCTLS)),
            environment_file=dict(type="path", default="/etc/environment"),
            env_dir=dict(type="path", default="/etc/ktransformers"),
            extra_env_files=dict(type="list", elements="path"),
            instances=dict(type="list", elements="raw", default=[]),
            service_settings=dict(type="dict", default={}),
            health_timeout=dict(type="float", default=5),
        ),
        supports_check_mode=True,
    )
    params = dict(module.params)
    params["service_settings"] = dict((key, value) for key, value in (params["service_settings"] or {}).items()
                                      if value is not None)
    state = gather_host_state(params, systemctl_reader(module), http_prober(params["health_timeout"]))
    numa = state.pop("numa")
    module.exit_json(changed=False, ansible_facts={"ktune_numa": numa, "ktune_host_state": state})


if __name__ == "__main__":
    main()
