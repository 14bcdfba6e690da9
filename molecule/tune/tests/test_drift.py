"""Drift on a tuned host is found and repaired, although a run with nothing to do skips its tasks.

tune.yml reads what the roles manage in one call and skips the change tasks where it already
matches; this proves the comparison sees each kind of drift: a cron field, a file mode, a
disabled unit, a USE_NUMA=0 line, a kernel setting and a CPU governor.
"""

import testinfra

from playbook_run import recap

HOST = "amd-nps2"  # production: NUMA on, amd-pstate-epp
CRON_FILE = "/etc/cron.d/ktune-drop-caches"
SCRIPT = "/usr/local/sbin/ktune-drop-caches"
NUMA_BALANCING = "/opt/ktune-fixture/proc/sys/kernel/numa_balancing"
POLICY0_GOVERNOR = "/sys/devices/system/cpu/cpufreq/policy0/scaling_governor"
DRIFT = " && ".join([
    "sed -i 's/^43 /17 /' %s" % CRON_FILE,
    "chmod 0700 %s" % SCRIPT,
    "systemctl disable --quiet ktune-cpufreq.service",
    "echo USE_NUMA=0 >> /etc/environment",
    "echo 1 > %s" % NUMA_BALANCING,
    "echo powersave > %s" % POLICY0_GOVERNOR,
])
SNAPSHOT = "md5sum %s %s /etc/environment %s %s; stat -c %%a %s; systemctl is-enabled ktune-cpufreq.service || true" % (
    CRON_FILE, SCRIPT, NUMA_BALANCING, POLICY0_GOVERNOR, SCRIPT)


def test_drift_is_predicted_by_check_mode_and_repaired(tune):
    host = testinfra.get_host("podman://" + HOST)
    host.run_expect([0], DRIFT)
    drifted = host.check_output(SNAPSHOT)

    predicted = tune("--limit", HOST, "--check", "--diff")
    assert predicted.returncode == 0, predicted.output[-3000:]
    assert int(recap(predicted.output)[HOST]["changed"]) >= 5, predicted.output[-6000:]
    assert host.check_output(SNAPSHOT) == drifted, "check mode changed the drifted host"

    repaired = tune("--limit", HOST)
    assert repaired.returncode == 0, repaired.output[-3000:]
    job = [line for line in host.file(CRON_FILE).content_string.splitlines() if SCRIPT in line]
    assert len(job) == 1 and job[0].startswith("43 "), job
    assert host.file(SCRIPT).mode == 0o755
    assert host.service("ktune-cpufreq.service").is_enabled
    use_numa = [line for line in host.file("/etc/environment").content_string.splitlines() if "USE_NUMA" in line]
    assert use_numa == ["USE_NUMA=1"]
    assert host.file(NUMA_BALANCING).content_string.strip() == "0"
    assert host.file(POLICY0_GOVERNOR).content_string.strip() == "performance"

    again = tune("--limit", HOST)
    assert recap(again.output)[HOST]["changed"] == "0", again.output[-3000:]
