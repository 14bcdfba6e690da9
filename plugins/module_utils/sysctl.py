# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel parameters (sysctl): names, the persisted sysctl.d file and the runtime values.

The persisted file is owned entirely by ktune: it is rendered from the wanted settings and
replaced atomically. Every line starts with '-', which tells systemd-sysctl (sysctl.d(5))
and procps sysctl (sysctl.conf(5)) to ignore a key that fails to apply, for example
because the running kernel lacks it.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat
import tempfile

try:
    from ansible_collections.ktune.inference.plugins.module_utils.sysfs import (
        HostFileError,
        parse_decimal,
        read_config_file,
        read_optional,
        under,
        write_text,
    )
except ImportError:  # installed on a host next to the monitoring collector, outside the collection
    from sysfs import HostFileError, parse_decimal, read_config_file, read_optional, under, write_text

HEADER = (
    "# Managed by ktune (ktune.inference.sysctl_settings): this whole file is rewritten,\n"
    "# local changes are lost. A leading '-' makes systemd-sysctl and procps sysctl skip\n"
    "# a key the running kernel lacks instead of failing.\n"
)
FILE_MODE = 0o644
# One component of a dotted name: what the kernel uses under /proc/sys (letters,
# digits, '_' and '-'), never empty, never starting with '-' or '.'.
_COMPONENT = r"[A-Za-z0-9_][A-Za-z0-9_-]*"
_NAME = re.compile(r"^%s(?:\.%s)+\Z" % (_COMPONENT, _COMPONENT))


class SysctlError(Exception):
    """A request that cannot be carried out; the message says why."""


def validate_name(name):
    """Return the name if it is a dotted kernel parameter name, else raise SysctlError.

    Slashes, globs, empty components and '..' are refused, so a name can never point
    outside <procfs_root>/sys.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise SysctlError(
            "invalid kernel parameter name %r: expected dotted components of letters, digits, '_' "
            "and '-' such as kernel.numa_balancing (no '/', '..', globs or spaces)" % (name,))
    return name


def normalize_value(name, value):
    """Return the value as the text written to the kernel, or raise SysctlError.

    Integers and strings are accepted; runs of whitespace in a string (multi-value
    parameters such as net.ipv4.tcp_rmem) are reduced to one space.
    """
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SysctlError("%s: value must be an integer or a string, got %s %r"
                          % (name, type(value).__name__, value))
    text = " ".join(str(value).split())
    if not text:
        raise SysctlError("%s: value is empty" % name)
    if "\n" in str(value).strip() or "\r" in str(value).strip():
        raise SysctlError("%s: value must be on one line, got %r" % (name, value))
    # systemd-sysctl ends a line at NUL, so "0<NUL>kernel.core_pattern=|/x" would persist a
    # second setting; other control and format characters are no kernel value either.
    if not text.isprintable():
        raise SysctlError("%s: value must be printable text, got %r (control or format characters)"
                          % (name, value))
    return text


def runtime_path(procfs_root, name):
    """<procfs_root>/sys/<name with dots as slashes>."""
    return under(procfs_root, "sys", *name.split("."))


def display_value(text):
    """A runtime or wanted value as returned to Ansible: int when it is one, else str."""
    if text is None:
        return None
    number = parse_decimal(text)
    return text if number is None else number


def read_runtime(procfs_root, name):
    """Return (path, normalized text or None when the kernel lacks the key)."""
    path = runtime_path(procfs_root, name)
    if os.path.isdir(path):
        raise HostFileError(path, "is a directory, not a kernel parameter (name %s is too short)" % name)
    try:
        text = read_optional(path)
    except HostFileError as exc:
        raise HostFileError(path, "%s, so the current value of %s is unknown" % (exc.problem, name))
    if text is None:
        return path, None
    return path, " ".join(text.split())


def plan(settings, procfs_root):
    """Read every runtime value and return one entry per setting, sorted by name.

    Each entry: name, path, wanted, before (normalized text or None), applicable,
    reason (when not applicable).
    """
    entries = []
    for name in sorted(settings):
        validate_name(name)
        wanted = normalize_value(name, settings[name])
        path, before = read_runtime(procfs_root, name)
        entry = dict(name=name, path=path, wanted=wanted, before=before, applicable=before is not None)
        if before is None:
            entry["reason"] = ("the running kernel has no %s (%s does not exist); persisted with a leading '-' "
                               "so it is skipped at boot" % (name, path))
        entries.append(entry)
    return entries


def render_file(entries):
    """The whole persisted file for the given entries."""
    return HEADER + "".join("-%s = %s\n" % (entry["name"], entry["wanted"]) for entry in entries)


def read_file(path):
    """Return the persisted file's content, or None when it does not exist."""
    return read_config_file(path)


def file_attributes_wrong(path):
    """Whether an existing file's mode (or owner, when running as root) differs from 0644 root."""
    try:
        info = os.stat(path)
    except (IOError, OSError):
        return False
    if stat.S_IMODE(info.st_mode) != FILE_MODE:
        return True
    return os.geteuid() == 0 and (info.st_uid != 0 or info.st_gid != 0)


def write_file_atomic(path, content):
    """Write content to a temporary file beside path, then rename it over path.

    The result is mode 0644, owned by root when running as root. Raises HostFileError
    naming the file on failure; the old file is then left as it was.
    """
    directory = os.path.dirname(path) or "."
    try:
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o755)
        handle, temp = tempfile.mkstemp(dir=directory, prefix=".%s." % os.path.basename(path), suffix=".tmp")
    except (IOError, OSError) as exc:
        raise HostFileError(path, "cannot write (%s)" % (exc.strerror or exc))
    try:
        try:
            os.write(handle, content.encode("utf-8"))
            os.fsync(handle)
            os.fchmod(handle, FILE_MODE)
            if os.geteuid() == 0:
                os.fchown(handle, 0, 0)
        finally:
            os.close(handle)
        os.rename(temp, path)
    except (IOError, OSError) as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise HostFileError(path, "cannot write (%s)" % (exc.strerror or exc))


def remove_file(path):
    try:
        os.unlink(path)
    except (IOError, OSError) as exc:
        if exc.errno != errno.ENOENT:
            raise HostFileError(path, "cannot remove (%s)" % (exc.strerror or exc))


def apply_runtime(entry):
    """Write the wanted value to the runtime file and return what the kernel reads back."""
    try:
        write_text(entry["path"], entry["wanted"] + "\n")
    except HostFileError as exc:
        raise HostFileError(exc.path, "cannot set %s = %s (%s)" % (entry["name"], entry["wanted"], exc.problem))
    after = read_optional(entry["path"])
    return " ".join(after.split()) if after is not None else None


def runtime_diff(entries, afters, procfs_root):
    """Before/after text of the runtime values that change."""
    before, after = [], []
    for entry in entries:
        if entry["applicable"] and afters[entry["name"]] != entry["before"]:
            before.append("%s = %s\n" % (entry["name"], entry["before"]))
            after.append("%s = %s\n" % (entry["name"], afters[entry["name"]]))
    header = "runtime (%s)" % under(procfs_root, "sys")
    return dict(before_header=header, after_header=header, before="".join(before), after="".join(after))
