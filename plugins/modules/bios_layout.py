#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bios_layout
short_description: Stage the BIOS NUMA layout (NPS or SNC) through the host's BMC over Redfish
version_added: 0.2.0
description:
  - Finds the system (the one member of C(/redfish/v1/Systems), or O(system_id)), its C(Bios)
    resource and the settings object named in its C(@Redfish.Settings).
  - Finds the layout attribute by what the BIOS has (Dell C(NumaNodesPerSocket), HPE
    C(NumaMemoryDomainsPerSocket), Lenovo C(Memory_NUMANodesperSocket), Supermicro
    C(NUMANodesPerSocket#<hash>), Intel SNC C(SubNumaCluster), C(SubNumaClustering),
    C(Processors_SNC)). Where the BIOS's C(AttributeRegistry) is served, the value must be allowed
    and the attribute writable; a registry the BMC names but does not serve is skipped.
  - Pending-aware. The wanted value already in the settings object is reported as
    "staged, applies at next reboot" and nothing is sent. A different value staged there is
    replaced. The current value right with nothing else staged changes nothing.
  - Stages with C(PATCH) on the settings object, C(If-Match) with the ETag the BMC gave (read again
    and retried once on 412), C(@Redfish.SettingsApplyTime) C(OnReset) where the BMC lists it, and
    otherwise a configuration job where the BMC offers Dell's job service.
  - With O(apply=true), a layout not yet current is applied. The system gets
    C(ComputerSystem.Reset) C(GracefulRestart), then C(ForceRestart) after O(graceful_timeout).
    The module waits until the BIOS reports the wanted value as current.
  - Runs on the controller (C(delegate_to) C(localhost)). Where the service root names a
    C(SessionService), logs in with C(POST) on its session collection and sends the
    C(X-Auth-Token) it got with every request (the password goes out once, in that body); the
    session is deleted at the end, after a failure too. A BMC without a C(SessionService) gets
    HTTP basic authentication on every request.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: >-
      Sends GET requests only, besides the session login and logout where the BMC has a
      C(SessionService); reports what it would stage or reset.
  diff_mode:
    support: full
    details: Shows the attribute with its current, pending and wanted values; never the credentials.
  platform:
    support: full
    platforms: posix
options:
  address:
    description: The BMC's base URL, such as C(https://bmc-17.example); no credentials in it.
    type: str
    required: true
  username:
    description: The BMC user.
    type: str
    required: true
  password:
    description: The BMC user's password (keep it in a vault). Never returned or logged.
    type: str
    required: true
  validate_certs:
    description: Verify the BMC's TLS certificate.
    type: bool
    default: true
  system_id:
    description: The C(Id) of this host's system where the BMC manages several.
    type: str
  nodes_per_socket:
    description:
      - The wanted NUMA nodes per socket (NPS or SNC).
      - Without it the module only reads (RV(state) C(read)) what is current and what is staged,
        as the fleet audit does; nothing is sent but GETs and the session login and logout.
    type: int
  apply:
    description: >-
      Restart the system when the wanted value is not current yet, and wait until it is. Needs
      O(nodes_per_socket).
    type: bool
    default: false
  graceful_timeout:
    description: Seconds to wait after C(GracefulRestart) before C(ForceRestart).
    type: int
    default: 600
  reset_timeout:
    description: Seconds to wait after C(ForceRestart) for the BIOS to report the wanted value.
    type: int
    default: 900
  timeout:
    description: Seconds one HTTP request may take.
    type: int
    default: 30
notes:
  - A change staged under the settings object applies at the next reset of the system, whoever
    causes it.
seealso:
  - name: Fixing the layout on a fleet
    description: The playbook C(playbooks/bios.yml) that stages, reboots in batches and verifies.
    link: https://github.com/ktune/inference/blob/main/docs/fixing-the-layout-on-a-fleet.md
"""

EXAMPLES = r"""
- name: Stage NPS2 in the BIOS of this host
  ktune.inference.bios_layout:
    address: "{{ ktune_bmc_address }}"
    username: "{{ ktune_bmc_username }}"
    password: "{{ ktune_bmc_password }}"
    nodes_per_socket: 2
  delegate_to: localhost
  register: bios
"""

RETURN = r"""
state:
  description: >-
    C(correct) (current is the wanted value, nothing staged), C(pending) (the wanted value was
    already staged), C(staged) (this run staged it, or would in check mode), C(applied)
    (O(apply=true) restarted the system and the BIOS reports it current) or C(read) (no
    O(nodes_per_socket) given: only read).
  returned: success
  type: str
  sample: staged
attribute:
  description: The BIOS attribute that sets the layout on this BMC.
  returned: success
  type: str
  sample: NumaNodesPerSocket
current:
  description: Its current value, before any reset this run made.
  returned: success
  type: raw
  sample: "4"
pending:
  description: The value in the settings object before this run; null when none.
  returned: success
  type: raw
  sample: null
wanted:
  description: The value that gives O(nodes_per_socket).
  returned: success
  type: raw
  sample: "2"
staged:
  description: Whether a value other than the current one waits in the settings object for the next reset.
  returned: success
  type: bool
  sample: true
pending_nodes_per_socket:
  description: The nodes per socket the value in the settings object gives; null when none is staged or it gives no fixed count (Auto).
  returned: success
  type: int
  sample: 2
reboot_needed:
  description: Whether the host needs a reset for the wanted layout (with no O(nodes_per_socket), for what is staged).
  returned: success
  type: bool
  sample: true
system:
  description: The system's Redfish URI.
  returned: success
  type: str
  sample: /redfish/v1/Systems/System.Embedded.1
job:
  description: The Dell configuration job created, or null.
  returned: success
  type: str
  sample: null
auth:
  description: >-
    C(session) (a Redfish session was opened, used and deleted) or C(basic) (the BMC names no
    C(SessionService): HTTP basic authentication).
  returned: success, and failure once the BMC URL was accepted
  type: str
  sample: session
resets:
  description: The reset types sent with O(apply=true).
  returned: success
  type: list
  elements: str
  sample: [GracefulRestart]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.redfish_bios import (
    STAGED, Redfish, RedfishError, describe, read_layout, reset, stage)


def _diff(state, after_pending):
    line = "attribute %s\ncurrent %s\npending %s\n"
    return {"before": line % (state["attribute"], state["current"], state["pending"]),
            "after": line % (state["attribute"], state["current"], after_pending),
            "before_header": "%s (BIOS)" % state["system"], "after_header": "%s (wanted %s)" % (
                state["system"], state["wanted"])}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            address=dict(type="str", required=True),
            username=dict(type="str", required=True),
            password=dict(type="str", required=True, no_log=True),
            validate_certs=dict(type="bool", default=True),
            system_id=dict(type="str"),
            nodes_per_socket=dict(type="int"),
            apply=dict(type="bool", default=False),
            graceful_timeout=dict(type="int", default=600),
            reset_timeout=dict(type="int", default=900),
            timeout=dict(type="int", default=30),
        ),
        supports_check_mode=True,
        required_if=[("apply", True, ("nodes_per_socket",))],
    )
    params = module.params
    try:
        client = Redfish(params["address"], params["username"], params["password"], params["validate_certs"],
                         params["timeout"])
    except RedfishError as error:
        module.fail_json(msg="BMC %s: %s" % (params["address"].rsplit("@", 1)[-1], error))
    try:
        result = _run(module, client, params)
    except RedfishError as error:
        result = dict(getattr(error, "result", None) or {}, msg="BMC %s: %s" % (client.base, error), failed=True)
    finally:
        closed = client.logout()
    result["auth"] = "session" if client.opened else "basic"
    if not closed:
        module.warn("BMC %s: expected DELETE %s to close this run's session, found it refused, unanswered or "
                    "not named by the BMC; the BMC ends it when it times out" % (
                        client.base, client.session_uri or "<session>"))
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


