#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: managed_state
short_description: Read everything tune, the audit, the rollout gate and the diagnosis judge, in one call
version_added: 0.1.0
description:
  - The collection's one host reader. Returns, in one remote round trip, what a set of files
    looks like (existence, type, mode, owner, group, SHA-1 checksum and optionally the lines
    matching a pattern), the load, active and enablement state of a set of systemd units, the
    running values of a set of kernel parameters and, with O(host_state), everything the fleet
    audit grades.
  - The tuning roles call it first and compare the result with what they would write, on the
    controller (a rendered file by the checksum of the rendered content). When everything
    already matches they skip their change tasks, so a run that changes nothing costs one
    round trip instead of one per file and unit. When something differs the usual modules
    (template, copy, systemd_service) run and report it, in check mode and with C(--diff) as well.
  - C(playbooks/audit.yml), the gate of C(playbooks/rollout.yml) and the C(ktune.inference.diagnose)
    role call it once per host with O(host_state); the C(ktune.inference.audit_report) action and
    the C(ktune.inference.audit_controls) filter judge what it returns.
  - Never changes anything.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
attributes:
  check_mode:
    support: full
    details: Reads only; the same result as without check mode.
  diff_mode:
    support: none
  facts:
    support: full
    details: Sets C(ktune_numa) with O(numa) or O(host_state), and C(ktune_host_state) with O(host_state).
  platform:
    support: full
    platforms: posix
options:
  host_state:
    description:
      - Also return, in the same round trip, everything the fleet audit grades, as the
        C(ktune_numa) and C(ktune_host_state) facts (the returned facts); null (the default)
        reads none of it. V({}) reads it with every default.
      - Each section is read on its own; a file that cannot be read makes that section a
        dictionary with one key, C(error), naming the file and the problem, instead of failing
        the host. So is an unreadable NUMA layout, unless O(numa) is true too, which fails as it says.
      - Runs C(systemctl show) (once for the cron daemon when the job file exists, once for the
        configured instances) and sends one HTTP GET to each present instance's health URL.
      - Replaces the deprecated M(ktune.inference.host_facts), whose options these are.
    type: dict
    suboptions:
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
        description:
          - Kernel parameters whose live and persisted values are read into C(ktune_host_state.sysctl).
          - Apart from the top-level O(sysctls), whose live values are returned in RV(sysctls).
        type: list
        elements: str
        default: [kernel.numa_balancing, vm.zone_reclaim_mode]
      environment_file:
        description: The system-wide environment file searched for C(USE_NUMA).
        type: path
        default: /etc/environment
      env_dir:
        description: Directory whose C(*.env) files are searched when O(host_state.extra_env_files) is null.
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
            way the C(ktune.inference.ktransformers_service) role derives them. Empty skips HTTP.
        type: list
        elements: raw
        default: []
      service_settings:
        description:
          - Settings of the service role that change units or health URLs, with the role's names
            without the C(ktune_service_) prefix (C(backend), C(legacy_defaults), C(sglang_defaults),
            C(host), C(sglang_variant), ...). Null values stand for the role's defaults.
        type: dict
        default: {}
      health_timeout:
        description: Seconds to wait for each health answer.
        type: float
        default: 5
      removed_marker:
        description:
          - The file C(playbooks/remove.yml) leaves on a host it removed ktune from (and tune deletes);
            whether it exists is returned in C(ktune_host_state.removal), and the audit grades such a
            host C(not managed).
        type: path
        default: /var/lib/ktune-removed
      weights_root:
        description:
          - The directory the instances' C(kt_weight_path) are read under, to compare how their
            kt-kernel weights are cut per thread pool with the pools they start
            (C(ktune_host_state.services.units[].weights_split)). Links are followed only where root
            owns them. Change it only to read a copy of the tree, for example in tests.
          - C(playbooks/audit.yml) passes C(ktune_weights_root), the variable the
            C(ktune.inference.ktransformers_service) role reads the same weights under.
        type: path
        default: /
  numa:
    description:
      - Also return the C(ktune_numa) fact, as M(ktune.inference.numa_facts) does, in the same round
        trip (tune.yml reads the layout and the managed state in one call).
    type: bool
    default: false
  files:
    description:
      - Paths and glob patterns of files to describe. A plain path is reported even when it does
        not exist (RV(files.exists=false)); a glob contributes the files it matches.
      - Links are described, not followed.
    type: list
    elements: path
    default: []
  line_pattern:
    description:
      - A Python regular expression. Each regular file's lines that it matches (C(re.search)) are
        returned in RV(files.matching_lines), so a role can check a setting inside a file it
        shares with others (such as C(/etc/environment)) without the whole content leaving the
        host.
    type: str
  file_line_patterns:
    description:
      - Per file, a Python regular expression whose matching lines are returned in
        RV(files.matching_lines) for that file instead of O(line_pattern)'s, such as C(^ARGS=) for
        a daemon's defaults file of which one line is managed. The files are described as in O(files).
    type: dict
    default: {}
  packages:
    description:
      - Package names whose installed version to return in RV(packages) (dpkg or rpm), read in one
        command.
    type: list
    elements: str
    default: []
  os:
    description:
      - Return RV(os_family) and RV(pkg_mgr) from C(/etc/os-release), as M(ansible.builtin.setup)
        names them, so a role needs no fact gathering of its own.
    type: bool
    default: false
  units:
    description:
      - Systemd unit names, read with a single C(systemctl show).
    type: list
    elements: str
    default: []
  sysctls:
    description:
      - Dotted kernel parameter names whose running values to read under C(<procfs_root>/sys).
    type: list
    elements: str
    default: []
  cpufreq:
    description:
      - Plan these CPU frequency settings against every policy, writing nothing, and return the
        plan in RV(cpufreq), exactly what M(ktune.inference.cpufreq) returns in check mode for the
        same options, so the cpu_governor role needs no call of its own.
    type: dict
    suboptions:
      governor:
        description: The governor to plan, as for M(ktune.inference.cpufreq).
        type: str
        default: performance
      energy_performance_preference:
        description: The EPP to plan, as for M(ktune.inference.cpufreq); null leaves EPP alone.
        type: str
      min_freq_khz:
        description: The minimum frequency to plan, as for M(ktune.inference.cpufreq).
        type: int
      boost:
        description: The boost switch to plan, as for M(ktune.inference.cpufreq).
        type: bool
  sysfs_root:
    description:
      - Where sysfs is mounted, read for O(cpufreq). Change it only to read a copy of the tree.
    type: path
    default: /sys
  procfs_root:
    description:
      - Where procfs is mounted. Change it only to read a copy of the tree, for example in tests
        and containers.
    type: path
    default: /proc
