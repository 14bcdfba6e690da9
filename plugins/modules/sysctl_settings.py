#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: sysctl_settings
short_description: Persist and apply several kernel parameters (sysctl) in one call
version_added: 0.1.0
description:
  - Writes the wanted kernel parameters to one file under C(/etc/sysctl.d) that the module owns
    entirely, and sets their running values under C(<procfs_root>/sys), in one call and without
    running any command.
  - The file gets a header saying it is managed by ktune and one line per parameter, sorted by
    name, for example C(-kernel.numa_balancing = 0). The leading C(-) tells systemd-sysctl and
    procps C(sysctl --system) to ignore a parameter that fails to apply (see C(man sysctl.d) and
    C(man sysctl.conf)), so a file written for a newer kernel does not break boot on an older one.
  - The file is replaced atomically (temporary file and rename), mode C(0644), owned by root.
  - A parameter the running kernel lacks (no C(<procfs_root>/sys/...) file, for example
    C(kernel.numa_balancing) on a kernel without NUMA balancing) is not an error. It is reported
    with RV(parameters[].applicable=false) and a reason, still persisted (with its C(-)), and its
    runtime value is left alone.
  - The task reports C(changed) only when the file (content, mode or owner) or a running value
    changed.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written. RV(parameters[].after) is the value that would be set.
  diff_mode:
    support: full
    details: Shows the file's old and new content, and the running values that change.
  platform:
    support: full
    platforms: posix
