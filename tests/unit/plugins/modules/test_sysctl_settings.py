from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import shutil
import stat

import pytest

import topologies
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.module_utils import sysfs
from ansible_collections.ktune.inference.plugins.modules import sysctl_settings

WANTED = {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 0}


@pytest.fixture(scope="module")
def nps2_proc(tmp_path_factory):
    return topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path_factory.mktemp("nps2")) / "proc"


@pytest.fixture
def tree(tmp_path, nps2_proc):
    """An NPS2 host's proc tree with numa_balancing=1 and zone_reclaim_mode=1, and an empty /etc."""
    shutil.copytree(nps2_proc, tmp_path / "proc")
    (tmp_path / "proc/sys/vm").mkdir(parents=True, exist_ok=True)
    (tmp_path / "proc/sys/kernel/numa_balancing").write_text("1\n")
    (tmp_path / "proc/sys/vm/zone_reclaim_mode").write_text("1\n")
    (tmp_path / "etc/sysctl.d").mkdir(parents=True)
    return tmp_path


def args_for(tree, **extra):
    args = {"settings": dict(WANTED), "procfs_root": str(tree / "proc"),
            "path": str(tree / "etc/sysctl.d/90-ktune.conf")}
    args.update(extra)
    return args


def runtime(tree, name):
    return (tree / "proc/sys" / name.replace(".", "/")).read_text()


def conf(tree):
    return (tree / "etc/sysctl.d/90-ktune.conf")


def by_name(result):
    return dict((entry["name"], entry) for entry in result["parameters"])


def test_apply_writes_runtime_and_file_then_is_idempotent(tree):
    result, failed = run_module(sysctl_settings, args_for(tree))
    assert not failed, result
    assert result["changed"] and result["file_changed"] and result["runtime_changed"]
    assert runtime(tree, "kernel.numa_balancing") == "0\n"
    assert runtime(tree, "vm.zone_reclaim_mode") == "0\n"
    content = conf(tree).read_text()
    assert content.startswith("# Managed by ktune")
    assert content.splitlines()[-2:] == ["-kernel.numa_balancing = 0", "-vm.zone_reclaim_mode = 0"]
    assert stat.S_IMODE(os.stat(conf(tree)).st_mode) == 0o644
    assert by_name(result)["kernel.numa_balancing"] == {
        "name": "kernel.numa_balancing", "before": 1, "after": 0, "wanted": 0, "applicable": True, "changed": True}
    assert result["not_applicable"] == []
    assert [p.name for p in conf(tree).parent.iterdir()] == ["90-ktune.conf"]  # no temp file left

    again, failed = run_module(sysctl_settings, args_for(tree))
    assert not failed
    assert again["changed"] is False
    assert not again["file_changed"] and not again["runtime_changed"]
    assert all(entry["before"] == entry["after"] == 0 for entry in again["parameters"])


def test_only_runtime_drift_is_changed(tree):
    run_module(sysctl_settings, args_for(tree))
    (tree / "proc/sys/vm/zone_reclaim_mode").write_text("1\n")
    result, failed = run_module(sysctl_settings, args_for(tree))
    assert not failed
    assert result["changed"] and result["runtime_changed"] and not result["file_changed"]
    assert [e["name"] for e in result["parameters"] if e["changed"]] == ["vm.zone_reclaim_mode"]


def test_wrong_mode_is_fixed(tree):
    run_module(sysctl_settings, args_for(tree))
    os.chmod(conf(tree), 0o600)
    result, failed = run_module(sysctl_settings, args_for(tree))
    assert not failed and result["file_changed"]
    assert stat.S_IMODE(os.stat(conf(tree)).st_mode) == 0o644


