# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The check the waiting modules (service_health, router_worker) make of their second counts."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type


def non_positive_seconds(params, names):
    """The message for the first of NAMES whose value in PARAMS is not a finite number above zero, or None
    when all are (a float option takes "nan" and "inf": no comparison stops nan, and inf waits forever)."""
    for name in names:
        value = params[name]
        if not 0 < value < float("inf"):
            return "%s must be a positive number of seconds, got %s" % (name, params[name])
    return None
