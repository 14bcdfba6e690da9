import hashlib

import pytest
from ansible.errors import AnsibleFilterError

from module_runner import run_module
from ansible_collections.ktune.inference.plugins.filter import managed_state as filters
from ansible_collections.ktune.inference.plugins.module_utils import managed_state as ms
from ansible_collections.ktune.inference.plugins.modules import sysctl_settings

CRON = "43 * * * * root /usr/local/sbin/ktune-drop-caches --level 3\n"


def state_of(path):
    return {str(path): ms.file_state(str(path))}


def wanted(path, content=CRON, **attributes):
    entry = {"path": str(path), "content": content}
    entry.update(attributes)
    return entry


def test_a_file_as_wanted_is_no_difference(tmp_path):
    path = tmp_path / "ktune-drop-caches"
    path.write_text(CRON)
    path.chmod(0o644)
    state = ms.file_state(str(path))
    assert filters.files_differ(state_of(path), [wanted(path, mode="0644", owner=state["owner"], group=state["group"])]) == []


def test_a_missing_final_newline_in_the_wanted_content_counts_as_the_same(tmp_path):
    path = tmp_path / "unit"
    path.write_text(CRON)
    assert filters.files_differ(state_of(path), [wanted(path, CRON.rstrip("\n"))]) == []


def test_each_kind_of_difference_is_named(tmp_path):
    path = tmp_path / "cron"
    path.write_text(CRON)
    path.chmod(0o600)
    assert filters.files_differ(state_of(path), [wanted(path, CRON + "# more\n")]) == ["%s: content differs" % path]
    assert filters.files_differ(state_of(path), [wanted(path, mode="0644")]) == ["%s: mode is 0600, expected 0644" % path]
    assert filters.files_differ(state_of(path), [wanted(path, owner="nobody-here")])[0].startswith(
        "%s: owner is " % path)
    assert filters.files_differ({}, [wanted(path)]) == ["%s: missing" % path]
    assert filters.files_differ(state_of(tmp_path), [wanted(tmp_path)]) == ["%s: is a directory, not a file" % tmp_path]


def test_contents_can_come_as_a_parallel_list_and_dest_names_the_file(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.write_text("a\n")
    second.write_text("b\n")
    state = dict(state_of(first), **state_of(second))
    entries = [{"dest": str(first)}, {"dest": str(second)}]
    assert filters.files_differ(state, entries, ["a\n", "changed\n"]) == ["%s: content differs" % second]
    with pytest.raises(AnsibleFilterError, match="1 contents for 2 files"):
        filters.files_differ(state, entries, ["a\n"])


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError, match="managed_state"):
        filters.files_differ(["not", "a", "dict"], [])
    with pytest.raises(AnsibleFilterError, match="path"):
        filters.files_differ({}, [{"content": "x"}])


def test_sysctl_file_content_is_what_the_module_writes(tmp_path):
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/numa_balancing").write_text("1\n")
    settings = {"vm.zone_reclaim_mode": 0, "kernel.numa_balancing": "0", "net.ipv4.tcp_rmem": "4096  87380 6291456"}
    path = tmp_path / "90-ktune.conf"
    result, failed = run_module(sysctl_settings, {"settings": settings, "path": str(path),
                                                  "procfs_root": str(tmp_path / "proc")})
    assert not failed
    assert filters.sysctl_file_content(settings) == path.read_text()
    with pytest.raises(AnsibleFilterError, match="sysctl_file_content"):
        filters.sysctl_file_content({"kernel/../x": 1})


def test_sysctl_values_differ():
    wanted = {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": "0", "net.ipv4.tcp_rmem": "4096 87380  6291456"}
    assert filters.sysctl_values_differ(
        {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": None, "net.ipv4.tcp_rmem": "4096\t87380 6291456"},
        wanted) == []
    assert filters.sysctl_values_differ({"kernel.numa_balancing": 1, "vm.zone_reclaim_mode": 0}, wanted) == [
        "kernel.numa_balancing: running 1, wanted 0", "net.ipv4.tcp_rmem: running value not read"]
    with pytest.raises(AnsibleFilterError):
        filters.sysctl_values_differ(None, wanted)


def test_checksums_match_what_the_module_reports(tmp_path):
    path = tmp_path / "x"
    path.write_bytes("é\n".encode("utf-8"))
    assert ms.file_state(str(path))["checksum"] == hashlib.sha1("é\n".encode("utf-8")).hexdigest()
    assert filters.files_differ(state_of(path), [wanted(path, "é\n")]) == []
