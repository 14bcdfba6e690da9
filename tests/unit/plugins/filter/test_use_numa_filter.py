"""The use_numa_decision filter."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ktune.inference.plugins.filter.use_numa import use_numa_decision


def test_filter_wraps_errors(numa):
    with pytest.raises(AnsibleFilterError, match="use_numa_decision: ktune_use_numa must be"):
        use_numa_decision(numa("epyc-2s-nps2"), "maybe")
    with pytest.raises(AnsibleFilterError, match="ktune_allow_memory_only_nodes must be true or false"):
        use_numa_decision(numa("epyc-2s-nps2"), "auto", None, "perhaps")
    with pytest.raises(AnsibleFilterError, match="expected the ktune_numa fact"):
        use_numa_decision("not facts")
    assert use_numa_decision(numa("epyc-2s-nps2"))["enabled"] is True
