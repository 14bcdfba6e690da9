"""ktune_tuned_action against real tuned: fail refuses, profile hands the governor to tuned's
profile without installing ktune's own unit, disable stops tuned and takes over.

The cases run in file order on one host: fail, then profile, then disable.
"""

import json
import re

import pytest
import testinfra

from conftest import run_tune
from playbook_run import recap

HOST = "tuned-amd"
UNIT = "/etc/systemd/system/ktune-cpufreq.service"
POLICY0 = "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor"


@pytest.fixture(scope="module")
def host():
    """tuned running on another profile and every policy on powersave, whatever ran before."""
    target = testinfra.get_host("podman://" + HOST)
    target.run_expect([0], "systemctl enable --now tuned.service && tuned-adm profile balanced")
    target.run_expect([0], "systemctl disable ktune-cpufreq.service 2>/dev/null; rm -f %s && systemctl daemon-reload"
                      % UNIT)
    target.run_expect([0], "for p in /sys/devices/system/cpu/cpufreq/policy*; do echo powersave > $p/scaling_governor; "
                           "done")
    return target


def tune_cpu_governor(action):
    return run_tune("--limit", HOST, "--tags", "cpu_governor", "-e", json.dumps({"ktune_tuned_action": action}))


def test_fail_refuses_to_fight_tuned_and_changes_nothing(host):
    assert host.service("tuned").is_running
    before = host.file(POLICY0).content_string
    done = tune_cpu_governor("fail")
    assert done.returncode == 2, done.output[-3000:]
    assert "%s: tuned is active and also sets the CPU governor" % HOST in done.output
    assert recap(done.output)[HOST]["changed"] == "0"
    assert host.file(POLICY0).content_string == before
    assert not host.file(UNIT).exists


def test_profile_switches_tuned_and_leaves_persistence_to_it(host):
    done = tune_cpu_governor("profile")
    assert done.returncode == 0, done.output[-3000:]
    assert "Current active profile: throughput-performance" in host.check_output("tuned-adm active")
    assert host.service("tuned").is_running
    # The registered tuned-adm output used to shadow cpu_governor_tuned_active: the role then
    # installed its own unit next to tuned and skipped the governor.
    assert not host.file(UNIT).exists
    assert host.file(POLICY0).content_string.strip() == "performance"
    again = tune_cpu_governor("profile")
    assert again.returncode == 0, again.output[-3000:]
    assert recap(again.output)[HOST]["changed"] == "0", again.output[-3000:]
    # The one read saw tuned on the wanted profile (/etc/tuned/active_profile): nothing to change.
    assert re.search(r"^TASK \[Change what differs, then verify it\][^\n]*\nskipping: \[%s\]" % HOST, again.output,
                     re.M), again.output[-3000:]


def test_disable_stops_tuned_and_installs_the_ktune_unit(host):
    done = tune_cpu_governor("disable")
    assert done.returncode == 0, done.output[-3000:]
    tuned = host.service("tuned")
    assert not tuned.is_running and not tuned.is_enabled
    assert host.file(UNIT).exists
    assert host.service("ktune-cpufreq").is_enabled
    assert host.file(POLICY0).content_string.strip() == "performance"
    again = tune_cpu_governor("disable")
    assert again.returncode == 0, again.output[-3000:]
    assert recap(again.output)[HOST]["changed"] == "0", again.output[-3000:]
