"""ktune.inference.bios_layout against sushy-tools' Redfish emulator (tests/sushy_bmc.py): a Redfish
server nobody here wrote, with its own paths (BIOS, BIOS/Settings), its own registry naming (a BIOS
attribute registry named in the BIOS but not served under that name), no ETag, no apply times,
no Dell job service, and HTTP basic authentication checked against an htpasswd file.

sushy-tools comes from requirements-test.txt; KTUNE_SUSHY_PYTHON names another Python that has it.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import bios_layout

TESTS = Path(__file__).resolve().parents[1]
PASSWORD = "sushy-pass-5e2b"


@pytest.fixture(scope="module")
def sushy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sushy")
    (folder / "bios.json").write_text(json.dumps({"BootMode": "Uefi", "ProcTurboMode": "Enabled",
                                                  "NumaNodesPerSocket": "4"}))
    port_file = folder / "port"
    server = subprocess.Popen([os.environ.get("KTUNE_SUSHY_PYTHON", sys.executable), str(TESTS / "sushy_bmc.py"),
                               str(port_file), str(folder / "htpasswd"), str(folder / "bios.json")],
                              stdout=subprocess.DEVNULL, stderr=open(folder / "log", "w"),
                              env=dict(os.environ, KTUNE_SUSHY_PASSWORD=PASSWORD))
    deadline = time.monotonic() + 60
    while not port_file.exists():
        assert server.poll() is None and time.monotonic() < deadline, (folder / "log").read_text()
        time.sleep(0.2)
    yield "http://127.0.0.1:%s" % port_file.read_text()
    server.terminate()
    server.wait(10)


def bios(sushy, password=PASSWORD, check=False, **extra):
    args = dict(dict(address=sushy, username="ktune", password=password, nodes_per_socket=2), **extra)
    result, failed = run_module(bios_layout, args, check_mode=check, diff=True)
    assert password not in json.dumps(result)
    return result, failed


def test_against_sushy_tools(sushy):
    result, failed = bios(sushy, password="not-the-password")
    assert failed and "401" in result["msg"]

    # sushy-tools (2.2.0, the newest release) names no SessionService in its service root: HTTP basic
    # authentication, checked by its own htpasswd middleware
    result, failed = bios(sushy, check=True)
    assert not failed, result["msg"]
    assert (result["changed"], result["state"], result["attribute"], result["current"], result["auth"]) == (
        True, "staged", "NumaNodesPerSocket", "4", "basic")
    assert "current 4" in result["diff"]["before"] and "pending 2" in result["diff"]["after"]

    result, failed = bios(sushy, check=True)
    assert result["current"] == "4"  # check mode sent nothing

    # sushy-tools' registry named in the BIOS is not served under that name: skipped, not an error;
    # it offers no Dell job service: no job
    result, failed = bios(sushy)
    assert not failed, result["msg"]
    assert (result["changed"], result["state"], result["job"]) == (True, "staged", None)
    assert "staged, applies at next reboot" in result["msg"]

    # sushy-tools shows a PATCHed attribute as current at once: the next run has nothing to do
    result, failed = bios(sushy)
    assert not failed
    assert (result["changed"], result["state"], result["current"]) == (False, "correct", "2")

    result, failed = bios(sushy, nodes_per_socket=4, apply=True, graceful_timeout=5, reset_timeout=5)
    assert not failed, result["msg"]
    assert result["state"] == "applied" and result["resets"] == ["GracefulRestart"]
