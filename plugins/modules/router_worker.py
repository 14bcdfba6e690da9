#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: router_worker
short_description: Take a replica out of its smg router, waiting for its requests to end, or put it back
version_added: 0.1.0
description:
  - Talks to the worker API of the router (smg, the SGLang model gateway) in front of a sharded entry's
    replicas, on the host it runs on.
  - O(state=absent) removes the worker through C(DELETE /workers/{id}) and waits until the router drops it
    from C(GET /workers), which smg does once the requests the worker serves have ended; no new request
    reaches it meanwhile. The replica can then be restarted without losing a request.
  - O(state=present) adds the worker through C(POST /workers) and waits until the router lists it healthy.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads the router's worker list and says whether the worker would be removed or added.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  router_url:
    description: The router's base URL, for example C(http://127.0.0.1:30000). Fetched directly, never through a proxy.
    type: str
    required: true
  worker_url:
    description: The replica's URL as the router lists it, for example C(http://127.0.0.1:30001).
    type: str
    required: true
  state:
    description: V(absent) takes the worker out and waits for it to drain; V(present) puts it back and waits for it
      to be healthy.
    type: str
    choices: [absent, present]
    required: true
  timeout_s:
    description: Seconds to wait for the drain or for the health.
    type: int
    default: 600
  interval_s:
    description: Seconds between reads of the worker list.
    type: float
    default: 1
  request_timeout_s:
    description: Seconds one HTTP request may take.
    type: int
    default: 10
notes:
  - Tested against the released smg 1.13.0 (tests/integration/test_router_contract.py).
seealso:
  - name: smg, the SGLang model gateway
    description: The router whose worker API this module uses.
    link: https://github.com/smg-project/smg
"""

EXAMPLES = r"""
- name: Take kimi-socket1 out of its router before restarting it
  ktune.inference.router_worker:
    router_url: http://127.0.0.1:30000
    worker_url: http://127.0.0.1:30002
    state: absent

- name: Put it back once it answers its health check
  ktune.inference.router_worker:
    router_url: http://127.0.0.1:30000
    worker_url: http://127.0.0.1:30002
    state: present
"""

RETURN = r"""
worker_url:
  description: The worker acted on.
  returned: always
  type: str
  sample: http://127.0.0.1:30002
elapsed_s:
  description: Seconds spent, waiting included.
  returned: always
  type: float
  sample: 2.5
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.durations import non_positive_seconds
from ansible_collections.ktune.inference.plugins.module_utils.router_workers import (
    RouterWorkerError,
    json_sender,
    put_back,
    take_out,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            router_url=dict(type="str", required=True),
            worker_url=dict(type="str", required=True),
            state=dict(type="str", choices=["absent", "present"], required=True),
            timeout_s=dict(type="int", default=600),
            interval_s=dict(type="float", default=1),
            request_timeout_s=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    bad_seconds = non_positive_seconds(params, ("timeout_s", "interval_s", "request_timeout_s"))
    if bad_seconds:
        module.fail_json(msg=bad_seconds)
    act = take_out if params["state"] == "absent" else put_back
    started = time.monotonic()
    try:
        changed = act(json_sender(params["request_timeout_s"]), params["router_url"], params["worker_url"],
                      params["timeout_s"], params["interval_s"], module.check_mode)
    except RouterWorkerError as exc:
        module.fail_json(msg="%s. Fix: on this host, systemctl status and journalctl -u of the router's unit and of "
                             "the replica's unit show why; run again once both are up" % exc,
                         worker_url=params["worker_url"], elapsed_s=round(time.monotonic() - started, 3))
    module.exit_json(changed=changed, worker_url=params["worker_url"], elapsed_s=round(time.monotonic() - started, 3))


if __name__ == "__main__":
    main()