def test_check_mode_writes_nothing_and_reports(tree):
    result, failed = run_module(sysctl_settings, args_for(tree), check_mode=True)
    assert not failed
    assert result["changed"] and result["file_changed"] and result["runtime_changed"]
    assert by_name(result)["vm.zone_reclaim_mode"]["after"] == 0
    assert runtime(tree, "kernel.numa_balancing") == "1\n"
    assert runtime(tree, "vm.zone_reclaim_mode") == "1\n"
    assert not conf(tree).exists()
    assert list(conf(tree).parent.iterdir()) == []


def test_diff_shows_file_and_runtime(tree):
    conf(tree).write_text("-kernel.numa_balancing = 1\n")
    result, failed = run_module(sysctl_settings, args_for(tree), check_mode=True, diff=True)
    assert not failed
    file_diff, runtime_diff = result["diff"]
    assert file_diff["before_header"] == file_diff["after_header"] == str(conf(tree))
    assert file_diff["before"] == "-kernel.numa_balancing = 1\n"
    assert file_diff["after"].endswith("-kernel.numa_balancing = 0\n-vm.zone_reclaim_mode = 0\n")
    assert runtime_diff["before_header"] == "runtime (%s)" % (tree / "proc/sys")
    assert runtime_diff["before"] == "kernel.numa_balancing = 1\nvm.zone_reclaim_mode = 1\n"
    assert runtime_diff["after"] == "kernel.numa_balancing = 0\nvm.zone_reclaim_mode = 0\n"
    assert conf(tree).read_text() == "-kernel.numa_balancing = 1\n"

    run_module(sysctl_settings, args_for(tree))
    again, _unused = run_module(sysctl_settings, args_for(tree), diff=True)
    assert again["diff"] == []


def test_missing_key_is_not_applicable_but_persisted(tree):
    (tree / "proc/sys/kernel/numa_balancing").unlink()
    result, failed = run_module(sysctl_settings, args_for(tree))
    assert not failed
    entry = by_name(result)["kernel.numa_balancing"]
    assert entry["applicable"] is False
    assert entry["before"] is None and entry["after"] is None and entry["changed"] is False
    assert "has no kernel.numa_balancing" in entry["reason"]
    assert str(tree / "proc/sys/kernel/numa_balancing") in entry["reason"]
    assert result["not_applicable"] == ["kernel.numa_balancing"]
    assert "-kernel.numa_balancing = 0\n" in conf(tree).read_text()
    assert not (tree / "proc/sys/kernel/numa_balancing").exists()  # never created
    assert runtime(tree, "vm.zone_reclaim_mode") == "0\n"
    again, _unused = run_module(sysctl_settings, args_for(tree))
    assert again["changed"] is False


def test_apply_false_only_persists(tree):
    result, failed = run_module(sysctl_settings, args_for(tree, apply=False))
    assert not failed
    assert result["file_changed"] and not result["runtime_changed"]
    assert runtime(tree, "kernel.numa_balancing") == "1\n"
    assert by_name(result)["kernel.numa_balancing"]["after"] == 1


def test_absent_removes_file_and_leaves_runtime(tree):
    run_module(sysctl_settings, args_for(tree))
    (tree / "proc/sys/kernel/numa_balancing").write_text("1\n")
    args = {"state": "absent", "path": str(conf(tree)), "procfs_root": str(tree / "proc")}
    result, failed = run_module(sysctl_settings, args, check_mode=True, diff=True)
    assert not failed and result["changed"] and conf(tree).exists()
    assert result["diff"][0]["after"] == "" and "-vm.zone_reclaim_mode = 0" in result["diff"][0]["before"]
    result, failed = run_module(sysctl_settings, args)
    assert not failed and result["changed"] and result["file_changed"] and not result["runtime_changed"]
    assert not conf(tree).exists()
    assert runtime(tree, "kernel.numa_balancing") == "1\n"
    again, _unused = run_module(sysctl_settings, args)
    assert again["changed"] is False


