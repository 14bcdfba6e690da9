"""tune.yml verifies what it changed with a second read (like tuned-adm verify): a change that
something on the host reverts fails that host, naming what still differs."""

import re

import testinfra

from conftest import run_tune
from playbook_run import recap

HOST = "amd-nps2"
POLICY = "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor"
# Stands for another daemon that sets the governor back (power-profiles-daemon, a vendor agent).
REVERTER = ("systemd-run --unit=ktune-test-reverter /bin/sh -c "
            "'while :; do echo powersave > %s; sleep 0.1; done'" % POLICY)


def test_a_change_that_does_not_hold_fails_the_host():
    host = testinfra.get_host("podman://" + HOST)
    host.run_expect([0], REVERTER)
    try:
        reverted = run_tune("--limit", HOST, "--tags", "cpu_governor")
    finally:
        host.run_expect([0], "systemctl stop ktune-test-reverter")
    assert reverted.returncode != 0, reverted.output[-3000:]
    assert recap(reverted.output)[HOST]["failed"] == "1", reverted.output[-3000:]
    text = " ".join(reverted.output.split())
    assert re.search(r"%s: after tuning, cpu_governor still differs from the settings: governor policy0: powersave"
                     % HOST, text), reverted.output[-3000:]

    held = run_tune("--limit", HOST, "--tags", "cpu_governor")
    assert held.returncode == 0, held.output[-3000:]
    assert recap(held.output)[HOST]["changed"] == "1", held.output[-3000:]
    assert host.file(POLICY).content_string.strip() == "performance"


def test_a_run_that_changes_nothing_reads_once():
    again = run_tune("--limit", HOST)
    assert again.returncode == 0, again.output[-3000:]
    assert recap(again.output)[HOST]["changed"] == "0", again.output[-3000:]
    sections = re.findall(r"^TASK \[([^\]]*)\][^\n]*\n(.*?)(?=^TASK \[|^PLAY RECAP)", again.output, re.M | re.S)
    reads = [body for name, body in sections if name.startswith("Read ") or " : Read " in name]
    assert reads and ["ok: [%s]" % HOST in body for body in reads] == [True] + [False] * (len(reads) - 1), sections
    change = dict(sections)["Change what differs, then verify it"]
    assert "skipping: [%s]" % HOST in change
