#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: cpufreq
short_description: Set the CPU frequency governor, EPP, minimum frequency and boost of every policy
version_added: 0.1.0
description:
  - Sets the scaling governor, and optionally the energy performance preference (EPP) and the
    minimum frequency, of every CPU frequency policy under
    C(<sysfs_root>/devices/system/cpu/cpufreq/policyN), and optionally the global C(boost) switch,
    in one call and without running any command.
  - Every policy is read and the whole request is checked first. A governor, EPP or minimum
    frequency that any policy cannot take fails the task before anything is written, naming the
    policies and what they offer.
  - Only files whose content differs are written, so the task reports C(changed) only when a value
    actually changed.
  - Policies whose CPUs are all offline are refused by the kernel (EBUSY). They are skipped with a
    warning and reported with RV(policies[].active=false); when their CPUs come back online the kernel
    restores their previous governor.
  - A VM or container without cpufreq (no cpufreq directory or no policy) is not an error. The module
    returns RV(applicable=false) and RV(reason), and changes nothing. It is told apart from bare
    metal by the C(hypervisor) flag in C(<procfs_root>/cpuinfo), the DMI vendor and product
    (C(<sysfs_root>/class/dmi/id/sys_vendor), C(product_name)) and a C(container=) variable of PID 1.
  - Bare metal without cpufreq (its driver did not load, or the BIOS keeps P-states to itself) fails,
    naming the fix, with RV(bare_metal=true).
  - Settings do not survive a reboot, and C(tuned) or C(cpupower.service) may set the governor
    again. Use one setter only.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written. RV(policies[].after) is a prediction.
  diff_mode:
    support: full
    details: Identical changes of many policies are summarised in one line.
  platform:
    support: full
    platforms: posix
options:
  governor:
    description:
      - Scaling governor to set on every policy, for example V(performance), V(powersave),
        V(schedutil) or V(ondemand).
      - Must be listed in C(scaling_available_governors) of every policy. Active-mode drivers
        (C(intel_pstate), C(amd-pstate-epp)) offer only V(performance) and V(powersave).
    type: str
    default: performance
  energy_performance_preference:
    description:
      - Energy performance preference (EPP) to set on every policy, for example V(performance),
        V(balance_performance), V(balance_power) or V(power).
      - Must be listed in C(energy_performance_available_preferences). A policy whose driver has no
        C(energy_performance_preference) file (for example C(acpi-cpufreq)) fails the task.
      - With an active-mode driver and O(governor=performance) the only valid value is
        V(performance); anything else fails before any write, because the kernel would answer EBUSY.
      - The governor is always written first. An active-mode driver sets EPP to V(performance) by
        itself when it switches to the V(performance) governor, and restores its previous EPP when
        it leaves it; this option is applied after that.
      - If omitted, EPP is not written.
    type: str
    aliases: [epp]
  min_freq_khz:
    description:
      - Minimum frequency in kHz to write to C(scaling_min_freq) of every policy.
      - Must lie within C(cpuinfo_min_freq) and C(cpuinfo_max_freq) of every policy, otherwise the
        task fails before any write.
      - The kernel may adjust the value it keeps (for example clamp it to C(scaling_max_freq)); the
        module then warns, and will write again on the next run.
      - If omitted, the minimum frequency is not written.
    type: int
  boost:
    description:
      - Turn the global C(<sysfs_root>/devices/system/cpu/cpufreq/boost) switch on or off
        (C(acpi-cpufreq), C(amd-pstate)).
      - If the file does not exist (for example with C(intel_pstate), whose turbo switch is
        C(intel_pstate/no_turbo)), the option is not applicable. The module warns, returns
        RV(boost_applicable=false) and does not fail.
      - If omitted, boost is not changed.
    type: bool
  sysfs_root:
    description:
      - Where sysfs is mounted. Change it only to point the module at a copy of the tree, for
        example in tests.
    type: path
    default: /sys
  procfs_root:
    description:
      - Where procfs is mounted; its C(cpuinfo) tells a VM from bare metal when there is no cpufreq.
    type: path
    default: /proc
