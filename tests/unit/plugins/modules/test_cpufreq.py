# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the cpufreq module's main() against sysfs-shaped trees in tmp_path."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import subprocess
import time

import pytest

from ansible.module_utils import basic
from module_runner import module_args

from ansible_collections.ktune.inference.plugins.module_utils import cpufreq as cf
from ansible_collections.ktune.inference.plugins.modules import cpufreq as module
from ansible_collections.ktune.inference.tests.unit.cpufreq_tree import (
    FakeKernel,
    build_tree,
    policy_path,
    read,
    read_policy_file,
    snapshot,
    write,
)


class AnsibleExitJson(Exception):
    pass


class AnsibleFailJson(Exception):
    pass


@pytest.fixture
def warnings(monkeypatch):
    """Patch exit_json/fail_json to raise, and collect module.warn() messages."""
    collected = []

    def exit_json(self, **kwargs):
        kwargs.setdefault("changed", False)
        raise AnsibleExitJson(kwargs)

    def fail_json(self, msg, **kwargs):
        kwargs["msg"] = msg
        kwargs["failed"] = True
        raise AnsibleFailJson(kwargs)

    def warn(self, warning, **kwargs):
        collected.append(warning)

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "warn", warn)
    return collected


def run(args, check=False, diff=False):
    args = dict(args)
    if check:
        args["_ansible_check_mode"] = True
    if diff:
        args["_ansible_diff"] = True
    with module_args(args):
        with pytest.raises((AnsibleExitJson, AnsibleFailJson)) as info:
            module.main()
    return info.value.args[0]


def ok(args, **kw):
    result = run(args, **kw)
    assert not result.get("failed"), result.get("msg")
    return result


def failed(args, **kw):
    result = run(args, **kw)
    assert result.get("failed"), result
    return result


def governors(root, numbers):
    return [read_policy_file(root, n, "scaling_governor") for n in numbers]


@pytest.fixture
def fake_kernel(monkeypatch):
    kernel = FakeKernel()
    monkeypatch.setattr(cf, "write_text", kernel)
    return kernel


def test_sets_every_policy_then_is_idempotent(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(4))

    first = ok({"sysfs_root": root})

    assert first["changed"] is True
    assert first["applicable"] is True
    assert first["driver"] == "acpi-cpufreq"
    assert first["changed_policies"] == 4
    assert governors(root, range(4)) == ["performance"] * 4
    assert [p["before"]["governor"] for p in first["policies"]] == ["schedutil"] * 4
    assert [p["after"]["governor"] for p in first["policies"]] == ["performance"] * 4
    assert first["changes"] == ["policy0-3 (4 policies): scaling_governor: schedutil -> performance"]

    second = ok({"sysfs_root": root})

    assert second["changed"] is False
    assert second["changed_policies"] == 0
    assert second["changes"] == []
    assert warnings == []


def test_identical_content_is_not_written(tmp_path, warnings, fake_kernel):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(4))
    write(policy_path(root, 1, "scaling_governor"), "performance")

    result = ok({"sysfs_root": root})

    assert sorted(n for n, name, value in fake_kernel.writes) == [0, 2, 3]
    assert result["changed_policies"] == 3
    assert [p["changed"] for p in result["policies"]] == [True, False, True, True]


def test_check_mode_writes_nothing_and_reports_changes(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(4), boost="0")
    before = snapshot(root)

    result = ok({"sysfs_root": root, "boost": True, "min_freq_khz": 2000000}, check=True)

    assert snapshot(root) == before
    assert result["changed"] is True
    assert result["changed_policies"] == 4
    assert [p["after"] for p in result["policies"]] == [
        {"governor": "performance", "epp": None, "min_freq_khz": 2000000}] * 4
    assert result["boost"] == {"before": False, "after": True}
    assert "boost: 0 -> 1" in result["changes"]


def test_check_mode_on_a_tuned_host_reports_no_change(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(2), governor="performance")

    result = ok({"sysfs_root": root}, check=True)

    assert result["changed"] is False
    assert result["changes"] == []


def test_unknown_governor_fails_before_any_write(tmp_path, warnings, fake_kernel):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(4))
    before = snapshot(root)

    result = failed({"sysfs_root": root, "governor": "turbo"})

    assert snapshot(root) == before
    assert fake_kernel.writes == []
    assert "policy0-3 (4 policies)" in result["msg"]
    assert "'turbo'" in result["msg"]
    assert "conservative ondemand userspace powersave performance schedutil" in result["msg"]
    assert "nothing was written" in result["msg"]