@pytest.mark.parametrize("name", [
    "kernel", "../etc/passwd", "kernel/numa_balancing", "kernel..numa_balancing", "kernel.numa_*",
    ".kernel.numa_balancing", "kernel.numa_balancing.", "kernel.-x", "kernel. numa_balancing",
])
def test_bad_name_is_rejected_before_anything(tree, name):
    result, failed = run_module(sysctl_settings, args_for(tree, settings={name: 0, "vm.zone_reclaim_mode": 0}))
    assert failed
    assert "invalid kernel parameter name %r" % name in result["msg"]
    assert runtime(tree, "vm.zone_reclaim_mode") == "1\n"
    assert not conf(tree).exists()


@pytest.mark.parametrize("value", [True, 1.5, "", "1\n2", ["0"]])
def test_bad_value_is_rejected(tree, value):
    result, failed = run_module(sysctl_settings, args_for(tree, settings={"vm.zone_reclaim_mode": value}))
    assert failed
    assert "vm.zone_reclaim_mode" in result["msg"]
    assert runtime(tree, "vm.zone_reclaim_mode") == "1\n"


def test_settings_required_when_present(tree):
    result, failed = run_module(sysctl_settings, {"procfs_root": str(tree / "proc")})
    assert failed and "settings" in result["msg"]


def test_unreadable_runtime_file_names_file_and_key(tree, monkeypatch):
    target = str(tree / "proc/sys/vm/zone_reclaim_mode")
    real_open = open

    def fake_open(path, *args, **kwargs):
        if path == target:
            raise IOError(errno.EACCES, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(sysfs, "open", fake_open, raising=False)
    result, failed = run_module(sysctl_settings, args_for(tree))
    assert failed
    assert result["msg"] == ("%s: cannot read (Permission denied), so the current value of "
                             "vm.zone_reclaim_mode is unknown" % target)
    assert result["path"] == target
    assert runtime(tree, "kernel.numa_balancing") == "1\n"
    assert not conf(tree).exists()


def test_directory_name_is_refused(tree):
    (tree / "proc/sys/net/ipv4").mkdir(parents=True)
    result, failed = run_module(sysctl_settings, args_for(tree, settings={"net.ipv4": 1}))
    assert failed
    assert "is a directory, not a kernel parameter" in result["msg"]


def test_write_failure_names_file_and_value(tree, monkeypatch):
    target = str(tree / "proc/sys/vm/zone_reclaim_mode")
    real_open = open

    def fake_open(path, mode="r", *args, **kwargs):
        if path == target and "w" in mode:
            raise IOError(errno.EINVAL, "Invalid argument")
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(sysfs, "open", fake_open, raising=False)
    result, failed = run_module(sysctl_settings, args_for(tree))
    assert failed
    assert target in result["msg"]
    assert "cannot set vm.zone_reclaim_mode = 0" in result["msg"]
    assert "Invalid argument" in result["msg"]
    assert "already set: kernel.numa_balancing" in result["msg"]
    assert result["changed"] is True
    assert not conf(tree).exists()


def test_file_write_failure_names_file(tree):
    blocker = tree / "etc/not-a-dir"
    blocker.write_text("")
    result, failed = run_module(sysctl_settings, args_for(tree, path=str(blocker / "90-ktune.conf")))
    assert failed
    assert str(blocker / "90-ktune.conf") in result["msg"]
    assert "kernel.numa_balancing = 0" in result["msg"]


def test_multi_value_string_compares_by_words(tree):
    (tree / "proc/sys/net/ipv4").mkdir(parents=True)
    (tree / "proc/sys/net/ipv4/tcp_rmem").write_text("4096\t131072\t6291456\n")
    args = args_for(tree, settings={"net.ipv4.tcp_rmem": "4096  131072 6291456"})
    result, failed = run_module(sysctl_settings, args)
    assert not failed
    assert result["runtime_changed"] is False
    assert by_name(result)["net.ipv4.tcp_rmem"]["after"] == "4096 131072 6291456"
    assert "-net.ipv4.tcp_rmem = 4096 131072 6291456\n" in conf(tree).read_text()
