# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading pseudo-files under a configurable root (``/sys``, ``/proc`` or a fixture)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os


class HostFileError(Exception):
    """A pseudo-file that exists but cannot be read or makes no sense.

    The message always names the file, so a module can hand it to ``fail_json``.
    """

    def __init__(self, path, problem, errno=None):
        self.path = path
        self.problem = problem
        self.errno = errno
        super(HostFileError, self).__init__("%s: %s" % (path, problem))


# Whitespace plus the NUL that many kernels wrote after the newline of node/online,
# node/possible, node/has_* and some nodeN/cpulist files ("0-7\n\0").
_PADDING = " \t\r\n\0"


def under(root, *parts):
    """Join path parts below root; parts may be absolute kernel paths."""
    return os.path.join(root, *[part.lstrip("/") for part in parts])


def read_text(path):
    """Return a file's content without surrounding whitespace and NULs; raise HostFileError naming it."""
    try:
        with open(path, "r") as handle:
            return handle.read().strip(_PADDING)
    except (IOError, OSError) as exc:
        raise HostFileError(path, "cannot read (%s)" % (exc.strerror or exc), exc.errno)
    except UnicodeDecodeError:
        raise HostFileError(path, "content is not text")


def read_optional(path):
    """Like read_text, but None when the file does not exist."""
    try:
        with open(path, "r") as handle:
            return handle.read().strip(_PADDING)
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise HostFileError(path, "cannot read (%s)" % (exc.strerror or exc), exc.errno)
    except UnicodeDecodeError:
        raise HostFileError(path, "content is not text")


def read_int(path, optional=False):
    """Return a file's content as an int; None when optional and absent."""
    text = read_optional(path) if optional else read_text(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        raise HostFileError(path, "expected an integer, found %r" % text[:80])


def write_text(path, value):
    """Write value to a pseudo-file; raise HostFileError naming it on failure."""
    try:
        with open(path, "w") as handle:
            handle.write(value)
    except (IOError, OSError) as exc:
        raise HostFileError(path, "cannot write %r (%s)" % (value, exc.strerror or exc), exc.errno)


def numbered_entries(directory, prefix):
    """Return the sorted N of entries named <prefix>N in directory ([] if absent)."""
    try:
        names = os.listdir(directory)
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return []
        raise HostFileError(directory, "cannot list (%s)" % (exc.strerror or exc))
    numbers = []
    for name in names:
        suffix = name[len(prefix):]
        if name.startswith(prefix) and suffix.isdigit():
            numbers.append(int(suffix))
    return sorted(numbers)