def _run(module, client, params):
    """The run's result; RedfishError (with .result set once the layout was read) on a failure."""
    client.login()
    state = read_layout(client, params["nodes_per_socket"], params["system_id"])
    result = {"attribute": state["attribute"], "current": state["current"], "pending": state["pending"],
              "wanted": state["wanted"], "system": state["system"], "job": None, "resets": [],
              "staged": state["staged"], "pending_nodes_per_socket": state["pending_nodes_per_socket"],
              "changed": state["action"] == "stage",
              "reboot_needed": state["current"] != state["wanted"]}
    if state["action"] == "read":
        result.update(state="read", reboot_needed=state["staged"], msg="%s: %s" % (
            describe(state), STAGED if state["staged"] else "nothing staged"))
        return result
    if state["action"] == "stage":
        result["diff"] = _diff(state, state["wanted"])
    try:
        if state["action"] == "stage" and not module.check_mode:
            result["job"] = stage(client, state)["job"]
        if params["apply"] and result["reboot_needed"] and not module.check_mode:
            result["resets"] = reset(client, state, params["graceful_timeout"], params["reset_timeout"])
            result.update(changed=True, state="applied", reboot_needed=False,
                          msg="%s; applied by %s" % (describe(state), " then ".join(result["resets"])))
            return result
    except RedfishError as error:
        error.result = result
        raise
    if not result["reboot_needed"]:
        result.update(state="correct", msg="%s: the layout is current%s" % (
            describe(state), "; the other value staged was replaced" if state["action"] == "stage" else ""))
    else:
        result.update(state="pending" if state["action"] == "pending" else "staged",
                      msg="%s: %s%s" % (describe(state), STAGED,
                                        " (check mode: would PATCH %s)" % state["settings"]
                                        if module.check_mode and state["action"] == "stage" else ""))
        if params["apply"] and module.check_mode:
            result["msg"] += "; would restart the system (GracefulRestart, ForceRestart after %ds)" % (
                params["graceful_timeout"])
    return result


if __name__ == "__main__":
    main()
