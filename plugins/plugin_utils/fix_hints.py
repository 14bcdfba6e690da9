# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fix hints an operator can copy and paste: the audit controls (module_utils/audit_controls.py)
write their tune command with placeholders, since they also run where the inventory is unknown;
on the controller the placeholders become the real playbook, inventory source(s) and host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shlex

from ansible_collections.ktune.inference.plugins.module_utils.audit_controls import BIOS_STAGE, TUNE
from ansible_collections.ktune.inference.plugins.plugin_utils.report_paths import COLLECTION_ROOT, is_source_checkout


def _shown_path(path, cwd):
    """PATH relative to CWD when it lies under it (what the operator typed, usually), else absolute."""
    absolute = os.path.abspath(os.path.join(cwd, path))
    relative = os.path.relpath(absolute, cwd)
    return absolute if relative == os.pardir or relative.startswith(os.pardir + os.sep) else relative


def tune_command(host, inventory_sources, cwd=None, collection_root=COLLECTION_ROOT):
    """The shell command that tunes HOST from the same inventory: the installed collection's playbook
    by its name, a source checkout's by its path; every word quoted for the shell."""
    cwd = cwd or os.getcwd()
    if is_source_checkout(collection_root):
        # The checkout itself, not the collections/ link the tests and ansible.cfg reach it through.
        playbook = _shown_path(os.path.join(os.path.realpath(collection_root), "playbooks", "tune.yml"), cwd)
    else:
        playbook = "ktune.inference.tune"
    words = ["ansible-playbook", playbook]
    for source in inventory_sources or []:
        # A source that is no path (a "host1,host2," list) is passed on as written.
        words += ["-i", _shown_path(source, cwd) if os.path.exists(source) else source]
    words += ["--limit", host]
    return " ".join(shlex.quote(word) for word in words)


def _other_playbook(command, name):
    """COMMAND (tune_command's) with the collection's playbook NAME (bios) in place of tune."""
    words = shlex.split(command)
    playbook = words[1]
    if playbook.endswith(".yml"):
        words[1] = os.path.join(os.path.dirname(playbook), name + ".yml")
    else:
        words[1] = playbook.rsplit(".", 1)[0] + "." + name
    return " ".join(shlex.quote(word) for word in words)


def with_copy_paste_fixes(controls, command):
    """CONTROLS (audit_controls.evaluate's list) with each fix's placeholder tune (or bios) command replaced
    by COMMAND (with bios.yml for bios)."""
    filled = []
    for item in controls:
        fix = (item.get("fix") or "") if isinstance(item, dict) else ""
        if TUNE in fix or BIOS_STAGE in fix:
            item = dict(item, fix=fix.replace(TUNE, command).replace(BIOS_STAGE, _other_playbook(command, "bios")))
        filled.append(item)
    return filled


def host_fixes(controls, host_vars, cwd=None, collection_root=COLLECTION_ROOT):
    """with_copy_paste_fixes for the host whose hostvars are HOST_VARS; unchanged when they do not say
    which host and inventory (a filter called without hostvars)."""
    host = (host_vars or {}).get("inventory_hostname")
    sources = (host_vars or {}).get("ansible_inventory_sources")
    if not host or not sources:
        return controls
    if isinstance(sources, str):
        sources = [sources]
    return with_copy_paste_fixes(controls, tune_command(host, list(sources), cwd, collection_root))