def test_governor_missing_on_a_late_policy_leaves_earlier_policies_alone(tmp_path, warnings, fake_kernel):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(3))
    build_tree(tmp_path, "acpi-cpufreq", policies=[3], governors="performance powersave")
    before = snapshot(root)

    result = failed({"sysfs_root": root, "governor": "ondemand"})

    assert snapshot(root) == before
    assert fake_kernel.writes == []
    assert "policy3: driver acpi-cpufreq does not offer governor 'ondemand'" in result["msg"]
    assert "scaling_available_governors: performance powersave" in result["msg"]
    assert "policy0" not in result["msg"]


@pytest.mark.parametrize("driver", ["intel_pstate", "amd-pstate-epp"])
def test_epp_contradiction_on_active_driver_is_rejected(tmp_path, warnings, fake_kernel, driver):
    root = build_tree(tmp_path, driver, policies=range(2))
    before = snapshot(root)

    result = failed({"sysfs_root": root, "governor": "performance",
                     "energy_performance_preference": "balance_power"})

    assert snapshot(root) == before
    assert fake_kernel.writes == []
    assert "policy0-1 (2 policies)" in result["msg"]
    assert driver in result["msg"]
    assert "only valid EPP is 'performance'" in result["msg"]


def test_epp_performance_with_performance_governor_is_accepted(tmp_path, warnings, fake_kernel):
    root = build_tree(tmp_path, "intel_pstate", policies=range(2))

    result = ok({"sysfs_root": root, "governor": "performance", "epp": "performance"})

    assert governors(root, range(2)) == ["performance"] * 2
    assert [read_policy_file(root, n, "energy_performance_preference") for n in range(2)] == ["performance"] * 2
    # The kernel set EPP when the governor changed: only the governor was written.
    assert [name for n, name, v in fake_kernel.writes] == ["scaling_governor"] * 2
    assert result["changed_policies"] == 2


def test_fake_kernel_refuses_epp_before_governor(tmp_path):
    """The ordering test below depends on the fake kernel really refusing this."""
    root = build_tree(tmp_path, "amd-pstate-epp", policies=[0], governor="performance", epp="performance")
    kernel = FakeKernel()

    with pytest.raises(cf.HostFileError, match="Device or resource busy"):
        kernel(policy_path(root, 0, "energy_performance_preference"), "balance_power")


def test_leaving_performance_writes_governor_then_epp(tmp_path, warnings, fake_kernel):
    root = build_tree(tmp_path, "amd-pstate-epp", policies=[0, 2], governor="performance", epp="performance")

    result = ok({"sysfs_root": root, "governor": "powersave", "epp": "balance_power"})

    assert fake_kernel.writes == [
        (0, "scaling_governor", "powersave"), (0, "energy_performance_preference", "balance_power"),
        (2, "scaling_governor", "powersave"), (2, "energy_performance_preference", "balance_power"),
    ]
    assert [p["after"]["epp"] for p in result["policies"]] == ["balance_power"] * 2
    assert "policy0,2 (2 policies): energy_performance_preference: performance -> balance_power" in result["changes"]
    assert ok({"sysfs_root": root, "governor": "powersave", "epp": "balance_power"})["changed"] is False


def test_leaving_performance_rewrites_epp_restored_by_the_kernel(tmp_path, warnings, fake_kernel):
    # EPP already reads the requested value, but leaving performance makes the
    # kernel restore the saved powersave EPP: the module must still end at the request.
    root = build_tree(tmp_path, "intel_pstate", policies=[0], governor="performance", epp="performance")
    fake_kernel.saved_epp[0] = "power"

    result = ok({"sysfs_root": root, "governor": "powersave", "epp": "performance"})

    assert read_policy_file(root, 0, "energy_performance_preference") == "performance"
    assert result["policies"][0]["after"] == {"governor": "powersave", "epp": "performance",
                                              "min_freq_khz": 800000}


def test_switching_to_performance_reports_the_epp_the_kernel_set(tmp_path, warnings, fake_kernel):
    root = build_tree(tmp_path, "amd-pstate-epp", policies=range(2), epp="balance_power")

    checked = ok({"sysfs_root": root}, check=True)
    result = ok({"sysfs_root": root})

    assert [name for n, name, v in fake_kernel.writes] == ["scaling_governor"] * 2
    assert [p["after"]["epp"] for p in result["policies"]] == ["performance"] * 2
    assert [p["after"] for p in checked["policies"]] == [p["after"] for p in result["policies"]]
    assert checked["changes"] == result["changes"] == [
        "policy0-1 (2 policies): scaling_governor: powersave -> performance",
        "policy0-1 (2 policies): energy_performance_preference: balance_power -> performance",
    ]


