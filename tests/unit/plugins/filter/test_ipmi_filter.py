import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.filter.ipmi import FilterModule

SDR = "P1-DIMMA1 Temp   | 31 degrees C      | ok\nFAN1             | 1900 RPM          | ok\n"


def ipmi_dimm_temperatures(value):
    return FilterModule().filters()["ipmi_dimm_temperatures"](value)


def test_filter_reads_stdout_and_stdout_lines_alike():
    expected = [{"name": "P1-DIMMA1 Temp", "celsius": 31.0, "status": "ok", "upper_critical": None}]
    assert ipmi_dimm_temperatures(SDR) == expected
    assert ipmi_dimm_temperatures(SDR.splitlines()) == expected


def test_filter_rejects_a_registered_result_with_a_clear_message():
    with pytest.raises(AnsibleFilterError, match="expected the text of ipmitool"):
        ipmi_dimm_temperatures({"stdout": SDR})
