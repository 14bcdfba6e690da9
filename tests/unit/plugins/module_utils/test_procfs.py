from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.module_utils.procfs import (
    parse_meminfo,
    read_cpu_identity,
    read_numa_balancing,
)
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError

NODE_MEMINFO = """Node 1 MemTotal:       65849344 kB
Node 1 MemFree:        61234567 kB
Node 1 HugePages_Total:     0
"""


def test_parse_node_meminfo_drops_node_prefix():
    assert parse_meminfo(NODE_MEMINFO) == {"MemTotal": 65849344, "MemFree": 61234567, "HugePages_Total": 0}


def test_parse_proc_meminfo():
    assert parse_meminfo("MemTotal:  1024 kB\nMemAvailable:  512 kB\n")["MemAvailable"] == 512


@pytest.mark.parametrize("text", ["MemTotal 1024 kB", "MemTotal: lots kB", "Node 1 Mem Total: 5 kB"])
def test_malformed_meminfo_names_the_file(text):
    with pytest.raises(HostFileError) as err:
        parse_meminfo(text, "/sys/devices/system/node/node1/meminfo")
    assert str(err.value).startswith("/sys/devices/system/node/node1/meminfo: ")


def test_cpu_identity_reads_first_block_only(tmp_path):
    (tmp_path / "cpuinfo").write_text(
        "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9654 96-Core Processor\n\n"
        "processor\t: 1\nvendor_id\t: GenuineIntel\n")
    assert read_cpu_identity(str(tmp_path)) == ("AuthenticAMD", "AMD EPYC 9654 96-Core Processor")


def test_cpu_identity_without_cpuinfo(tmp_path):
    assert read_cpu_identity(str(tmp_path)) == (None, None)


def test_numa_balancing_absent_is_none(tmp_path):
    assert read_numa_balancing(str(tmp_path)) is None


def test_numa_balancing_value(tmp_path):
    (tmp_path / "sys/kernel").mkdir(parents=True)
    (tmp_path / "sys/kernel/numa_balancing").write_text("2\n")
    assert read_numa_balancing(str(tmp_path)) == 2


def test_numa_balancing_garbage_names_the_file(tmp_path):
    (tmp_path / "sys/kernel").mkdir(parents=True)
    (tmp_path / "sys/kernel/numa_balancing").write_text("on\n")
    with pytest.raises(HostFileError) as err:
        read_numa_balancing(str(tmp_path))
    assert "sys/kernel/numa_balancing" in str(err.value) and "'on'" in str(err.value)