options:
  settings:
    description:
      - "Kernel parameters to set, as a mapping of dotted name to value, for example
        C({kernel.numa_balancing: 0, vm.zone_reclaim_mode: 0})."
      - Names are dotted components of letters, digits, C(_) and C(-). Slashes, globs, C(..),
        empty components and names that point at a directory are refused.
      - Values are integers or strings. Whitespace inside a string (multi-value parameters such
        as C(net.ipv4.tcp_rmem)) is reduced to single spaces, and values are compared with the
        kernel's the same way.
      - The file holds exactly these parameters; any other line in it is removed.
      - Required when O(state=present).
    type: dict
  path:
    description:
      - The persisted file. It belongs to this module; give each caller its own file.
      - Its directory is created (mode C(0755)) when missing.
    type: path
    default: /etc/sysctl.d/90-ktune.conf
  state:
    description:
      - V(present) writes the file and, with O(apply=true), the running values.
      - V(absent) removes the file. Running values are left as they are (the kernel keeps them
        until the next reboot); O(settings) is ignored.
    type: str
    choices: [present, absent]
    default: present
  apply:
    description:
      - Also set the running values now, by writing C(<procfs_root>/sys/<name with dots as
        slashes>). With V(false) only the file is written and the values take effect at the next
        boot.
    type: bool
    default: true
  procfs_root:
    description:
      - Where procfs is mounted. Change it only to point the module at a copy of the tree, for
        example in tests and containers (a privileged container shares the host's kernel).
    type: path
    default: /proc
notes:
  - Running values are set before the file is written, so a value the kernel refuses
    (C(EINVAL)) fails the task, naming the file and the value, before it is persisted.
  - When the kernel keeps a different value than the one written, the module warns and returns
    what the kernel reads back in RV(parameters[].after).
  - Write-only parameters such as C(vm.drop_caches) cannot be read back and fail the task;
    they are actions, not settings.
seealso:
  - name: sysctl.d(5)
    description: Format of the persisted file and the meaning of the leading C(-).
    link: https://www.freedesktop.org/software/systemd/man/latest/sysctl.d.html
  - name: Documentation for /proc/sys
    description: What each kernel parameter means.
    link: https://docs.kernel.org/admin-guide/sysctl/index.html
"""

EXAMPLES = r"""
- name: Turn off automatic NUMA balancing and zone reclaim, now and at boot
  ktune.inference.sysctl_settings:
    settings:
      kernel.numa_balancing: 0
      vm.zone_reclaim_mode: 0
    path: /etc/sysctl.d/90-ktune-numa.conf
  register: sysctl

- name: Say which parameters this kernel lacks
  ansible.builtin.debug:
    msg: "{{ sysctl.parameters | rejectattr('applicable') | map(attribute='reason') | list }}"

- name: Persist only; the values take effect at the next boot
  ktune.inference.sysctl_settings:
    settings:
      vm.swappiness: 10
    path: /etc/sysctl.d/90-ktune-vm.conf
    apply: false

- name: Remove the file (running values stay until reboot)
  ktune.inference.sysctl_settings:
    path: /etc/sysctl.d/90-ktune-numa.conf
    state: absent
"""

RETURN = r"""
parameters:
  description: One entry per parameter, sorted by name. Empty with O(state=absent).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The dotted parameter name.
      type: str
      sample: kernel.numa_balancing
    before:
      description:
        - Running value before the task; an integer when it is one, else the text with single
          spaces.
        - V(null) when the kernel lacks the parameter.
      type: raw
      sample: 1
    after:
      description:
        - Running value after the task, read back from the kernel. In check mode the value that
          would be set. Equal to RV(parameters[].before) with O(apply=false).
        - V(null) when the kernel lacks the parameter.
      type: raw
      sample: 0
    wanted:
      description: The value written to the file.
      type: raw
      sample: 0
    applicable:
      description: Whether the running kernel has the parameter.
      type: bool
      sample: true
    reason:
      description: Why the parameter is not applicable.
      type: str
      returned: when RV(parameters[].applicable) is false
      sample: >-
        the running kernel has no kernel.numa_balancing (/proc/sys/kernel/numa_balancing does
        not exist); persisted with a leading '-' so it is skipped at boot
    changed:
      description: Whether the running value changed (or would change in check mode).
      type: bool
      sample: true
  sample:
    - {name: kernel.numa_balancing, before: 1, after: 0, wanted: 0, applicable: true, changed: true}
    - {name: vm.zone_reclaim_mode, before: 0, after: 0, wanted: 0, applicable: true, changed: false}
file_changed:
  description: Whether the file was (or in check mode would be) written or removed.
  returned: always
  type: bool
  sample: true
runtime_changed:
  description: Whether a running value was (or in check mode would be) changed.
  returned: always
  type: bool
  sample: true
path:
  description: The persisted file.
  returned: always
  type: str
  sample: /etc/sysctl.d/90-ktune.conf
not_applicable:
  description: Names of the parameters the running kernel lacks.
  returned: always
  type: list
  elements: str
  sample: [kernel.numa_balancing]
diff:
  description: The file's old and new content, and the running values that change.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: /etc/sysctl.d/90-ktune.conf
      after_header: /etc/sysctl.d/90-ktune.conf
      before: ""
      after: "# Managed by ktune ...\n-kernel.numa_balancing = 0\n"
    - before_header: runtime (/proc/sys)
      after_header: runtime (/proc/sys)
      before: "kernel.numa_balancing = 1\n"
      after: "kernel.numa_balancing = 0\n"
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError
from ansible_collections.ktune.inference.plugins.module_utils import sysctl


def parameter_entry(entry, after):
    result = dict(
        name=entry["name"],
        before=sysctl.display_value(entry["before"]),
        after=sysctl.display_value(after),
        wanted=sysctl.display_value(entry["wanted"]),
        applicable=entry["applicable"],
        changed=after != entry["before"],
    )
    if not entry["applicable"]:
        result["reason"] = entry["reason"]
    return result


def file_diff(path, before, after):
    return dict(before_header=path, after_header=path, before=before or "", after=after or "")


def absent(module, path):
    try:
        old = sysctl.read_file(path)
        if old is not None and not module.check_mode:
            sysctl.remove_file(path)
    except HostFileError as exc:
        module.fail_json(msg=str(exc), path=path)
    result = dict(changed=old is not None, file_changed=old is not None, runtime_changed=False,
                  parameters=[], not_applicable=[], path=path)
    if module._diff:
        result["diff"] = [file_diff(path, old, "")]
    module.exit_json(**result)


def apply_all(module, entries, path):
    """Set every running value that differs; return {name: value read back}."""
    afters = {}
    for entry in entries:
        afters[entry["name"]] = entry["before"]
    for entry in entries:
        if not entry["applicable"] or entry["before"] == entry["wanted"]:
            continue
        if module.check_mode:
            afters[entry["name"]] = entry["wanted"]
            continue
        try:
            afters[entry["name"]] = sysctl.apply_runtime(entry)
        except HostFileError as exc:
            done = [e for e in entries if afters[e["name"]] != e["before"]]
            module.fail_json(
                msg="%s. The file %s was not written%s." % (
                    exc, path, "; already set: %s" % ", ".join(e["name"] for e in done) if done else ""),
                path=exc.path, changed=bool(done), runtime_changed=bool(done), file_changed=False,
                parameters=[parameter_entry(e, afters[e["name"]]) for e in entries])
        if afters[entry["name"]] != entry["wanted"]:
            module.warn("%s: wrote %r, the kernel reads back %r" % (
                entry["path"], entry["wanted"], afters[entry["name"]]))
    return afters


def main():
    module = AnsibleModule(
        argument_spec=dict(
            settings=dict(type="dict"),
            path=dict(type="path", default="/etc/sysctl.d/90-ktune.conf"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            apply=dict(type="bool", default=True),
            procfs_root=dict(type="path", default="/proc"),
        ),
        required_if=[("state", "present", ["settings"])],
        supports_check_mode=True,
    )
    params = module.params
    path = params["path"]
    if params["state"] == "absent":
        absent(module, path)

    try:
        entries = sysctl.plan(params["settings"], params["procfs_root"])
        old = sysctl.read_file(path)
        attributes_wrong = old is not None and sysctl.file_attributes_wrong(path)
    except sysctl.SysctlError as exc:
        module.fail_json(msg=str(exc))
    except HostFileError as exc:
        module.fail_json(msg=str(exc), path=exc.path)
    new = sysctl.render_file(entries)
    file_changed = old != new or attributes_wrong

    if params["apply"]:
        afters = apply_all(module, entries, path)
    else:
        afters = dict((entry["name"], entry["before"]) for entry in entries)
    runtime_changed = any(afters[entry["name"]] != entry["before"] for entry in entries)

    if file_changed and not module.check_mode:
        try:
            sysctl.write_file_atomic(path, new)
        except HostFileError as exc:
            module.fail_json(msg="%s (wanted: %s)" % (exc, ", ".join(
                "%s = %s" % (entry["name"], entry["wanted"]) for entry in entries)),
                path=path, changed=runtime_changed, runtime_changed=runtime_changed, file_changed=False)

    result = dict(
        changed=file_changed or runtime_changed,
        file_changed=file_changed,
        runtime_changed=runtime_changed,
        path=path,
        parameters=[parameter_entry(entry, afters[entry["name"]]) for entry in entries],
        not_applicable=[entry["name"] for entry in entries if not entry["applicable"]],
    )
    if module._diff:
        diffs = []
        if file_changed:
            diffs.append(file_diff(path, old, new))
        if runtime_changed:
            diffs.append(sysctl.runtime_diff(entries, afters, params["procfs_root"]))
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
