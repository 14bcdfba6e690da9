from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import re

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import managed_state as ms


def test_expand_paths_keeps_missing_plain_paths_and_expands_globs_in_order(tmp_path):
    (tmp_path / "b.env").write_text("")
    (tmp_path / "a.env").write_text("")
    missing = str(tmp_path / "missing")
    paths = ms.expand_paths([missing, str(tmp_path / "*.env"), str(tmp_path / "a.env"), str(tmp_path / "*.none")])
    assert paths == [missing, str(tmp_path / "a.env"), str(tmp_path / "b.env")]


def test_file_state_of_a_regular_file(tmp_path):
    path = tmp_path / "environment"
    path.write_text("PATH=/usr/bin\nUSE_NUMA=1\n  export USE_NUMA=0\n")
    path.chmod(0o640)
    state = ms.file_state(str(path), re.compile(r"^\s*(export\s+)?USE_NUMA"))
    assert state["exists"] and state["type"] == "file" and state["mode"] == "0640"
    assert state["checksum"] == hashlib.sha1(path.read_bytes()).hexdigest()
    assert state["matching_lines"] == ["USE_NUMA=1", "  export USE_NUMA=0"]
    assert state["owner"] and state["group"]


def test_file_state_without_pattern_has_no_lines(tmp_path):
    path = tmp_path / "f"
    path.write_text("x\n")
    assert "matching_lines" not in ms.file_state(str(path))


def test_file_state_of_missing_directory_and_link(tmp_path):
    assert ms.file_state(str(tmp_path / "nope")) == {"path": str(tmp_path / "nope"), "exists": False}
    assert ms.file_state(str(tmp_path / "nope/deeper"))["exists"] is False
    assert ms.file_state(str(tmp_path))["type"] == "directory"
    target = tmp_path / "target"
    target.write_text("content\n")
    os.symlink(str(target), str(tmp_path / "link"))
    state = ms.file_state(str(tmp_path / "link"))
    assert state["type"] == "link" and "checksum" not in state


def test_unreadable_file_names_the_file(tmp_path):
    if os.geteuid() == 0:
        directory = tmp_path / "dir"
        directory.mkdir()
        with pytest.raises(Exception) as raised:
            ms._checksum(str(directory))
        assert str(directory) in str(raised.value)
    else:  # pragma: no cover - CI runs as root
        path = tmp_path / "secret"
        path.write_text("x")
        path.chmod(0)
        with pytest.raises(Exception, match="secret"):
            ms.file_state(str(path))


def test_bad_line_pattern_is_named():
    with pytest.raises(ValueError, match="line_pattern"):
        ms.compile_line_pattern("(")
    assert ms.compile_line_pattern(None) is None


SHOW = """LoadState=loaded
ActiveState=active
UnitFileState=enabled

LoadState=not-found
ActiveState=inactive
UnitFileState=
"""


def test_parse_systemctl_show_maps_blocks_to_units_in_order():
    states = ms.parse_systemctl_show(SHOW, ["cron.service", "tuned.service"])
    assert states == {
        "cron.service": {"load_state": "loaded", "active_state": "active", "unit_file_state": "enabled"},
        "tuned.service": {"load_state": "not-found", "active_state": "inactive", "unit_file_state": None},
    }


def test_parse_systemctl_show_refuses_a_block_count_that_does_not_match():
    with pytest.raises(ValueError, match="2 blocks for 3 units"):
        ms.parse_systemctl_show(SHOW, ["a.service", "b.service", "c.service"])


def test_systemctl_show_command_asks_for_the_three_properties():
    command = ms.systemctl_show_command("/bin/systemctl", ["cron.service"])
    assert command == ["/bin/systemctl", "show", "--property=LoadState,ActiveState,UnitFileState", "--", "cron.service"]


def test_os_family_from_os_release_as_setup_names_it():
    assert ms.os_release_family('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n') == ("Debian", "apt")
    assert ms.os_release_family('ID=ubuntu\nID_LIKE=debian\n') == ("Debian", "apt")
    assert ms.os_release_family('ID="rocky"\nID_LIKE="rhel centos fedora"\n') == ("RedHat", "dnf")
    assert ms.os_release_family('ID=plan9\n') == (None, None)
    assert ms.os_release_family('') == (None, None)
