"""transparent_hugepage: the mode set now (under sysfs_root) and at boot (a tmpfiles.d line that the real
systemd-tmpfiles applies), check mode and --diff honest, a second run changes nothing."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import shutil
import subprocess

import pytest

import topologies
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.module_utils import concerns, sysfs
from ansible_collections.ktune.inference.plugins.modules import transparent_hugepage

ENABLED = "sys/kernel/mm/transparent_hugepage/enabled"


@pytest.fixture(scope="module")
def nps2_sys(tmp_path_factory):
    return topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path_factory.mktemp("nps2")) / "sys"


@pytest.fixture
def tree(tmp_path, nps2_sys):
    """An NPS2 host's sysfs running THP always, and an empty /etc."""
    shutil.copytree(nps2_sys, tmp_path / "sys")
    (tmp_path / ENABLED).write_text("[always] madvise never\n")
    (tmp_path / "etc/tmpfiles.d").mkdir(parents=True)
    return tmp_path


def args_for(tree, mode="madvise"):
    return {"mode": mode, "sysfs_root": str(tree / "sys"), "path": str(tree / "etc/tmpfiles.d/ktune-thp.conf")}


def test_sets_the_mode_now_and_at_boot_then_changes_nothing(tree):
    result, failed = run_module(transparent_hugepage, args_for(tree))
    assert not failed, result
    assert (result["changed"], result["runtime_changed"], result["file_changed"]) == (True, True, True)
    assert (result["before"], result["mode"]) == ("always", "madvise")
    assert (tree / ENABLED).read_text() == "madvise"  # a plain file shows what was written; the kernel, its list
    assert sysfs.read_transparent_hugepage(str(tree / "sys")) == "madvise"
    assert (tree / "etc/tmpfiles.d/ktune-thp.conf").read_text().splitlines() == (
        concerns.transparent_hugepage_persist_lines("madvise", str(tree / ENABLED)))
    assert (tree / "etc/tmpfiles.d/ktune-thp.conf").read_text().splitlines()[-1] == (
        "w %s - - - - madvise" % (tree / ENABLED))
    again, failed = run_module(transparent_hugepage, args_for(tree))
    assert not failed and again["changed"] is False


def test_check_mode_writes_nothing_and_says_what_would_change(tree):
    result, failed = run_module(transparent_hugepage, args_for(tree, "never"), check_mode=True, diff=True)
    assert not failed
    assert (result["changed"], result["runtime_changed"], result["file_changed"]) == (True, True, True)
    assert (tree / ENABLED).read_text() == "[always] madvise never\n"
    assert not (tree / "etc/tmpfiles.d/ktune-thp.conf").exists()
    live, boot = result["diff"]
    assert (live["before"], live["after"]) == ("always\n", "never\n")
    assert boot["before"] == "" and boot["after"].endswith("w %s - - - - never\n" % (tree / ENABLED))


def test_only_the_boot_file_when_the_live_mode_is_right(tree):
    (tree / ENABLED).write_text("always [madvise] never\n")
    result, failed = run_module(transparent_hugepage, args_for(tree))
    assert not failed
    assert (result["runtime_changed"], result["file_changed"]) == (False, True)
    assert (tree / ENABLED).read_text() == "always [madvise] never\n"


def test_a_kernel_without_transparent_hugepages_fails_naming_the_file_and_writes_nothing(tree):
    (tree / ENABLED).unlink()
    result, failed = run_module(transparent_hugepage, args_for(tree))
    assert failed
    assert result["msg"] == ("expected transparent hugepages (madvise), found no %s: this kernel has none. "
                             "Fix: unset ktune_transparent_hugepage for this host" % (tree / ENABLED))
    assert not (tree / "etc/tmpfiles.d/ktune-thp.conf").exists()


def test_a_kernel_file_without_one_bracketed_mode_fails_naming_it(tree):
    (tree / ENABLED).write_text("always madvise never\n")
    result, failed = run_module(transparent_hugepage, args_for(tree))
    assert failed and str(tree / ENABLED) in result["msg"] and "bracketed" in result["msg"]


def test_a_mode_the_kernel_does_not_take_fails_with_expected_found_and_fix(tree, monkeypatch):
    """A read-only sysfs (a container's) or a kernel that keeps its mode: the write does not hold."""
    monkeypatch.setattr(transparent_hugepage, "write_text", lambda path, value: None)
    result, failed = run_module(transparent_hugepage, args_for(tree))
    assert failed and result["changed"] is True
    assert "expected madvise after writing it, found always" in result["msg"]
    assert "Expected transparent hugepages madvise, found always. Fix:" in result["msg"]


@pytest.mark.parametrize("mode", ["madvise", "never", "always"])
def test_the_boot_line_is_what_systemd_tmpfiles_applies(tree, mode):
    """Upstream is the judge: the real systemd-tmpfiles reads the file and writes the mode."""
    assert shutil.which("systemd-tmpfiles"), "systemd-tmpfiles missing: apt-get install systemd"
    result, failed = run_module(transparent_hugepage, args_for(tree, mode))
    assert not failed
    (tree / ENABLED).write_text("x\n")  # what a reboot resets: the boot line must restore the mode
    done = subprocess.run(["systemd-tmpfiles", "--create", str(tree / "etc/tmpfiles.d/ktune-thp.conf")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "ignoring" not in done.stderr.lower() and "failed" not in done.stderr.lower(), done.stderr
    assert (tree / ENABLED).read_text().strip() == mode
