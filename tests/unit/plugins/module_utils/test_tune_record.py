"""The record of which ktune.inference version tuned a host (module_utils/tune_record.py): what tune
writes reads back; hostile files (binary, huge, a link, a directory, another owner, a FIFO) are
unknown with a reason, never followed, never a crash; versions compare by semantic-version rules."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import tune_record as tr


def write(path, data, mode=0o644):
    path.write_bytes(data)
    path.chmod(mode)
    return str(path)


def test_what_tune_writes_reads_back_as_its_version_and_time(tmp_path):
    path = write(tmp_path / "ktune-tuned", tr.record_text("0.2.0", "2026-12-07T23:00:00Z").encode())
    assert tr.read_tune_record(path) == {"path": path, "state": "present", "version": "0.2.0",
                                         "tuned_at": "2026-12-07T23:00:00Z", "reason": None}


def test_a_missing_record_is_absent_not_unknown(tmp_path):
    path = str(tmp_path / "ktune-tuned")
    assert tr.read_tune_record(path)["state"] == "absent"
    assert tr.read_tune_record(str(tmp_path / "not-a-dir" / "x"))["state"] == "absent"


@pytest.mark.parametrize("data, reason", [
    (b"version=0.2.0\x00\xff\xfe" * 10, "binary content, not a ktune record"),
    (b"\xff\xfeversion=0.2.0\n", "not UTF-8 text, not a ktune record"),
    (b"hello\n", "no version=X.Y.Z line, not a ktune record"),
    (b"version=$(reboot)\n", "no version=X.Y.Z line, not a ktune record"),
    (b"version={{ lookup('pipe', 'id') }}\n", "no version=X.Y.Z line, not a ktune record"),
    (b"version=1.2\n", "no version=X.Y.Z line, not a ktune record"),
])
def test_content_that_is_not_a_record_is_unknown_with_the_reason(tmp_path, data, reason):
    found = tr.read_tune_record(write(tmp_path / "ktune-tuned", data))
    assert (found["state"], found["version"], found["reason"]) == ("unknown", None, reason)


def test_a_huge_file_is_not_read(tmp_path):
    found = tr.read_tune_record(write(tmp_path / "ktune-tuned", b"version=0.2.0\n" + b"#" * (10 << 20)))
    assert found["state"] == "unknown" and "more than a record's 4096" in found["reason"]


def test_a_link_is_not_followed_even_to_a_good_record(tmp_path):
    target = write(tmp_path / "elsewhere", tr.record_text("0.2.0", "2026-12-07T23:00:00Z").encode())
    os.symlink(target, str(tmp_path / "ktune-tuned"))
    found = tr.read_tune_record(str(tmp_path / "ktune-tuned"))
    assert (found["state"], found["version"], found["reason"]) == ("unknown", None, "a symbolic link, not followed")


def test_a_directory_or_a_fifo_is_not_a_record_and_is_never_opened(tmp_path):
    (tmp_path / "dir").mkdir()
    os.mkfifo(str(tmp_path / "fifo"))  # opening it for reading would block
    for name in ("dir", "fifo"):
        found = tr.read_tune_record(str(tmp_path / name))
        assert (found["state"], found["reason"]) == ("unknown", "not a regular file")


def test_a_record_another_user_owns_is_not_trusted(tmp_path):
    if os.geteuid() != 0:
        pytest.fail("run as root: the owner check needs a file of another owner")
    path = write(tmp_path / "ktune-tuned", tr.record_text("0.2.0", "2026-12-07T23:00:00Z").encode())
    os.chown(path, 1000, 1000)
    found = tr.read_tune_record(path)
    assert (found["state"], found["version"], found["reason"]) == ("unknown", None, "owned by uid 1000, not root")


def test_a_bad_time_keeps_the_version_and_drops_the_time(tmp_path):
    found = tr.read_tune_record(write(tmp_path / "ktune-tuned", b"version=0.2.0\ntuned_at=<script>\n"))
    assert (found["state"], found["version"], found["tuned_at"]) == ("present", "0.2.0", None)


@pytest.mark.parametrize("recorded, running, expected", [
    ("0.1.0", "0.1.0", "same"),
    ("0.1.0", "0.2.0", "upgrade"),
    ("0.9.0", "0.10.0", "upgrade"),  # numbers, not text
    ("1.0.0-rc.1", "1.0.0", "upgrade"),  # a release above its pre-releases
    ("1.0.0-alpha.2", "1.0.0-alpha.10", "upgrade"),
    ("1.0.0-alpha.1", "1.0.0-beta", "upgrade"),
    ("1.0.0+build.5", "1.0.0", "same"),  # build metadata does not count
    ("0.3.0", "0.2.0", "downgrade"),
    ("0.2.0", "nonsense", None),
    (None, "0.2.0", None),
])
def test_versions_compare_by_semantic_version_precedence(recorded, running, expected):
    assert tr.compare_versions(recorded, running) == expected


def present(version):
    return {"path": "/var/lib/ktune-tuned", "state": "present", "version": version,
            "tuned_at": "2026-12-07T23:00:00Z", "reason": None}


def test_an_upgrade_prints_the_one_line_and_rewrites_the_record():
    verdict = tr.record_verdict(present("0.1.0"), "0.2.0")
    assert verdict["comparison"] == "upgrade"
    assert tr.record_message("gpu-a", verdict) == "ktune 0.1.0 tuned this host; this run is ktune 0.2.0"
    assert tr.record_needs_writing(verdict)


def test_a_downgrade_names_the_newer_version_and_the_fix():
    verdict = tr.record_verdict(present("0.3.0"), "0.2.0")
    message = tr.record_message("gpu-a", verdict)
    assert verdict["comparison"] == "downgrade" and tr.record_needs_writing(verdict)
    assert message.startswith("gpu-a: tuned by a NEWER ktune: expected ktune 0.2.0 or older in /var/lib/ktune-tuned, "
                              "found ktune 0.3.0;")
    assert "Fix: install ktune.inference 0.3.0 or later" in message


def test_the_same_version_says_nothing_and_writes_nothing():
    verdict = tr.record_verdict(present("0.2.0"), "0.2.0")
    assert (verdict["comparison"], tr.record_message("gpu-a", verdict), tr.record_needs_writing(verdict)) == (
        "same", None, False)


def test_no_record_is_written_silently():
    verdict = tr.record_verdict({"path": "/r", "state": "absent", "version": None, "tuned_at": None, "reason": None},
                                "0.2.0")
    assert (verdict["comparison"], tr.record_message("h", verdict), tr.record_needs_writing(verdict)) == (
        "none", None, True)


def test_a_foreign_file_is_replaced_with_a_warning_but_a_directory_is_left_naming_the_fix():
    link = tr.record_verdict(tr._unknown("/r", "a symbolic link, not followed"), "0.2.0")
    assert tr.record_needs_writing(link)
    assert "is not one ktune wrote (a symbolic link, not followed); this run replaces it" in tr.record_message("h", link)
    directory = tr.record_verdict(tr._unknown("/r", tr.NOT_A_FILE), "0.2.0")
    assert not tr.record_needs_writing(directory)
    assert tr.record_message("h", directory) == (
        "h: the record of which ktune tuned this host, /r, is not a regular file; expected a file ktune writes. "
        "Fix: move it away (mv /r /r.old) and run tune.yml again")


@pytest.mark.parametrize("record", [None, "text", {"state": "weird"}, {}])
def test_a_record_that_was_not_read_is_unknown_and_not_written(record):
    verdict = tr.record_verdict(record, "0.2.0")
    assert (verdict["comparison"], verdict["reason"], tr.record_needs_writing(verdict)) == ("unknown", "not read", False)


def test_without_a_running_version_nothing_is_said_or_written():
    verdict = tr.record_verdict(present("0.1.0"), None)
    assert (tr.record_message("h", verdict), tr.record_needs_writing(verdict)) == (None, False)
