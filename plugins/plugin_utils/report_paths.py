# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the files the controller writes (audit reports, diagnosis bundles) go: under the directory
the operator runs ansible-playbook from, never inside the collection itself."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

# The folders galaxy.yml's build_ignore keeps out of a built collection: in a source checkout a
# report may go there (running from the checkout's root), anywhere else inside it may not.
BUILD_IGNORED_REPORT_FOLDERS = ("ktune-reports", "ktune-diagnostics", "ktune-baselines")

COLLECTION_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def is_source_checkout(collection_root):
    """A source checkout has galaxy.yml; a built and installed collection has MANIFEST.json instead."""
    return os.path.isfile(os.path.join(collection_root, "galaxy.yml"))


def _inside(path, folder):
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def operator_path(path, variable, cwd=None, collection_root=COLLECTION_ROOT):
    """PATH made absolute against the operator's working directory (cwd, default the process's).

    Raises ValueError, naming VARIABLE, when it would land inside the collection: anywhere in an
    installed one, and in a source checkout (galaxy.yml) anywhere but a top-level report folder
    that galaxy.yml's build_ignore leaves out of the built collection."""
    if not isinstance(path, str) or not path.strip():
        raise ValueError("%s = %r: expected a folder on the controller, such as ./ktune-reports" % (variable, path))
    absolute = os.path.normpath(os.path.join(cwd or os.getcwd(), os.path.expanduser(path)))
    real, root = os.path.realpath(absolute), os.path.realpath(collection_root)
    if not _inside(real, root):
        return absolute
    first = os.path.relpath(real, root).split(os.sep, maxsplit=1)[0]
    if is_source_checkout(root) and first in BUILD_IGNORED_REPORT_FOLDERS:
        return absolute
    raise ValueError(
        "%s: expected a folder outside the collection ktune.inference (%s), found %s inside it: host data there "
        "ends up in the collection's files and in what ansible-galaxy collection build packs. Fix: run "
        "ansible-playbook from your own working directory (reports go to ./ktune-reports/ and "
        "./ktune-diagnostics/ under it) or set -e %s=DIR" % (variable, root, real, variable))
