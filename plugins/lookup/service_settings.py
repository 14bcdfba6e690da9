# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
name: service_settings
short_description: The service role's settings that decide instances' units and health URLs, for readers
version_added: "0.1.0"
description:
  - One answer for the roles and playbooks that read or judge the inference service without running
    the C(ktune.inference.ktransformers_service) role (the audit, the monitoring role, the guard role).
    It gives the C(ktune_service_*) settings that decide an instance's unit names and health URLs, by their
    names without the C(ktune_service_) prefix, from the one list of them
    (C(ktransformers.READER_SETTINGS) in the collection's module_utils).
  - Takes no terms. A variable that is not set is C(null), which the readers take as the service
    role's default. A set C(ktune_service_api_key) is answered as a placeholder, never its value, as
    the readers need to know that a key is set, and their module arguments may be logged.
author:
  - ktune contributors (@ktune)
"""

EXAMPLES = r"""
- name: Read the host's services as the service role derives them
  ktune.inference.managed_state:
    host_state:
      instances: "{{ ktune_service_instances | default([]) | ktune.inference.ktransformers_public }}"
      service_settings: "{{ lookup('ktune.inference.service_settings') }}"
"""

RETURN = r"""
_raw:
  description: One dictionary, by setting name without the C(ktune_service_) prefix.
  type: list
  elements: dict
  sample:
    - {backend: sglang, legacy_defaults: null, sglang_defaults: {port: 30001}, executable: null, python: null,
       host: null, sglang_variant: null, numactl: null, numactl_path: null, numa_node: null, api_key: ktune-redacted-api-key}
"""

from ansible.plugins.lookup import LookupBase

from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import (
    READER_SETTINGS,
    SECRET_PLACEHOLDER,
)

PREFIX = "ktune_service_"


def service_settings(given):
    """The readers' settings from {variable: value}: unset ones null, the API key as a placeholder."""
    settings = dict((name, given.get(PREFIX + name)) for name in READER_SETTINGS)
    # Any set key is the placeholder: an inline vault value is no str on ansible-core 2.16-2.18.
    settings["api_key"] = SECRET_PLACEHOLDER if settings["api_key"] else None
    return settings


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        variables = variables or {}
        given = dict((PREFIX + name, self._templar.template(variables[PREFIX + name]))
                     for name in READER_SETTINGS if PREFIX + name in variables)
        return [service_settings(given)]
