# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading pseudo-files under a configurable root (``/sys``, ``/proc`` or a fixture)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re


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

# Text read from a managed host is untrusted: every read is bounded, so a file that never
# ends (a broken driver, a FUSE mount, a fixture gone wrong) fails naming it instead of
# taking the host's memory. The kernel fills a sysfs attribute into one page, at most
# 64 KiB (arm64 and ppc64 with 64 KiB pages), and the /proc/sys values are as short.
ATTRIBUTE_LIMIT = 64 * 1024
# Files that people write (/etc/environment, cron.d, sysctl.d, env files): far below 1 MiB.
CONFIG_FILE_LIMIT = 1024 * 1024
# The first block of /proc/cpuinfo: about 2 KiB per x86 CPU; the s390x header block holds a
# line per CPU (some 30 KiB for 400 CPUs).
CPUINFO_BLOCK_LIMIT = 1024 * 1024
# /proc/PID/numa_maps: a line per mapping, some 200 bytes, and vm.max_map_count mappings
# (65530 by default, 262144 where raised): 64 MiB.
NUMA_MAPS_LIMIT = 64 * 1024 * 1024

# ASCII only: int() and str.isdigit() also take the digits of other scripts ("\u0661",
# "\uff11") and int() takes "1_0"; 20 digits hold any 64-bit counter.
_DECIMAL = re.compile(r"-?[0-9]{1,20}\Z")


def under(root, *parts):
    """Join path parts below root; parts may be absolute kernel paths."""
    return os.path.join(root, *[part.lstrip("/") for part in parts])


def _cannot_read(path, exc):
    return HostFileError(path, "cannot read (%s)" % (exc.strerror or exc), exc.errno)


def read_head(path, limit):
    """The first ``limit`` bytes of a file (all of a shorter one); HostFileError naming it."""
    try:
        with open(path, "rb") as handle:
            return handle.read(limit)
    except (IOError, OSError) as exc:
        raise _cannot_read(path, exc)


def read_bytes(path, limit=ATTRIBUTE_LIMIT):
    """A whole file of at most ``limit`` bytes; HostFileError naming it when it is longer."""
    data = read_head(path, limit + 1)
    if len(data) > limit:
        raise HostFileError(path, "expected at most %d bytes, found more" % limit)
    return data


def decode_text(path, data):
    """UTF-8 text without NUL bytes (NUL padding at the end aside); HostFileError naming the file."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HostFileError(path, "expected UTF-8 text, found binary data (byte 0x%02x at offset %d)"
                            % (bytearray(data[exc.start:exc.start + 1])[0], exc.start))
    nul = text.rstrip(_PADDING).find("\0")
    if nul >= 0:
        raise HostFileError(path, "expected UTF-8 text, found binary data (a NUL byte at offset %d)" % nul)
    return text


def read_text(path, limit=ATTRIBUTE_LIMIT):
    """Return a file's content without surrounding whitespace and NULs; raise HostFileError naming it."""
    return decode_text(path, read_bytes(path, limit)).strip(_PADDING)


def read_optional(path, limit=ATTRIBUTE_LIMIT):
    """Like read_text, but None when the file does not exist."""
    try:
        return read_text(path, limit)
    except HostFileError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def read_config_file(path, limit=CONFIG_FILE_LIMIT):
    """A whole text file as it is (not stripped), or None when it does not exist."""
    try:
        return decode_text(path, read_bytes(path, limit))
    except HostFileError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise


def read_first_block(path, limit):
    """The lines of a file up to its first blank line after some content (all of a file without one).

    Reads at most ``limit`` bytes: /proc/cpuinfo is built on demand and runs to megabytes on
    large hosts, while its first block tells all ktune needs.
    """
    head = read_head(path, limit + 1)
    lines = []
    for line in head.split(b"\n"):
        if line.strip():
            lines.append(line)
        elif lines:
            return decode_text(path, b"\n".join(lines)).splitlines()
    if len(head) > limit:
        raise HostFileError(path, "expected the first block within %d bytes, found more" % limit)
    return decode_text(path, b"\n".join(lines)).splitlines()


def parse_decimal(text):
    """The int an ASCII decimal (an optional minus, at most 20 digits) stands for, else None."""
    return int(text) if _DECIMAL.match(text) else None


def read_int(path, optional=False):
    """Return a file's content as an int; None when optional and absent."""
    text = read_optional(path) if optional else read_text(path)
    if text is None:
        return None
    number = parse_decimal(text)
    if number is None:
        raise HostFileError(path, "expected an integer, found %r" % text[:80])
    return number


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
        number = parse_decimal(name[len(prefix):]) if name.startswith(prefix) else None
        if number is not None and number >= 0:
            numbers.append(number)
    return sorted(numbers)


THP_ENABLED = "kernel/mm/transparent_hugepage/enabled"


def read_transparent_hugepage(sysfs_root):
    """The transparent hugepage mode in force: the bracketed word of transparent_hugepage/enabled
    ("always [madvise] never"), None without THP. The NUMA layout, the audit, the
    transparent_hugepage module and the monitoring collector all read it here."""
    path = under(sysfs_root, THP_ENABLED)
    text = read_optional(path)
    if text is None:
        return None
    words = text.split()
    chosen = [word[1:-1] for word in words if word.startswith("[") and word.endswith("]")]
    if len(words) == 1 and not chosen:
        # One bare word is the mode written to a plain file standing for the kernel's (a fixture tree,
        # a container's bind mount), which shows what was written, not the list.
        chosen = words
    if len(chosen) != 1:
        raise HostFileError(path, "expected one [bracketed] mode, found %r" % text[:80])
    return chosen[0]
