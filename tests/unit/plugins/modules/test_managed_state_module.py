from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

import topologies
from ansible_collections.ktune.inference.tests.unit.cpufreq_tree import build_tree, snapshot
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.modules import cpufreq, managed_state, numa_facts

FAKE_SYSTEMCTL = """#!/bin/sh
# Answers `systemctl show --property=... -- UNIT...` like systemd: one block per unit.
shift 3
first=1
for unit in "$@"; do
  [ $first = 1 ] || echo
  first=0
  case $unit in
    cron.service) printf 'LoadState=loaded\\nActiveState=active\\nUnitFileState=enabled\\n' ;;
    *) printf 'LoadState=not-found\\nActiveState=inactive\\nUnitFileState=\\n' ;;
  esac
done
"""


@pytest.fixture
def fake_systemctl(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "systemctl"
    script.write_text(FAKE_SYSTEMCTL)
    script.chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    return script


def test_reads_files_units_and_sysctls_in_one_call(tmp_path, fake_systemctl):
    etc = tmp_path / "etc"
    (etc / "ktransformers").mkdir(parents=True)
    (etc / "environment").write_text("LANG=C\nUSE_NUMA=0\n")
    (etc / "ktransformers/a.env").write_text("HOME=/var/lib/kt\n")
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/numa_balancing").write_text("1\n")
    result, failed = run_module(managed_state, {
        "files": [str(etc / "environment"), str(etc / "ktransformers/*.env"), str(etc / "sysctl.d/90.conf")],
        "line_pattern": r"^\s*(export\s+)?USE_NUMA",
        "units": ["cron.service", "tuned.service"],
        "sysctls": ["kernel.numa_balancing", "vm.zone_reclaim_mode"],
        "procfs_root": str(tmp_path / "proc"),
    })
    assert not failed and result["changed"] is False
    files = result["files"]
    assert list(files) == [str(etc / "environment"), str(etc / "ktransformers/a.env"), str(etc / "sysctl.d/90.conf")]
    assert files[str(etc / "environment")]["matching_lines"] == ["USE_NUMA=0"]
    assert files[str(etc / "ktransformers/a.env")]["matching_lines"] == []
    assert files[str(etc / "sysctl.d/90.conf")] == {"path": str(etc / "sysctl.d/90.conf"), "exists": False}
    assert result["systemd"] is True
    assert result["units"]["cron.service"]["unit_file_state"] == "enabled"
    assert result["units"]["tuned.service"]["load_state"] == "not-found"
    assert result["sysctls"] == {"kernel.numa_balancing": 1, "vm.zone_reclaim_mode": None}


def test_check_mode_reads_the_same(tmp_path, fake_systemctl):
    (tmp_path / "f").write_text("x\n")
    args = {"files": [str(tmp_path / "f")], "units": ["cron.service"]}
    assert run_module(managed_state, args, check_mode=True) == run_module(managed_state, args)


def test_without_systemctl_units_are_reported_unreadable(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(managed_state.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: None)
    result, failed = run_module(managed_state, {"units": ["cron.service"]})
    assert not failed
    assert result["systemd"] is False and result["units"] == {}
    assert result["systemd_reason"] == "systemctl not found"


def test_a_failing_systemctl_is_reported_with_its_message(tmp_path, monkeypatch):
    script = tmp_path / "systemctl"
    script.write_text("#!/bin/sh\necho 'System has not been booted with systemd as init system (PID 1).' >&2\nexit 1\n")
    script.chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", "%s:%s" % (tmp_path, os.environ["PATH"]))
    result, failed = run_module(managed_state, {"units": ["cron.service"]})
    assert not failed and result["systemd"] is False
    assert "not been booted with systemd" in result["systemd_reason"]


def test_bad_input_fails_naming_it(tmp_path):
    result, failed = run_module(managed_state, {"files": [str(tmp_path)], "line_pattern": "("})
    assert failed and "line_pattern" in result["msg"]
    result, failed = run_module(managed_state, {"sysctls": ["../../etc/passwd"], "procfs_root": str(tmp_path)})
    assert failed and "../../etc/passwd" in result["msg"]


@pytest.mark.parametrize("driver", ["acpi-cpufreq", "intel_pstate", "amd-pstate-epp"])
@pytest.mark.parametrize("request_", [
    {"governor": "performance"},
    {"governor": "powersave", "energy_performance_preference": "balance_power"},
    {"governor": "performance", "boost": False, "min_freq_khz": 2000000},
])
def test_cpufreq_plan_is_the_cpufreq_modules_check_mode_result(tmp_path, driver, request_):
    build_tree(tmp_path, driver=driver, policies=range(6))
    before = snapshot(tmp_path)
    state, failed = run_module(managed_state, {"cpufreq": dict(request_), "sysfs_root": str(tmp_path)})
    check, check_failed = run_module(cpufreq, dict(request_, sysfs_root=str(tmp_path)), check_mode=True)
    assert not failed
    assert snapshot(tmp_path) == before
    if check_failed:
        assert state["cpufreq"]["failed"] is True and state["cpufreq"]["msg"] == check["msg"]
    else:
        check.pop("warnings", None)
        assert state["cpufreq"] == check


def test_cpufreq_plan_without_cpufreq_is_not_applicable(tmp_path):
    state, failed = run_module(managed_state, {"cpufreq": {"governor": "performance"}, "sysfs_root": str(tmp_path)})
    assert not failed and state["cpufreq"]["applicable"] is False
    assert "does not exist" in state["cpufreq"]["reason"]


def test_cpufreq_plan_reports_a_governor_the_driver_lacks_without_failing(tmp_path):
    build_tree(tmp_path, driver="amd-pstate-epp", policies=range(4))
    state, failed = run_module(managed_state, {"cpufreq": {"governor": "schedutil"}, "sysfs_root": str(tmp_path)})
    assert not failed
    assert state["cpufreq"]["failed"] is True
    assert "policy0-3" in state["cpufreq"]["msg"] and "'schedutil'" in state["cpufreq"]["msg"]


FAKE_DPKG_QUERY = """#!/bin/sh
# Answers `dpkg-query --show --showformat=... -- PKG...` like dpkg: installed, removed, unknown.
shift 3
for package in "$@"; do
  case $package in
    ipmitool) printf 'ipmitool\\tinstall ok installed\\t1.8.19-4+deb12u2\\n' ;;
    cron) printf 'cron\\tdeinstall ok config-files\\t3.0pl1-162\\n' ;;
    *) echo "dpkg-query: no packages found matching $package" >&2 ;;
  esac
done
exit 1
"""


def test_packages_line_patterns_per_file_and_os_family(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "dpkg-query").write_text(FAKE_DPKG_QUERY)
    (bin_dir / "dpkg-query").chmod(0o755)
    monkeypatch.setenv("PATH", "%s:%s" % (bin_dir, os.environ["PATH"]))
    defaults = tmp_path / "prometheus-node-exporter"
    defaults.write_text('# set by the package\nARGS="--collector.textfile.directory=/x"\nOTHER=1\n')
    result, failed = run_module(managed_state, {
        "files": [str(defaults)], "line_pattern": "^OTHER", "file_line_patterns": {str(defaults): "^ARGS="},
        "packages": ["ipmitool", "cron", "prometheus-node-exporter"], "os": True})
    assert not failed, result
    assert result["files"][str(defaults)]["matching_lines"] == ['ARGS="--collector.textfile.directory=/x"']
    assert result["packages"] == {"ipmitool": "1.8.19-4+deb12u2", "cron": None, "prometheus-node-exporter": None}
    assert result["os_family"] in ("Debian", "RedHat", "Suse", "Archlinux", None)


def test_numa_option_returns_the_layout_numa_facts_returns(tmp_path, fake_systemctl):
    topologies.write_tree(topologies.catalog()["epyc-2s-64c-nps4"], tmp_path)
    roots = {"sysfs_root": str(tmp_path / "sys"), "procfs_root": str(tmp_path / "proc")}
    alone, failed = run_module(numa_facts, roots)
    assert not failed
    combined, failed = run_module(managed_state, dict(roots, numa=True, units=["cron.service"]))
    assert not failed and combined["changed"] is False
    assert combined["ansible_facts"]["ktune_numa"] == alone["ansible_facts"]["ktune_numa"]
    assert combined["ansible_facts"]["ktune_numa"]["layout"] == "NPS4"
    assert combined["units"]["cron.service"]["active_state"] == "active"
    without, failed = run_module(managed_state, dict(roots, units=["cron.service"]))
    assert not failed and "ansible_facts" not in without


def test_numa_option_fails_naming_the_broken_file(tmp_path):
    topologies.write_tree(topologies.catalog()["epyc-2s-64c-nps4"], tmp_path)
    broken = tmp_path / "sys/devices/system/node/node3/distance"
    broken.write_text("10 12\n")
    result, failed = run_module(managed_state, {"numa": True, "sysfs_root": str(tmp_path / "sys"),
                                                "procfs_root": str(tmp_path / "proc")})
    assert failed
    assert str(broken) in result["msg"] and result["path"] == str(broken)