def test_epp_on_a_driver_without_epp_fails(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(2))
    before = snapshot(root)

    result = failed({"sysfs_root": root, "epp": "performance"})

    assert snapshot(root) == before
    assert "policy0-1 (2 policies): driver acpi-cpufreq has no energy_performance_preference" in result["msg"]


def test_epp_not_offered_fails(tmp_path, warnings):
    root = build_tree(tmp_path, "intel_pstate", policies=[0])

    result = failed({"sysfs_root": root, "governor": "powersave", "epp": "eco"})

    assert "policy0: driver intel_pstate does not offer EPP 'eco'" in result["msg"]
    assert "default performance balance_performance balance_power power" in result["msg"]


def proc_with_cpuinfo(tmp_path, flags):
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "cpuinfo").write_text("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: %s\n\n" % flags)
    return str(proc)


def dmi(sysfs, vendor, product):
    folder = sysfs / "class" / "dmi" / "id"
    folder.mkdir(parents=True)
    (folder / "sys_vendor").write_text(vendor + "\n")
    (folder / "product_name").write_text(product + "\n")


@pytest.mark.parametrize("cpufreq_dir_exists", [False, True])
def test_vm_without_cpufreq_is_not_applicable(tmp_path, warnings, cpufreq_dir_exists):
    sysfs = tmp_path / "sys"
    os.makedirs(str(sysfs / "devices" / "system" / "cpu" / "cpu0"))
    if cpufreq_dir_exists:
        os.makedirs(str(sysfs / "devices" / "system" / "cpu" / "cpufreq"))
    proc = proc_with_cpuinfo(tmp_path, "fpu sse2 hypervisor avx2")
    before = snapshot(tmp_path)

    result = ok({"sysfs_root": str(sysfs), "procfs_root": proc, "epp": "performance", "boost": True})

    assert result["applicable"] is False
    assert result["changed"] is False
    assert "devices/system/cpu/cpufreq" in result["reason"]
    assert "hypervisor flag" in result["reason"]
    assert ("no policyN" in result["reason"]) is cpufreq_dir_exists
    assert result["policies"] == []
    assert snapshot(tmp_path) == before


def test_vm_told_by_its_dmi_is_not_applicable(tmp_path, warnings):
    sysfs = tmp_path / "sys"
    os.makedirs(str(sysfs / "devices" / "system" / "cpu" / "cpu0"))
    dmi(sysfs, "QEMU", "Standard PC (Q35 + ICH9, 2009)")
    result = ok({"sysfs_root": str(sysfs), "procfs_root": proc_with_cpuinfo(tmp_path, "fpu sse2 avx2")})
    assert result["applicable"] is False
    assert "DMI says QEMU Standard PC" in result["reason"]


def test_bare_metal_without_cpufreq_fails_naming_the_fix(tmp_path, warnings):
    sysfs = tmp_path / "sys"
    os.makedirs(str(sysfs / "devices" / "system" / "cpu" / "cpu0"))
    dmi(sysfs, "Dell Inc.", "PowerEdge R7625")
    proc = proc_with_cpuinfo(tmp_path, "fpu sse2 avx2")
    before = snapshot(tmp_path)

    result = failed({"sysfs_root": str(sysfs), "procfs_root": proc})

    assert result["bare_metal"] is True and result["changed"] is False
    assert "no cpufreq policies on bare metal" in result["msg"]
    assert "DMI: Dell Inc. PowerEdge R7625" in result["msg"]
    assert "governor performance cannot be set" in result["msg"]
    assert "amd_pstate=active" in result["msg"]
    assert snapshot(tmp_path) == before


def test_check_plan_fails_bare_metal_too(tmp_path):
    sysfs = tmp_path / "sys"
    os.makedirs(str(sysfs / "devices" / "system" / "cpu" / "cpu0"))
    plan = cf.check_plan(str(sysfs), {"governor": "performance"}, None, proc_with_cpuinfo(tmp_path, "fpu"))
    assert plan["failed"] is True and "bare metal" in plan["msg"]


