# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host guard's token: STATE_DIR/token, readable by the guard's user (root) alone.

Every request to a guard's HTTP endpoint carries it as "Authorization: Bearer TOKEN"; the
guard answers 401 without it. The guard makes it at its first start; the guard_query module
reads it on the host; the fleet's event source reads a copy on the controller. Each reader
reads it through secret_file.read_secret_file (no symlink, owner-only, bounded).
Standard library only: the guard role installs this file next to its daemon.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hmac
import os
import stat

try:
    from ansible_collections.ktune.inference.plugins.module_utils.secret_file import SecretFileError, read_secret_file
except ImportError:  # outside the collection: next to the guard daemon, or loaded by path by the event source
    from secret_file import SecretFileError, read_secret_file

TOKEN_FILE = "token"
MIN_LENGTH = 16
MAX_READ = 4096


class TokenError(Exception):
    pass


def read_token(path):
    """The token in path; TokenError naming the file when it is not a safe, usable token file."""
    try:
        data = read_secret_file(path, "the guard token", limit=MAX_READ)
    except SecretFileError as exc:
        raise TokenError(str(exc))
    token = data.decode("ascii", "replace").strip()
    if len(token) < MIN_LENGTH or any(ch.isspace() or not ch.isprintable() for ch in token):
        raise TokenError("%s holds no usable token (%d or more printable characters, no spaces)" % (path, MIN_LENGTH))
    return token


def _remove_if_empty_and_ours(path):
    """Remove an empty token file of ours (a start cut short between creating and writing it)."""
    try:
        info = os.lstat(path)
    except OSError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_size == 0 and info.st_uid == os.geteuid():
        os.unlink(path)


def ensure_token(path):
    """The token in path, made first (random, mode 0600) when the file does not exist or is empty."""
    _remove_if_empty_and_ours(path)
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise TokenError("%s: cannot create the token: %s" % (path, exc.strerror))
    else:
        with os.fdopen(handle, "w") as out:
            out.write(os.urandom(32).hex() + "\n")
            out.flush()
            os.fsync(out.fileno())
    return read_token(path)


def bearer_matches(header, token):
    """Whether an Authorization header value carries the token (compared in constant time)."""
    scheme, _space, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8", "replace"),
                                                              token.encode("utf-8"))
