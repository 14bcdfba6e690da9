# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sysfs/procfs fixture trees for tests, molecule and benchmarks.

A Topology describes a host; write_tree() lays it out on disk in the shape the
kernel uses, so the modules read it exactly as they read /sys and /proc.
Real hosts come from the `numactl --hardware` outputs in tests/fixtures/numactl.

Command line:  python tests/topologies.py NAME OUTDIR   (writes OUTDIR/sys, OUTDIR/proc)
               python tests/topologies.py --many OUTROOT NAME...   (OUTROOT/NAME/{sys,proc})
               python tests/topologies.py --many OUTROOT DIR=NAME...   (OUTROOT/DIR: one tree per host)
               python tests/topologies.py --list
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
NUMACTL_FIXTURES = HERE / "fixtures" / "numactl"

AMD = "AuthenticAMD"
INTEL = "GenuineIntel"


@dataclass
class Node:
    id: int
    cpus: List[int]
    memory_mb: int
    distances: List[int] = field(default_factory=list)
    hugepages_total: int = 0
    hugepages_free: int = 0


@dataclass
class Gpu:
    address: str
    vendor: str  # "0x10de"
    device: str
    numa_node: int  # -1: the kernel knows no locality
    pci_class: str = "0x030200"  # 3D controller; VGA is 0x030000


# Flags of the first /proc/cpuinfo block, by vendor (abridged from real hosts).
FLAGS = {
    "AuthenticAMD": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht syscall nx mmxext fxsr_opt "
                    "pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid pni pclmulqdq "
                    "monitor ssse3 fma cx16 sse4_1 sse4_2 movbe popcnt aes xsave avx f16c rdrand lahf_lm "
                    "avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb "
                    "avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx512_bf16 clzero "
                    "avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg "
                    "avx512_vpopcntdq rdpid",
    "GenuineIntel": "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi "
                    "mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc pni pclmulqdq "
                    "ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm "
                    "avx2 smep bmi2 erms invpcid avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb "
                    "avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves avx_vnni avx512_bf16 "
                    "avx512vbmi umip pku ospke waitpkg avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni "
                    "avx512_bitalg tme avx512_vpopcntdq la57 rdpid movdiri movdir64b serialize amx_bf16 "
                    "avx512_fp16 amx_tile amx_int8 flush_l1d arch_capabilities",
}
FAMILY = {"AuthenticAMD": 25, "GenuineIntel": 6}


@dataclass
class Topology:
    name: str
    vendor: Optional[str]
    model_name: Optional[str]
    nodes: List[Node]
    socket_of: Dict[int, int]
    core_of: Dict[int, int]
    offline: List[int] = field(default_factory=list)
    smt_file: bool = True
    numa: bool = True
    numa_balancing: Optional[int] = 1
    cpufreq_driver: Optional[str] = None
    die_of: Dict[int, int] = field(default_factory=dict)  # empty: one die per package
    cpu_family: Optional[int] = None  # None: the vendor's current family (FAMILY)
    flags: Optional[str] = None  # None: FLAGS of the vendor
    kernel_release: Optional[str] = "6.1.0-27-amd64"
    transparent_hugepage: Optional[str] = "madvise"
    gpus: List[Gpu] = field(default_factory=list)
    # Kernel generations and firmware quirks (see write_tree)
    sibling_files: str = "modern"  # "modern" (5.x+), "old" (thread/core_siblings only), "none"
    unknown_package_ids: bool = False  # physical_package_id -1 (s390x, some ppc64 and VMs)
    nul_terminated: bool = False  # node/online etc. end in "\n\0" (many older kernels)
    node_cpumap_only: bool = False  # nodeN/cpumap hex mask, no nodeN/cpulist
    # A VM: the hypervisor CPU flag in cpuinfo and a VM's DMI (the kernel's own signs of one).
    hypervisor: bool = False
    # DMI (sys_vendor, product_name) written under sys/class/dmi/id; None writes no DMI.
    dmi: Optional[tuple] = None

    @property
    def online(self):
        return sorted(self.socket_of)

    @property
    def smt_active(self):
        return len(set(self.core_key(cpu) for cpu in self.online)) < len(self.online)

    def core_key(self, cpu):
        return self.socket_of[cpu], self.die_of.get(cpu, 0), self.core_of[cpu]