notes:
  - Checksums are SHA-1 of the file content, as M(ansible.builtin.stat) computes them.
  - The module reports; it never asserts. Judging is left to the controller.
seealso:
  - module: ansible.builtin.stat
  - module: ktune.inference.numa_facts
  - module: ansible.builtin.systemd_service
  - module: ktune.inference.cpufreq
"""

EXAMPLES = r"""
- name: Read what the page cache role manages
  ktune.inference.managed_state:
    files:
      - /usr/local/sbin/ktune-drop-caches
      - /etc/cron.d/ktune-drop-caches
    units: [cron.service]
  register: page_cache_state

- name: Find every USE_NUMA definition in the environment files
  ktune.inference.managed_state:
    files: [/etc/environment, /etc/ktransformers/*.env]
    line_pattern: "{{ 'USE_NUMA' | ktune.inference.env_line_pattern }}"
    sysctls: [kernel.numa_balancing, vm.zone_reclaim_mode]
  register: numa_env_state

- name: Read the NUMA layout with the state, in one round trip
  ktune.inference.managed_state:
    numa: true
    units: [tuned.service]
  register: host_state

- name: Read everything the audit grades (playbooks/audit.yml)
  ktune.inference.managed_state:
    sysfs_root: "{{ ktune_sysfs_root | default('/sys') }}"
    procfs_root: "{{ ktune_procfs_root | default('/proc') }}"
    host_state:
      instances: "{{ ktune_service_instances | default([]) }}"
  register: ktune_audit_facts

- name: Show the governors
  ansible.builtin.debug:
    msg: "{{ ktune_audit_facts.ansible_facts.ktune_host_state.cpufreq.governors | default('no cpufreq') }}"
"""

RETURN = r"""
ansible_facts:
  description: The facts O(numa) and O(host_state) read.
  returned: when O(numa) is true or O(host_state) is set
  type: dict
  contains:
    ktune_numa:
      description:
        - The NUMA layout, as M(ktune.inference.numa_facts) returns it.
        - With O(host_state) and without O(numa), a dictionary with one key, C(error), when it cannot be read.
      returned: when O(numa) is true or O(host_state) is set
      type: dict
    ktune_host_state:
      description: Everything else the audit grades, one section per concern.
      returned: when O(host_state) is set
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
            C(units): name, state, unit, backend, host, numactl, numa_node, kt_numa_nodes, kt_threadpool_count,
            kt_weight_path, kt_method, kt_cpuinfer, model_path, exposure,
            health_url, load_state, active_state, sub_state, unit_file_state, health_status (HTTP code
            or null), health_message, main_pid and numa_resident_kb (node id to resident kB, null when
            numa_maps cannot be read) of a running unit, weights_split (C(status) pass, fail, skip or
            unknown, C(finding), C(fix)) of a present unit; C(systemd_error)
            and C(instances_error) when present.
          type: dict
        removal:
          description: >-
            C(marker), C(removed) (whether C(playbooks/remove.yml) left its marker there) and C(note)
            (what the marker says: when ktune was removed).
          type: dict
          sample: {marker: /var/lib/ktune-removed, removed: true,
                   note: "ktune removed by playbooks/remove.yml at 2026-12-07T16:00:00Z"}
        files:
          description: >-
            The files the control registry's judgements read (C(concern_registry.READ_FILES)): their
            non-blank lines by path, null for a file that does not exist.
          type: dict
        sysfs_root:
          description: The O(sysfs_root) the state was read under.
          type: str
files:
  description: One entry per path given or matched by a glob, keyed by path.
  returned: always
  type: dict
  contains:
    exists:
      description: Whether the path exists.
      type: bool
      sample: true
    type:
      description: V(file), V(directory), V(link) or V(other).
      returned: when it exists
      type: str
      sample: file
    mode:
      description: Permission bits as four octal digits.
      returned: when it exists
      type: str
      sample: "0644"
    owner:
      description: Owner name (the uid when it has no name).
      returned: when it exists
      type: str
      sample: root
    group:
      description: Group name (the gid when it has no name).
      returned: when it exists
      type: str
      sample: root
    checksum:
      description: SHA-1 of the content.
      returned: for regular files
      type: str
      sample: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed
    matching_lines:
      description: The lines O(line_pattern) matches.
      returned: for regular files, when O(line_pattern) is set
      type: list
      elements: str
      sample: ["USE_NUMA=1"]
  sample:
    /etc/cron.d/ktune-drop-caches: {exists: true, type: file, mode: "0644", owner: root, group: root,
                                    checksum: 2aae6c35c94fcfb415dbe95f408b9ce91ee846ed}
packages:
  description: The installed version of each package asked for, null when it is not installed.
  returned: when O(packages) is set
  type: dict
  sample: {ipmitool: 1.8.19-4+deb12u2, prometheus-node-exporter: null}
os_family:
  description: The OS family (Debian, RedHat, Suse, Archlinux) from C(/etc/os-release); null when unknown.
  returned: when O(os) is true
  type: str
  sample: Debian
pkg_mgr:
  description: The package manager of that family (apt, dnf, zypper, pacman); null when unknown.
  returned: when O(os) is true
  type: str
  sample: apt
systemd:
  description: Whether systemctl answered; when false RV(units) is empty and RV(systemd_reason) says why.
  returned: always
  type: bool
  sample: true
systemd_reason:
  description: Why the units could not be read.
  returned: when RV(systemd) is false
  type: str
  sample: "systemctl not found"
units:
  description: One entry per unit asked for, keyed by the name given.
  returned: always
  type: dict
  contains:
    load_state:
      description: C(LoadState), for example V(loaded) or V(not-found).
      type: str
    active_state:
      description: C(ActiveState), for example V(active), V(inactive) or V(failed).
      type: str
    unit_file_state:
      description: C(UnitFileState), for example V(enabled) or V(disabled); null when the unit has no file.
      type: str
  sample:
    cron.service: {load_state: loaded, active_state: active, unit_file_state: enabled}
sysctls:
  description: Running value of each parameter, null when the running kernel lacks it.
  returned: always
  type: dict
  sample: {kernel.numa_balancing: 0, vm.zone_reclaim_mode: 0}
cpufreq:
  description:
    - The check-mode result of M(ktune.inference.cpufreq) for O(cpufreq), with the same keys
      (applicable, driver, policies, changes, changed_policies, boost).
    - When a policy cannot take the settings or a file cannot be read, C(failed=true) and C(msg) say
      why; this module itself does not fail for that.
  returned: when O(cpufreq) is set
  type: dict
  sample: {applicable: true, driver: amd-pstate-epp, changed_policies: 0, changes: [], policies: []}
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils import cpufreq as cf
from ansible_collections.ktune.inference.plugins.module_utils.host_state import host_state_options, read_host_state
from ansible_collections.ktune.inference.plugins.module_utils import managed_state as ms
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
from ansible_collections.ktune.inference.plugins.module_utils import sysctl
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError


def read_units(module, units):
    """(systemd answered, units dict, reason)."""
    if not units:
        return True, {}, None
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        return False, {}, "systemctl not found"
    rc, out, err = module.run_command(ms.systemctl_show_command(systemctl, units))
    if rc != 0:
        return False, {}, "systemctl show failed (rc %d): %s" % (rc, (err or out).strip())
    try:
        return True, ms.parse_systemctl_show(out, units), None
    except ValueError as exc:
        module.fail_json(msg=str(exc))


def read_packages(module, packages):
    """{package: version or None}, one dpkg-query (or rpm) call."""
    if not packages:
        return {}
    dpkg_query = module.get_bin_path("dpkg-query")
    if dpkg_query:
        dummy, out, dummy = module.run_command(ms.dpkg_query_command(dpkg_query, packages))
        return ms.parse_dpkg_query(out, packages)
    rpm = module.get_bin_path("rpm")
    if rpm is None:
        module.fail_json(msg="packages: neither dpkg-query nor rpm found to read %s" % ", ".join(packages))
    found = {}
    for name in packages:
        rc, out, dummy = module.run_command([rpm, "-q", "--queryformat", "%{VERSION}-%{RELEASE}", name])
        found[name] = out.strip() if rc == 0 else None
    return found


def read_sysctls(names, procfs_root):
    values = {}
    for name in names:
        sysctl.validate_name(name)
        values[name] = sysctl.display_value(sysctl.read_runtime(procfs_root, name)[1])
    return values


def plan_cpufreq(module, options, sysfs_root, procfs_root):
    request = dict(governor=options["governor"], epp=options["energy_performance_preference"],
                   min_freq_khz=options["min_freq_khz"])
    plan = cf.check_plan(sysfs_root, request, options["boost"], procfs_root)
    for warning in plan.pop("warnings", []):
        module.warn(warning)
    return plan


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type="list", elements="path", default=[]),
            line_pattern=dict(type="str"),
            units=dict(type="list", elements="str", default=[]),
            sysctls=dict(type="list", elements="str", default=[]),
            file_line_patterns=dict(type="dict", default={}),
            packages=dict(type="list", elements="str", default=[]),
            os=dict(type="bool", default=False),
            numa=dict(type="bool", default=False),
            cpufreq=dict(type="dict", options=dict(
                governor=dict(type="str", default="performance"),
                energy_performance_preference=dict(type="str"),
                min_freq_khz=dict(type="int"),
                boost=dict(type="bool"),
            )),
            host_state=dict(type="dict", options=host_state_options()),
            sysfs_root=dict(type="path", default="/sys"),
            procfs_root=dict(type="path", default="/proc"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        pattern = ms.compile_line_pattern(params["line_pattern"])
        files = dict((path, ms.file_state(path, pattern)) for path in ms.expand_paths(params["files"]))
        for path, own_pattern in params["file_line_patterns"].items():
            files[path] = ms.file_state(path, ms.compile_line_pattern(own_pattern))
        sysctls = read_sysctls(params["sysctls"], params["procfs_root"])
    except (ValueError, HostFileError, sysctl.SysctlError) as exc:
        module.fail_json(msg=str(exc))
    systemd, units, reason = read_units(module, params["units"])
    result = dict(changed=False, files=files, systemd=systemd, units=units, sysctls=sysctls)
    if reason:
        result["systemd_reason"] = reason
    if params["packages"]:
        result["packages"] = read_packages(module, params["packages"])
    if params["os"]:
        try:
            with open("/etc/os-release") as handle:
                text = handle.read()
        except (IOError, OSError):
            text = ""
        result["os_family"], result["pkg_mgr"] = ms.os_release_family(text)
    if params["numa"]:
        try:
            result["ansible_facts"] = {"ktune_numa": gather_numa_facts(params["sysfs_root"], params["procfs_root"])}
        except HostFileError as exc:
            module.fail_json(msg="cannot read NUMA facts: %s" % exc, path=exc.path)
    if params["host_state"] is not None:
        try:
            result["ansible_facts"] = read_host_state(module, params["host_state"], params["sysfs_root"],
                                                      params["procfs_root"],
                                                      result.get("ansible_facts", {}).get("ktune_numa"))
        except sysctl.SysctlError as exc:
            module.fail_json(msg="host_state.sysctls: %s" % exc)
    if params["cpufreq"] is not None:
        result["cpufreq"] = plan_cpufreq(module, params["cpufreq"], params["sysfs_root"], params["procfs_root"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
