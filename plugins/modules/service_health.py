#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_health
short_description: Wait for a started systemd service to answer its health URL, failing fast on a crash loop
version_added: 0.1.0
description:
  - Polls an HTTP health URL and the unit's systemd state (C(ActiveState), C(SubState),
    C(NRestarts), C(Result)) on the host, in one module call, until the URL answers HTTP 200.
  - Fails as soon as systemd shows the service will not come up, within one poll interval instead
    of after the whole timeout, when the unit is C(failed), when it exited and systemd is
    restarting it (C(SubState=auto-restart), or C(NRestarts) higher than at the first poll), or when
    it stopped.
  - Fails after O(timeout_s) when the service stays up but never answers (a model load that takes
    too long).
  - Changes nothing.
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
  unit:
    description: The systemd unit that serves O(url), for example C(ktransformers@r1.service).
    type: str
    required: true
  url:
    description: The health URL; only HTTP 200 counts as healthy. Fetched directly, never through a proxy.
    type: str
    required: true
  timeout_s:
    description: Seconds to wait for HTTP 200 while the unit stays up (a model load can take long).
    type: int
    default: 1800
  interval_s:
    description: Seconds between polls.
    type: int
    default: 5
  request_timeout_s:
    description: Seconds one HTTP request may take.
    type: int
    default: 10
notes:
  - Needs systemd on the host (C(systemctl show)).
seealso:
  - name: systemd.service Restart= and NRestarts
    description: How systemd restarts a crashing service and counts the restarts.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.service.html
"""

EXAMPLES = r"""
- name: Wait for the legacy ktransformers server, giving up at once on a crash loop
  ktune.inference.service_health:
    unit: ktransformers@r1.service
    url: http://127.0.0.1:10002/v1/models
    timeout_s: 1800
    interval_s: 5
"""

RETURN = r"""
url:
  description: The URL polled.
  returned: always
  type: str
  sample: http://127.0.0.1:10002/v1/models
status:
  description: The HTTP status of the last answer; null when nothing answered.
  returned: always
  type: int
  sample: 200
elapsed_s:
  description: Seconds spent waiting.
  returned: always
  type: float
  sample: 42.5
polls:
  description: How many times the URL and the unit were read.
  returned: always
  type: int
  sample: 9
crashed:
  description: True when the wait ended because systemd showed the unit failed, stopped or restarting.
  returned: when the service did not answer
  type: bool
  sample: true
unit_state:
  description: The unit's properties at the last poll (ActiveState, SubState, Result, NRestarts, ExecMainStatus).
  returned: always
  type: dict
  sample: {ActiveState: activating, SubState: auto-restart, Result: exit-code, NRestarts: "3", ExecMainStatus: "1"}
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.durations import non_positive_seconds
from ansible_collections.ktune.inference.plugins.module_utils.host_state import http_prober, parse_systemctl_show
from ansible_collections.ktune.inference.plugins.module_utils.service_health import (
    UNIT_PROPERTIES,
    wait_for_health,
)


def unit_reader(module):
    systemctl = module.get_bin_path("systemctl")
    if systemctl is None or not os.path.isdir("/run/systemd/system"):
        module.fail_json(msg="systemd is not running here (no systemctl or /run/systemd/system)")

    def show_unit(unit):
        rc, out, err = module.run_command([systemctl, "show", "--property=" + ",".join(UNIT_PROPERTIES), "--", unit])
        if rc != 0:
            module.fail_json(msg="systemctl show %s failed (rc %d): %s" % (unit, rc, err.strip() or out.strip()))
        return parse_systemctl_show(out).get(unit, {})
    return show_unit


def main():
    module = AnsibleModule(
        argument_spec=dict(
            unit=dict(type="str", required=True),
            url=dict(type="str", required=True),
            timeout_s=dict(type="int", default=1800),
            interval_s=dict(type="int", default=5),
            request_timeout_s=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    bad_seconds = non_positive_seconds(params, ("timeout_s", "interval_s", "request_timeout_s"))
    if bad_seconds:
        module.fail_json(msg=bad_seconds)
    result = wait_for_health(params["unit"], params["url"], params["timeout_s"], params["interval_s"],
                             unit_reader(module), http_prober(params["request_timeout_s"]), time.monotonic, time.sleep)
    ok = result.pop("ok")
    if not ok:
        module.fail_json(changed=False, **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
