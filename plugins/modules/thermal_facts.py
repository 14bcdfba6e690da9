#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: thermal_facts
short_description: DIMM temperatures, throttling, CPU frequencies and NUMA traffic of a host
version_added: "0.1.0"
description:
  - Runs C(ipmitool) on the host and returns the memory (DIMM) temperature sensors, read
    with the same parser as the P(ktune.inference.ipmi_dimm_temperatures#filter) filter.
  - Reads the thermal throttle counters (C(/sys/devices/system/cpu/cpu*/thermal_throttle/)),
    the current CPU frequency of each NUMA node (min, median, max), the cpufreq governors
    in force, the per-node numastat counters and memory from C(/proc/meminfo).
  - A host without ipmitool, without a BMC or where ipmitool fails is not an error;
    C(ipmi.available) is false and C(ipmi.reason) says why. Likewise a host without
    cpufreq or NUMA returns empty sections.
  - Never changes anything.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ktune.inference.host_roots
  - ktune.inference.attributes.facts
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
options:
  ipmitool_path:
    description:
      - The ipmitool executable, a name looked up on the PATH (and in C(/usr/sbin)) or an
        absolute path.
    type: str
    default: ipmitool
  ipmitool_args:
    description:
      - Arguments for ipmitool. C(sensor) gives upper critical thresholds; C(sdr type
        Temperature) is faster on some BMCs; C(sdr elist) identifies memory sensors by
        IPMI entity id when their names do not. Add C(-I lanplus -H ...) for a remote BMC.
    type: list
    elements: str
    default: [sensor]
  ipmitool_timeout:
    description: Seconds ipmitool may take before the module gives up on it (slow BMCs take 10 s or more).
    type: int
    default: 60
  keep_output:
    description: Also return ipmitool's raw output as C(ipmi.output), for a diagnosis bundle.
    type: bool
    default: false
seealso:
  - name: Linux thermal throttle counters
    description: The C(thermal_throttle) files this module reads.
    link: https://www.kernel.org/doc/Documentation/ABI/testing/sysfs-devices-system-cpu
"""

EXAMPLES = r"""
- name: Read temperatures, throttling and NUMA counters
  ktune.inference.thermal_facts:

- name: Warn about hot DIMMs
  ansible.builtin.debug:
    msg: "{{ ktune_thermal.ipmi.hottest.name }} at {{ ktune_thermal.ipmi.hottest.celsius }} C"
  when: ktune_thermal.ipmi.hottest is not none and ktune_thermal.ipmi.hottest.celsius > 80

- name: Find memory sensors by entity id on a BMC that names them Temp N
  ktune.inference.thermal_facts:
    ipmitool_args: [sdr, elist]
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host.
  returned: always
  type: dict
  contains:
    ktune_thermal:
      description: The host's thermal and NUMA state.
      returned: always
      type: dict
      contains:
        ipmi:
          description: The BMC's memory temperature sensors.
          type: dict
          contains:
            available:
              description: Whether ipmitool ran and printed sensors.
              type: bool
              sample: true
            reason:
              description: Why not, when C(available) is false; null otherwise.
              type: str
              sample: "ipmitool not found on the PATH or in /usr/sbin"
            command:
              description: The command run, null when ipmitool was not found.
              type: list
              elements: str
              sample: [/usr/bin/ipmitool, sensor]
            dimms:
              description: Memory temperature sensors, as the ipmi_dimm_temperatures filter returns them.
              type: list
              elements: dict
              sample: [{"name": "P1-DIMMA1 Temp", "celsius": 32.0, "status": "ok", "upper_critical": 85.0}]
            hottest:
              description: The DIMM sensor with the highest reading, null when none has a reading.
              type: dict
            output:
              description: ipmitool's standard output.
              returned: when O(keep_output) is true and ipmitool ran
              type: str
        throttle:
          description: Per node, thermal throttle counters (core counters summed, package counters the maximum).
          type: dict
          sample: {"0": {"core_throttle_count": 12, "package_throttle_count": 3}}
        frequency_hz:
          description: Per node, the min, median and max current CPU frequency in Hz.
          type: dict
          sample: {"0": {"min": 2400000000, "median": 3100000000, "max": 3700000000}}
        governors:
          description: Governor and driver pairs in force with their number of policies.
          type: list
          elements: dict
          sample: [{"governor": "performance", "driver": "acpi-cpufreq", "policies": 64}]
        numastat:
          description: Per node, the numastat counters (pages).
          type: dict
          sample:
            "0": {"numa_hit": 4735090719, "numa_miss": 0, "numa_foreign": 92981, "interleave_hit": 59485,
                  "local_node": 4734323881, "other_node": 766838}
        memory:
          description: MemTotal and MemAvailable from /proc/meminfo, in kB.
          type: dict
          sample: {"mem_total_kb": 1056000000, "mem_available_kb": 800000000}
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.host_telemetry import TelemetryError, read_all
from ansible_collections.ktune.inference.plugins.module_utils.ipmi import dimm_temperatures, hottest
from ansible_collections.ktune.inference.plugins.module_utils.procfs import parse_meminfo
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError, read_optional, under


def unavailable(reason, command=None):
    return {"available": False, "reason": reason, "command": command, "dimms": [], "hottest": None}


def read_ipmi(module):
    executable = module.params["ipmitool_path"]
    if os.path.isabs(executable):
        found = executable if os.access(executable, os.X_OK) else None
    else:
        found = module.get_bin_path(executable, opt_dirs=["/usr/sbin", "/usr/local/sbin"])
    if not found:
        return unavailable("%s not found on the PATH or in /usr/sbin: install the ipmitool package "
                           "to read DIMM temperatures" % executable)
    command = [found] + module.params["ipmitool_args"]
    # A hung BMC interface must not hang the play: coreutils timeout bounds the call.
    limiter = module.get_bin_path("timeout")
    prefix = [limiter, str(module.params["ipmitool_timeout"])] if limiter else []
    rc, out, err = module.run_command(prefix + command, environ_update={"LC_ALL": "C"})
    if prefix and rc == 124:
        return unavailable("%s did not answer within %d s (ipmitool_timeout)"
                           % (" ".join(command), module.params["ipmitool_timeout"]), command)
    if rc != 0:
        first = (err or out).strip().splitlines()
        return unavailable("%s exited with %d: %s" % (" ".join(command), rc, first[0] if first else "no output"),
                           command)
    dimms = dimm_temperatures(out)
    result = {"available": True, "reason": None, "command": command, "dimms": dimms, "hottest": hottest(dimms)}
    if module.params["keep_output"]:
        result["output"] = out
    return result


def read_memory(procfs_root):
    path = under(procfs_root, "meminfo")
    text = read_optional(path)
    if text is None:
        return {}
    fields = parse_meminfo(text, path)
    return {"mem_total_kb": fields.get("MemTotal"), "mem_available_kb": fields.get("MemAvailable")}


def main():
    module = AnsibleModule(
        argument_spec={
            "ipmitool_path": {"type": "str", "default": "ipmitool"},
            "ipmitool_args": {"type": "list", "elements": "str", "default": ["sensor"]},
            "ipmitool_timeout": {"type": "int", "default": 60},
            "keep_output": {"type": "bool", "default": False},
            "sysfs_root": {"type": "path", "default": "/sys"},
            "procfs_root": {"type": "path", "default": "/proc"},
        },
        supports_check_mode=True,
    )
    try:
        facts = read_all(module.params["sysfs_root"])
        facts["memory"] = read_memory(module.params["procfs_root"])
    except TelemetryError as exc:
        module.fail_json(msg=str(exc))
    except HostFileError as exc:
        module.fail_json(msg=str(exc), path=exc.path)
    facts["ipmi"] = read_ipmi(module)
    # JSON object keys are strings; say so rather than let the node ids change type in transit.
    for section in ("numastat", "throttle", "frequency_hz"):
        facts[section] = dict((str(node), value) for node, value in facts[section].items())
    module.exit_json(changed=False, ansible_facts={"ktune_thermal": facts})


if __name__ == "__main__":
    main()
