"""Hostile files on a managed host (issue 21, item 7): each reader fails naming the file, in bounded memory.

Unbounded cpulist ranges, digits of other scripts (which int() and str.isdigit() accept), binary
/proc/cpuinfo, garbage affected_cpus and oversized pseudo-files.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

import pytest

import topologies
from bounded_memory import MIB, memory_ceiling, traced
from ansible_collections.ktune.inference.tests.unit.cpufreq_tree import build_tree, policy_path
from ansible_collections.ktune.inference.plugins.module_utils import cpufreq, host_state, host_telemetry, sysctl
from ansible_collections.ktune.inference.plugins.module_utils.managed_state import file_state
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError

ARABIC_INDIC_0_3 = u"\u0660-\u0663"
FULL_WIDTH_1 = u"\uff11"
BINARY = b"\x7fELF\x02\x01\x01\x00" + bytes(bytearray(range(256))) * 4


@pytest.fixture
def tree(tmp_path):
    return topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "tree")


def numa_facts_of(tree):
    return gather_numa_facts(str(tree / "sys"), str(tree / "proc"))


def sparse(path, size):
    """A file of `size` NUL bytes that takes no disk space."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path), "wb") as handle:
        handle.truncate(size)
    return path


def assert_names(error, path):
    assert str(error).startswith("%s: " % path), str(error)


# --- NUMA facts (topology, procfs) --------------------------------------------------------

@pytest.mark.parametrize("relative", ["sys/devices/system/node/node0/cpulist", "sys/devices/system/cpu/online",
                                      "sys/devices/system/node/online",
                                      "sys/devices/system/cpu/cpu0/topology/core_cpus_list"])
@pytest.mark.parametrize("text", [u"0-999999999999", ARABIC_INDIC_0_3])
def test_a_hostile_cpulist_file_fails_naming_it(tree, relative, text):
    path = tree / relative
    path.write_text(text + u"\n", encoding="utf-8")
    with memory_ceiling(256):
        with pytest.raises(HostFileError) as err:
            numa_facts_of(tree)
    assert err.value.path == str(path)
    assert_names(err.value, path)


@pytest.mark.parametrize("relative, text", [
    ("sys/devices/system/cpu/cpu0/topology/physical_package_id", FULL_WIDTH_1),
    ("sys/devices/system/cpu/cpu0/topology/physical_package_id", u"1_0"),
    ("sys/devices/system/node/node0/distance", u"\u0661\u0660 12 32 32"),
    ("sys/devices/system/node/node0/meminfo", u"Node 0 MemTotal: \u0661\u0660\u0660 kB\n"),
    ("sys/devices/system/node/node0/meminfo", u"Node \u0660 MemTotal: 100 kB\n"),
])
def test_digits_of_other_scripts_in_a_number_fail_naming_the_file(tree, relative, text):
    path = tree / relative
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HostFileError) as err:
        numa_facts_of(tree)
    assert_names(err.value, path)
    assert "expected" in str(err.value)


def test_binary_proc_cpuinfo_fails_naming_it(tree):
    path = tree / "proc/cpuinfo"
    path.write_bytes(BINARY)
    with pytest.raises(HostFileError) as err:
        numa_facts_of(tree)
    assert_names(err.value, path)
    assert "expected UTF-8 text" in str(err.value)


def test_a_first_cpuinfo_block_without_end_is_read_in_bounded_memory(tree):
    path = sparse(tree / "proc/cpuinfo", 16 * MIB)
    outcome, peak = traced(numa_facts_of, tree)
    assert isinstance(outcome, HostFileError)
    assert_names(outcome, path)
    assert "expected the first block within 1048576 bytes, found more" in str(outcome)
    assert peak < 8 * MIB


def test_an_oversized_sysfs_attribute_fails_in_bounded_memory(tree):
    path = sparse(tree / "sys/devices/system/cpu/online", 64 * MIB)
    outcome, peak = traced(numa_facts_of, tree)
    assert isinstance(outcome, HostFileError)
    assert_names(outcome, path)
    assert "expected at most 65536 bytes, found more" in str(outcome)
    assert peak < 4 * MIB


# --- cpufreq policies ---------------------------------------------------------------------

@pytest.mark.parametrize("text", [u"\u0660 \u0661", u"0 999999999999"])
def test_hostile_affected_cpus_fail_naming_the_file(tmp_path, text):
    build_tree(tmp_path, policies=range(2))
    path = policy_path(tmp_path, 1, "affected_cpus")
    with open(path, "w") as handle:
        handle.write(text)
    with pytest.raises(HostFileError) as err:
        cpufreq.read_policies(str(tmp_path))
    assert_names(err.value, path)


# --- the thermal / monitoring telemetry (host_telemetry) --------------------------------------

