# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The current state of what a role manages: files, systemd units and kernel parameters.

Read in one call so that a role can decide on the controller whether anything needs
changing, instead of paying one remote round trip per file and unit on every run.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import glob
import grp
import hashlib
import os
import pwd
import re
import stat

from ansible_collections.ktune.inference.plugins.module_utils.sysfs import CONFIG_FILE_LIMIT, HostFileError, read_bytes

UNIT_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState")
_KINDS = ((stat.S_ISREG, "file"), (stat.S_ISDIR, "directory"), (stat.S_ISLNK, "link"))


def expand_paths(patterns):
    """Paths for the given paths and glob patterns, in the order given, without repeats.

    A glob that matches nothing contributes nothing; a plain path is kept even when it
    does not exist, so that its absence is reported.
    """
    paths = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        paths.extend(path for path in matches if path not in paths)
    return paths


def _kind(mode):
    for test, name in _KINDS:
        if test(mode):
            return name
    return "other"


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


_CHECKSUM_BLOCK = 64 * 1024


def _checksum(path):
    """SHA-1 of a file, read a block at a time: a managed file may be of any size."""
    digest = hashlib.sha1()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(_CHECKSUM_BLOCK), b""):
                digest.update(block)
    except (IOError, OSError) as exc:
        raise HostFileError(path, "cannot read (%s)" % (exc.strerror or exc), exc.errno)
    return digest.hexdigest()


def matching_lines(content, pattern):
    """The lines of a file's content that the compiled pattern matches (re.search)."""
    text = content.decode("utf-8", "replace")
    return [line for line in text.splitlines() if pattern.search(line)]


def file_state(path, line_pattern=None):
    """What a managed file looks like now.

    Keys: path, exists; when it exists also type (file, directory, link, other), mode
    (four octal digits), owner and group (names, or ids without a name); for a regular
    file checksum (SHA-1 of the content, as ansible.builtin.stat reports it) and, with a
    compiled line_pattern, matching_lines.
    """
    try:
        info = os.lstat(path)
    except (IOError, OSError) as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return dict(path=path, exists=False)
        raise HostFileError(path, "cannot stat (%s)" % (exc.strerror or exc), exc.errno)
    state = dict(path=path, exists=True, type=_kind(info.st_mode), mode="%04o" % stat.S_IMODE(info.st_mode),
                 owner=_user_name(info.st_uid), group=_group_name(info.st_gid))
    if state["type"] == "file":
        state["checksum"] = _checksum(path)
        if line_pattern is not None:
            state["matching_lines"] = matching_lines(read_bytes(path, CONFIG_FILE_LIMIT), line_pattern)
    return state


def compile_line_pattern(pattern):
    """The compiled pattern, or None; raises ValueError naming the problem."""
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError("line_pattern %r is not a regular expression: %s" % (pattern, exc))


def systemctl_show_command(systemctl, units):
    return [systemctl, "show", "--property=" + ",".join(UNIT_PROPERTIES), "--"] + list(units)


def parse_systemctl_show(output, units):
    """Map each unit to its load_state, active_state and unit_file_state.

    `systemctl show` prints one block of Key=Value lines per unit, in the order asked,
    separated by blank lines; an unknown unit still gets a block (LoadState=not-found).
    """
    blocks = output.strip().split("\n\n") if output.strip() else []
    if len(blocks) != len(units):
        raise ValueError("systemctl show returned %d blocks for %d units" % (len(blocks), len(units)))
    states = {}
    for unit, block in zip(units, blocks):
        values = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        states[unit] = dict(load_state=values.get("LoadState") or None,
                            active_state=values.get("ActiveState") or None,
                            unit_file_state=values.get("UnitFileState") or None)
    return states


# ID / ID_LIKE words of /etc/os-release and the family Ansible's setup reports for them.
OS_FAMILIES = (
    ("Debian", ("debian", "ubuntu", "raspbian", "linuxmint", "pop")),
    ("RedHat", ("rhel", "centos", "fedora", "rocky", "almalinux", "ol", "amzn", "redhat")),
    ("Suse", ("suse", "opensuse", "sles", "opensuse-leap", "opensuse-tumbleweed")),
    ("Archlinux", ("arch", "archlinux", "manjaro")),
)
PKG_MGR_OF = {"Debian": "apt", "RedHat": "dnf", "Suse": "zypper", "Archlinux": "pacman"}


def os_release_family(text):
    """(os_family, pkg_mgr) from /etc/os-release's ID and ID_LIKE, as Ansible's setup names
    them; (None, None) for an unknown system."""
    values = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip("\"'")
    words = [values.get("ID", "").lower()] + values.get("ID_LIKE", "").lower().split()
    for family, ids in OS_FAMILIES:
        if any(word in ids for word in words):
            return family, PKG_MGR_OF[family]
    return None, None


def dpkg_query_command(dpkg_query, packages):
    return [dpkg_query, "--show", "--showformat=${Package}\t${Status}\t${Version}\n", "--"] + list(packages)


def parse_dpkg_query(output, packages):
    """{package: installed version or None}; dpkg-query names unknown packages only on stderr."""
    found = dict((name, None) for name in packages)
    for line in output.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] in found and fields[1].endswith(" installed"):
            found[fields[0]] = fields[2]
    return found
