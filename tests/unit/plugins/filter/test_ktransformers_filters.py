"""The ktransformers_* filters: the module_utils judgement, wrapped for templates."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ktune.inference.plugins.filter.ktransformers import FilterModule
from ansible_collections.ktune.inference.tests.unit.plugins.module_utils.test_ktransformers import good_stats, legacy

FILTERS = FilterModule().filters()


def test_filters(numa):
    facts = numa("epyc-2s-nps2")
    assert FILTERS["ktransformers_command"](legacy(state="absent"), facts)[0] == "/usr/local/bin/ktransformers"
    assert FILTERS["ktransformers_instances"]([legacy()], facts)[0]["cpu_infer"] == 30
    assert FILTERS["ktransformers_problems"]([legacy()], facts) == []
    assert FILTERS["ktransformers_problems"]([legacy()], facts, None, good_stats(),
                                             "10002 9 sshd.service")[0].startswith(
        "ktune_service_instances[0] (r1): port = 10002 is already in use by pid 9 (sshd.service)")
    with pytest.raises(AnsibleFilterError, match="ktransformers_instances: ktune_service_instances\\[0\\] \\(r1\\): "
                                                 "cache_lens"):
        FILTERS["ktransformers_instances"]([legacy(cache_lens=1)], facts)
    with pytest.raises(AnsibleFilterError, match="expected the ktune_numa fact"):
        FILTERS["ktransformers_command"](legacy(), {})
    with pytest.raises(AnsibleFilterError, match="expected one instance"):
        FILTERS["ktransformers_command"]([legacy()], facts)


def test_the_redact_filter_is_the_module_utils_function():
    assert FILTERS["ktransformers_redact"]("api_key='sk-9' ok", ["sk-9"]) == "api_key='<redacted>' ok"


def test_memory_not_checked_names_the_units_without_a_size(numa):
    facts = numa("epyc-2s-nps2")
    resolved = FILTERS["ktransformers_instances"]([legacy(replicas="per_socket")], facts)
    assert FILTERS["ktransformers_memory_not_checked"](resolved, {}) == ["ktransformers@r1-socket0.service",
                                                                         "ktransformers@r1-socket1.service"]
    assert FILTERS["ktransformers_memory_not_checked"](resolved, {}, {"model_size_gb": 10}) == []
    with pytest.raises(AnsibleFilterError, match="ktransformers_memory_not_checked: expected the resolved instances"):
        FILTERS["ktransformers_memory_not_checked"](resolved, "10")