def cpulist(ids):
    ids = sorted(ids)
    runs = []
    for cpu in ids:
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else "%d-%d" % (a, b) for a, b in runs)


def cpumask(ids):
    """The kernel's hex cpumask: 32-bit words, most significant first, comma-separated."""
    mask = 0
    for cpu in ids:
        mask |= 1 << cpu
    words = []
    while True:
        words.append("%08x" % (mask & 0xFFFFFFFF))
        mask >>= 32
        if not mask:
            break
    return ",".join(reversed(words))


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _default_distances(topology):
    """SLIT-like: 10 local, 12 same socket, 32 across sockets, 20 to CPU-less nodes."""
    def socket(node):
        return topology.socket_of[node.cpus[0]] if node.cpus else None

    rows = {}
    for a in topology.nodes:
        row = []
        for b in topology.nodes:
            if a.id == b.id:
                row.append(10)
            elif socket(a) is None or socket(b) is None:
                row.append(20)
            else:
                row.append(12 if socket(a) == socket(b) else 32)
        rows[a.id] = row
    return rows


def write_tree(topology, out):
    """Write OUT/sys and OUT/proc for the topology; return OUT as a Path."""
    out = Path(out)
    _write_cpus(topology, out / "sys/devices/system/cpu")
    if topology.numa:
        _write_nodes(topology, out / "sys/devices/system/node")
    _write_proc(topology, out / "proc")
    _write_devices(topology, out / "sys")
    if topology.dmi:
        _write(out / "sys/class/dmi/id/sys_vendor", topology.dmi[0] + "\n")
        _write(out / "sys/class/dmi/id/product_name", topology.dmi[1] + "\n")
    return out


def _write_devices(topology, sys_dir):
    if topology.transparent_hugepage:
        modes = ["always", "madvise", "never"]
        _write(sys_dir / "kernel/mm/transparent_hugepage/enabled",
               " ".join("[%s]" % mode if mode == topology.transparent_hugepage else mode for mode in modes) + "\n")
    for gpu in topology.gpus:
        device = sys_dir / "bus/pci/devices" / gpu.address
        _write(device / "class", gpu.pci_class + "\n")
        _write(device / "vendor", gpu.vendor + "\n")
        _write(device / "device", gpu.device + "\n")
        _write(device / "numa_node", "%d\n" % gpu.numa_node)


def _write_cpus(topology, cpu_dir):
    online = topology.online
    present = sorted(set(online) | set(topology.offline))
    _write(cpu_dir / "online", cpulist(online) + "\n")
    _write(cpu_dir / "present", cpulist(present) + "\n")
    _write(cpu_dir / "possible", cpulist(present) + "\n")
    _write(cpu_dir / "offline", cpulist(topology.offline) + "\n")
    if topology.smt_file:
        _write(cpu_dir / "smt/active", "%d\n" % topology.smt_active)
        _write(cpu_dir / "smt/control", "on\n" if topology.smt_active else "off\n")
    siblings, package = {}, {}
    for cpu in online:
        siblings.setdefault(topology.core_key(cpu), []).append(cpu)
        package.setdefault(topology.socket_of[cpu], []).append(cpu)
    for cpu in present:
        base = cpu_dir / ("cpu%d" % cpu)
        base.mkdir(parents=True, exist_ok=True)
        if cpu != 0:
            _write(base / "online", "0\n" if cpu in topology.offline else "1\n")
        if cpu in topology.offline:
            continue
        _write_cpu_topology(topology, base / "topology", cpu, siblings[topology.core_key(cpu)],
                            package[topology.socket_of[cpu]])
    if topology.cpufreq_driver:
        _write_cpufreq(topology, cpu_dir / "cpufreq")


