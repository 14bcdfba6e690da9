#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: numa_facts
short_description: Read a host's NUMA layout, CPU topology, instruction sets, GPUs and memory from sysfs
version_added: "0.1.0"
description:
  - Reads C(/sys/devices/system/node), C(/sys/devices/system/cpu), the PCI display
    controllers under C(/sys/bus/pci/devices), C(/sys/kernel/mm/transparent_hugepage/enabled),
    the first block of C(/proc/cpuinfo), C(/proc/sys/kernel/numa_balancing) and
    C(/proc/sys/kernel/osrelease) in one pass, without running any command, and returns
    them as the C(ktune_numa) fact.
  - Names the BIOS layout the way vendors do, C(NPS0)/C(NPS1)/C(NPS2)/C(NPS4) on AMD,
    C(SNC1)..C(SNC4) on Intel (C(SNC1) is sub-NUMA clustering off), so a play can
    compare it with what the inventory expects.
  - Handles sparse node ids, interleaved CPU numbering, offline CPUs, memory-only
    nodes (CXL, HBM, PMEM), memoryless CPU nodes and hosts without NUMA.
  - Reads sysfs as every kernel writes it, the way C(lscpu) counts; node masks ending in
    a NUL byte, C(nodeN/cpumap) where C(nodeN/cpulist) is missing, cores as distinct core
    sibling sets (C(core_cpus_list), or C(thread_siblings_list) on older kernels; C(core_id)
    repeats across dies), sockets from the package sibling sets (C(package_cpus_list) or
    C(core_siblings_list)) where C(physical_package_id) is -1 or shared by separate
    packages, and SMT from the sibling sets where C(cpu/smt/active) is missing. Each
    fallback taken is named in C(topology_notes).
  - A C(sysfs_root) without C(devices/system/cpu) fails naming the path, rather than
    describe a host with no CPUs.
  - A file that cannot be read or does not parse fails the task with a message that
    names the file.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ktune.inference.host_roots
  - ktune.inference.attributes.facts
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.facts
notes:
  - C(nodes_per_socket) counts only CPU-bearing nodes; memory-only nodes are listed
    in C(memory_only_nodes) and do not change the layout.
  - CPUs that firmware puts in several nodes are listed in C(overlapping_cpus); the
    C(nps_layout_problems) filter (and so the nps_layout role and the audit) reports
    them with the fix, update the BIOS.
seealso:
  - name: Linux sysfs NUMA node ABI
    description: The files this module reads.
    link: https://www.kernel.org/doc/Documentation/ABI/stable/sysfs-devices-node
"""

EXAMPLES = r"""
- name: Read the NUMA layout
  ktune.inference.numa_facts:

- name: Show the layout
  ansible.builtin.debug:
    msg: "{{ ktune_numa.layout }}: {{ ktune_numa.cpu_node_count }} nodes on {{ ktune_numa.sockets }} sockets"

