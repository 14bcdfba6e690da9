#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: transparent_hugepage
short_description: Set transparent hugepages now and at every boot
version_added: 0.1.0
description:
  - Sets the kernel's transparent hugepage mode (C(<sysfs_root>/kernel/mm/transparent_hugepage/enabled))
    now, and keeps it across reboots with a systemd-tmpfiles line
    (C(w <sysfs_root>/kernel/mm/transparent_hugepage/enabled - - - - <mode>)) in a file under
    C(/etc/tmpfiles.d) that the module owns entirely; C(systemd-tmpfiles-setup.service) writes it at boot.
  - The kernel lists the modes with the one in force bracketed (C(always [madvise] never)); a file
    that does not read that way fails naming it, before anything is written.
  - A kernel without transparent hugepages fails naming the file; nothing is written.
  - Reports C(changed) only when the running mode or the file (content, mode or owner) changed.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Nothing is written; RV(mode) is the mode that would be set.
  diff_mode:
    support: full
    details: Shows the running mode and the file's content before and after.
  platform:
    support: full
    platforms: posix
options:
  mode:
    description: The transparent hugepage mode.
    type: str
    choices: [always, madvise, never]
    required: true
  path:
    description:
      - The systemd-tmpfiles file that keeps the mode across reboots. It belongs to this module.
    type: path
    default: /etc/tmpfiles.d/ktune-transparent-hugepage.conf
  sysfs_root:
    description:
      - Where sysfs is mounted. Change it only to point the module at a copy of the tree, for
        example in tests and containers (a privileged container shares the host's kernel). The
        file's line names the same place.
    type: path
    default: /sys
"""

EXAMPLES = r"""
- name: Transparent hugepages only where a program asks for them (madvise)
  ktune.inference.transparent_hugepage:
    mode: madvise
"""

RETURN = r"""
mode:
  description: The mode in force after the task (in check mode, the mode that would be).
  returned: success
  type: str
  sample: madvise
before:
  description: The mode in force before the task.
  returned: success
  type: str
  sample: always
runtime_changed:
  description: Whether the running mode changed (would change, in check mode).
  returned: success
  type: bool
file_changed:
  description: Whether the tmpfiles.d file changed (would change, in check mode).
  returned: success
  type: bool
path:
  description: The tmpfiles.d file.
  returned: success
  type: str
  sample: /etc/tmpfiles.d/ktune-transparent-hugepage.conf
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils import concerns
from ansible_collections.ktune.inference.plugins.module_utils.host_state import read_lines
from ansible_collections.ktune.inference.plugins.module_utils.sysctl import file_attributes_wrong, write_file_atomic
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import (
    THP_ENABLED,
    HostFileError,
    read_transparent_hugepage,
    under,
    write_text,
)


def read_state(sysfs_root, path):
    """The reading concerns.transparent_hugepage_drift takes, as the audit reads it."""
    return {"file": under(sysfs_root, THP_ENABLED), "mode": read_transparent_hugepage(sysfs_root),
            "persist_file": path, "persist_lines": read_lines([path])[path]}


def file_content(mode, enabled_file):
    return "\n".join(concerns.transparent_hugepage_persist_lines(mode, enabled_file)) + "\n"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            mode=dict(type="str", choices=list(concerns.THP_MODES), required=True),
            path=dict(type="path", default=concerns.THP_PERSIST_FILE),
            sysfs_root=dict(type="path", default="/sys"),
        ),
        supports_check_mode=True,
    )
    mode, path = module.params["mode"], module.params["path"]
    try:
        reading = read_state(module.params["sysfs_root"], path)
        attributes_wrong = reading["persist_lines"] is not None and file_attributes_wrong(path)
    except HostFileError as exc:
        module.fail_json(msg=str(exc))
    drift = concerns.transparent_hugepage_drift({concerns.THP_VARIABLE: mode}, reading)
    if drift["host"]:
        module.fail_json(msg=drift["host"][0])
    runtime_changed = bool(drift["live"])
    file_changed = bool(drift["persisted"]) or attributes_wrong
    new_content = file_content(mode, reading["file"])
    written = False
    if not module.check_mode:
        try:
            if runtime_changed:
                write_text(reading["file"], mode)
                written = True
                # The kernel may refuse a mode silently (a lockdown, a container's read-only view).
                now = read_transparent_hugepage(module.params["sysfs_root"])
                if now != mode:
                    raise HostFileError(reading["file"], "expected %s after writing it, found %s" % (mode, now))
            if file_changed:
                write_file_atomic(path, new_content)
        except HostFileError as exc:
            module.fail_json(msg="%s. Expected transparent hugepages %s, found %s. Fix: run as root on a host whose "
                                 "sysfs is writable (a container needs its own sysfs_root tree)"
                                 % (exc, mode, reading["mode"]), changed=written)
    result = dict(changed=runtime_changed or file_changed, mode=mode, before=reading["mode"],
                  runtime_changed=runtime_changed, file_changed=file_changed, path=path)
    if module._diff:
        old = reading["persist_lines"]
        result["diff"] = [
            dict(before_header=reading["file"], after_header=reading["file"],
                 before=reading["mode"] + "\n", after=mode + "\n"),
            dict(before_header=path, after_header=path,
                 before="" if old is None else "\n".join(old) + "\n", after=new_content),
        ]
    module.exit_json(**result)


if __name__ == "__main__":
    main()
