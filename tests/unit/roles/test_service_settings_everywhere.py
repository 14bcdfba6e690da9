"""Every reader that derives the ktransformers instances from the inventory (the guard,
monitoring, the audit and the rollout gate) takes the settings that decide an instance's address,
variant and NUMA placement from one lookup (ktune.inference.service_settings, over one list), so
all of them see the URLs and nodes the service role runs them with."""

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import READER_SETTINGS

ROOT = Path(__file__).resolve().parents[3]
# What decides the command line, the health URL and the NUMA placement besides the instance itself.
DECIDING = {"backend", "legacy_defaults", "sglang_defaults", "host", "sglang_variant", "numactl", "numa_node",
            "api_key"}
LOOKUP = "{{ lookup('ktune.inference.service_settings') }}"


def values_named(node, name):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == name:
                yield value
            else:
                yield from values_named(value, name)
    elif isinstance(node, list):
        for item in node:
            yield from values_named(item, name)


def settings_in(path, name):
    found = [value for value in values_named(yaml.safe_load((ROOT / path).read_text()), name)
             if isinstance(value, dict)]
    assert found, "%s: no %s" % (path, name)
    return found


SERVICE = settings_in("roles/ktransformers_service/tasks/validate_instances.yml", "ktransformers_service_settings")[0]
READERS = [
    ("roles/guard/tasks/validate.yml", "__guard_service_settings"),
    ("roles/monitoring/vars/main.yml", "monitoring_service_settings"),
    ("playbooks/tasks/audit_read.yml", "service_settings"),  # audit.yml's read and rollout.yml's gate
]


def test_the_one_list_holds_every_deciding_setting_and_only_settings_the_service_role_has():
    assert DECIDING <= set(READER_SETTINGS)
    assert set(READER_SETTINGS) - {"legacy_defaults", "sglang_defaults"} <= set(SERVICE)
    defaults = yaml.safe_load((ROOT / "roles/ktransformers_service/defaults/main.yml").read_text())
    assert set("ktune_service_" + name for name in READER_SETTINGS) <= set(defaults)


@pytest.mark.parametrize("path, name", READERS)
def test_each_reader_takes_the_settings_from_the_one_lookup(path, name):
    found = list(values_named(yaml.safe_load((ROOT / path).read_text()), name))
    assert found and all(value == LOOKUP for value in found), (path, name, found)


@pytest.mark.parametrize("path, name", READERS)
def test_no_reader_spells_the_settings_out_again(path, name):
    text = (ROOT / path).read_text()
    spelled = [key for key in READER_SETTINGS if re.search(r"^\s+%s: .*ktune_service_%s\b" % (key, key), text, re.M)]
    assert spelled == [], (path, spelled)