- name: Read a fixture tree instead of the live host
  ktune.inference.numa_facts:
    sysfs_root: /srv/fixtures/epyc-nps4/sys
    procfs_root: /srv/fixtures/epyc-nps4/proc
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to the host.
  returned: always
  type: dict
  contains:
    ktune_numa:
      description: The host's NUMA and CPU topology.
      returned: always
      type: dict
      contains:
        available:
          description: Whether the kernel exposes NUMA nodes at all.
          type: bool
          sample: true
        vendor:
          description: CPU vendor string from C(/proc/cpuinfo), null when absent.
          type: str
          sample: AuthenticAMD
        model_name:
          description: CPU model name, null when absent.
          type: str
          sample: AMD EPYC 9375F 32-Core Processor
        cpu_family:
          description: >-
            The x86 C(cpu family) from C(/proc/cpuinfo), null elsewhere. AMD from 23
            (Zen) on has the NPS setting.
          type: int
          sample: 25
        cpu_flags:
          description: >-
            Which of the instruction sets inference kernels choose between the CPU lists
            in C(/proc/cpuinfo) C(flags), sorted; checked are C(avx2), C(fma), C(avx_vnni),
            C(avx512f), C(avx512bw), C(avx512vl), C(avx512_vnni), C(avx512_bf16),
            C(avx512_fp16), C(amx_tile), C(amx_int8), C(amx_bf16), C(amx_fp16). Empty on
            non-x86 hosts. kt-kernel's AMX methods need the C(amx_*) flags (and Linux 5.16+),
            its AVX-512 methods C(avx512f) and C(avx512bw); a wrong method dies with SIGILL.
          type: list
          elements: str
          sample: [amx_bf16, amx_int8, amx_tile, avx2, avx512_bf16, avx512_vnni, avx512bw, avx512f]
        kernel_release:
          description: The running kernel's release (C(/proc/sys/kernel/osrelease), as C(uname -r)), null when absent.
          type: str
          sample: 6.8.0-45-generic
        sockets:
          description: Number of physical packages with an online CPU.
          type: int
          sample: 2
        socket_ids:
          description: >-
            Their C(physical_package_id) values; 0, 1, ... in order of each package's lowest
            CPU when counted from package sibling lists (see C(sockets_from)).
          type: list
          elements: int
          sample: [0, 1]
        sockets_from:
          description: >-
            What sockets were counted from, C(physical_package_id), C(package_cpus_list) or
            C(core_siblings_list) (when the ids are -1 or shared by separate packages).
          type: str
          sample: physical_package_id
        cpus_online:
          description: Number of online CPUs.
          type: int
          sample: 256
        cpus_online_list:
          description: Online CPUs as a kernel cpulist.
          type: str
          sample: 0-255
        cpus_offline:
          description: Present CPUs that are offline.
          type: list
          elements: int
          sample: [14, 15]
        physical_cores:
          description: Online physical cores, counted as distinct core sibling sets (see C(cores_from)).
          type: int
          sample: 128
        cores_from:
          description: >-
            What cores were counted from, C(core_cpus_list), C(thread_siblings_list) (older
            kernels), C(core_id) (socket, die and core id, without sibling lists) or C(cpus)
            (no core information at all, one core per CPU).
          type: str
          sample: core_cpus_list
        threads_per_core:
          description: Most online hardware threads in one core (1 without SMT, 2, or 4 and 8 on ppc64).
          type: int
          sample: 2
        smt_active:
          description: >-
            Whether sibling hyper-threads are online, from C(cpu/smt/active), else from the
            core sibling sets.
          type: bool
          sample: true
        topology_notes:
          description: >-
            Fallbacks taken because of what the kernel or firmware wrote, one sentence each
            (C(physical_package_id) -1 or shared, C(core_id) missing, no core information).
          type: list
          elements: str
          sample: ["physical_package_id is -1 or missing on CPUs 0-63: sockets counted from package_cpus_list"]
        nodes:
          description: One entry per online node, in id order.
          type: list
          elements: dict
          contains:
            id:
              description: Node id.
              type: int
            cpus:
              description: Online CPUs of the node.
              type: list
              elements: int
            cpulist:
              description: The same CPUs as a cpulist, empty for a memory-only node.
              type: str
            socket_ids:
              description: Sockets the node's CPUs belong to (more than one means NPS0).
              type: list
              elements: int
            memory_mb:
              description: The node's MemTotal in MiB.
              type: int
            mem_free_mb:
              description: The node's MemFree in MiB now, null when the kernel does not write it.
              type: int
            hugepages_total:
              description: The node's C(HugePages_Total) (default-size huge pages), null when absent.
              type: int
            hugepages_free:
              description: The node's C(HugePages_Free), null when absent.
              type: int
            distances:
              description: SLIT distances to every node, in the order of C(node_ids).
              type: list
              elements: int
        node_ids:
          description: Online node ids (may be sparse).
          type: list
          elements: int
          sample: [0, 1]
        node_count:
          description: Online nodes, with or without CPUs.
          type: int
          sample: 4
        cpu_node_count:
          description: Nodes with at least one online CPU.
          type: int
          sample: 2
        cpu_node_ids:
          description: Ids of those nodes.
          type: list
          elements: int
          sample: [0, 1]
        overlapping_cpus:
          description: >-
            Online CPUs that more than one node lists (a firmware bug: update the BIOS);
            empty on a sane host.
          type: list
          elements: int
          sample: []
        memory_node_count:
          description: >-
            Nodes with memory. A ktransformers NUMA build keeps one copy of the
            expert weights per such node.
          type: int
          sample: 4
        memory_only_nodes:
          description: Ids of nodes with memory and no CPUs (CXL, HBM flat mode, PMEM as kmem).
          type: list
          elements: int
          sample: [2, 3]
        memoryless_cpu_nodes:
          description: Ids of nodes with CPUs and no memory; C(numactl -m) fails on them.
          type: list
          elements: int
          sample: []
        memory_total_mb:
          description: Sum of every node's memory in MiB.
          type: int
          sample: 1547299
        nodes_per_socket:
          description: >-
            CPU-bearing nodes per socket; 0 when a node spans sockets (NPS0), null
            when sockets differ or no node has CPUs.
          type: int
          sample: 2
        layout:
          description: >-
            C(NPS0)/C(NPS1)/C(NPS2)/C(NPS4) or C(LLC-NUMA-<n>) on AMD from Zen on, C(SNC<n>)
            on Intel (C(SNC1) = off), C(INTERLEAVED) when a node spans several sockets
            (BIOS node interleaving) on Intel, pre-Zen AMD (Opteron) and other vendors,
            C(NODES-PER-SOCKET-<n>) on pre-Zen AMD and other vendors, C(UNEVEN) when sockets
            differ, null without NUMA.
          type: str
          sample: NPS2
        memory_balanced:
          description: Every CPU-bearing node's memory is within 10% of the largest one.
          type: bool
          sample: true
        memory_imbalance_pct:
          description: How far the smallest CPU-bearing node falls below the largest, in percent.
          type: float
          sample: 0.4
        numa_balancing:
          description: Value of C(kernel.numa_balancing), null when the kernel lacks it.
          type: int
          sample: 0
        transparent_hugepage:
          description: >-
            The transparent hugepage mode, the bracketed word of
            C(/sys/kernel/mm/transparent_hugepage/enabled) (C(always), C(madvise), C(never)),
            null without THP.
          type: str
          sample: madvise
        gpus:
          description: >-
            PCI display controllers (class 0x03, VGA and 3D: GPUs, and BMC graphics) under
            C(/sys/bus/pci/devices), in address order, so an instance can run next to its GPU.
          type: list
          elements: dict
          contains:
            address:
              description: PCI address.
              type: str
              sample: "0000:41:00.0"
            vendor:
              description: PCI vendor id (C(0x10de) NVIDIA, C(0x1002) AMD, C(0x8086) Intel, C(0x1a03) ASPEED).
              type: str
              sample: "0x10de"
            device:
              description: PCI device id.
              type: str
              sample: "0x2330"
            numa_node:
              description: The node the GPU is attached to; null when the kernel writes -1 (unknown) or nothing.
              type: int
              sample: 1
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sysfs_root=dict(type="path", default="/sys"),
            procfs_root=dict(type="path", default="/proc"),
        ),
        supports_check_mode=True,
    )
    try:
        facts = gather_numa_facts(module.params["sysfs_root"], module.params["procfs_root"])
    except HostFileError as exc:
        module.fail_json(msg="cannot read NUMA facts: %s" % exc, path=exc.path)
    module.exit_json(changed=False, ansible_facts={"ktune_numa": facts})


if __name__ == "__main__":
    main()
