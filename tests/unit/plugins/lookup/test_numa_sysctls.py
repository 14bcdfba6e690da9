from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.lookup.numa_sysctls import numa_sysctls
from ansible_collections.ktune.inference.plugins.module_utils.concerns import NUMA_SYSCTLS


def test_every_kernel_setting_of_the_table_is_answered_with_the_roles_defaults():
    answer = numa_sysctls({})
    assert answer["names"] == [row[0] for row in NUMA_SYSCTLS]
    assert answer["wanted"] == {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 0}
    assert answer["problems"] == []
    options = {"ktune_numa_balancing": {"default": 1}, "ktune_zone_reclaim_mode": {"default": 4}}
    assert numa_sysctls({}, options)["wanted"] == {"kernel.numa_balancing": 1, "vm.zone_reclaim_mode": 4}


def test_values_as_the_inventory_gives_them():
    answer = numa_sysctls({"ktune_numa_balancing": "1", "ktune_zone_reclaim_mode": 4})
    assert answer["wanted"] == {"kernel.numa_balancing": 1, "vm.zone_reclaim_mode": 4}
    assert answer["settings"] == {"ktune_numa_balancing": "1", "ktune_zone_reclaim_mode": 4}


def test_a_value_outside_the_kernels_range_is_named_and_nothing_is_wanted():
    answer = numa_sysctls({"ktune_numa_balancing": 7})
    assert len(answer["problems"]) == 1
    assert answer["problems"][0].startswith("ktune_numa_balancing = 7 is not a kernel.numa_balancing value")
    assert answer["wanted"] == {}
