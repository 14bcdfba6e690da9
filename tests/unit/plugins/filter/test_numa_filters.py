"""The nps_layout_problems and numa_summary filters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError
from ansible_collections.ktune.inference.plugins.filter.numa import FilterModule


def test_filters_refuse_something_that_is_not_the_fact():
    filters = FilterModule().filters()
    for name in ("nps_layout_problems", "numa_summary"):
        with pytest.raises(AnsibleFilterError) as err:
            filters[name]("NPS2")
        assert "ktune_numa" in str(err.value)
