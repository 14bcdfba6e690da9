"""Every reader that derives the ktransformers instances from the inventory (the service role, the
guard, monitoring, the audit and the rollout gate) passes the settings that decide an instance's
address, variant and NUMA placement, so all of them see the URLs and nodes the service runs with."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
# What decides the command line, the health URL and the NUMA placement besides the instance itself.
DECIDING = {"backend", "legacy_defaults", "sglang_defaults", "host", "sglang_variant", "numactl", "numa_node",
            "api_key"}


def dicts_named(node, name):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == name and isinstance(value, dict):
                yield value
            else:
                yield from dicts_named(value, name)
    elif isinstance(node, list):
        for item in node:
            yield from dicts_named(item, name)


def settings_in(path, name):
    found = list(dicts_named(yaml.safe_load((ROOT / path).read_text()), name))
    assert found, "%s: no %s" % (path, name)
    return found


SERVICE = settings_in("roles/ktransformers_service/tasks/validate_instances.yml", "ktransformers_service_settings")[0]
READERS = [
    ("roles/guard/tasks/validate.yml", "__guard_service_settings"),
    ("roles/monitoring/vars/main.yml", "monitoring_service_settings"),
    ("playbooks/tasks/audit_read.yml", "service_settings"),  # audit.yml's read and rollout.yml's gate
]


@pytest.mark.parametrize("path, name", READERS)
def test_each_reader_passes_every_deciding_setting(path, name):
    assert DECIDING <= set(SERVICE)
    for settings in settings_in(path, name):
        assert DECIDING <= set(settings), "%s: %s lacks %s" % (path, name, sorted(DECIDING - set(settings)))
        for key in DECIDING - {"api_key"}:
            assert "ktune_service_%s" % key in settings[key], (path, key, settings[key])


@pytest.mark.parametrize("path, name", READERS)
def test_no_reader_carries_the_api_key_itself(path, name):
    for settings in settings_in(path, name):
        assert "ktransformers_public" in settings["api_key"], (path, settings["api_key"])
