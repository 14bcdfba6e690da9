#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: guard_query
short_description: Ask a host's ktune guard for its instances' states, with the guard's token
version_added: 0.2.0
description:
  - Reads the guard's token from O(state_dir)/token on the host (root only, mode 0600; never
    through a symlink) and sends C(GET /status) to the guard with C(Authorization) C(Bearer TOKEN).
  - Returns only what may cross to the controller, in fixed vocabulary, each instance's name,
    state and readiness. The guard's free-text reasons stay on the host (its journal and its
    C(/ready/NAME) answers have them).
  - The token is neither an option nor a result, so it never shows in C(-v) output.
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
  url:
    description: The guard's base URL on the host, as the guard role configures it.
    type: str
    default: http://127.0.0.1:9441
  state_dir:
    description: The guard's state directory, which holds its C(token).
    type: path
    default: /var/lib/ktune-guard
  timeout:
    description: Seconds the request may take.
    type: int
    default: 10
notes:
  - Run it as the guard's user (root), the only one who can read the token.
seealso:
  - name: The guard role
    description: The daemon, its token and its readiness endpoint.
    link: https://github.com/ktune/inference/tree/main/roles/guard
"""

EXAMPLES = r"""
- name: Ask the guard which instances are ready
  ktune.inference.guard_query:
    url: http://127.0.0.1:9441
  register: guard

- name: Show the states
  ansible.builtin.debug:
    msg: "{{ guard.instances | map(attribute='state') | list }}"
"""

RETURN = r"""
answer:
  description: >-
    C(ok) with a well-formed answer; C(unreachable) (nothing answered), C(unauthorized) (the
    guard refused the token), C(invalid) (an answer that is not a list of well-formed instances)
    or C(no_token) (the token file is missing or unsafe; RV(msg) says why).
  returned: always
  type: str
  sample: ok
http_status:
  description: The HTTP status of the answer; null when nothing answered.
  returned: always
  type: int
  sample: 200
msg:
  description: Why there is no token to send, naming the file and what was found.
  returned: when RV(answer) is C(no_token)
  type: str
  sample: "the guard token /var/lib/ktune-guard/token: expected a regular file (not a symlink) owned by root with mode
    0600 or 0400, found No such file or directory"
instances:
  description: >-
    Each guarded instance, C(instance) (its name), C(state) (serving, hot, draining, cooling,
    degraded, restarting, failed, unhealthy, starting, or drained with C(guard_state) the state
    underneath), C(ready) (whether its readiness endpoint answers 200); null unless RV(answer) is C(ok).
  returned: always
  type: list
  elements: dict
  sample: [{instance: r1, state: hot, ready: true}]
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils import guard_token
from ansible_collections.ktune.inference.plugins.module_utils.guard_client import ask_status


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", default="http://127.0.0.1:9441"),
            state_dir=dict(type="path", default="/var/lib/ktune-guard"),
            timeout=dict(type="int", default=10),
        ),
        supports_check_mode=True,
    )
    params = module.params
    try:
        token = guard_token.read_token(os.path.join(params["state_dir"], guard_token.TOKEN_FILE))
    except guard_token.TokenError as exc:
        module.exit_json(changed=False, answer="no_token", http_status=None, instances=None, msg=str(exc))
    answer, status, statuses = ask_status(params["url"], token, params["timeout"])
    module.exit_json(changed=False, answer=answer, http_status=status, instances=statuses)


if __name__ == "__main__":
    main()
