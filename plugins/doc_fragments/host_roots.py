# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The sysfs_root and procfs_root options of the modules that read a host's kernel state."""

    DOCUMENTATION = r"""
options:
  sysfs_root:
    description:
      - Where sysfs is mounted. Point it at a mounted image or a fixture tree to read another
        host's state, as node_exporter's C(--path.sysfs) does.
    type: path
    default: /sys
  procfs_root:
    description:
      - Where procfs is mounted, as node_exporter's C(--path.procfs).
    type: path
    default: /proc
"""
