"""The diagnosis_findings and diagnosis_summary filters."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.filter.diagnosis import FilterModule


def test_filters_require_a_host():
    filters = FilterModule().filters()
    assert filters["diagnosis_findings"]({"host": "h"}) == []
    with pytest.raises(Exception, match="at least 'host'"):
        filters["diagnosis_summary"]({})


def test_settings_problems_filter():
    check = FilterModule().filters()["diagnosis_settings_problems"]
    assert check({"ktune_diagnose_samples": "2"}) == []
    assert check({"ktune_diagnose_samples": "0"})[0].startswith("ktune_diagnose_samples = '0': ")
    with pytest.raises(Exception, match="expected a dictionary of settings"):
        check(["ktune_diagnose_samples"])