def _write_cpu_topology(topology, directory, cpu, threads, package):
    package_id = -1 if topology.unknown_package_ids else topology.socket_of[cpu]
    _write(directory / "physical_package_id", "%d\n" % package_id)
    _write(directory / "core_id", "%d\n" % topology.core_of[cpu])
    if topology.sibling_files == "none":
        return
    _write(directory / "thread_siblings_list", cpulist(threads) + "\n")
    _write(directory / "thread_siblings", cpumask(threads) + "\n")
    _write(directory / "core_siblings_list", cpulist(package) + "\n")
    _write(directory / "core_siblings", cpumask(package) + "\n")
    if topology.sibling_files == "modern":
        _write(directory / "die_id", "%d\n" % topology.die_of.get(cpu, 0))
        _write(directory / "core_cpus_list", cpulist(threads) + "\n")
        _write(directory / "package_cpus_list", cpulist(package) + "\n")
        _write(directory / "die_cpus_list", cpulist(
            c for c in package if topology.die_of.get(c, 0) == topology.die_of.get(cpu, 0)) + "\n")


def _write_cpufreq(topology, cpufreq_dir):
    active = topology.cpufreq_driver in ("intel_pstate", "amd-pstate-epp")
    governors = "performance powersave" if active else "conservative ondemand userspace powersave performance schedutil"
    for cpu in topology.online:
        policy = cpufreq_dir / ("policy%d" % cpu)
        _write(policy / "scaling_driver", topology.cpufreq_driver + "\n")
        _write(policy / "scaling_available_governors", governors + "\n")
        _write(policy / "scaling_governor", ("powersave" if active else "schedutil") + "\n")
        _write(policy / "affected_cpus", "%d\n" % cpu)
        _write(policy / "related_cpus", "%d\n" % cpu)
        _write(policy / "cpuinfo_min_freq", "400000\n")
        _write(policy / "cpuinfo_max_freq", "3800000\n")
        _write(policy / "scaling_min_freq", "400000\n")
        _write(policy / "scaling_max_freq", "3800000\n")
        _write(policy / "scaling_cur_freq", "2400000\n")
        if active:
            _write(policy / "energy_performance_preference", "balance_performance\n")
            _write(policy / "energy_performance_available_preferences",
                   "default performance balance_performance balance_power power\n")
    if topology.cpufreq_driver in ("acpi-cpufreq", "amd-pstate-epp"):
        _write(cpufreq_dir / "boost", "1\n")


def _write_nodes(topology, node_dir):
    ids = [node.id for node in topology.nodes]
    distances = _default_distances(topology)
    end = "\n\0" if topology.nul_terminated else "\n"
    _write(node_dir / "online", cpulist(ids) + end)
    _write(node_dir / "possible", cpulist(ids) + end)
    _write(node_dir / "has_cpu", cpulist(n.id for n in topology.nodes if n.cpus) + end)
    _write(node_dir / "has_memory", cpulist(n.id for n in topology.nodes if n.memory_mb) + end)
    _write(node_dir / "has_normal_memory", cpulist(n.id for n in topology.nodes if n.memory_mb) + end)
    online = set(topology.online)
    for node in topology.nodes:
        base = node_dir / ("node%d" % node.id)
        node_cpus = [cpu for cpu in node.cpus if cpu in online]
        if not topology.node_cpumap_only:
            _write(base / "cpulist", cpulist(node_cpus) + end)
        _write(base / "cpumap", cpumask(node_cpus) + "\n")
        _write(base / "distance", " ".join(str(d) for d in (node.distances or distances[node.id])) + "\n")
        _write(base / "meminfo", _node_meminfo(node))
        _write(base / "numastat", "numa_hit 1000\nnuma_miss 0\nnuma_foreign 0\n"
               "interleave_hit 10\nlocal_node 990\nother_node 10\n")


