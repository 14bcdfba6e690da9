"""Issue 21, item 6: a unit whose running process is older than its files lost its restart."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import unit_freshness
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError

BOOT = 1765000000.0


@pytest.fixture
def proc(tmp_path):
    (tmp_path / "stat").write_text("cpu  1 2 3\nbtime %d\nprocesses 9\n" % BOOT)
    # comm "(kt (r1) x)": spaces and parentheses; starttime (field 22) = 12345 ticks
    fields = ["S"] + ["0"] * 18 + ["12345"] + ["0"] * 10
    (tmp_path / "4242").mkdir()
    (tmp_path / "4242" / "stat").write_text("4242 (kt (r1) x) %s\n" % " ".join(fields))
    return tmp_path


def test_the_process_start_counts_from_boot_past_a_command_name_with_parentheses(proc):
    booted = unit_freshness.boot_time(str(proc))
    assert booted == BOOT
    assert unit_freshness.process_start(str(proc), 4242, 100, booted) == BOOT + 123.45
    assert unit_freshness.process_start(str(proc), 999, 100, booted) is None  # gone


def test_a_stat_line_without_a_start_time_names_the_file(proc):
    (proc / "4242" / "stat").write_text("4242 (kt) S 1 2\n")
    with pytest.raises(HostFileError, match="4242/stat: expected the start time"):
        unit_freshness.process_start(str(proc), 4242, 100, BOOT)


def test_newest_file_skips_missing_files(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.write_text("x")
    new.write_text("y")
    os.utime(str(old), (1000, 1000))
    os.utime(str(new), (2000, 2000))
    assert unit_freshness.newest_file([str(old), str(tmp_path / "absent"), str(new)]) == (str(new), 2000)
    assert unit_freshness.newest_file([str(tmp_path / "absent")]) == (None, None)


@pytest.mark.parametrize("state, started, mtime, reload, stale", [
    ("active", 1000.0, 1500.0, "no", True),      # written after the start: the restart was lost
    ("active", 1000.0, 1000.5, "no", False),     # written, then restarted in the same second
    ("active", 2000.0, 1500.0, "no", False),     # restarted after the write
    ("inactive", None, 1500.0, "no", False),     # not running: the next start reads the files
    ("active", 1000.0, None, "yes", False),      # no file to compare, but systemd wants a reload
])
def test_judge(state, started, mtime, reload, stale):
    judged = unit_freshness.judge("k@r1.service", {"ActiveState": state, "NeedDaemonReload": reload}, started,
                                  ("/etc/ktransformers/r1.env", mtime))
    assert judged["stale"] is stale and judged["need_daemon_reload"] is (reload == "yes")
    assert (judged["reason"] is not None) is stale
    if stale:
        assert judged["reason"].startswith("/etc/ktransformers/r1.env was written after the running process started")


def test_a_file_dated_after_now_is_a_stepped_back_clock_not_a_lost_restart():
    """Otherwise every run would restart the unit until the clock caught up with the file's date."""
    judged = unit_freshness.judge("k@r1.service", {"ActiveState": "active", "NeedDaemonReload": "no"}, 1000.0,
                                  ("/etc/ktransformers/r1.env", 5000.0), now=2000.0)
    assert judged["stale"] is False


def make_virtualenv(root, python="python3.11"):
    (root / "bin").mkdir(parents=True)
    (root / "bin/python").write_text("")
    (root / "pyvenv.cfg").write_text("home = /usr/bin\n")
    packages = root / "lib" / python / "site-packages"
    (packages / "ktransformers-0.3.1.dist-info").mkdir(parents=True)
    return packages


def test_a_virtualenv_program_brings_its_site_packages(tmp_path):
    packages = make_virtualenv(tmp_path / "venv")
    assert unit_freshness.virtualenv_packages(str(tmp_path / "venv/bin/python")) == [str(packages)]
    assert unit_freshness.virtualenv_packages(str(tmp_path / "venv/bin/ktransformers")) == [str(packages)]


def test_a_program_outside_a_virtualenv_brings_nothing(tmp_path):
    (tmp_path / "usr/lib/python3/dist-packages").mkdir(parents=True)
    assert unit_freshness.virtualenv_packages(str(tmp_path / "usr/bin/python3")) == []
    assert unit_freshness.virtualenv_packages("/nonexistent/bin/python") == []


