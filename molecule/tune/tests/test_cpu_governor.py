"""cpu_governor on four drivers: every policy's governor and EPP, the boot unit, and a host without cpufreq."""

POLICIES = "/sys/devices/system/cpu/cpufreq"
DRIVER_OF = {
    "amd-nps2": "amd-pstate-epp",
    "amd-nps1-dev": "acpi-cpufreq",
    "intel-snc2": "intel_pstate",
    "vm": None,
}
CPUS_OF = {"amd-nps2": 64, "amd-nps1-dev": 64, "intel-snc2": 64, "vm": 4}


def name_of(host):
    return host.backend.get_hostname()


def policy_values(host, filename):
    # grep, not cat: values written without a trailing newline would run together.
    result = host.run("grep -h . %s/policy*/%s" % (POLICIES, filename))
    assert result.rc == 0, result.stderr
    return result.stdout.split()


def test_every_policy_runs_the_performance_governor(host):
    if DRIVER_OF[name_of(host)] is None:
        assert host.run("ls %s/policy*" % POLICIES).rc != 0
        return
    governors = policy_values(host, "scaling_governor")
    assert len(governors) == CPUS_OF[name_of(host)]
    assert set(governors) == {"performance"}


def test_epp_follows_the_driver(host):
    driver = DRIVER_OF[name_of(host)]
    if driver in ("amd-pstate-epp", "intel_pstate"):
        # Active mode with the performance governor holds EPP at performance.
        assert set(policy_values(host, "energy_performance_preference")) == {"performance"}
    else:
        assert not host.run("ls %s/policy*/energy_performance_preference" % POLICIES).stdout.strip()


def test_boot_unit_is_enabled_and_reapplies_the_governor(host):
    if DRIVER_OF[name_of(host)] is None:
        assert not host.file("/etc/systemd/system/ktune-cpufreq.service").exists
        return
    unit = host.service("ktune-cpufreq.service")
    assert unit.is_enabled
    assert host.file("/etc/default/ktune-cpufreq").contains("^GOVERNOR=performance$")
    # Undo one policy behind Ansible's back, as a reboot would, and let the unit fix it.
    host.run_expect([0], "echo powersave > %s/policy3/scaling_governor" % POLICIES)
    host.run_expect([0], "systemctl restart ktune-cpufreq.service")
    assert host.file("%s/policy3/scaling_governor" % POLICIES).content_string.strip() == "performance"
    journal = host.run("journalctl -u ktune-cpufreq.service --no-pager -o cat").stdout
    assert "1 files written" in journal


def test_host_without_cpufreq_is_left_alone(host):
    if DRIVER_OF[name_of(host)] is not None:
        return
    assert not host.file(POLICIES).exists
    assert not host.file("/usr/local/sbin/ktune-cpufreq-apply").exists
