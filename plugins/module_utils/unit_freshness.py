# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Restarts and daemon-reloads a run lost: a unit whose running process is older than its files.

A run that writes a unit's files and is then cut short (Ctrl-C, a lost host, a later failing
task) loses the restart and the daemon-reload it would have made; the next run finds the files
already right, changes nothing, and the old process keeps running. This module's judgement finds
that state from the host alone: systemd's NeedDaemonReload, and a main process that started
before the newest of the files it reads was written.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import time

from ansible_collections.ktune.inference.plugins.module_utils.sysfs import (
    HostFileError,
    parse_decimal,
    read_text,
)

# A file written within this many seconds before the process started counts as read by it
# (the role writes, then restarts within the same second).
START_SLACK_S = 1.0
PROPERTIES = ("Id", "LoadState", "ActiveState", "MainPID", "NeedDaemonReload")


def boot_time(procfs_root):
    """Seconds since the epoch at boot (/proc/stat btime); HostFileError when unreadable."""
    path = os.path.join(procfs_root, "stat")
    for line in read_text(path, 1 << 20).splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "btime" and parse_decimal(words[1]) is not None:
            return float(words[1])
    raise HostFileError(path, "expected a btime line, found none")


def process_start(procfs_root, pid, ticks_per_s, booted_at):
    """When process pid started (seconds since the epoch), from /proc/PID/stat; None when it is gone."""
    path = os.path.join(procfs_root, str(pid), "stat")
    try:
        text = read_text(path)
    except HostFileError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    fields = text[text.rfind(")") + 2:].split()
    ticks = parse_decimal(fields[19]) if len(fields) > 19 else None
    if ticks is None:
        raise HostFileError(path, "expected the start time as field 22, found %r" % text[:80])
    return booted_at + ticks / float(ticks_per_s)


def newest_file(paths):
    """(path, mtime) of the most recently written of paths that exist, or (None, None)."""
    newest = (None, None)
    for path in paths:
        try:
            mtime = os.stat(path).st_mtime
        except OSError:
            continue
        if newest[1] is None or mtime > newest[1]:
            newest = (path, mtime)
    return newest


def virtualenv_packages(program):
    """The site-packages folders of the virtualenv PROGRAM belongs to (<venv>/bin/PROGRAM next to
    <venv>/pyvenv.cfg), or [] outside a virtualenv. Installing, upgrading or removing a package
    adds or removes its <name>-<version>.dist-info folder there, so the folder's modification time
    is when the package versions last changed. Links are not followed: a virtualenv's python is a
    link to the system's."""
    root = os.path.dirname(os.path.dirname(program))
    if not os.path.isfile(os.path.join(root, "pyvenv.cfg")):
        return []
    return sorted(glob.glob(os.path.join(glob.escape(root), "lib*", "python*", "site-packages")))


def installed_since(site_packages, since):
    """The packages installed or upgraded in a site-packages folder after `since`, as
    "name version" sorted by name: pip writes a new <name>-<version>.dist-info folder for each
    (the wheel format escapes a '-' in either part, so the last '-' splits them)."""
    installed = []
    for folder in glob.glob(os.path.join(glob.escape(site_packages), "*.dist-info")):
        try:
            written = os.stat(folder).st_mtime
        except OSError:
            continue
        name, _sep, version = os.path.basename(folder)[:-len(".dist-info")].rpartition("-")
        if name and written > since + START_SLACK_S:
            installed.append("%s %s" % (name, version))
    return sorted(installed, key=str.lower)


def judge(unit, properties, started_at, newest, now=None):
    """{unit, need_daemon_reload, stale, reason, upgraded} for one unit from what was read; upgraded
    names the package versions installed since the process started when its virtualenv changed.

    A file dated after now says the clock was stepped back since it was written, not that a
    restart was lost: trusting it would restart the unit on every run until the clock catches up.
    """
    path, mtime = newest
    now = time.time() if now is None else now
    active = properties.get("ActiveState") in ("active", "activating", "reloading")
    stale = bool(active and started_at is not None and mtime is not None
                 and started_at + START_SLACK_S < mtime <= now + START_SLACK_S)
    reason, upgraded = None, []
    if stale and os.path.basename(path) == "site-packages":
        upgraded = installed_since(path, started_at)
        what = "installed since: " + ", ".join(upgraded) if upgraded else "packages removed, none installed"
        reason = ("the packages in %s changed after the running process started (%.0f s later; %s): an upgrade of "
                  "the virtualenv, not running yet" % (path, mtime - started_at, what))
    elif stale:
        reason = "%s was written after the running process started (%.0f s later): a restart was lost" % (
            path, mtime - started_at)
    return {"unit": unit, "need_daemon_reload": properties.get("NeedDaemonReload") == "yes", "stale": stale,
            "reason": reason, "active": active, "upgraded": upgraded}