def test_an_upgrade_in_the_virtualenv_after_the_start_makes_the_unit_stale(tmp_path):
    packages = make_virtualenv(tmp_path / "venv")
    started = os.stat(str(packages)).st_mtime + 10
    fresh = unit_freshness.judge("ktransformers@a.service", {"ActiveState": "active"}, started,
                                 unit_freshness.newest_file([str(packages)]), now=started + 20)
    assert not fresh["stale"]
    # pip install -U: the old version's dist-info goes, the new one's comes.
    (packages / "ktransformers-0.3.1.dist-info").rmdir()
    (packages / "ktransformers-0.3.2.dist-info").mkdir()
    for written in (packages, packages / "ktransformers-0.3.2.dist-info"):
        os.utime(str(written), (started + 15, started + 15))
    upgraded = unit_freshness.judge("ktransformers@a.service", {"ActiveState": "active"}, started,
                                    unit_freshness.newest_file([str(packages)]), now=started + 20)
    assert upgraded["stale"]
    assert upgraded["reason"] == ("the packages in %s changed after the running process started (15 s later; "
                                  "installed since: ktransformers 0.3.2): an upgrade of the virtualenv, not running yet"
                                  % packages)
    assert upgraded["upgraded"] == ["ktransformers 0.3.2"]


def test_the_versions_installed_since_the_start_are_named_and_the_older_ones_are_not(tmp_path):
    """pip install -U of two packages with a dependency left alone: the new dist-info folders name
    what the upgrade brought; the untouched one and anything written before the start are not named."""
    packages = make_virtualenv(tmp_path / "venv")
    (packages / "numpy-1.26.4.dist-info").mkdir()
    started = os.stat(str(packages)).st_mtime + 10
    for folder in ("ktransformers-0.3.1.dist-info", "numpy-1.26.4.dist-info"):
        os.utime(str(packages / folder), (started - 5, started - 5))
    (packages / "ktransformers-0.3.1.dist-info").rmdir()
    for folder in ("ktransformers-0.3.2.dist-info", "sglang_kt-0.7.3.dist-info", "Flash_Attn-2.8.0.post2.dist-info"):
        (packages / folder).mkdir()
        os.utime(str(packages / folder), (started + 12, started + 12))
    (packages / "sglang_kt-0.7.3.dist-info.tmp").mkdir()
    os.utime(str(packages), (started + 15, started + 15))
    assert unit_freshness.installed_since(str(packages), started) == [
        "Flash_Attn 2.8.0.post2", "ktransformers 0.3.2", "sglang_kt 0.7.3"]
    judged = unit_freshness.judge("ktransformers@a.service", {"ActiveState": "active"}, started,
                                  unit_freshness.newest_file([str(packages)]), now=started + 20)
    assert judged["stale"] and judged["upgraded"] == ["Flash_Attn 2.8.0.post2", "ktransformers 0.3.2", "sglang_kt 0.7.3"]
    assert "installed since: Flash_Attn 2.8.0.post2, ktransformers 0.3.2, sglang_kt 0.7.3)" in judged["reason"]


def test_a_removal_alone_says_nothing_was_installed(tmp_path):
    packages = make_virtualenv(tmp_path / "venv")
    started = os.stat(str(packages)).st_mtime + 10
    (packages / "ktransformers-0.3.1.dist-info").rmdir()
    os.utime(str(packages), (started + 15, started + 15))
    judged = unit_freshness.judge("ktransformers@a.service", {"ActiveState": "active"}, started,
                                  unit_freshness.newest_file([str(packages)]), now=started + 20)
    assert judged["stale"] and judged["upgraded"] == []
    assert "(15 s later; packages removed, none installed)" in judged["reason"]


def test_a_unit_file_change_names_no_upgrade(tmp_path):
    judged = unit_freshness.judge("k@r1.service", {"ActiveState": "active"}, 1000.0, ("/etc/ktransformers/r1.env", 1500.0),
                                  now=2000.0)
    assert judged["stale"] and judged["upgraded"] == []
