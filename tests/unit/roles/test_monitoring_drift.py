"""The monitoring role's drift judgement (the ktune.inference.judge action in a real play): the alert
rules file and the collector's settings are compared by checksum of what the role would write, so an
edited rules file, or settings that change what the alerts expect, are drift that tune.yml acts on."""

import hashlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests/unit/roles"))
from role_vars import evaluate, run_local_play  # noqa: E402

RULES_PATH = "/etc/prometheus/rules/ktune.rules.yml"
CONFIG_PATH = "/etc/ktune/monitoring.json"
RULES = (ROOT / "roles/monitoring/files/ktune-alerts.rules.yml").read_text()
SETTINGS = {"ktune_monitoring_rules_path": RULES_PATH, "ktune_monitoring_textfile_dir": "/var/lib/prometheus/node-exporter"}


def as_installed(path, content):
    return {"path": path, "exists": True, "type": "file", "mode": "0644", "owner": "root", "group": "root",
            "checksum": hashlib.sha1(content.encode()).hexdigest()}


def judge(variables):
    """The role judged as tune.yml's judge task judges it, on the given settings and state."""
    task = {"name": "Judge", "ktune.inference.judge": {"roles": ["monitoring"], "state": "{{ ktune_managed_state }}"},
            "register": "__monitoring_judgement"}
    return run_local_play([task], variables, "__monitoring_judgement")


@pytest.fixture(scope="module")
def config_content():
    """The collector's settings file the role writes under the defaults."""
    return evaluate("monitoring", {"content": "monitoring_settings_content"}, [dict(SETTINGS)])[0]["content"]


def state(rules, config):
    """A Debian host with the rules file and the collector's settings as given (the rest not installed)."""
    return {"os_family": "Debian", "pkg_mgr": "apt", "units": {}, "packages": {},
            "files": {RULES_PATH: as_installed(RULES_PATH, rules), CONFIG_PATH: as_installed(CONFIG_PATH, config)}}


def about(drift):
    return sorted(item for item in drift if item.startswith((RULES_PATH, CONFIG_PATH)))


def test_installed_as_rendered_is_no_drift(config_content):
    judged = judge(dict(SETTINGS, ktune_managed_state=state(RULES, config_content)))
    assert judged["problems"] == [] and about(judged["drift"]) == []


def test_an_edited_rules_file_is_drift(config_content):
    edited = RULES.replace("for: 10m", "for: 1h")
    judged = judge(dict(SETTINGS, ktune_managed_state=state(edited, config_content)))
    assert about(judged["drift"]) == [RULES_PATH + ": content differs"]


@pytest.mark.parametrize("setting", [{"ktune_cpu_governor": "schedutil"}, {"ktune_cpu_epp": "balance_power"},
                                     {"ktune_numa_balancing": 1}, {"ktune_zone_reclaim_mode": 4}])
def test_a_setting_the_alerts_expect_changes_the_collectors_settings(config_content, setting):
    judged = judge(dict(SETTINGS, ktune_managed_state=state(RULES, config_content), **setting))
    assert about(judged["drift"]) == [CONFIG_PATH + ": content differs"]


def test_an_invalid_kernel_setting_fails_before_anything_naming_the_variable(config_content):
    judged = judge(dict(SETTINGS, ktune_managed_state=state(RULES, config_content), ktune_zone_reclaim_mode=9))
    assert judged["drift"] == []
    assert any(problem.startswith("ktune_zone_reclaim_mode = 9 is not a vm.zone_reclaim_mode value")
               for problem in judged["problems"]), judged["problems"]
