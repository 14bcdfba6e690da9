"""alert_expectations: what each host's alerts expect is what the audit expects, from the same settings."""

import itertools

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.filter.concerns import FilterModule
from ansible_collections.ktune.inference.plugins.module_utils import audit_controls as ac

alert_expectations = FilterModule().filters()["alert_expectations"]

GOVERNORS = ("performance", "powersave", "schedutil")
EPPS = (None, "", "performance", "balance_power")


def alert_fires(expected_epp, epp_groups):
    """KtuneCpuEppNotAsConfigured's condition: an expectation exists and a policy runs another EPP."""
    return expected_epp is not None and any(value != expected_epp for value in epp_groups)


@pytest.mark.parametrize("governor, epp, active_mode, epp_groups", list(itertools.product(
    GOVERNORS, EPPS, (True, False), ({"performance": "0-63"}, {"balance_performance": "0-63"},
                                     {"performance": "0-31", "balance_power": "32-63"}))))
def test_the_epp_alert_fires_exactly_where_the_audit_fails_cpufreq_epp(governor, epp, active_mode, epp_groups):
    settings = {"ktune_cpu_governor": governor, "ktune_cpu_epp": epp}
    reading = {"applicable": True, "policy_count": 64, "driver": "amd-pstate-epp", "active_mode": active_mode,
               "governors": {governor: "0-63"}, "available_governors": list(GOVERNORS), "epp": epp_groups}
    expected = alert_expectations(settings)["epp"]["active_mode" if active_mode else "other"]
    audit = ac.cpufreq_epp(reading, settings)
    assert alert_fires(expected, epp_groups) == (audit["status"] == "fail"), audit
    assert (expected is None) == (audit["status"] == "skip"), audit


@pytest.mark.parametrize("governor", GOVERNORS)
def test_the_governor_is_the_audits(governor):
    settings = {"ktune_cpu_governor": governor}
    reading = {"applicable": True, "policy_count": 2, "driver": "acpi-cpufreq", "active_mode": False,
               "governors": {"schedutil": "0-1"}, "available_governors": list(GOVERNORS), "epp": None}
    fires = alert_expectations(settings)["governor"] != "schedutil"
    assert fires == (ac.cpufreq_governor(reading, settings)["status"] == "fail")


@pytest.mark.parametrize("balancing, reclaim", [(0, 0), (1, 0), (0, 4), ("3", "7")])
def test_the_kernel_settings_are_the_audits(balancing, reclaim):
    settings = {"ktune_numa_balancing": balancing, "ktune_zone_reclaim_mode": reclaim}
    sysctls = alert_expectations(settings)["sysctls"]
    assert sysctls == {"kernel.numa_balancing": int(balancing), "vm.zone_reclaim_mode": int(reclaim)}
    live_as_expected = {"file": "/etc/sysctl.d/90-ktune-numa.conf", "live": dict(sysctls), "persisted": dict(sysctls)}
    assert ac.numa_balancing(live_as_expected, settings)["status"] == "pass"
    off = dict(sysctls, **{"kernel.numa_balancing": int(balancing) ^ 1})
    assert ac.numa_balancing(dict(live_as_expected, live=off), settings)["status"] == "fail"


def test_missing_settings_take_the_roles_defaults():
    assert alert_expectations({}) == {"governor": "performance", "epp": {"active_mode": "performance", "other": None},
                                      "sysctls": {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 0},
                                      "transparent_hugepage": None}


@pytest.mark.parametrize("settings, named", [({"ktune_numa_balancing": 4}, "ktune_numa_balancing = 4"),
                                             ({"ktune_zone_reclaim_mode": "x"}, "ktune_zone_reclaim_mode = 'x'")])
def test_an_invalid_kernel_setting_is_named(settings, named):
    with pytest.raises(AnsibleFilterError, match=named):
        alert_expectations(settings)


def test_settings_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError, match="alert_expectations: expected the settings"):
        alert_expectations(["performance"])
