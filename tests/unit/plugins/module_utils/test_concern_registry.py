"""The concern registry (module_utils/concern_registry.py) and everything derived from it agree:
each control is evaluated by the audit with the registry's severity, reads only the settings the
registry lists, is diagnosed or explicitly not, and names only alerts, expectations, tags and
variables that exist. A control added to one place and not the others fails here."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.ktune.inference.plugins.module_utils import audit_controls as ac
from ansible_collections.ktune.inference.plugins.module_utils import concern_registry as registry
from ansible_collections.ktune.inference.plugins.module_utils import concerns
from ansible_collections.ktune.inference.plugins.module_utils import diagnosis

ROOT = Path(__file__).resolve().parents[4]
DEFAULTS = ac.load_role_defaults(str(ROOT), yaml.safe_load)
SCRIPT = ac.DROP_SCRIPT
INSTANCE = {"name": "kimi", "port": 10002, "state": "present"}


class RecordingSettings(dict):
    """The settings, noting every name the audit looks up."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


def host_state(governor="performance", services=None):
    """A host the audit reads every section of, down to the cron daemon and a running instance."""
    return {
        "cpufreq": {"applicable": True, "policy_count": 4, "driver": "amd-pstate-epp", "active_mode": True,
                    "governors": {governor: "0-3"}, "available_governors": ["performance", "powersave"],
                    "epp": {"performance": "0-3"}, "epp_choices": ["performance"]},
        "page_cache": {"path": "/etc/cron.d/ktune-drop-caches", "present": True, "jobs": [
            {"malformed": False, "schedule": ["43", "*", "*", "*", "*"], "user": "root",
             "argv": [SCRIPT, "--level", "3", "--procfs-root", "/proc"], "script": SCRIPT,
             "script_executable": True}],
            "daemon": {"units": {"cron.service": {"load_state": "loaded", "active_state": "active",
                                                  "unit_file_state": "enabled"}}}},
        "use_numa": {"files": [{"file": "/etc/environment", "exists": True}], "definitions": [
            {"file": "/etc/environment", "line_number": 1, "line": "USE_NUMA=1", "value": "1"}]},
        "sysctl": {"file": "/etc/sysctl.d/90-ktune-numa.conf", "file_present": True,
                   "persisted": {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 0},
                   "live": {"kernel.numa_balancing": 1, "vm.zone_reclaim_mode": 0}},
        "services": services if services is not None else {"units": [
            {"unit": "ktransformers@kimi.service", "state": "present", "active_state": "active", "host": "127.0.0.1",
             "health_url": "http://127.0.0.1:10002/v1/models", "health_status": 200, "exposure": None,
             "numa_resident_kb": {"0": 1024, "1": 1024}, "numa_nodes": None, "cpus": None}]},
    }


def graded(numa, state, **overrides):
    settings = RecordingSettings(DEFAULTS, ktune_service_instances=[INSTANCE], ktune_use_numa=True)
    settings.update(overrides)
    return ac.evaluate({"ktune_numa": numa, "ktune_host_state": state}, settings), settings


def scenarios(numa):
    """Hosts that take the controls down their pass, fail and unreadable paths."""
    return [
        graded(numa("epyc-2s-nps2"), host_state(), ktune_expected_nodes_per_socket=2),
        graded(numa("epyc-2s-nps4"), host_state(governor="powersave"), ktune_expected_nodes_per_socket=2,
               ktune_require_balanced_memory=False, ktune_cron_service="crond"),
        graded({"error": "no sysfs"}, dict((name, {"error": "unreadable"}) for name in host_state())),
    ]


# --- the audit -------------------------------------------------------------------------


def test_the_registry_defines_each_control_once_in_the_audits_order():
    assert len(set(registry.CONTROL_IDS)) == len(registry.CONTROL_IDS)
    assert ac.CONTROL_IDS == registry.CONTROL_IDS
    assert ac.SETTING_NAMES == registry.SETTING_NAMES


def test_every_registered_control_is_evaluated_once(numa):
    for controls, _settings in scenarios(numa):
        assert [item["id"] for item in controls] == list(registry.CONTROL_IDS)