def test_unreadable_file_fails_naming_it(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(2))
    path = policy_path(root, 1, "scaling_available_governors")
    os.remove(path)
    os.mkdir(path)  # reading a directory fails even as root

    result = failed({"sysfs_root": root})

    assert result["msg"].startswith(path + ": cannot read")
    assert governors(root, range(2)) == ["schedutil"] * 2


@pytest.mark.parametrize("name, content, problem", [
    ("scaling_min_freq", "fast", "expected an integer"),
    ("cpuinfo_max_freq", "", "expected an integer"),
    ("affected_cpus", "0 x", "expected CPU ids"),
    # Hostile host text (issue 21, item 7): other scripts' digits, an id far above any CPU.
    ("affected_cpus", u"\u0660 \u0661", "expected CPU ids"),
    ("affected_cpus", "0 999999999999", "expected CPU ids"),
    ("scaling_min_freq", u"\uff11\uff10\uff10", "expected an integer"),
    ("cpuinfo_max_freq", "1_000", "expected an integer"),
])
def test_malformed_file_fails_naming_it(tmp_path, warnings, name, content, problem):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(2))
    write(policy_path(root, 1, name), content)

    result = failed({"sysfs_root": root})

    assert result["msg"].startswith(policy_path(root, 1, name) + ": " + problem)


def test_malformed_boost_fails_naming_it(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0], boost="on")

    result = failed({"sysfs_root": root})

    assert result["msg"] == "%s/boost: expected 0 or 1, found 'on'" % cf.cpufreq_dir(root)


def test_diff_groups_384_identical_policies_into_one_line(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(384))

    started = time.time()
    result = ok({"sysfs_root": root}, diff=True)
    elapsed = time.time() - started

    assert result["diff"]["before"] == "policy0-383 (384 policies): scaling_governor: schedutil\n"
    assert result["diff"]["after"] == "policy0-383 (384 policies): scaling_governor: performance\n"
    assert result["changes"] == ["policy0-383 (384 policies): scaling_governor: schedutil -> performance"]
    assert result["changed_policies"] == 384
    assert governors(root, range(384)) == ["performance"] * 384
    assert elapsed < 5


def test_diff_keeps_distinct_transitions_apart(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(4))
    write(policy_path(root, 2, "scaling_governor"), "ondemand")
    write(policy_path(root, 3, "scaling_governor"), "performance")

    result = ok({"sysfs_root": root}, check=True, diff=True)

    assert result["diff"]["before"] == (
        "policy0-1 (2 policies): scaling_governor: schedutil\n"
        "policy2: scaling_governor: ondemand\n")
    assert result["diff"]["after"] == (
        "policy0-1 (2 policies): scaling_governor: performance\n"
        "policy2: scaling_governor: performance\n")


def test_no_diff_key_without_diff_mode(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0])

    assert "diff" not in ok({"sysfs_root": root})


def test_runs_no_command(tmp_path, warnings, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the module must not run commands")

    monkeypatch.setattr(subprocess, "Popen", forbidden)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", forbidden)
    root = build_tree(tmp_path, "amd-pstate-epp", policies=range(8))

    assert ok({"sysfs_root": root})["changed"] is True


@pytest.mark.parametrize("min_freq", [399999, 3700001])
def test_min_freq_out_of_range_fails_before_any_write(tmp_path, warnings, min_freq):
    root = build_tree(tmp_path, "amd-pstate-epp", policies=range(2))
    before = snapshot(root)

    result = failed({"sysfs_root": root, "min_freq_khz": min_freq})

    assert snapshot(root) == before
    assert "policy0-1 (2 policies): min_freq_khz %d is outside" % min_freq in result["msg"]
    assert "(400000..3700000)" in result["msg"]


def test_min_freq_checked_against_each_policy(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(2))
    write(policy_path(root, 1, "cpuinfo_max_freq"), "2000000")

    result = failed({"sysfs_root": root, "min_freq_khz": 2500000})

    assert "policy1: min_freq_khz 2500000 is outside cpuinfo_min_freq..cpuinfo_max_freq (1500000..2000000)" \
        in result["msg"]
    assert read_policy_file(root, 0, "scaling_min_freq") == "1500000"


@pytest.mark.parametrize("min_freq", [400000, 3700000, 2000000])
def test_min_freq_in_range_is_written(tmp_path, warnings, min_freq):
    root = build_tree(tmp_path, "amd-pstate-epp", policies=range(2), min_freq_khz=1000000)

    result = ok({"sysfs_root": root, "min_freq_khz": min_freq})

    assert [read_policy_file(root, n, "scaling_min_freq") for n in range(2)] == [str(min_freq)] * 2
    assert [p["after"]["min_freq_khz"] for p in result["policies"]] == [min_freq] * 2


def test_min_freq_adjusted_by_kernel_warns(tmp_path, warnings, monkeypatch):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0], governor="performance")

    def clamping_kernel(path, value):
        write(path, "3000000" if path.endswith("scaling_min_freq") else value)

    monkeypatch.setattr(cf, "write_text", clamping_kernel)
    result = ok({"sysfs_root": root, "min_freq_khz": 3200000})

    assert warnings == ["policy0: scaling_min_freq reads 3000000 after writing 3200000 "
                        "(the kernel adjusted the value)"]
    assert result["policies"][0]["after"]["min_freq_khz"] == 3000000


