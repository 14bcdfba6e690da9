"""The one owner-only check for every file that holds a secret (guard token, key file, BMC password)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import secret_file
from ansible_collections.ktune.inference.plugins.module_utils.secret_file import SecretFileError, read_secret_file


def secret(path, text="s3cret-value", mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_an_owner_only_file_is_read(tmp_path):
    assert read_secret_file(str(secret(tmp_path / "key", mode=0o400))) == b"s3cret-value"
    assert read_secret_file(str(secret(tmp_path / "key2"))) == b"s3cret-value"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o620, 0o602, 0o610])
def test_any_group_or_other_bit_is_refused_naming_the_mode(tmp_path, mode):
    path = secret(tmp_path / "key", mode=mode)
    with pytest.raises(SecretFileError, match="key: expected .* mode 0600 or 0400, found a regular file owned "
                                              "by uid %d with mode %04o" % (os.geteuid(), mode)):
        read_secret_file(str(path), "instances[r1].api_key_file")


def test_a_symlink_is_refused_even_to_a_good_file(tmp_path):
    target = secret(tmp_path / "real")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(SecretFileError, match="link: expected a regular file .not a symlink.*found a symlink"):
        read_secret_file(str(tmp_path / "link"))


def test_a_foreign_owner_is_refused(tmp_path):
    path = secret(tmp_path / "key")
    with pytest.raises(SecretFileError, match="owned by uid 4242 with mode 0600 or 0400, found a regular file owned by uid %d"
                       % os.geteuid()):
        read_secret_file(str(path), owners=[4242])


def test_root_or_the_reading_user_may_own_it_by_default(tmp_path, monkeypatch):
    path = secret(tmp_path / "key")
    as_root = os.geteuid() == 0
    monkeypatch.setattr(secret_file.os, "geteuid", lambda: 4242)
    if as_root:
        assert read_secret_file(str(path)) == b"s3cret-value"  # owned by root: allowed
    else:
        with pytest.raises(SecretFileError, match="owned by root or uid 4242"):
            read_secret_file(str(path))


def test_a_fifo_or_directory_is_refused_without_blocking(tmp_path):
    os.mkfifo(str(tmp_path / "fifo"), 0o600)
    with pytest.raises(SecretFileError, match="found a FIFO"):
        read_secret_file(str(tmp_path / "fifo"))
    (tmp_path / "dir").mkdir(mode=0o700)
    with pytest.raises(SecretFileError, match="found a directory"):
        read_secret_file(str(tmp_path / "dir"))


def test_the_read_is_bounded(tmp_path):
    path = tmp_path / "big"
    with open(str(path), "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    path.chmod(0o600)
    with pytest.raises(SecretFileError, match="big: expected at most 4096 bytes, found more"):
        read_secret_file(str(path))


def test_a_missing_file_names_the_label_and_path(tmp_path):
    with pytest.raises(SecretFileError, match="lanplus.password_file .*/nope: expected .*, found No such file"):
        read_secret_file(str(tmp_path / "nope"), "lanplus.password_file")
