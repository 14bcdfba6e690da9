# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The attributes the fact modules share: they read the host and change nothing."""

    # Use with ansible.builtin.action_common_attributes and its .facts, which describe the attributes.
    FACTS = r"""
attributes:
  check_mode:
    support: full
    details: Reads only; the same result as without check mode.
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    support: full
    platforms: posix
"""
