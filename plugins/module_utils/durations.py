# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check the waiting modules (service_health, router_worker) make of their second counts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def non_positive_seconds(params, names):
    """The message for the first of NAMES whose value in PARAMS is not above zero, or None when all are."""
    for name in names:
        if params[name] <= 0:
            return "%s must be a positive number of seconds, got %s" % (name, params[name])
    return None
