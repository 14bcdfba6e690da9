# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Memory (DIMM) temperature sensors in the text ipmitool prints.

Reads the three table shapes ipmitool produces:

- ``ipmitool sensor`` / ``sensor list``: 10 columns, name | reading | unit | status |
  lnr | lcr | lnc | unc | ucr | unr;
- ``ipmitool sdr`` / ``sdr list``: 3 columns, name | reading and unit | status;
- ``ipmitool sdr elist`` / ``sdr type Temperature``: 5 columns, name | sensor id |
  status | entity id | reading and unit.

This file imports nothing from Ansible on purpose: the monitoring role installs it
next to the host-side collector, so the module, the filter and the collector share
one parser.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# A sensor belongs to memory when its name says so. Letters may not come right
# before the keyword, so VDIMMAB (a voltage) and VmemABVRM (a regulator) do not count.
MEMORY_NAME = re.compile(r"(?<![a-z])dimm|(?<![a-z])(mem|memory|ddr[0-9]*|dram)(?![a-z])", re.IGNORECASE)
# Voltage regulators that feed the memory carry "Mem" in their names (HP "14-VR P1 Mem",
# Supermicro "VmemABVRM Temp") but measure the regulator, not the DIMMs.
REGULATOR_NAME = re.compile(r"vrm|(?<![a-z])vr(?![a-z])", re.IGNORECASE)
# Intel boards report "DIMM Thrm Mrgn N": degrees below the throttling point, not a temperature.
MARGIN_NAME = re.compile(r"margin|mrgn", re.IGNORECASE)
TEMPERATURE_NAME = re.compile(r"temp|thrm|thermal|tmp", re.IGNORECASE)
# IPMI entity ids 8 (memory module) and 32 (memory device), as "8.1" in sdr elist.
MEMORY_ENTITIES = frozenset(["8", "32"])
# ASCII digits only: \d and float() also take the digits of other scripts.
NUMBER = re.compile(r"^([-+]?[0-9]{1,20}(?:[.,][0-9]{1,20})?)\s*(.*)$")
SENSOR_ID = re.compile(r"^[0-9a-f]+h$", re.IGNORECASE)
ENTITY = re.compile(r"^([0-9]+)\.[0-9]+$")
# Readings that mean "nothing measured" rather than a state.
NO_READING = frozenset(["", "na", "n/a", "ns", "no reading", "disabled", "not readable", "unavailable"])
NON_TEMPERATURE_UNITS = ("volt", "rpm", "watt", "amp", "percent", "unspecified", "cfm", "hz", "joule")
# Pasted outputs quote lines ("> ", "#"); no sensor name starts with these.
QUOTE_MARKERS = ">#"


def parse_number(text):
    """Return a float from ipmitool's text (``49.000``, ``49,000``, ``-5``), else None."""
    if text is None:
        return None
    match = NUMBER.match(text.strip())
    if not match or match.group(2):
        return None
    return float(match.group(1).replace(",", "."))


def _split_reading(text):
    """Split ``31 degrees C`` into (31.0, 'degrees C'); ('no reading') into (None, 'no reading')."""
    match = NUMBER.match(text.strip())
    if not match:
        return None, text.strip()
    return float(match.group(1).replace(",", ".")), match.group(2).strip()


def _row(name, value, unit, status, entity, upper_critical, text_reading):
    return {"name": name, "value": value, "unit": unit.lower(), "status": status.lower() or None,
            "entity": entity, "upper_critical": upper_critical, "text_reading": text_reading.lower()}


def _sensor_row(cells):
    """ipmitool sensor: name | reading | unit | status | lnr | lcr | lnc | unc | ucr | unr."""
    reading = cells[1]
    value = None if reading.lower().startswith("0x") else parse_number(reading)
    text_reading = reading if value is None else ""
    return _row(cells[0], value, cells[2], cells[3], None, parse_number(cells[8]), text_reading)


def _sdr_row(cells):
    """ipmitool sdr: name | reading unit | status."""
    value, rest = _split_reading(cells[1])
    if value is None:
        return _row(cells[0], None, "", cells[2], None, None, rest)
    return _row(cells[0], value, rest, cells[2], None, None, "")


def _elist_row(cells):
    """ipmitool sdr elist / sdr type: name | id | status | entity | reading unit."""
    value, rest = _split_reading(cells[4])
    entity = ENTITY.match(cells[3])
    entity_id = entity.group(1) if entity else None
    if value is None:
        return _row(cells[0], None, "", cells[2], entity_id, None, rest)
    return _row(cells[0], value, rest, cells[2], entity_id, None, "")


def parse_sensor_rows(text):
    """Every sensor row in ipmitool output, whatever the shape; other lines are skipped.

    Each row: name, value (float or None), unit, status, entity (IPMI entity id as a
    string, elist only), upper_critical, text_reading (what stood instead of a number).
    """
    rows = []
    for line in (text or "").splitlines():
        line = line.strip().lstrip(QUOTE_MARKERS).strip()
        if "|" not in line:
            continue
        cells = [cell.strip() for cell in line.split("|")]
        if not cells[0]:
            continue
        if len(cells) >= 10:
            rows.append(_sensor_row(cells))
        elif len(cells) == 5 and SENSOR_ID.match(cells[1]):
            rows.append(_elist_row(cells))
        elif len(cells) == 3:
            rows.append(_sdr_row(cells))
    return rows


def is_memory_name(name):
    """Whether a sensor name denotes DIMM/memory temperature (not a regulator or margin)."""
    return bool(MEMORY_NAME.search(name)) and not REGULATOR_NAME.search(name) and not MARGIN_NAME.search(name)


def _is_memory(row):
    if row["entity"] in MEMORY_ENTITIES and not REGULATOR_NAME.search(row["name"]) \
            and not MARGIN_NAME.search(row["name"]):
        return True
    return is_memory_name(row["name"])


def _is_discrete(row):
    return row["unit"] == "discrete" or row["text_reading"].startswith("0x") or (
        row["value"] is None and row["text_reading"] not in NO_READING)


def _is_temperature(row):
    """Whether the row measures a temperature (or would, when it has a reading)."""
    unit = row["unit"]
    if unit.startswith("degrees"):
        return True
    if any(unit.startswith(other) for other in NON_TEMPERATURE_UNITS):
        return False
    if TEMPERATURE_NAME.search(row["name"]):
        return True
    # No unit printed: an empty socket (na, no reading, Disabled) of a memory sensor.
    return not unit and not _is_discrete(row)


def _celsius(row):
    if row["value"] is None or _is_discrete(row):
        return None
    if row["unit"] == "degrees f":
        return round((row["value"] - 32) * 5 / 9, 3)
    return row["value"]


def _threshold(value):
    # BMCs print 0.000 for a threshold they do not enforce (HP iLO's unr column).
    return value if value else None


def dimm_temperatures(text):
    """Memory temperature sensors as [{name, celsius, status, upper_critical}], in output order.

    ``celsius`` is None without a reading (na, ns, no reading, Disabled, discrete);
    ``upper_critical`` is None where the output has no thresholds (sdr, elist).
    """
    sensors = []
    for row in parse_sensor_rows(text):
        if _is_memory(row) and _is_temperature(row):
            sensors.append({"name": row["name"], "celsius": _celsius(row), "status": row["status"],
                            "upper_critical": _threshold(row["upper_critical"])})
    return sensors


def hottest(sensors):
    """The sensor with the highest reading, or None when none has one."""
    read = [sensor for sensor in sensors if sensor["celsius"] is not None]
    return max(read, key=lambda sensor: sensor["celsius"]) if read else None