def test_every_control_is_graded_with_the_registrys_severity(numa):
    for controls, settings in scenarios(numa):
        for item in controls:
            entry = registry.BY_ID[item["id"]]
            relaxed = entry.relaxed_by is not None and settings.get(entry.relaxed_by) is False
            assert item["severity"] == (registry.WARNING if relaxed else entry.severity), item


def test_a_relaxed_control_is_a_warning_only_when_its_setting_is_false(numa):
    relaxed = [entry for entry in registry.CONTROLS if entry.relaxed_by]
    assert [entry.id for entry in relaxed] == ["numa.memory_balance"]
    for entry in relaxed:
        assert ac.control_severity(entry.id, {entry.relaxed_by: False}) == registry.WARNING
        assert ac.control_severity(entry.id, {entry.relaxed_by: True}) == entry.severity
        assert ac.control_severity(entry.id, {}) == entry.severity


def test_the_audit_reads_no_setting_the_registry_does_not_list(numa):
    # A name read here but missing from SETTING_NAMES never reaches the audit from the
    # inventory (host_settings copies only SETTING_NAMES): the control silently judges the default.
    read = set()
    for _controls, settings in scenarios(numa):
        read |= settings.read
    assert read - set(registry.SETTING_NAMES) == set()
    assert "ktune_cron_service" in read


def test_every_registered_setting_is_a_role_variable():
    known = set()
    for path in glob.glob(str(ROOT / "roles" / "*" / "meta" / "argument_specs.yml")):
        with open(path) as handle:
            for entry in (yaml.safe_load(handle).get("argument_specs") or {}).values():
                known |= set((entry or {}).get("options") or {})
    assert set(registry.SETTING_NAMES) - known == set()
    assert set(registry.SETTING_NAMES) - set(DEFAULTS) == set()


# --- tune ------------------------------------------------------------------------------


