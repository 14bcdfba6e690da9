#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: kt_weights
short_description: Compare each instance's kt-kernel weights with the NUMA thread pools it starts
version_added: 0.1.0
description:
  - kt-kernel converts a model's CPU experts for one count of thread pools
    (C(convert_cpu_weights.py --threadpool-count N)) and cuts every expert into N slices, one per pool.
    The slices are found in the weight path as kt-kernel writes them, merged
    (C(blk.<layer>.ffn_<proj>_exps.<expert>.numa.<i>.weight) tensors in C(*.safetensors) shards) or
    unmerged (C(_layer_<n>/_numa_<i>/) folders).
  - Reports, for each instance, whether its weights are cut for its C(kt_threadpool_count); after a
    BIOS layout change (NPS, SNC) the count the service derives from the nodes changes and the
    weights must be converted again. The C(ktune.inference.ktransformers_service) role refuses such
    an instance before any change, and the audit grades the same judgement as C(service.weights_layout).
  - Follows no symlink that anyone but root (or the reading user) owns; reads only the shards'
    headers. Changes nothing and never fails the host over what it finds.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reads only; the same result as without check mode.
  diff_mode:
    support: none
  platform:
    support: full
    platforms: posix
options:
  instances:
    description:
      - Resolved instances, as the C(ktune.inference.ktransformers_instances) filter returns them. The
        fields read are C(name), C(backend), C(state), C(kt_weight_path), C(kt_threadpool_count),
        C(kt_numa_nodes), C(kt_method), C(kt_cpuinfer) and C(model_path); instances of another
        backend, or absent, are skipped.
    type: list
    elements: dict
    required: true
  root:
    description: The directory the weight paths are read under. Change it only to read a copy of the tree.
    type: path
    default: /
seealso:
  - name: kt-kernel's conversion script
    description: convert_cpu_weights.py and its --threadpool-count, in kvcache-ai/ktransformers.
    link: https://github.com/kvcache-ai/ktransformers/tree/main/kt-kernel
"""

EXAMPLES = r"""
- name: Check the converted weights against the pools each instance starts
  ktune.inference.kt_weights:
    instances: "{{ ktune_service_instances | ktune.inference.ktransformers_instances(ktune_numa) }}"
  register: weights

- name: Refuse weights cut for another layout
  ansible.builtin.assert:
    that: weights.problems | length == 0
    fail_msg: "{{ inventory_hostname }}: {{ weights.problems | join(' || ') }}"
"""

RETURN = r"""
instances:
  description: One verdict per present instance, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The instance.
      type: str
    status:
      description: C(pass), C(fail) (cut for another count of pools), C(skip) (no kt-kernel split, or not on the host yet) or C(unknown) (not read safely).
      type: str
    finding:
      description: What was found, naming the weight path.
      type: str
    fix:
      description: For C(fail), the conversion to run and the C(kt_weight_path) to set; for C(unknown), what to change.
      type: str
  sample:
    - name: k2
      status: fail
      finding: "k2: expected kt-kernel weights cut for 8 thread pools ..., found 4 thread pools in /models/m-NUMA4"
      fix: "convert the weights again for 8 pools on the host: python kt-kernel/scripts/convert_cpu_weights.py ..."
problems:
  description: 'The failed instances as "expected X, found Y. Fix: Z", one line each.'
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils.kt_weights import weight_split_finding


def main():
    module = AnsibleModule(
        argument_spec=dict(
            instances=dict(type="list", elements="dict", required=True),
            root=dict(type="path", default="/"),
        ),
        supports_check_mode=True,
    )
    verdicts = []
    for instance in module.params["instances"]:
        if instance.get("state", "present") != "present":
            continue
        verdict = weight_split_finding(module.params["root"], instance)
        verdicts.append(dict(verdict, name=instance.get("name")))
    problems = ["%s. Fix: %s" % (verdict["finding"], verdict["fix"]) for verdict in verdicts
                if verdict["status"] == "fail"]
    module.exit_json(changed=False, instances=verdicts, problems=problems)


if __name__ == "__main__":
    main()