@pytest.mark.parametrize("min_freq", [0, -5])
def test_min_freq_must_be_positive(tmp_path, warnings, min_freq):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0])

    assert "positive" in failed({"sysfs_root": root, "min_freq_khz": min_freq})["msg"]


def test_sparse_policy_numbers(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0, 4, 8, 12], cpus_per_policy=4)

    result = ok({"sysfs_root": root})

    assert [p["policy"] for p in result["policies"]] == [0, 4, 8, 12]
    assert [p["cpus"] for p in result["policies"]] == ["0-3", "4-7", "8-11", "12-15"]
    assert result["changes"] == ["policy0,4,8,12 (4 policies): scaling_governor: schedutil -> performance"]
    assert governors(root, [0, 4, 8, 12]) == ["performance"] * 4


@pytest.mark.parametrize("start, wanted", [("0", True), ("1", False)])
def test_boost_toggle(tmp_path, warnings, start, wanted):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(2), governor="performance", boost=start)

    result = ok({"sysfs_root": root, "boost": wanted})

    assert read(os.path.join(cf.cpufreq_dir(root), "boost")) == ("1" if wanted else "0")
    assert result["changed"] is True
    assert result["changed_policies"] == 0
    assert result["boost_applicable"] is True
    assert result["boost"] == {"before": not wanted, "after": wanted}
    assert result["changes"] == ["boost: %s -> %d" % (start, int(wanted))]
    assert ok({"sysfs_root": root, "boost": wanted})["changed"] is False


def test_boost_left_alone_when_not_requested(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0], governor="performance", boost="0")

    result = ok({"sysfs_root": root})

    assert result["changed"] is False
    assert result["boost"] == {"before": False, "after": False}
    assert read(os.path.join(cf.cpufreq_dir(root), "boost")) == "0"


def test_boost_without_boost_file_warns_and_does_not_fail(tmp_path, warnings):
    root = build_tree(tmp_path, "intel_pstate", policies=range(2), governor="performance", epp="performance")

    result = ok({"sysfs_root": root, "boost": True})

    assert result["changed"] is False
    assert result["boost_applicable"] is False
    assert "boost" not in result
    assert len(warnings) == 1
    assert "boost was requested but" in warnings[0]
    assert "intel_pstate/no_turbo" in warnings[0]


def test_failed_write_names_file_value_and_restores_changed_policies(tmp_path, warnings, monkeypatch):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(4))
    monkeypatch.setattr(cf, "write_text", FakeKernel(fail_on=[(2, "scaling_governor")]))

    result = failed({"sysfs_root": root})

    assert policy_path(root, 2, "scaling_governor") in result["msg"]
    assert "'performance'" in result["msg"]
    assert "Device or resource busy" in result["msg"]
    assert "policies already changed: policy0-1 (2 policies)" in result["msg"]
    assert "restored policy0-1 (2 policies) to the values read before the task" in result["msg"]
    assert result["changed"] is False
    assert result["changed_policies"] == 0
    assert result["restored_policies"] == 2
    assert governors(root, range(4)) == ["schedutil"] * 4


