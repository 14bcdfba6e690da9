# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which ktune.inference version last tuned a host: the record tune.yml writes, read and judged.

tune.yml writes ``record_text(version, tuned_at)`` to TUNE_RECORD (root, 0644) after a successful
run; managed_state reads it with ``read_tune_record`` in the same round trip as everything else;
``record_verdict`` compares it with the running collection's version, for tune's message and
the audit's ``tuned_by`` field; remove.yml deletes it. The file is data from the host: it is read
bounded, never through a link, only when root owns it, and anything else is ``unknown`` with a reason.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os
import re
import stat

TUNE_RECORD = "/var/lib/ktune-tuned"
# The record is three short lines; a bigger file is not ours.
RECORD_LIMIT = 4096
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
                    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?\Z")
TIMESTAMP = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
NOT_A_FILE = "not a regular file"
NOT_READ = "not read"
HEADER = "# Which ktune.inference tuned this host: written by playbooks/tune.yml, removed by playbooks/remove.yml."


def record_text(version, tuned_at):
    """The record's content, as tune.yml writes it."""
    return "%s\nversion=%s\ntuned_at=%s\n" % (HEADER, version, tuned_at)


def parse_record(data):
    """(version, tuned_at, None) of a record's bytes, or (None, None, why it is not a record)."""
    if b"\0" in data:
        return None, None, "binary content, not a ktune record"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, None, "not UTF-8 text, not a ktune record"
    fields = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            fields.setdefault(key.strip(), value.strip())
    version, tuned_at = fields.get("version"), fields.get("tuned_at")
    if version is None or not SEMVER.match(version):
        return None, None, "no version=X.Y.Z line, not a ktune record"
    return version, tuned_at if tuned_at and TIMESTAMP.match(tuned_at) else None, None


def _unknown(path, reason):
    return {"path": path, "state": "unknown", "version": None, "tuned_at": None, "reason": reason}


def read_tune_record(path, limit=RECORD_LIMIT):
    """{"path", "state": present|absent|unknown, "version", "tuned_at", "reason"}.

    Only a regular file root owns is read (opened without following a link, at most LIMIT bytes);
    a link, a directory, a file of another owner, a bigger or unreadable file, or one that does not
    say version=X.Y.Z is unknown, with the reason."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return {"path": path, "state": "absent", "version": None, "tuned_at": None, "reason": None}
        return _unknown(path, "cannot be examined (%s)" % (exc.strerror or exc))
    if stat.S_ISLNK(info.st_mode):
        return _unknown(path, "a symbolic link, not followed")
    if not stat.S_ISREG(info.st_mode):
        return _unknown(path, NOT_A_FILE)
    if info.st_uid != 0:
        return _unknown(path, "owned by uid %d, not root" % info.st_uid)
    if info.st_size > limit:
        return _unknown(path, "%d bytes, more than a record's %d" % (info.st_size, limit))
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return _unknown(path, "cannot be read (%s)" % (exc.strerror or exc))
    try:
        data = os.read(handle, limit + 1)
    except OSError as exc:
        return _unknown(path, "cannot be read (%s)" % (exc.strerror or exc))
    finally:
        os.close(handle)
    if len(data) > limit:
        return _unknown(path, "more than a record's %d bytes" % limit)
    version, tuned_at, reason = parse_record(data)
    if reason:
        return _unknown(path, reason)
    return {"path": path, "state": "present", "version": version, "tuned_at": tuned_at, "reason": None}


def _precedence(version):
    """A sort key of a semantic version (semver.org rule 11): the numbers, then a release above
    its pre-releases, whose dot-separated parts compare numerically or as text."""
    match = SEMVER.match(version)
    numbers = tuple(int(match.group(number)) for number in (1, 2, 3))
    if match.group(4) is None:
        return numbers, (1,)
    parts = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in match.group(4).split("."))
    return numbers, (0,) + parts


def compare_versions(recorded, running):
    """"same", "upgrade" (running is newer), "downgrade" (recorded is newer), or None when either is
    not a semantic version."""
    if not (isinstance(recorded, str) and isinstance(running, str) and SEMVER.match(recorded) and SEMVER.match(running)):
        return None
    older, newer = _precedence(recorded), _precedence(running)
    if older == newer:
        return "same"
    return "upgrade" if older < newer else "downgrade"


def record_verdict(record, running):
    """How the host's record stands against the running collection: the record's fields with
    ``running`` and ``comparison`` (none: no record; same; upgrade; downgrade; unknown: the record
    cannot be read, see ``reason``)."""
    record = dict(record) if isinstance(record, dict) else {}
    if record.get("state") not in ("present", "absent", "unknown"):
        record = _unknown(record.get("path"), NOT_READ)
    verdict = dict(record, running=running)
    if record["state"] == "absent":
        verdict["comparison"] = "none"
    elif record["state"] == "present":
        verdict["comparison"] = compare_versions(record.get("version"), running) or "unknown"
    else:
        verdict["comparison"] = "unknown"
    return verdict


def record_message(host, verdict):
    """The one line tune prints about the record, or None when there is nothing to say."""
    comparison = verdict.get("comparison")
    if not verdict.get("running"):
        return None
    if comparison == "upgrade":
        return "ktune %s tuned this host; this run is ktune %s" % (verdict["version"], verdict["running"])
    if comparison == "downgrade":
        return ("%s: tuned by a NEWER ktune: expected ktune %s or older in %s, found ktune %s; this run applies "
                "the older version's settings. Fix: install ktune.inference %s or later on the controller "
                "(ansible-galaxy collection install 'ktune.inference:>=%s') and run tune.yml again"
                % (host, verdict["running"], verdict["path"], verdict["version"], verdict["version"], verdict["version"]))
    if comparison == "unknown" and not record_writable(verdict):
        path = verdict.get("path")
        return ("%s: the record of which ktune tuned this host, %s, is %s; expected a file ktune writes. Fix: "
                "move it away (mv %s %s.old) and run tune.yml again" % (host, path, verdict.get("reason"), path, path))
    if comparison == "unknown":
        return ("%s: the record of which ktune tuned this host, %s, is not one ktune wrote (%s); this run "
                "replaces it" % (host, verdict.get("path"), verdict.get("reason") or "unreadable"))
    return None


def record_writable(verdict):
    """Whether tune may put its record in place: not over a directory or other non-file it did not make."""
    return verdict.get("reason") not in (NOT_A_FILE, NOT_READ)


def record_needs_writing(verdict):
    """Whether tune writes its record: missing, of another version, or not one ktune wrote (and replaceable)."""
    return bool(verdict.get("running")) and verdict.get("comparison") != "same" and record_writable(verdict)
