# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters diagnosis_findings and diagnosis_summary over what the diagnose role collected, and
diagnosis_settings_problems over its settings."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.diagnosis import findings, settings_problems, summary_markdown


def _require_data(data, name):
    if not isinstance(data, dict) or not data.get("host"):
        raise AnsibleFilterError("%s: expected a dictionary of collected data with at least 'host', got %r"
                                 % (name, type(data).__name__))
    return data


def diagnosis_findings(data):
    return findings(_require_data(data, "diagnosis_findings"))


def diagnosis_summary(data):
    return summary_markdown(_require_data(data, "diagnosis_summary"))


def diagnosis_settings_problems(settings):
    if not isinstance(settings, dict):
        raise AnsibleFilterError("diagnosis_settings_problems: expected a dictionary of settings, got %r"
                                 % type(settings).__name__)
    return settings_problems(settings)


class FilterModule(object):
    def filters(self):
        return {"diagnosis_findings": diagnosis_findings, "diagnosis_summary": diagnosis_summary,
                "diagnosis_settings_problems": diagnosis_settings_problems}
