"""Bad input fails before anything changes, with a message naming the variable."""

import json
import re

import pytest
import testinfra

from conftest import run_tune
from playbook_run import recap

SNAPSHOT = "/var/lib/ktune-test/snapshot.sh"


@pytest.fixture(scope="module")
def target():
    # One host is enough and each case runs tune.yml: not parametrized over every host.
    return testinfra.get_host("podman://amd-nps2")


@pytest.fixture(scope="module")
def drifted(target):
    """Undo part of the tuning, so a run that wrongly went ahead would show."""
    host = target
    host.run_expect([0], "echo powersave > /sys/devices/system/cpu/cpufreq/policy0/scaling_governor")
    host.run_expect([0], "rm -f /etc/cron.d/ktune-drop-caches")
    yield
    restored = run_tune("--limit", "amd-nps2")
    assert restored.returncode == 0, restored.output[-3000:]


@pytest.mark.parametrize("extra_vars, named", [
    ({"ktune_cpu_governor": "ondemand"}, "ktune_cpu_governor=ondemand"),
    ({"ktune_drop_caches_level": 4}, "ktune_drop_caches_level"),
    ({"ktune_drop_caches_minute": "61"}, "ktune_drop_caches_minute"),
    ({"ktune_use_numa": "maybe"}, "ktune_use_numa"),
    ({"ktune_model_size_gb": -5}, "ktune_model_size_gb"),
])
def test_bad_input_fails_before_any_change(target, drifted, extra_vars, named):
    host = target
    before = host.check_output(SNAPSHOT)
    result = run_tune("--limit", "amd-nps2", "-e", json.dumps(extra_vars))
    assert result.returncode == 2, result.output[-3000:]
    assert named in result.output
    assert recap(result.output)["amd-nps2"]["changed"] == "0"
    assert host.check_output(SNAPSHOT) == before


def test_bad_input_on_one_host_stops_every_host_before_any_change(drifted):
    """kernel.numa_balancing takes 0-3: 7 on one host stops the run on all, naming the variable."""
    hosts = ["amd-nps2", "intel-snc2"]
    targets = dict((name, testinfra.get_host("podman://" + name)) for name in hosts)
    targets["intel-snc2"].run_expect([0], "rm -f /etc/cron.d/ktune-drop-caches")
    before = dict((name, host.check_output(SNAPSHOT)) for name, host in targets.items())
    bad = '{{ 7 if inventory_hostname == "amd-nps2" else 0 }}'
    result = run_tune("--limit", ",".join(hosts), "-e", json.dumps({"ktune_numa_balancing": bad}))
    assert result.returncode == 2, result.output[-3000:]
    assert re.search(r"amd-nps2: ktune_numa_balancing = '?7'? is not a kernel.numa_balancing value: "
                     r"expected an integer 0-3", result.output), result.output[-3000:]
    rows = recap(result.output)
    assert all(rows[name]["changed"] == "0" for name in hosts), rows
    assert dict((name, host.check_output(SNAPSHOT)) for name, host in targets.items()) == before
    restored = run_tune("--limit", "intel-snc2")
    assert restored.returncode == 0, restored.output[-3000:]
