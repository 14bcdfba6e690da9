from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.module_utils.procfs import (
    cpu_family,
    isa_flags,
    parse_meminfo,
    read_cpu_identity,
    read_first_cpuinfo_block,
    read_kernel_release,
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


# First block of /proc/cpuinfo on a Sapphire Rapids host (Xeon Platinum 8480+, Linux 6.5), abridged.
SAPPHIRE_RAPIDS = (
    "processor\t: 0\n"
    "vendor_id\t: GenuineIntel\n"
    "cpu family\t: 6\n"
    "model\t\t: 143\n"
    "model name\t: Intel(R) Xeon(R) Platinum 8480+\n"
    "flags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx "
    "fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good "
    "nopl xtopology nonstop_tsc cpuid aperfmperf tsc_known_freq pni pclmulqdq dtes64 monitor ds_cpl vmx smx "
    "est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes "
    "xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 cat_l2 cdp_l3 invpcid_single "
    "intel_ppin cdp_l2 ssbd mba ibrs ibpb stibp ibrs_enhanced tpr_shadow flexpriority ept vpid ept_ad "
    "fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq rdseed adx smap "
    "avx512ifma clflushopt clwb intel_pt avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves "
    "cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local split_lock_detect avx_vnni avx512_bf16 wbnoinvd dtherm "
    "ida arat pln pts hfi vnmi avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq "
    "avx512_vnni avx512_bitalg tme avx512_vpopcntdq la57 rdpid bus_lock_detect cldemote movdiri movdir64b "
    "enqcmd fsrm md_clear serialize tsxldtrk pconfig arch_lbr ibt amx_bf16 avx512_fp16 amx_tile amx_int8 "
    "flush_l1d arch_capabilities\n"
    "bugs\t\t: spectre_v1 spectre_v2 spec_store_bypass swapgs eibrs_pbrsb\n"
    "\n"
    "processor\t: 1\n"
    "vendor_id\t: GenuineIntel\n"
    "flags\t\t: fpu\n"
)


def test_isa_flags_of_a_sapphire_rapids_host(tmp_path):
    (tmp_path / "cpuinfo").write_text(SAPPHIRE_RAPIDS)
    cpuinfo = read_first_cpuinfo_block(str(tmp_path))
    assert isa_flags(cpuinfo) == ["amx_bf16", "amx_int8", "amx_tile", "avx2", "avx512_bf16", "avx512_fp16",
                                  "avx512_vnni", "avx512bw", "avx512f", "avx512vl", "avx_vnni", "fma"]
    assert cpu_family(cpuinfo) == 6


def test_cpuinfo_without_flags_line(tmp_path):
    # ppc64le: no vendor_id, no cpu family, no flags
    (tmp_path / "cpuinfo").write_text("processor\t: 0\ncpu\t\t: POWER9 (architected), altivec supported\n"
                                      "clock\t\t: 2750.000000MHz\nrevision\t: 2.2 (pvr 004e 1202)\n\n")
    cpuinfo = read_first_cpuinfo_block(str(tmp_path))
    assert (isa_flags(cpuinfo), cpu_family(cpuinfo)) == ([], None)
    assert read_cpu_identity(str(tmp_path)) == (None, None)


def test_kernel_release(tmp_path):
    (tmp_path / "sys/kernel").mkdir(parents=True)
    (tmp_path / "sys/kernel/osrelease").write_text("6.8.0-45-generic\n")
    assert read_kernel_release(str(tmp_path)) == "6.8.0-45-generic"
    assert read_kernel_release(str(tmp_path / "absent")) is None