notes:
  - Runs no command and is quick even with hundreds of policies. Each file is read again just
    before it is written, because writing the governor can change EPP.
  - If a write fails part-way (for example with EBUSY), the module writes the values it read before
    back to every policy it had changed, then fails, naming the file and the value, the policies
    restored and any it could not restore; C(changed) is true only when some policy could not be restored.
seealso:
  - name: Linux CPU performance scaling
    description: Kernel documentation of cpufreq policies, governors and the boost switch.
    link: https://docs.kernel.org/admin-guide/pm/cpufreq.html
  - name: intel_pstate CPU performance scaling driver
    description: Active and passive mode, EPP, and C(no_turbo).
    link: https://docs.kernel.org/admin-guide/pm/intel_pstate.html
  - name: amd-pstate CPU performance scaling driver
    description: Active (C(amd-pstate-epp)), passive and guided modes.
    link: https://docs.kernel.org/admin-guide/pm/amd-pstate.html
"""

EXAMPLES = r"""
- name: Run every CPU at the performance governor (inference hosts)
  ktune.inference.cpufreq:
    governor: performance

- name: Performance governor, boost on, and a floor of 2 GHz
  ktune.inference.cpufreq:
    governor: performance
    boost: true
    min_freq_khz: 2000000

- name: Powersave governor with a balanced EPP on an intel_pstate or amd-pstate-epp host
  ktune.inference.cpufreq:
    governor: powersave
    energy_performance_preference: balance_performance

- name: See what would change, without changing it
  ktune.inference.cpufreq:
    governor: performance
  check_mode: true
  diff: true
  register: cpufreq

- name: Show the grouped changes
  ansible.builtin.debug:
    var: cpufreq.changes
  when: cpufreq.applicable
"""

RETURN = r"""
applicable:
  description: Whether the host has cpufreq policies. When false nothing else was done.
  returned: always
  type: bool
  sample: true
bare_metal:
  description: True when the host has no cpufreq and nothing says it is a VM or container (the task fails).
  returned: when the module failed for that reason
  type: bool
  sample: true
reason:
  description: Why the module was not applicable.
  returned: when RV(applicable) is false
  type: str
  sample: "no cpufreq policies: /sys/devices/system/cpu/cpufreq does not exist"
driver:
  description:
    - The C(scaling_driver) of the policies; a sorted list when policies use different drivers.
    - V(null) when not applicable or when no policy is active.
  returned: always
  type: raw
  sample: acpi-cpufreq
policies:
  description: One entry per policy, in policy-number order.
  returned: always
  type: list
  elements: dict
  contains:
    policy:
      description: The policy number N of C(policyN); numbers can be sparse.
      type: int
      sample: 0
    cpus:
      description: The online CPUs of the policy (C(affected_cpus)) as a cpulist.
      type: str
      sample: "0-3"
    driver:
      description: The C(scaling_driver) of the policy.
      type: str
      sample: amd-pstate-epp
    active:
      description: False when the kernel refuses to show the policy because all its CPUs are offline.
      type: bool
      sample: true
    changed:
      description: Whether a file of this policy was (or in check mode would be) changed.
      type: bool
      sample: true
    before:
      description: Values before the task. V(null) for a file the policy does not have.
      type: dict
      contains:
        governor:
          description: Content of C(scaling_governor).
          type: str
          sample: schedutil
        epp:
          description: Content of C(energy_performance_preference).
          type: str
          sample: balance_performance
        min_freq_khz:
          description: Content of C(scaling_min_freq).
          type: int
          sample: 400000
    after:
      description:
        - Values after the task, read back from the files. In check mode a prediction.
        - Same keys as RV(policies[].before).
      type: dict
  sample:
    - policy: 0
      cpus: "0"
      driver: acpi-cpufreq
      active: true
      changed: true
      before: {governor: schedutil, epp: null, min_freq_khz: 400000}
      after: {governor: performance, epp: null, min_freq_khz: 400000}
changed_policies:
  description: How many policies were (or in check mode would be) changed.
  returned: always
  type: int
  sample: 384
