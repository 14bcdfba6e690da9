# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter use_numa_decision: should ktransformers be built with USE_NUMA on this host."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.use_numa import UseNumaInputError, decide


def use_numa_decision(numa, use_numa="auto", model_size_gb=None, allow_memory_only_nodes=False):
    if not isinstance(numa, dict) or "available" not in numa:
        raise AnsibleFilterError("use_numa_decision: expected the ktune_numa fact from ktune.inference.numa_facts, "
                                 "got %r" % type(numa).__name__)
    try:
        return decide(numa, use_numa, model_size_gb, allow_memory_only_nodes)
    except UseNumaInputError as exc:
        raise AnsibleFilterError("use_numa_decision: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"use_numa_decision": use_numa_decision}