def test_partial_write_of_3_of_64_policies_is_undone(tmp_path, warnings, monkeypatch):
    root = build_tree(tmp_path, "amd-pstate-epp", policies=range(64))
    before = snapshot(root)
    kernel = FakeKernel(fail_on=[(3, "scaling_governor")])
    monkeypatch.setattr(cf, "write_text", kernel)

    result = failed({"sysfs_root": root, "governor": "performance", "epp": "performance"})

    assert "policies already changed: policy0-2 (3 policies)" in result["msg"]
    assert "restored policy0-2 (3 policies)" in result["msg"]
    assert result["restored_policies"] == 3 and result["changed"] is False
    # The kernel's own EPP switch is undone too: the tree is as it was.
    assert snapshot(root) == before
    assert [w for w in kernel.writes if w[1] == "scaling_governor"][-3:] == [
        (0, "scaling_governor", "powersave"), (1, "scaling_governor", "powersave"),
        (2, "scaling_governor", "powersave")]


def test_policy_whose_second_file_fails_is_restored_too(tmp_path, warnings, monkeypatch):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(2))
    monkeypatch.setattr(cf, "write_text", FakeKernel(fail_on=[(0, "scaling_min_freq")]))

    result = failed({"sysfs_root": root, "min_freq_khz": 2000000})

    assert "restored policy0 to the values read before the task" in result["msg"]
    assert governors(root, range(2)) == ["schedutil"] * 2


def test_restore_that_fails_reports_changed_and_what_stands(tmp_path, warnings, monkeypatch):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(3))
    kernel = FakeKernel(fail_on=[(2, "scaling_governor")])
    monkeypatch.setattr(cf, "write_text", kernel)
    real_call = kernel.__call__

    def refuse_schedutil(path, value):
        if value == "schedutil" and "policy1" in path:
            raise cf.HostFileError(path, "cannot write %r (Device or resource busy)" % value)
        return real_call(path, value)

    monkeypatch.setattr(cf, "write_text", refuse_schedutil)
    result = failed({"sysfs_root": root})

    assert "restored policy0 to the values" in result["msg"]
    assert "could not restore: " in result["msg"] and "policy1/scaling_governor" in result["msg"]
    assert result["changed"] is True and result["changed_policies"] == 1
    assert governors(root, range(3)) == ["schedutil", "performance", "schedutil"]


def test_failed_first_write_reports_nothing_changed(tmp_path, warnings, monkeypatch):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(2))
    monkeypatch.setattr(cf, "write_text", FakeKernel(fail_on=[(0, "scaling_governor")]))

    result = failed({"sysfs_root": root})

    assert "no policy had been changed" in result["msg"]
    assert result["changed"] is False


def test_failed_boost_write_restores_the_policies(tmp_path, warnings, monkeypatch):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(2), boost="0")
    monkeypatch.setattr(cf, "write_text", FakeKernel(fail_on=[(None, "boost")]))

    result = failed({"sysfs_root": root, "boost": True})

    assert "boost: cannot write '1'" in result["msg"]
    assert "policies already changed: policy0-1 (2 policies)" in result["msg"]
    assert "restored policy0-1 (2 policies)" in result["msg"]
    assert result["changed"] is False
    assert governors(root, range(2)) == ["schedutil"] * 2


def test_inactive_policy_is_skipped_with_a_warning(tmp_path, warnings, monkeypatch, fake_kernel):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=range(3))
    busy_dir = policy_path(root, 1)
    real_open = open

    def kernel_open(path, *args, **kwargs):
        if str(path).startswith(busy_dir + os.sep):
            raise IOError(errno.EBUSY, os.strerror(errno.EBUSY), path)
        return real_open(path, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr("builtins.open", kernel_open)
        result = ok({"sysfs_root": root})

    assert [p["active"] for p in result["policies"]] == [True, False, True]
    assert result["policies"][1]["cpus"] == ""
    assert result["changed_policies"] == 2
    assert warnings == ["policy1: all CPUs offline, the kernel refuses to show or change the policy; skipped"]
    assert [n for n, name, value in fake_kernel.writes] == [0, 2]


def test_mixed_drivers_are_listed(tmp_path, warnings):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0, 1], boost=None)
    build_tree(tmp_path, "intel_pstate", policies=[2, 3], boost=None)

    result = ok({"sysfs_root": root, "governor": "powersave"})

    assert result["driver"] == ["acpi-cpufreq", "intel_pstate"]
    assert [p["driver"] for p in result["policies"]] == ["acpi-cpufreq"] * 2 + ["intel_pstate"] * 2


@pytest.mark.parametrize("governor", ["", "two words", " performance"])
def test_governor_must_be_one_word(tmp_path, warnings, governor):
    root = build_tree(tmp_path, "acpi-cpufreq", policies=[0])

    assert "governor must be one word" in failed({"sysfs_root": root, "governor": governor})["msg"]