def _node_meminfo(node):
    kb = node.memory_mb * 1024
    lines = [("MemTotal", "%d kB" % kb), ("MemFree", "%d kB" % (kb * 9 // 10)),
             ("MemUsed", "%d kB" % (kb - kb * 9 // 10)), ("FilePages", "0 kB"),
             ("HugePages_Total", "%d" % node.hugepages_total), ("HugePages_Free", "%d" % node.hugepages_free),
             ("HugePages_Surp", "0")]
    return "".join("Node %d %-15s %12s\n" % (node.id, key + ":", value) for key, value in lines)


def _write_proc(topology, proc_dir):
    blocks = []
    for cpu in topology.online:
        block = ["processor\t: %d" % cpu]
        family = topology.cpu_family or FAMILY.get(topology.vendor)
        flags = topology.flags if topology.flags is not None else FLAGS.get(topology.vendor)
        if topology.vendor:
            block.append("vendor_id\t: %s" % topology.vendor)
        if family is not None:
            block.append("cpu family\t: %d" % family)
        if topology.model_name:
            block.append("model name\t: %s" % topology.model_name)
        block += ["physical id\t: %d" % topology.socket_of[cpu], "core id\t\t: %d" % topology.core_of[cpu]]
        if topology.hypervisor:
            flags = (flags + " " if flags else "") + "hypervisor"
        if flags:
            block.append("flags\t\t: %s" % flags)
        blocks.append("\n".join(block) + "\n")
    _write(proc_dir / "cpuinfo", "\n".join(blocks) + "\n")
    total_kb = sum(node.memory_mb for node in topology.nodes) * 1024 or 4 * 1024 * 1024
    _write(proc_dir / "meminfo", "MemTotal:       %d kB\nMemFree:        %d kB\nMemAvailable:   %d kB\n"
           % (total_kb, total_kb // 2, total_kb // 2))
    if topology.numa_balancing is not None:
        _write(proc_dir / "sys/kernel/numa_balancing", "%d\n" % topology.numa_balancing)
    if topology.kernel_release:
        _write(proc_dir / "sys/kernel/osrelease", topology.kernel_release + "\n")
    _write(proc_dir / "sys/vm/zone_reclaim_mode", "1\n")
    _write(proc_dir / "sys/vm/drop_caches", "0\n")


# --- building topologies --------------------------------------------------------


def parse_numactl_hardware(text):
    """Parse `numactl --hardware` (plain or --cpu-compress) into nodes."""
    nodes = {}
    for match in re.finditer(r"^node (\d+) cpus:(.*)$", text, re.M):
        nodes[int(match.group(1))] = Node(int(match.group(1)), _numactl_cpus(match.group(2)), 0)
    for match in re.finditer(r"^node (\d+) size: (\d+) MB$", text, re.M):
        nodes[int(match.group(1))].memory_mb = int(match.group(2))
    for match in re.finditer(r"^\s*(\d+):((?:\s+\d+)+)\s*$", text, re.M):
        nodes[int(match.group(1))].distances = [int(d) for d in match.group(2).split()]
    return [nodes[i] for i in sorted(nodes)]


def _numactl_cpus(text):
    text = re.sub(r"\(\d+\)", "", text).strip()
    if "-" in text or "," in text:
        ids = []
        for part in text.split(","):
            first, _sep, last = part.strip().partition("-")
            ids += range(int(first), int(last or first) + 1)
        return ids
    return [int(word) for word in text.split()]


def place_by_distance(nodes, smt):
    """Sockets from distances (< 20 is the same socket); SMT siblings are id + half."""
    socket_of_node = {}
    next_socket = 0
    for node in nodes:
        if not node.cpus or node.id in socket_of_node:
            continue
        for other in nodes:
            if other.cpus and other.distances[nodes.index(node)] < 20 and other.id not in socket_of_node:
                socket_of_node[other.id] = next_socket
        next_socket += 1
    all_cpus = sorted(cpu for node in nodes for cpu in node.cpus)
    half = len(all_cpus) // 2
    socket_of, core_of = {}, {}
    for node in nodes:
        for cpu in node.cpus:
            socket_of[cpu] = socket_of_node[node.id]
            core_of[cpu] = all_cpus.index(cpu) % half if smt else cpu
    return socket_of, core_of


def from_numactl(name, filename, vendor, model_name, smt):
    nodes = parse_numactl_hardware((NUMACTL_FIXTURES / filename).read_text())
    socket_of, core_of = place_by_distance(nodes, smt)
    return Topology(name, vendor, model_name, nodes, socket_of, core_of)


def synthetic(name, vendor, model_name, sockets, nodes_per_socket, cores_per_node, smt=True,
              interleaved=False, memory_mb=65536, node_ids=None, extra_nodes=(), dies_per_socket=1,
              adjacent_threads=False, **kwargs):
    """Build a regular host: socket-major (AMD-style) or interleaved (Intel-style) CPU ids.

    With nodes_per_socket 0 every socket shares one node (NPS0). smt is True (2
    threads per core), False, or the thread count (4 and 8 on ppc64). core_id
    restarts in every die, as the kernel numbers it. Sibling threads are
    numbered a core apart (x86) or next to each other (adjacent_threads, ppc64).
    """
    threads = 2 if smt is True else (smt or 1)
    spans = nodes_per_socket == 0
    per_socket = 1 if spans else nodes_per_socket
    cores_per_socket = per_socket * cores_per_node
    cores_per_die = -(-cores_per_socket // dies_per_socket)
    cores_total = sockets * cores_per_socket
    socket_of, core_of, die_of, node_cpus = {}, {}, {}, {}
    for core in range(cores_total):
        socket = (core % sockets) if interleaved else core // cores_per_socket
        index_in_socket = (core // sockets) if interleaved else core % cores_per_socket
        local_node = 0 if spans else socket * per_socket + index_in_socket // cores_per_node
        for thread in range(threads):
            cpu = core * threads + thread if adjacent_threads else core + thread * cores_total
            socket_of[cpu], core_of[cpu] = socket, index_in_socket % cores_per_die
            if dies_per_socket > 1:
                die_of[cpu] = index_in_socket // cores_per_die  # die_id counts within its package
            node_cpus.setdefault(local_node, []).append(cpu)
    ids = list(node_ids) if node_ids else list(range(len(node_cpus)))
    sizes = memory_mb if isinstance(memory_mb, list) else [memory_mb] * len(node_cpus)
    nodes = [Node(ids[i], sorted(node_cpus[i]), sizes[i]) for i in sorted(node_cpus)]
    nodes += [Node(node_id, [], size) for node_id, size in extra_nodes]
    return Topology(name, vendor, model_name, sorted(nodes, key=lambda n: n.id), socket_of, core_of,
                    die_of=die_of, **kwargs)


def _without_cpus(topology, cpus):
    for cpu in cpus:
        del topology.socket_of[cpu]
        del topology.core_of[cpu]
    topology.offline = sorted(cpus)
    return topology


def catalog():
    """Every named topology the tests, molecule scenarios and benchmarks use."""
    epyc = "AMD EPYC 9654 96-Core Processor"
    xeon = "INTEL(R) XEON(R) PLATINUM 8592+"
    tops = [
        from_numactl("epyc-2s-64c-nps4", "epyc-2s-64c-nps4.txt", AMD, "AMD EPYC 7763 64-Core Processor", smt=True),
        from_numactl("epyc9135-2s-nps1", "epyc9135-2s-nps1-cpu-compress.txt", AMD,
                     "AMD EPYC 9135 16-Core Processor", smt=False),
        from_numactl("epyc9375f-2s-nps1-smt-off", "epyc9375f-2s-nps1-smt-off.txt", AMD,
                     "AMD EPYC 9375F 32-Core Processor", smt=False),
        from_numactl("xeon8592-2s-snc-off", "xeon8592-2s-snc-off-cpu-compress.txt", INTEL, xeon, smt=False),
        from_numactl("xeon-2s-cxl-memory-only", "xeon-2s-cxl-memory-only-nodes.txt", INTEL,
                     "Intel(R) Xeon(R) Platinum 8470", smt=True),
        synthetic("epyc-2s-nps1", AMD, epyc, 2, 1, 16, cpufreq_driver="acpi-cpufreq"),
        synthetic("epyc-2s-nps2", AMD, epyc, 2, 2, 8, cpufreq_driver="amd-pstate-epp"),
        synthetic("epyc-2s-nps4", AMD, epyc, 2, 4, 4, cpufreq_driver="amd-pstate-epp"),
        synthetic("epyc-2s-nps4-384", AMD, epyc, 2, 4, 24, cpufreq_driver="amd-pstate-epp",
                  gpus=[Gpu("0000:01:00.0", "0x10de", "0x2330", 1), Gpu("0000:41:00.0", "0x10de", "0x2330", 5),
                        Gpu("0000:c3:00.0", "0x1a03", "0x2000", -1, "0x030000")]),
        synthetic("epyc-2s-nps0", AMD, epyc, 2, 0, 16),
        synthetic("epyc-1s-llc-numa-8", AMD, "AMD EPYC 9354 32-Core Processor", 1, 8, 4),
        synthetic("xeon-2s-snc2-interleaved", INTEL, xeon, 2, 2, 8, interleaved=True,
                  cpufreq_driver="intel_pstate"),
        synthetic("xeon-1s-snc3", INTEL, "Intel(R) Xeon(R) 6980P", 1, 3, 8),
        synthetic("vm-1node-no-cpufreq", INTEL, "QEMU Virtual CPU version 2.5+", 1, 1, 4, smt=False,
                  smt_file=False, numa_balancing=None, hypervisor=True,
                  dmi=("QEMU", "Standard PC (Q35 + ICH9, 2009)")),
        # Bare metal whose cpufreq driver did not load (BIOS keeps P-states): must fail, not skip.
        synthetic("epyc-2s-nps2-no-cpufreq", AMD, epyc, 2, 2, 8, dmi=("Dell Inc.", "PowerEdge R7625")),
        synthetic("no-numa-kernel", AMD, epyc, 1, 1, 4, numa=False),
        synthetic("epyc-2s-nps1-unbalanced", AMD, epyc, 2, 1, 8, memory_mb=[393216, 327680]),
        synthetic("epyc-2s-nps2-memoryless", AMD, epyc, 2, 2, 4, memory_mb=[65536, 0, 65536, 65536]),
        synthetic("epyc-2s-nps1-hbm-sparse", AMD, epyc, 2, 1, 8, node_ids=[0, 2],
                  extra_nodes=[(5, 16384)]),
        _without_cpus(synthetic("xeon-2s-snc1-offline", INTEL, xeon, 2, 1, 8), [6, 7, 30]),
        _uneven(),
        # Two Opteron 6174 (two 6-core dies each, core_id 0-5 in every die) with BIOS
        # node interleaving on a 3.x kernel: no core_cpus_list, no smt/, "\n\0" node lists.
        synthetic("opteron-2s-interleaved", AMD, "AMD Opteron(tm) Processor 6174", 2, 0, 12, smt=False,
                  dies_per_socket=2, cpu_family=16, flags="fpu sse sse2 ht syscall nx mmxext lm 3dnowext",
                  sibling_files="old", smt_file=False, nul_terminated=True, kernel_release="3.10.0-1160.el7.x86_64",
                  transparent_hugepage="always", numa_balancing=None),
        # A POWER9 LPAR: SMT-8 threads numbered next to each other, physical_package_id -1.
        synthetic("power9-lpar-smt8", None, None, 2, 1, 4, smt=8, adjacent_threads=True,
                  unknown_package_ids=True, kernel_release="5.14.0-427.el9.ppc64le"),
    ]
    return dict((top.name, top) for top in tops)


def _uneven():
    """Socket 0 split in two nodes, socket 1 in one: a half-applied BIOS change."""
    top = synthetic("epyc-2s-uneven", AMD, "AMD EPYC 9654 96-Core Processor", 2, 2, 4, smt=False)
    merged = Node(2, top.nodes[2].cpus + top.nodes[3].cpus, 131072)
    top.nodes = top.nodes[:2] + [merged]
    return top


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("name", nargs="?")
    parser.add_argument("out", nargs="?")
    parser.add_argument("more", nargs="*")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--many", action="store_true", help="first argument is a root, the rest topology names")
    args = parser.parse_args(argv)
    tops = catalog()
    if args.list or not args.name:
        print("\n".join(sorted(tops)))
        return 0
    targets = ([(item.partition("=")[2] or item, Path(args.name) / item.partition("=")[0])
                for item in [args.out] + args.more] if args.many
               else [(args.name, Path(args.out))])
    for name, out in targets:
        if name not in tops:
            parser.error("unknown topology %s (try --list)" % name)
        # Rewritten in place, never removed: running containers hold bind mounts
        # of these folders, and every file is set back to the fixture's value.
        write_tree(tops[name], out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