@pytest.mark.parametrize("text", [u"0 x", u"\u0660", u"0 999999999999"])
def test_telemetry_refuses_garbage_affected_cpus_naming_the_file(tree, text):
    path = tree / "sys/devices/system/cpu/cpufreq/policy1/affected_cpus"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(host_telemetry.TelemetryError) as err:
        host_telemetry.cpufreq_policies(str(tree / "sys"))
    assert_names(err.value, path)


def test_telemetry_refuses_other_digits_in_numastat(tree):
    path = tree / "sys/devices/system/node/node1/numastat"
    path.write_text(u"numa_hit \u0661\u0660\n", encoding="utf-8")
    with pytest.raises(host_telemetry.TelemetryError) as err:
        host_telemetry.numastat(str(tree / "sys"))
    assert_names(err.value, path)


def test_telemetry_refuses_an_unbounded_node_cpulist_in_bounded_memory(tree):
    path = tree / "sys/devices/system/node/node1/cpulist"
    path.write_text(u"0-999999999999\n")
    with memory_ceiling(256):
        with pytest.raises(host_telemetry.TelemetryError) as err:
            host_telemetry.node_cpus(str(tree / "sys"))
    assert_names(err.value, path)
    assert "65535" in str(err.value)


def test_telemetry_refuses_a_garbage_online_list_naming_it(tmp_path):
    path = tmp_path / "devices/system/cpu/online"
    path.parent.mkdir(parents=True)
    path.write_text(u"0-x\n")
    with pytest.raises(host_telemetry.TelemetryError) as err:
        host_telemetry.node_cpus(str(tmp_path))
    assert_names(err.value, path)


def test_telemetry_refuses_an_oversized_counter_in_bounded_memory(tree):
    path = sparse(tree / "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", 64 * MIB)
    outcome, peak = traced(host_telemetry.throttle_counters, str(tree / "sys"), {0: [0]})
    assert isinstance(outcome, host_telemetry.TelemetryError)
    assert_names(outcome, path)
    assert "expected at most 65536 bytes" in str(outcome)
    assert peak < 4 * MIB


def test_numa_maps_page_sizes_are_ascii_numbers():
    with pytest.raises(ValueError):
        host_telemetry.numa_maps_resident_kb(u"7f00 default anon=1 N0=1 kernelpagesize_kB=\u0664\n")


# --- the audit's host state and managed files -------------------------------------------------

def test_numa_maps_beyond_its_limit_is_read_no_further(tmp_path):
    sparse(tmp_path / "4242/numa_maps", 256 * MIB)
    outcome, peak = traced(host_state.read_numa_resident, str(tmp_path), 4242)
    assert outcome is None
    assert peak < 64 * MIB + 8 * MIB  # the 64 MiB limit of numa_maps (sysfs.NUMA_MAPS_LIMIT), read once


def read_env_file(path):
    return host_state.read_use_numa([path])


@pytest.mark.parametrize("reader", [read_env_file, sysctl.read_file])
def test_an_oversized_config_file_fails_naming_it_in_bounded_memory(tmp_path, reader):
    path = sparse(tmp_path / "environment", 2 * MIB)
    outcome, peak = traced(reader, str(path))
    assert isinstance(outcome, HostFileError)
    assert_names(outcome, path)
    assert "expected at most 1048576 bytes, found more" in str(outcome)
    assert peak < 4 * MIB


def test_a_managed_file_is_checksummed_in_bounded_memory(tmp_path):
    path = sparse(tmp_path / "big.conf", 32 * MIB)
    state, peak = traced(file_state, str(path))
    assert state["checksum"] == hashlib.sha1(b"\0" * (32 * MIB)).hexdigest()
    assert peak < 4 * MIB


# --- command output from the host (diagnostics, listeners, systemd) --------------------------

def test_diagnosis_reads_ascii_numbers_only():
    from ansible_collections.ktune.inference.plugins.module_utils import diagnosis
    assert diagnosis.parse_meminfo_text(u"MemTotal: \u0661\u0660\u0660 kB\nMemFree: 50 kB\n") == {"MemFree": 50}
    assert diagnosis.parse_numastat_m(u"Node \u0660 Node 1 Total\nMemTotal 1.0 2.0 3.0\n") == {}
    assert diagnosis.parse_frequency_samples(u"1700000000 \u0661 2 3\n1700000001 1 2 3\n") == [
        (1700000001.0, 1000.0, 2000.0, 3000.0)]


def test_listeners_and_restart_counts_read_ascii_numbers_only():
    from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import parse_listeners
    from ansible_collections.ktune.inference.plugins.module_utils.service_health import restarts
    assert parse_listeners(u"\u0668\u0660 12 a.service\n8080 \u0661 b.service\n") == [
        {"port": 8080, "pid": None, "unit": "b.service"}]
    assert restarts({"NRestarts": u"\u0663"}) == 0 and restarts({"NRestarts": "3"}) == 3
