# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter ipmi_dimm_temperatures over ipmitool's text output."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.ipmi import dimm_temperatures


def ipmi_dimm_temperatures(text):
    if isinstance(text, (list, tuple)):  # stdout_lines
        text = "\n".join(str(line) for line in text)
    if not isinstance(text, str):
        raise AnsibleFilterError("ipmi_dimm_temperatures: expected the text of ipmitool sensor, sdr or sdr elist "
                                 "(a string or a list of lines), got %r" % type(text).__name__)
    return dimm_temperatures(text)


class FilterModule(object):
    def filters(self):
        return {"ipmi_dimm_temperatures": ipmi_dimm_temperatures}
