# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters comparing what ktune.inference.managed_state read with what a role would write."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.ktune.inference.plugins.module_utils import sysctl

_ATTRIBUTES = ("mode", "owner", "group")


def _checksums(content):
    """SHA-1 of the content, and of the content with a final newline when it lacks one.

    lookup('ansible.builtin.template') drops the final newline that the template module
    writes (ansible-core 2.19), so both count as the content the role would write.
    """
    data = to_bytes(content)
    variants = [data] if data.endswith(b"\n") else [data, data + b"\n"]
    return [hashlib.sha1(variant).hexdigest() for variant in variants]


def _difference(path, found, wanted):
    if not found or not found.get("exists"):
        return "%s: missing" % path
    if found.get("type") != "file":
        return "%s: is a %s, not a file" % (path, found.get("type"))
    if found.get("checksum") not in _checksums(wanted["content"]):
        return "%s: content differs" % path
    for name in _ATTRIBUTES:
        if name in wanted and str(wanted[name]) != found.get(name):
            return "%s: %s is %s, expected %s" % (path, name, found.get(name), wanted[name])
    return None


def _with_contents(wanted, contents):
    if contents is None:
        return wanted
    if len(contents) != len(wanted):
        raise AnsibleFilterError("files_differ: %d contents for %d files" % (len(contents), len(wanted)))
    return [dict(entry, content=content) for entry, content in zip(wanted, contents)]


def files_differ(state_files, wanted, contents=None):
    """One line per wanted file that does not look as wanted; empty when all match.

    Each wanted entry names its file by path (or dest, as in a template task) and carries
    its content, or the contents come as a parallel list.
    """
    if not isinstance(state_files, dict):
        raise AnsibleFilterError("files_differ: expected the files of a ktune.inference.managed_state "
                                 "result, got %s" % type(state_files).__name__)
    differences = []
    for entry in _with_contents(wanted, contents):
        path = entry.get("path", entry.get("dest")) if isinstance(entry, dict) else None
        if path is None or "content" not in entry:
            raise AnsibleFilterError("files_differ: each wanted file needs a path (or dest) and a content, got %r"
                                     % (entry,))
        difference = _difference(path, state_files.get(path), entry)
        if difference:
            differences.append(difference)
    return differences


def sysctl_file_content(settings):
    """The file ktune.inference.sysctl_settings writes for these settings."""
    try:
        entries = [dict(name=sysctl.validate_name(name), wanted=sysctl.normalize_value(name, settings[name]))
                   for name in sorted(settings)]
    except sysctl.SysctlError as exc:
        raise AnsibleFilterError("sysctl_file_content: %s" % exc)
    return sysctl.render_file(entries)


def sysctl_values_differ(running, wanted):
    """One line per kernel parameter whose running value is not the wanted one.

    A parameter the running kernel lacks (running value None) is not a difference: there
    is nothing to set. A parameter that was not read at all is one.
    """
    if not isinstance(running, dict) or not isinstance(wanted, dict):
        raise AnsibleFilterError("sysctl_values_differ: expected two mappings of kernel parameter to value")
    differences = []
    for name in sorted(wanted):
        try:
            wanted_text = sysctl.normalize_value(name, wanted[name])
        except sysctl.SysctlError as exc:
            raise AnsibleFilterError("sysctl_values_differ: %s" % exc)
        if name not in running:
            differences.append("%s: running value not read" % name)
            continue
        current = running[name]
        if current is not None and " ".join(str(current).split()) != wanted_text:
            differences.append("%s: running %s, wanted %s" % (name, current, wanted_text))
    return differences


class FilterModule(object):
    def filters(self):
        return {"files_differ": files_differ, "sysctl_file_content": sysctl_file_content,
                "sysctl_values_differ": sysctl_values_differ}
