#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: numa_facts
short_description: Read a host's NUMA layout, sockets and CPU topology from sysfs
version_added: "0.1.0"
description:
  - Reads C(/sys/devices/system/node), C(/sys/devices/system/cpu), the first block of
    C(/proc/cpuinfo) and C(/proc/sys/kernel/numa_balancing) in one pass, without
    running any command, and returns them as the C(ktune_numa) fact.
  - Names the BIOS layout the way vendors do, C(NPS0)/C(NPS1)/C(NPS2)/C(NPS4) on AMD,
    C(SNC1)..C(SNC4) on Intel (C(SNC1) is sub-NUMA clustering off), so a play can
    compare it with what the inventory expects.
  - Handles sparse node ids, interleaved CPU numbering, offline CPUs, memory-only
    nodes (CXL, HBM, PMEM), memoryless CPU nodes and hosts without NUMA.
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
        sockets:
          description: Number of physical packages with an online CPU.
          type: int
          sample: 2
        socket_ids:
          description: Their C(physical_package_id) values.
          type: list
          elements: int
          sample: [0, 1]
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
          description: Online physical cores (distinct socket and core id pairs).
          type: int
          sample: 128
        smt_active:
          description: Whether sibling hyper-threads are online.
          type: bool
          sample: true
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
            C(NPS0)/C(NPS1)/C(NPS2)/C(NPS4) or C(LLC-NUMA-<n>) on AMD, C(SNC<n>) on Intel
            (C(SNC1) = off), C(INTERLEAVED) for a socket-spanning node on other vendors,
            C(NODES-PER-SOCKET-<n>) on other vendors, C(UNEVEN) when sockets differ,
            null without NUMA.
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
