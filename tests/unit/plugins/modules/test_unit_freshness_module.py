"""ktune.inference.unit_freshness with a program in a virtualenv: a pip upgrade made after the unit's
process started makes the unit stale (the role then restarts it with its health check and rollback).
systemctl is a stand-in on PATH naming a live process (this test's child) as the unit's MainPID."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess
import sys
import time

import pytest

from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import unit_freshness

SYSTEMCTL = """#!/bin/sh
printf 'Id=ktransformers@a.service\\nLoadState=loaded\\nActiveState=active\\nMainPID=%d\\nNeedDaemonReload=no\\n'
"""


@pytest.fixture
def running(tmp_path, monkeypatch):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin/systemctl").write_text(SYSTEMCTL % child.pid)
    (tmp_path / "bin/systemctl").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin") + os.pathsep + os.environ["PATH"])
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin/python").write_text("")
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    packages = venv / "lib/python3.11/site-packages"
    (packages / "ktransformers-0.3.1.dist-info").mkdir(parents=True)
    past = time.time() - 3600
    os.utime(str(packages), (past, past))
    yield venv, packages
    child.kill()
    child.wait()


def judged(venv):
    result, failed = run_module(unit_freshness, {"units": [{"unit": "ktransformers@a.service", "files": [],
                                                            "programs": [str(venv / "bin/python")]}]})
    assert not failed, result
    return result


def test_a_virtualenv_upgraded_after_the_start_makes_the_unit_stale(running):
    venv, packages = running
    assert judged(venv)["stale"] == []
    time.sleep(1.5)  # past START_SLACK_S after the child started
    (packages / "ktransformers-0.3.1.dist-info").rmdir()
    (packages / "ktransformers-0.3.2.dist-info").mkdir()
    result = judged(venv)
    assert result["stale"] == ["ktransformers@a.service"]
    assert result["units"][0]["reason"].startswith("the packages in %s changed after the running process started"
                                                   % packages)
    assert result["units"][0]["upgraded"] == ["ktransformers 0.3.2"]
    assert "installed since: ktransformers 0.3.2)" in result["units"][0]["reason"]
