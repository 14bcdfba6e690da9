# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one check of a file that holds a secret: read it only when nobody else could have.

A guard token, an instance's key file and a BMC password file are each read through
read_secret_file: a regular file (no symlink followed, no FIFO or device), owned by root or
by the reading user, with no group or other permission bits, at most `limit` bytes. The check
is made on the opened file (fstat), so the file judged is the file read.
Standard library only: the guard role installs this file next to its daemon, and the fleet's
event source loads it by path on the controller.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

DEFAULT_LIMIT = 4096
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)


class SecretFileError(Exception):
    pass


def _kind(mode):
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    return "a special file"


def _expected(owners):
    names = " or ".join("root" if uid == 0 else "uid %d" % uid for uid in sorted(owners))
    return "a regular file (not a symlink) owned by %s with mode 0600 or 0400" % names


def read_secret_file(path, label="", owners=None, limit=DEFAULT_LIMIT):
    """The bytes of the secret file at path; SecretFileError naming label, path, what was expected and found.

    owners: the uids that may own it (default: root and the reading user).
    """
    owners = frozenset(owners) if owners is not None else frozenset((0, os.geteuid()))
    where = ("%s %s" % (label, path)) if label else str(path)
    try:
        handle = os.open(path, _FLAGS)
    except OSError as exc:
        found = "a symlink" if os.path.islink(path) else exc.strerror
        raise SecretFileError("%s: expected %s, found %s" % (where, _expected(owners), found))
    try:
        info = os.fstat(handle)
        if not stat.S_ISREG(info.st_mode) or info.st_uid not in owners or info.st_mode & 0o077:
            raise SecretFileError("%s: expected %s, found %s owned by uid %d with mode %04o" % (
                where, _expected(owners), _kind(info.st_mode), info.st_uid, info.st_mode & 0o7777))
        data = os.read(handle, limit + 1)
    finally:
        os.close(handle)
    if len(data) > limit:
        raise SecretFileError("%s: expected at most %d bytes, found more" % (where, limit))
    return data
