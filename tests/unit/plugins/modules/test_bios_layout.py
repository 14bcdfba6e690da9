"""ktune.inference.bios_layout against the fake BMC (tests/fake_bmc.py): finds the layout attribute by
what the BIOS has, stages it pending-aware, honours ETags, apply times, registries and Dell's jobs,
sends nothing but GETs in check mode, and never lets the password out."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
from ansible.module_utils import basic

from fake_bmc import FakeBmc
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.module_utils import redfish_bios
from ansible_collections.ktune.inference.plugins.module_utils.layout import BIOS_LAYOUT_ATTRIBUTES, bios_fix
from ansible_collections.ktune.inference.plugins.modules import bios_layout

PASSWORD = "calvin-s3cret"


@pytest.fixture
def bmc():
    started = []

    def start(flavor="dell", **options):
        server = FakeBmc(flavor, password=PASSWORD, **options).start()
        started.append(server)
        return server
    yield start
    for server in started:
        server.stop()


def run(server, nodes=2, check=False, diff=False, **extra):
    args = dict(address=server.url, username="root", password=PASSWORD, **extra)
    if nodes is not None:
        args["nodes_per_socket"] = nodes
    result, failed = run_module(bios_layout, args, check_mode=check, diff=diff)
    assert PASSWORD not in json.dumps(result)
    assert not any(token in json.dumps(result) for token in server.tokens_issued)
    return result, failed


@pytest.mark.parametrize("flavor, attribute, wanted", [
    ("dell", "NumaNodesPerSocket", "2"),
    ("hpe", "NumaMemoryDomainsPerSocket", "TwoMemoryDomainsPerSocket"),
    ("lenovo", "Memory_NUMANodesperSocket", "NPS2"),
    ("supermicro", "NUMANodesPerSocket#703E", "NPS2"),
    ("intel", "SubNumaCluster", "SNC2"),
])
def test_stages_the_vendor_attribute_and_a_second_run_sees_it_pending(bmc, flavor, attribute, wanted):
    server = bmc(flavor)
    result, failed = run(server)
    assert not failed, result["msg"]
    assert (result["changed"], result["state"]) == (True, "staged")
    assert (result["attribute"], result["wanted"]) == (attribute, wanted)
    assert "staged, applies at next reboot" in result["msg"]
    assert server.staged() == {attribute: wanted}
    assert server.current[attribute] != wanted  # applied only on reset

    again, failed = run(server)
    assert not failed
    assert (again["changed"], again["state"], again["pending"]) == (False, "pending", wanted)
    assert "staged, applies at next reboot" in again["msg"]
    assert [change for change in server.changes() if change[0] == "PATCH"] == [
        ("PATCH", "/redfish/v1/Systems/1/Bios/Settings")]


def test_already_correct_sends_nothing(bmc):
    server = bmc("lenovo")
    server.current["Memory_NUMANodesperSocket"] = "NPS2"
    result, failed = run(server)
    assert not failed
    assert (result["changed"], result["state"], result["reboot_needed"]) == (False, "correct", False)
    assert server.changes() == []


def test_a_stale_pending_value_is_replaced(bmc):
    server = bmc("dell")
    server.stage_elsewhere("1")
    result, failed = run(server)
    assert not failed
    assert (result["changed"], result["state"], result["pending"]) == (True, "staged", "1")
    assert server.staged() == {"NumaNodesPerSocket": "2"}


def test_a_stale_pending_value_is_replaced_when_current_is_right(bmc):
    server = bmc("supermicro")
    server.current["NUMANodesPerSocket#703E"] = "NPS2"
    server.stage_elsewhere("NPS1")
    result, failed = run(server)
    assert not failed
    assert (result["changed"], result["state"]) == (True, "correct")
    assert server.staged() == {}


def test_a_session_carries_every_request_and_is_deleted_at_the_end(bmc):
    server = bmc("dell", basic_auth=False)  # a BMC that allows sessions only
    result, failed = run(server)
    assert not failed, result["msg"]
    assert (result["auth"], result["state"]) == ("session", "staged")
    assert server.session_log == [("login", "/redfish/v1/SessionService/Sessions/1"),
                                  ("logout", "/redfish/v1/SessionService/Sessions/1")]
    assert server.sessions == {}
    assert server.auth_used and {auth for dummy, dummy2, auth in server.auth_used} == {"session"}
    assert ("PATCH", "/redfish/v1/Systems/1/Bios/Settings", "session") in server.auth_used
    assert ("DELETE", "/redfish/v1/SessionService/Sessions/1", "session") == server.auth_used[-1]
    login = [body for method, path, body in server.requests if method == "POST"][0]
    assert login == {"UserName": "root", "Password": PASSWORD}  # the password goes out once, in this body
    assert server.basic_sent == []  # and never in an Authorization header, not even to the service root


def test_the_session_is_deleted_when_the_run_fails(bmc):
    server = bmc("none")
    result, failed = run(server)
    assert failed and "expected a NUMA layout attribute" in result["msg"]
    assert [event for event, dummy in server.session_log] == ["login", "logout"]
    assert server.sessions == {}


def test_basic_authentication_only_where_the_service_has_no_session_service(bmc):
    server = bmc("dell", sessions=False)
    result, failed = run(server)
    assert not failed, result["msg"]
    assert (result["auth"], result["state"]) == ("basic", "staged")
    assert server.session_log == []
    assert {auth for dummy, dummy2, auth in server.auth_used} == {"basic"}
    assert not any(path.startswith("/redfish/v1/SessionService") for dummy, path, dummy2 in server.requests)


def test_a_service_with_sessions_gets_no_basic_authentication(bmc):
    server = bmc("hpe")  # accepts both, as iDRAC and iLO do: the session is still used
    result, failed = run(server)
    assert not failed, result["msg"]
    assert {auth for dummy, dummy2, auth in server.auth_used} == {"session"}
    assert server.basic_sent == []


def test_an_expired_session_is_opened_again_and_both_end_closed(bmc):
    server = bmc("hpe", basic_auth=False, on_reset=lambda bmc: bmc.expire_sessions())  # the BMC forgot it
    result, failed = run(server, apply=True, graceful_timeout=5, reset_timeout=5)
    assert not failed, result["msg"]
    assert result["state"] == "applied"
    assert [event for event, dummy in server.session_log] == ["login", "login", "logout"]
    assert server.sessions == {}


def test_wrong_password_at_the_session_login_fails_naming_the_login(bmc):
    server = bmc("dell")
    result, failed = run_module(bios_layout, dict(address=server.url, username="root", password="wrong-one-43",
                                                  nodes_per_socket=2))
    assert failed
    assert "expected the BMC at %s to accept ktune_bmc_username's credentials, found HTTP 401 on POST " \
           "/redfish/v1/SessionService/Sessions (session login)" % server.url in result["msg"]
    assert "wrong-one-43" not in json.dumps(result)
    assert server.changes() == []


def test_check_mode_sends_only_gets_and_diff_names_the_values(bmc):
    server = bmc("hpe")
    result, failed = run(server, check=True, diff=True, apply=True)
    assert not failed
    assert result["changed"] and result["state"] == "staged"
    assert "would PATCH /redfish/v1/Systems/1/Bios/Settings" in result["msg"]
    assert "would restart the system" in result["msg"]
    assert server.changes() == [] and server.resets == []
    # besides GETs, only the session's login and logout
    assert [(method, path) for method, path, dummy in server.requests if method != "GET"] == [
        ("POST", "/redfish/v1/SessionService/Sessions"), ("DELETE", "/redfish/v1/SessionService/Sessions/1")]
    assert "pending TwoMemoryDomainsPerSocket" in result["diff"]["after"]
    assert "current FourMemoryDomainsPerSocket" in result["diff"]["before"]


def test_etag_sent_and_a_412_is_retried_once_after_reading_again(bmc):
    server = bmc("dell")
    server.stale_next_patch = True
    result, failed = run(server)
    assert not failed, result["msg"]
    patches = [request for request in server.requests if request[0] == "PATCH"]
    assert len(patches) == 2
    assert server.staged() == {"NumaNodesPerSocket": "2"}


def test_apply_time_on_reset_where_listed_else_a_dell_job(bmc):
    hpe = bmc("hpe")
    run(hpe)
    body = [body for method, dummy, body in hpe.requests if method == "PATCH"][0]
    assert body["@Redfish.SettingsApplyTime"] == {"ApplyTime": "OnReset"}
    assert not [path for dummy, path in hpe.changes() if path.endswith("/Jobs")]

    dell = bmc("dell")
    result, dummy = run(dell)
    body = [body for method, dummy, body in dell.requests if method == "PATCH"][0]
    assert "@Redfish.SettingsApplyTime" not in body
    assert dell.jobs == ["/redfish/v1/Systems/1/Bios/Settings"]
    assert result["job"].endswith("/Jobs/JID_1")


def test_no_dell_job_where_the_bmc_offers_no_dell_job_service(bmc):
    server = bmc("lenovo")
    result, failed = run(server)
    assert not failed and result["job"] is None
    assert [method for method, dummy in server.changes()] == ["PATCH"]


def test_registry_named_but_not_served_is_skipped(bmc):
    server = bmc("dell", registry="unserved")
    result, failed = run(server)
    assert not failed and result["state"] == "staged"


def test_registry_refuses_a_value_the_bios_does_not_allow(bmc):
    server = bmc("hpe")
    result, failed = run(server, nodes=0)
    assert failed
    assert "NumaMemoryDomainsPerSocket" in result["msg"] and "allowed" in result["msg"]
    assert server.changes() == []


def test_read_only_attribute_fails_before_anything_is_sent(bmc):
    server = bmc("dell", read_only=True)
    result, failed = run(server)
    assert failed and "read-only" in result["msg"]
    assert server.changes() == []


def test_bmc_without_a_layout_attribute_fails_naming_what_was_looked_for(bmc):
    server = bmc("none")
    result, failed = run(server)
    assert failed
    assert server.url in result["msg"]
    assert "NumaNodesPerSocket" in result["msg"] and "SubNumaClustering" in result["msg"]
    assert "NumaGroupSizeOpt" not in result["msg"].split("one of", 1)[1].split(")")[0]
    assert server.changes() == []


def test_wrong_password_is_an_authentication_failure_without_the_password(bmc):
    server = bmc("dell", sessions=False)
    result, failed = run_module(bios_layout, dict(address=server.url, username="root", password="wrong-one-42",
                                                  nodes_per_socket=2))
    assert failed and "401" in result["msg"]
    assert "wrong-one-42" not in json.dumps(result)


def test_credentials_in_the_url_are_refused_without_echoing_them(bmc):
    server = bmc("dell")
    address = server.url.replace("http://", "http://root:%s@" % PASSWORD)
    result, failed = run_module(bios_layout, dict(address=address, username="root", password=PASSWORD,
                                                  nodes_per_socket=2))
    assert failed and "without credentials" in result["msg"]
    assert PASSWORD not in json.dumps(result)
    assert server.requests == []


def test_the_password_is_masked_in_every_output(bmc, monkeypatch):
    seen = {}
    original = basic.AnsibleModule.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen["no_log_values"] = set(self.no_log_values)
    monkeypatch.setattr(basic.AnsibleModule, "__init__", init)
    run(bmc("dell"))
    assert PASSWORD in seen["no_log_values"]


def test_apply_resets_and_waits_for_the_bios_to_report_it(bmc):
    server = bmc("hpe")
    result, failed = run(server, apply=True, graceful_timeout=5, reset_timeout=5)
    assert not failed, result["msg"]
    assert (result["state"], result["resets"]) == ("applied", ["GracefulRestart"])
    assert server.current["NumaMemoryDomainsPerSocket"] == "TwoMemoryDomainsPerSocket"


def test_apply_forces_a_restart_when_the_graceful_one_is_ignored(bmc, monkeypatch):
    server = bmc("dell", graceful_works=False)
    monkeypatch.setattr(redfish_bios.time, "sleep", lambda seconds: None)
    result, failed = run(server, apply=True, graceful_timeout=0, reset_timeout=5)
    assert not failed, result["msg"]
    assert result["resets"] == ["GracefulRestart", "ForceRestart"]
    assert server.current["NumaNodesPerSocket"] == "2"


def test_apply_fails_when_the_bios_does_not_take_the_value(bmc, monkeypatch):
    server = bmc("dell", apply_on_reset=False)
    monkeypatch.setattr(redfish_bios.time, "sleep", lambda seconds: None)
    result, failed = run(server, apply=True, graceful_timeout=0, reset_timeout=0)
    assert failed
    assert "expected BIOS attribute NumaNodesPerSocket to be \"2\" after GracefulRestart then ForceRestart, " \
           "found \"4\"" in result["msg"]


def test_the_mismatch_message_and_the_staging_share_one_table():
    message = bios_fix("AuthenticAMD", 2)
    for vendor, scheme, pattern, values in BIOS_LAYOUT_ATTRIBUTES:
        if scheme == "AuthenticAMD":
            assert "%s %s=" % (vendor, pattern.rstrip("#")) in message
            assert values[2][0] in message


@pytest.mark.parametrize("current, pending, wanted, action", [
    ("4", None, "2", "stage"), ("2", None, "2", "correct"), ("4", "2", "2", "pending"),
    ("4", "1", "2", "stage"), ("2", "1", "2", "stage"), ("2", "2", "2", "correct"), ("4", "4", "2", "stage"),
])
def test_decide(current, pending, wanted, action):
    assert redfish_bios.decide(current, pending, wanted) == action


def test_system_id_picks_the_system_and_a_wrong_one_names_those_there(bmc):
    server = bmc("dell")
    result, failed = run(server, system_id="1")
    assert not failed and result["system"] == "/redfish/v1/Systems/1"
    result, failed = run(server, system_id="System.Embedded.1")
    assert failed
    assert "expected a system 'System.Embedded.1' in /redfish/v1/Systems, found /redfish/v1/Systems/1" in result["msg"]
    assert "ktune_bmc_system_id" in result["msg"]


def test_without_nodes_per_socket_it_only_reads_what_is_current_and_staged(bmc):
    server = bmc("lenovo")
    server.stage_elsewhere("NPS2")
    result, failed = run(server, nodes=None)
    assert not failed, result["msg"]
    assert (result["state"], result["changed"], result["staged"], result["pending_nodes_per_socket"]) == (
        "read", False, True, 2)
    assert (result["current"], result["pending"], result["wanted"]) == ("NPS4", "NPS2", None)
    assert "staged, applies at next reboot" in result["msg"]
    assert server.changes() == []

    server = bmc("hpe")  # HPE's settings object repeats every current attribute: nothing is staged
    result, failed = run(server, nodes=None)
    assert (result["state"], result["staged"], result["pending_nodes_per_socket"]) == ("read", False, None)
    assert "nothing staged" in result["msg"]


def test_apply_needs_nodes_per_socket(bmc):
    server = bmc("dell")
    result, failed = run(server, nodes=None, apply=True)
    assert failed and "nodes_per_socket" in result["msg"]
    assert server.requests == []