changes:
  description: One line per group of policies that share the same change.
  returned: always
  type: list
  elements: str
  sample:
    - "policy0-383 (384 policies): scaling_governor: schedutil -> performance"
    - "boost: 0 -> 1"
boost_applicable:
  description: Whether the host has the global C(cpufreq/boost) switch.
  returned: always
  type: bool
  sample: true
boost:
  description: The global boost switch before and after the task.
  returned: when RV(boost_applicable) is true
  type: dict
  contains:
    before:
      description: Boost before the task.
      type: bool
      sample: false
    after:
      description: Boost after the task (in check mode a prediction).
      type: bool
      sample: true
restored_policies:
  description: After a write that failed part-way, how many changed policies were put back.
  returned: when a write failed
  type: int
  sample: 3
diff:
  description: Grouped before and after lines, as in RV(changes).
  returned: when diff mode is on
  type: dict
  sample:
    before: "policy0-383 (384 policies): scaling_governor: schedutil\n"
    after: "policy0-383 (384 policies): scaling_governor: performance\n"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError
from ansible_collections.ktune.inference.plugins.module_utils import cpufreq as cf


def main():
    module = AnsibleModule(
        argument_spec=dict(
            governor=dict(type="str", default="performance"),
            energy_performance_preference=dict(type="str", aliases=["epp"]),
            min_freq_khz=dict(type="int"),
            boost=dict(type="bool"),
            sysfs_root=dict(type="path", default="/sys"),
            procfs_root=dict(type="path", default="/proc"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    root = params["sysfs_root"]
    for name in ("governor", "energy_performance_preference"):
        value = params[name]
        if value is not None and (not value or len(value.split()) != 1 or value != value.strip()):
            module.fail_json(msg="%s must be one word, got %r" % (name, value))
    if params["min_freq_khz"] is not None and params["min_freq_khz"] <= 0:
        module.fail_json(msg="min_freq_khz must be a positive number of kHz, got %d" % params["min_freq_khz"])
    request = dict(governor=params["governor"], epp=params["energy_performance_preference"],
                   min_freq_khz=params["min_freq_khz"])

    boost_wanted = params["boost"]
    try:
        prepared = cf.prepare(root, request, boost_wanted)
    except HostFileError as exc:
        module.fail_json(msg=str(exc))
    except cf.CpufreqError as exc:
        module.fail_json(msg=str(exc), applicable=True, driver=cf.driver_summary(cf.read_policies(root)))
    if prepared is None:
        result = cf.not_applicable_result(root, params["procfs_root"], params["governor"])
        if result.get("failed"):
            module.fail_json(**result)
        module.exit_json(**result)
    for warning in prepared["warnings"]:
        module.warn(warning)

    policies = prepared["policies"]
    if module.check_mode:
        after = dict((p["number"], cf.predict_state(p, request)) for p in policies)
    else:
        after = apply(module, root, prepared, request)
    module.exit_json(**cf.outcome(prepared, after, root, with_diff=module._diff))


def apply(module, root, prepared, request):
    """Write the request and return each policy's state read back."""
    policies, driver = prepared["policies"], prepared["driver"]
    try:
        written = cf.apply_all(policies, request)
    except cf.ApplyError as exc:
        fail_after_rollback(module, policies, driver, exc)
    if prepared["boost_after"] != prepared["boost_before"]:
        try:
            cf.write_boost(root, prepared["boost_after"])
        except HostFileError as exc:
            fail_after_rollback(module, policies, driver, cf.ApplyError(exc, written))
    for line in cf.readback_mismatches(policies, written, request):
        module.warn("%s (the kernel adjusted the value)" % line)
    return dict((p["number"], written.get(p["number"], p["state"])) for p in policies)


def fail_after_rollback(module, policies, driver, error):
    """A write failed part-way: put back what was changed, then fail saying what stands."""
    restored, problems = cf.restore_policies(policies, error.changed)
    left = sorted(set(error.changed) - set(restored))
    module.fail_json(msg=cf.rollback_message(error, restored, problems), changed=bool(left), applicable=True,
                     driver=driver, changed_policies=len(left), restored_policies=len(restored))


if __name__ == "__main__":
    main()