def _tags(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "tags":
                yield from value
            else:
                yield from _tags(value)
    elif isinstance(node, list):
        for item in node:
            yield from _tags(item)


def test_every_control_tune_fixes_names_a_tag_tune_yml_runs():
    with open(str(ROOT / "playbooks" / "tasks" / "apply_roles.yml")) as handle:
        tags = set(_tags(yaml.safe_load(handle))) - {"always"}
    assert all(entry.tag for entry in registry.CONTROLS if entry.tunable)
    assert set(entry.tag for entry in registry.CONTROLS if entry.tag) <= tags


def test_a_tunable_controls_fix_names_its_tag(numa):
    controls, _settings = scenarios(numa)[1]
    failed = dict((item["id"], item) for item in controls if item["status"] == "fail")
    for control_id in ("cpufreq.governor", "numa.balancing"):
        assert "--tags %s" % registry.BY_ID[control_id].tag in failed[control_id]["fix"]


# --- diagnosis -------------------------------------------------------------------------

# Data that makes each diagnosis finding function named by the registry report its concern.
FINDING_DATA = {
    "layout_findings": {"layout_problems": ["expected NPS2 (4 nodes on 2 sockets), found NPS4"]},
    "governor_findings": {"cpu_governor": "performance", "thermal_after": {
        "governors": [{"governor": "powersave", "policies": 4, "driver": "acpi-cpufreq"}]}},
}


def test_every_control_has_a_diagnosis_or_says_it_has_none():
    for entry in registry.CONTROLS:
        assert entry.diagnosis is None or entry.diagnosis == registry.FROM_AUDIT or entry.diagnosis in FINDING_DATA
        assert (entry.cause is not None) == (entry.diagnosis == registry.FROM_AUDIT), entry.id
    assert diagnosis.DRIFT_CONTROLS == tuple((entry.id, entry.cause) for entry in registry.CONTROLS
                                             if entry.diagnosis == registry.FROM_AUDIT)


@pytest.mark.parametrize("entry", registry.CONTROLS, ids=registry.CONTROL_IDS)
def test_a_failed_control_is_a_diagnosis_finding_only_when_the_registry_says_so(entry):
    failed = ac.control(entry.id, "fail", entry.severity, "found wrong", "fix it")
    found = diagnosis.findings({"host": "h", "controls": [failed]})
    if entry.diagnosis == registry.FROM_AUDIT:
        assert [(item["cause"], item["severity"]) for item in found] == [
            ("%s (%s)" % (entry.cause, entry.id), entry.severity)]
    else:
        assert found == []


@pytest.mark.parametrize("name", sorted(FINDING_DATA))
def test_a_diagnosis_finding_function_grades_with_its_controls_severity(name):
    entries = [entry for entry in registry.CONTROLS if entry.diagnosis == name]
    assert entries and len(set(entry.severity for entry in entries)) == 1
    found = getattr(diagnosis, name)(dict(FINDING_DATA[name], host="h"))
    assert found and all(item["severity"] == entries[0].severity for item in found)
    assert found == diagnosis.findings(dict(FINDING_DATA[name], host="h"))


def test_the_diagnosis_and_the_audit_agree_on_the_page_cache_jobs_severity():
    state = host_state()
    state["page_cache"] = {"path": "/etc/cron.d/ktune-drop-caches", "present": False, "jobs": []}
    controls = ac.evaluate({"ktune_numa": {"error": "not read"}, "ktune_host_state": state}, dict(DEFAULTS))
    cron = [item for item in controls if item["id"] == "page_cache.cron"][0]
    found = [item for item in diagnosis.findings({"host": "h", "controls": controls})
             if item["cause"].endswith("(page_cache.cron)")]
    assert cron["status"] == "fail" and [item["severity"] for item in found] == [cron["severity"]] == ["error"]


# --- alerts ----------------------------------------------------------------------------


def _alert_rules():
    with open(os.path.join(str(ROOT), "roles", "monitoring", "files", "ktune-alerts.rules.yml")) as handle:
        rules = yaml.safe_load(handle)
    return dict((rule["alert"], rule) for group in rules["groups"] for rule in group["rules"] if "alert" in rule)


def test_every_alert_the_registry_names_is_a_rule():
    named = set(entry.alert for entry in registry.CONTROLS if entry.alert)
    assert named and named <= set(_alert_rules())


def test_every_alert_against_an_expectation_belongs_to_a_control():
    # An alert comparing a live value with ktune_*_expected watches a tuned concern between audits.
    watching = set(name for name, rule in _alert_rules().items() if "_expected" in rule["expr"])
    assert watching == set(entry.alert for entry in registry.CONTROLS if entry.expectation)


@pytest.mark.parametrize("entry", [entry for entry in registry.CONTROLS if entry.alert], ids=lambda entry: entry.id)
def test_every_alert_carries_the_severity_of_its_audit_control(entry):
    """An error control (the audit fails the host) is a critical alert, a warning control a warning one."""
    label = _alert_rules()[entry.alert]["labels"]["severity"]
    assert label == registry.ALERT_SEVERITIES[entry.severity], (
        "%s: severity %s, but the audit's %s is %s (concern_registry.ALERT_SEVERITIES)"
        % (entry.alert, label, entry.id, entry.severity))
    assert label == registry.alert_severity(entry.alert)


def test_an_alert_is_critical_when_any_control_it_watches_is_an_error():
    assert registry.alert_severity("KtuneCpuGovernorNotPerformance") == "critical"  # cpufreq.governor, error
    assert registry.alert_severity("KtuneCpuEppNotAsConfigured") == "warning"  # cpufreq.epp, warning
    assert registry.alert_severity("KtuneInstanceDown") == "critical"  # service.active and service.healthy
    assert registry.alert_severity("KtuneDimmTemperatureHigh") is None  # no control: its own severity


def test_every_alert_has_a_severity_alertmanager_knows():
    labels = set(rule["labels"]["severity"] for rule in _alert_rules().values())
    assert labels <= set(registry.ALERT_SEVERITIES.values()), labels


def test_the_collectors_expectations_are_the_registrys():
    expectations = concerns.alert_expectations(dict(DEFAULTS))
    assert set(expectations) == set(entry.expectation for entry in registry.CONTROLS if entry.expectation)


# --- documentation ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["plugins/modules/audit_report.py", "plugins/filter/audit_controls.yml"])
def test_the_documented_control_list_is_the_registrys(path):
    text = " ".join((ROOT / path).read_text().split())
    listed = re.search(r"controls \(([a-z_., ]+)\)", text)
    assert listed, "%s: no list of controls" % path
    assert [name.strip() for name in listed.group(1).split(",")] == list(registry.CONTROL_IDS)
