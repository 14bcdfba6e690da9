"""The ipmitool parser on real outputs (tests/fixtures/ipmitool) and on our own samples."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from ansible_collections.ktune.inference.plugins.module_utils import ipmi

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "ipmitool"


def fixture(name):
    return (FIXTURES / name).read_text()


def names(sensors):
    return [sensor["name"] for sensor in sensors]


def test_every_shared_fixture_is_covered_by_a_test_below():
    covered = {"dell-idrac-no-dimm-1.txt", "dell-idrac-no-dimm-2.txt", "dell-idrac-no-dimm-3.txt",
               "hp-gen8-mixed-sensor-1.txt", "supermicro-comma-decimal-sensor-1.txt",
               "supermicro-dual-sensor-list-1.txt", "supermicro-dual-sensor-list-2.txt",
               "supermicro-dual-sensor-list-3.txt", "supermicro-x10dru-sdr-1.txt"}
    assert {path.name for path in FIXTURES.glob("*.txt")} == covered


def test_supermicro_sensor_list_reads_populated_slots_and_nulls_empty_ones():
    sensors = ipmi.dimm_temperatures(fixture("supermicro-dual-sensor-list-1.txt"))
    assert len(sensors) == 16
    assert sensors[0] == {"name": "P1-DIMMA1 Temp", "celsius": 27.0, "status": "ok", "upper_critical": 85.0}
    assert sensors[1] == {"name": "P1-DIMMA2 Temp", "celsius": None, "status": "na", "upper_critical": None}
    populated = [s["name"] for s in sensors if s["celsius"] is not None]
    assert populated == ["P1-DIMMA1 Temp", "P1-DIMMB1 Temp", "P2-DIMME1 Temp", "P2-DIMMF1 Temp"]
    # Memory regulators (VmemABVRM Temp) and DIMM voltages (VDIMMAB) are not DIMM temperatures.
    assert not [n for n in names(sensors) if "VRM" in n or n.startswith("VDIMM")]
    assert ipmi.hottest(sensors)["celsius"] == 30.0


@pytest.mark.parametrize("name", ["supermicro-dual-sensor-list-2.txt", "supermicro-dual-sensor-list-3.txt"])
def test_cpu_only_outputs_have_no_dimms(name):
    assert ipmi.dimm_temperatures(fixture(name)) == []
    # ... although the sensor rows themselves are read, threshold changes included.
    rows = ipmi.parse_sensor_rows(fixture(name))
    cpu2 = [row for row in rows if row["name"] == "CPU2 Temp"][0]
    assert cpu2["upper_critical"] == (40.0 if name.endswith("2.txt") else 30.0)
    assert cpu2["status"] == ("nc" if name.endswith("2.txt") else "cr")


def test_comma_decimal_locale_is_read():
    sensors = ipmi.dimm_temperatures(fixture("supermicro-comma-decimal-sensor-1.txt"))
    assert sensors == [
        {"name": "P1-DIMMA1 Temp", "celsius": 32.0, "status": "ok", "upper_critical": 85.0},
        {"name": "P1-DIMMA2 Temp", "celsius": None, "status": "na", "upper_critical": None},
        {"name": "P1-DIMMB1 Temp", "celsius": 31.0, "status": "ok", "upper_critical": 85.0},
        {"name": "P1-DIMMB2 Temp", "celsius": None, "status": "na", "upper_critical": None},
    ]


def test_hp_zone_sensors_count_but_memory_regulators_do_not():
    sensors = ipmi.dimm_temperatures(fixture("hp-gen8-mixed-sensor-1.txt"))
    assert names(sensors) == ["04-P1 DIMM 1-4", "05-P1 DIMM 5-8", "06-P2 DIMM 1-4", "07-P2 DIMM 5-8"]
    assert [s["celsius"] for s in sensors] == [27.0, 25.0, 26.0, 27.0]
    assert {s["upper_critical"] for s in sensors} == {87.0}


def test_sdr_list_reads_degrees_and_no_reading():
    sensors = ipmi.dimm_temperatures(fixture("supermicro-x10dru-sdr-1.txt"))
    assert len(sensors) == 24
    assert sensors[0] == {"name": "P1-DIMMA1 Temp", "celsius": 31.0, "status": "ok", "upper_critical": None}
    empty = [s for s in sensors if s["celsius"] is None]
    assert [s["name"].split()[0][-1] for s in empty] == ["3"] * 8
    assert {s["status"] for s in empty} == {"ns"}


def test_dell_elist_memory_entity_is_found_although_named_temp():
    sensors = ipmi.dimm_temperatures(fixture("dell-idrac-no-dimm-2.txt"))
    # Three "Temp" rows with entity 8.1 (memory module), all Disabled; CPU (3.x) and
    # system board (7.x) temperatures are not memory.
    assert sensors == [{"name": "Temp", "celsius": None, "status": "ns", "upper_critical": None}] * 3


@pytest.mark.parametrize("name", ["dell-idrac-no-dimm-1.txt", "dell-idrac-no-dimm-3.txt"])
def test_dell_without_memory_sensors_gives_nothing(name):
    assert ipmi.dimm_temperatures(fixture(name)) == []
    # The quoted ("> ", "#") rows are still read as sensors.
    assert "Inlet Temp" in names(ipmi.parse_sensor_rows(fixture(name)))


OWN_ELIST = """\
Temp 5           | 35h | ok  |  8.2 | 41 degrees C
Temp 6           | 36h | ok  | 32.1 | 43,5 degrees C
Temp 7           | 37h | ok  |  3.1 | 60 degrees C
DIMM Thrm Mrgn 1 | 40h | ok  | 32.0 | -61 degrees C
MEM ECC          | 41h | ok  |  8.1 | State Deasserted
Mem Hot Temp     | 42h | ok  |  8.1 | State Asserted
Temp 9           | 43h | ns  | 32.3 | No Reading
"""


def test_elist_entity_ids_8_and_32():
    sensors = ipmi.dimm_temperatures(OWN_ELIST)
    assert sensors == [
        {"name": "Temp 5", "celsius": 41.0, "status": "ok", "upper_critical": None},
        {"name": "Temp 6", "celsius": 43.5, "status": "ok", "upper_critical": None},
        # discrete, but named a temperature: listed without a reading
        {"name": "Mem Hot Temp", "celsius": None, "status": "ok", "upper_critical": None},
        {"name": "Temp 9", "celsius": None, "status": "ns", "upper_critical": None},
    ]


VENDOR_SENSOR = """\
CPU1_DIMM1 Temp  | 45.000     | degrees C  | ok    | na        | na        | na        | 80.000    | 85.000    | 90.000
DIMM_A1          | 51.000     | degrees C  | ok    | na        | na        | na        | na        | 95.000    | na
dimm0_dram_temp  | 38.250     | degrees C  | ok    | na        | na        | na        | na        | na        | na
MEM A Temp       | 40.000     | degrees C  | nc    | na        | na        | na        | 38.000    | 95.000    | 100.000
DDR5_B2 Temp     | 82.000     | degrees C  | cr    | na        | na        | na        | 75.000    | 80.000    | 85.000
Memory Temp      | 104.000    | degrees F  | ok    | na        | na        | na        | na        | na        | na
VDIMMAB          | 1.200      | Volts      | ok    | 0.948     | 0.975     | 1.047     | 1.344     | 1.425     | 1.443
VmemABVRM Temp   | 29.000     | degrees C  | ok    | -5.000    | 0.000     | 5.000     | 95.000    | 100.000   | 105.000
MEMORY_FAN       | 3000.000   | RPM        | ok    | na        | na        | na        | na        | na        | na
Memory           | 0x0        | discrete   | 0x4080| na        | na        | na        | na        | na        | na
DIMM_B1 Temp     | 0x0        | discrete   | 0x0080| na        | na        | na        | na        | na        | na
"""


def test_vendor_names_units_and_discrete_rows():
    sensors = {s["name"]: s for s in ipmi.dimm_temperatures(VENDOR_SENSOR)}
    assert list(sensors) == ["CPU1_DIMM1 Temp", "DIMM_A1", "dimm0_dram_temp", "MEM A Temp", "DDR5_B2 Temp",
                             "Memory Temp", "DIMM_B1 Temp"]
    assert sensors["DIMM_A1"]["upper_critical"] == 95.0
    assert sensors["dimm0_dram_temp"]["celsius"] == 38.25
    assert sensors["DDR5_B2 Temp"]["status"] == "cr"
    assert sensors["Memory Temp"]["celsius"] == 40.0
    assert sensors["DIMM_B1 Temp"]["celsius"] is None


SDR_ODDITIES = """\
$ ipmitool sdr list
DIMM_A1          | 39 degrees C      | ok
DIMM_A2          | no reading        | ns
DIMM_A3          | disabled          | ns
DIMM_A4          | 0x00              | ok
DIMM_A5          | 44,75 degrees C   | ok
DIMM_A6 |
| 50 degrees C | ok
DIMM_A7          | abc degrees C     | ok
DIMM_A9          | 47 degrees C      | ok | extra | columns
garbage line without separators
DIMM_A8          | 47 degrees C      | ok | extra | columns
[... excerpt ends here ...]
"""


def test_sdr_oddities_and_garbage_lines():
    sensors = ipmi.dimm_temperatures(SDR_ODDITIES)
    assert [(s["name"], s["celsius"]) for s in sensors] == [
        ("DIMM_A1", 39.0), ("DIMM_A2", None), ("DIMM_A3", None), ("DIMM_A5", 44.75)]


@pytest.mark.parametrize("text,value", [("49.000", 49.0), ("49,000", 49.0), ("-9,000", -9.0), ("na", None),
                                        ("", None), ("0x0", None), ("12 Volts", None), (None, None),
                                        # digits of other scripts, which \d and float() take (issue 21, item 7)
                                        (u"\u0664\u0669", None), (u"4\uff19.0", None), ("1" * 400, None)])
def test_parse_number(text, value):
    assert ipmi.parse_number(text) == value


def test_no_sensors_in_empty_or_error_output():
    assert ipmi.dimm_temperatures("") == []
    assert ipmi.dimm_temperatures("Could not open device at /dev/ipmi0 or /dev/ipmi/0: No such file or directory") == []
    assert ipmi.hottest([]) is None


cell = st.text(alphabet=st.characters(blacklist_characters="\n\r|", blacklist_categories=("Cs",)), max_size=12)


@given(st.lists(st.lists(cell, min_size=1, max_size=11).map(" | ".join), max_size=20))
def test_any_table_parses_without_crashing(lines):
    for sensor in ipmi.dimm_temperatures("\n".join(lines)):
        assert set(sensor) == {"name", "celsius", "status", "upper_critical"}
        assert sensor["celsius"] is None or isinstance(sensor["celsius"], float)


@given(st.integers(min_value=-40, max_value=150), st.integers(min_value=0, max_value=999), st.booleans())
def test_readings_round_trip_in_both_locales(whole, millis, comma):
    text = "%d%s%03d" % (whole, "," if comma else ".", millis)
    row = "P1-DIMMA1 Temp | %s | degrees C | ok | na | na | na | na | %s | na" % (text, text)
    sensor = ipmi.dimm_temperatures(row)[0]
    assert sensor["celsius"] == float("%d.%03d" % (whole, millis))
