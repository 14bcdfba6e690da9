"""module_utils.durations: the second counts service_health and router_worker wait with must be above zero."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.module_utils.durations import non_positive_seconds

NAMES = ("timeout_s", "interval_s", "request_timeout_s")


def test_positive_counts_pass():
    assert non_positive_seconds({"timeout_s": 1, "interval_s": 0.1, "request_timeout_s": 10}, NAMES) is None


@pytest.mark.parametrize("value, shown", [(0, "0"), (-3, "-3"), (0.0, "0.0"), (-0.5, "-0.5")])
def test_zero_or_below_is_named_with_the_value_given(value, shown):
    params = {"timeout_s": 5, "interval_s": value, "request_timeout_s": 10}
    assert non_positive_seconds(params, NAMES) == "interval_s must be a positive number of seconds, got %s" % shown


def test_the_first_bad_name_in_the_given_order_is_the_one_named():
    params = {"timeout_s": 5, "interval_s": 0, "request_timeout_s": -1}
    assert non_positive_seconds(params, NAMES).startswith("interval_s ")
    assert non_positive_seconds(params, ("request_timeout_s", "interval_s")).startswith("request_timeout_s ")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_no_number_of_seconds(value):
    assert non_positive_seconds({"interval_s": value}, ["interval_s"]) == \
        "interval_s must be a positive number of seconds, got %s" % value
