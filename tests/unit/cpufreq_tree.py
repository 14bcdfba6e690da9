# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Build sysfs-shaped cpufreq trees in a temporary directory, and a fake kernel.

Used by the cpufreq unit tests.  ``build_tree`` writes
``<root>/devices/system/cpu/cpufreq/policyN/`` directories the way a given
driver lays them out; ``FakeKernel`` stands in for ``write_text`` and applies
the active-mode EPP rules the real kernel enforces.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError

CPUFREQ = os.path.join("devices", "system", "cpu", "cpufreq")
EPP_CHOICES = "default performance balance_performance balance_power power"

DRIVERS = {
    "acpi-cpufreq": dict(
        governors="conservative ondemand userspace powersave performance schedutil",
        governor="schedutil", epp=None, min_khz=1500000, max_khz=3500000, boost="1"),
    "intel_pstate": dict(
        governors="performance powersave", governor="powersave", epp="balance_performance",
        min_khz=800000, max_khz=3800000, boost=None),
    "amd-pstate-epp": dict(
        governors="performance powersave", governor="powersave", epp="balance_performance",
        min_khz=400000, max_khz=3700000, boost="1"),
}


def cpufreq_dir(root):
    return os.path.join(str(root), CPUFREQ)


def policy_path(root, number, name=None):
    path = os.path.join(cpufreq_dir(root), "policy%d" % number)
    return path if name is None else os.path.join(path, name)


def write(path, text):
    with open(path, "w") as handle:
        handle.write(text + "\n")


def read(path):
    with open(path) as handle:
        return handle.read().strip()


def read_policy_file(root, number, name):
    return read(policy_path(root, number, name))


def build_tree(root, driver="acpi-cpufreq", policies=range(4), cpus_per_policy=1,
               governor=None, epp=None, min_freq_khz=None, boost="default", governors=None):
    """Write policy directories for ``driver`` below ``root``; return ``str(root)``.

    ``policies`` are the policy numbers (sparse numbers allowed).  Policy N
    covers CPUs N..N+cpus_per_policy-1, as the kernel names a policy after
    its first CPU.  ``boost`` is "0", "1", None (no file) or "default" (the
    driver's usual).  Calling it again with the same root adds policies.
    """
    spec = DRIVERS[driver]
    base = cpufreq_dir(root)
    if not os.path.isdir(base):
        os.makedirs(base)
    for number in policies:
        path = policy_path(root, number)
        os.makedirs(path)
        cpus = " ".join(str(cpu) for cpu in range(number, number + cpus_per_policy))
        write(os.path.join(path, "affected_cpus"), cpus)
        write(os.path.join(path, "related_cpus"), cpus)
        write(os.path.join(path, "scaling_driver"), driver)
        write(os.path.join(path, "scaling_available_governors"), governors or spec["governors"])
        write(os.path.join(path, "scaling_governor"), governor or spec["governor"])
        write(os.path.join(path, "cpuinfo_min_freq"), str(spec["min_khz"]))
        write(os.path.join(path, "cpuinfo_max_freq"), str(spec["max_khz"]))
        write(os.path.join(path, "scaling_min_freq"), str(min_freq_khz or spec["min_khz"]))
        write(os.path.join(path, "scaling_max_freq"), str(spec["max_khz"]))
        if spec["epp"] is not None:
            write(os.path.join(path, "energy_performance_preference"), epp or spec["epp"])
            write(os.path.join(path, "energy_performance_available_preferences"), EPP_CHOICES)
    if boost == "default":
        boost = spec["boost"]
    if boost is not None:
        write(os.path.join(base, "boost"), boost)
    return str(root)


def snapshot(root):
    """Return {relative path: content} of every file below root."""
    found = {}
    root = str(root)
    for directory, dummy, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            found[os.path.relpath(path, root)] = read(path)
    return found


class FakeKernel:
    """A ``write_text`` replacement that behaves like an active-mode driver.

    - writing an EPP other than ``performance`` while the governor is
      ``performance`` fails with EBUSY (as HostFileError, like write_text);
    - switching the governor to ``performance`` sets EPP to ``performance``;
      switching back to ``powersave`` restores the EPP saved at that moment;
    - ``fail_on`` (set of (policy number, file name)) makes those writes fail.

    Every successful write is recorded in ``writes`` as (policy, file, value).
    """

    def __init__(self, fail_on=()):
        self.writes = []
        self.saved_epp = {}
        self.fail_on = set(fail_on)

    def __call__(self, path, value):
        directory, name = os.path.split(path)
        policy = os.path.basename(directory)
        number = int(policy[len("policy"):]) if policy.startswith("policy") else None
        busy = HostFileError(path, "cannot write %r (Device or resource busy)" % value)
        if (number, name) in self.fail_on:
            raise busy
        active = False
        if number is not None:
            active = read(os.path.join(directory, "scaling_driver")) in ("intel_pstate", "amd-pstate-epp")
        epp_path = os.path.join(directory, "energy_performance_preference")
        if active and name == "energy_performance_preference":
            if read(os.path.join(directory, "scaling_governor")) == "performance" and value != "performance":
                raise busy
        previous = read(path) if os.path.exists(path) else None
        write(path, value)
        self.writes.append((number, name, value))
        if active and name == "scaling_governor" and os.path.exists(epp_path):
            if value == "performance" and previous != "performance":
                self.saved_epp[number] = read(epp_path)
                write(epp_path, "performance")
            elif value == "powersave" and previous == "performance":
                write(epp_path, self.saved_epp.pop(number, "balance_performance"))
