# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning roles' judgement of a host in Python, one function per part and role, on the controller.

A role listed in ROLE_PARTS is judged here by the ktune.inference.judge action (tune.yml, rollout.yml,
the role's tasks/validate.yml), not by templating its variables; its vars/main.yml holds constants
only. Each part takes (settings, state, numa): settings {variable: value} of the role's argument
specification as Ansible resolved them (unset: the specification's default), state the host read
(ktune.inference.managed_state's result), numa the ktune_numa fact. The parts are those of
judgement.ROLE_VARIABLES: state_request (settings only), host_problems, drift_items, notes, exports.
A role not listed here still takes part through its variables (judgement.py).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.filter.numa import nps_layout_problems


def nps_layout_host_problems(settings, state, numa):
    """A layout other than the inventory's (host state: tune.yml fails this host only)."""
    return nps_layout_problems(numa, settings.get("ktune_expected_nodes_per_socket"),
                               settings.get("ktune_expected_sockets"), settings.get("ktune_allow_memory_only_nodes"),
                               settings.get("ktune_require_balanced_memory"))


def nps_layout_notes(settings, state, numa):
    """The verdict shown on every run."""
    asserted = "as expected" if settings.get("ktune_expected_nodes_per_socket") is not None \
        else "(no layout expected, not asserted)"
    return ["%s on %s sockets %s" % (numa.get("layout"), numa.get("sockets"), asserted)]


ROLE_PARTS = {
    "nps_layout": {"host_problems": nps_layout_host_problems, "notes": nps_layout_notes},
}


def python_part(role, part):
    """The Python function for a role's part, or None where the role has none here."""
    return ROLE_PARTS.get(role, {}).get(part)
