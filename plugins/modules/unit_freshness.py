#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: unit_freshness
short_description: Find the restarts and daemon-reloads an interrupted run lost
version_added: 0.2.0
description:
  - For each systemd unit, reads C(NeedDaemonReload) and, while the unit runs, when its main
    process started (C(/proc/PID/stat)), and compares that with the newest modification time of
    the files the unit reads.
  - A unit whose process is older than its files is stale - a run wrote them and was cut short
    (Ctrl-C, an unreachable host, a later failing task) before it restarted the unit.
  - A unit whose program's virtualenv changed packages after its process started is stale too (an
    upgrade by hand, not running yet).
  - Changes nothing; the role restarts the stale units and reloads systemd where it needs it.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads only; the same result as without check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  units:
    description: The units to judge, each with the files it reads (its unit file, environment files, launcher).
    type: list
    elements: dict
    required: true
    suboptions:
      unit:
        description: The unit, for example C(ktransformers@r1.service).
        type: str
        required: true
      files:
        description: Absolute paths of the files the unit reads.
        type: list
        elements: path
        default: []
      programs:
        description:
          - Programs the unit runs. For one inside a virtualenv (C(<venv>/bin/PROGRAM) next to
            C(<venv>/pyvenv.cfg)) the virtualenv's C(site-packages) folders count as files of the unit,
            so a C(pip install -U) made after the process started makes the unit stale.
        type: list
        elements: path
        default: []
  procfs_root:
    description: Where procfs is mounted (C(stat) for the boot time, C(PID/stat) for each process start).
    type: path
    default: /proc
notes:
  - Needs systemd on the host (C(systemctl show)).
"""

EXAMPLES = r"""
- name: Find restarts an interrupted run lost
  ktune.inference.unit_freshness:
    units:
      - unit: ktransformers@r1.service
        files: [/etc/systemd/system/ktransformers@.service, /etc/ktransformers/r1.env]
        programs: [/opt/ktransformers/venv/bin/python]
  register: freshness
"""

RETURN = r"""
need_daemon_reload:
  description: Whether systemd reports any of the units changed on disk since it last loaded them.
  returned: always
  type: bool
  sample: false
stale:
  description: The running units whose main process started before one of their files was written.
  returned: always
  type: list
  elements: str
  sample: [ktransformers@r1.service]
units:
  description:
    - Per unit, C(need_daemon_reload), C(stale), C(active) and C(reason) (which file, how much newer).
    - C(upgraded) lists, as C(name version), the packages installed or upgraded in the program's virtualenv
      since the process started (each new C(<name>-<version>.dist-info) folder) when that made the unit stale;
      C(reason) names them too.
  returned: always
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.host_state import parse_systemctl_show
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError, parse_decimal
from ansible_collections.ktune.inference.plugins.module_utils.unit_freshness import (
    PROPERTIES,
    boot_time,
    judge,
    newest_file,
    process_start,
    virtualenv_packages,
)


def show_units(module, units):
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None:
        module.fail_json(msg="systemctl not found: the unit checks need systemd")
    rc, out, err = module.run_command([systemctl, "show", "--property=" + ",".join(PROPERTIES), "--"] + units)
    if rc != 0:
        module.fail_json(msg="systemctl show %s failed (rc %d): %s" % (" ".join(units), rc, (err or out).strip()))
    return parse_systemctl_show(out)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            units=dict(type="list", elements="dict", required=True, options=dict(
                unit=dict(type="str", required=True),
                files=dict(type="list", elements="path", default=[]),
                programs=dict(type="list", elements="path", default=[]))),
            procfs_root=dict(type="path", default="/proc"),
        ),
        supports_check_mode=True,
    )
    wanted = module.params["units"]
    procfs_root = module.params["procfs_root"]
    shown = show_units(module, [entry["unit"] for entry in wanted]) if wanted else {}
    try:
        booted_at = boot_time(procfs_root)
    except HostFileError as exc:
        module.fail_json(msg=str(exc))
    ticks = os.sysconf("SC_CLK_TCK")
    judged = []
    for entry in wanted:
        properties = shown.get(entry["unit"], {})
        pid = parse_decimal(properties.get("MainPID", "0") or "0") or 0
        try:
            started_at = process_start(procfs_root, pid, ticks, booted_at) if pid > 0 else None
        except HostFileError as exc:
            module.fail_json(msg=str(exc))
        packages = [folder for program in entry["programs"] for folder in virtualenv_packages(program)]
        judged.append(judge(entry["unit"], properties, started_at, newest_file(entry["files"] + packages)))
    module.exit_json(changed=False, units=judged, stale=[item["unit"] for item in judged if item["stale"]],
                     need_daemon_reload=any(item["need_daemon_reload"] for item in judged))


if __name__ == "__main__":
    main()
