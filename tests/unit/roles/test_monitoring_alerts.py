"""The monitoring role's alert rules, checked and unit-tested with promtool.

promtool comes from Debian's prometheus package (tests/run-all.sh unpacks it into the
venv). These tests fail, not skip, without it.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "roles/monitoring/files/ktune-alerts.rules.yml"
RULE_TESTS = ROOT / "tests/promtool/ktune-alerts.test.yml"


@pytest.fixture(scope="module")
def promtool():
    found = shutil.which("promtool")
    assert found, ("promtool is not on the PATH: apt-get download prometheus, dpkg-deb -x it and copy "
                   "usr/bin/promtool into the venv's bin (tests/run-all.sh does this)")
    return found


def run(*argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, check=False)


def test_rules_file_is_valid(promtool):
    done = run(promtool, "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout
    assert "SUCCESS: 7 rules found" in done.stdout


def test_rules_unit_tests_pass(promtool):
    done = run(promtool, "test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout


def test_every_alert_has_a_unit_test():
    alerts = {rule["alert"] for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    tested = {case["alertname"] for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for case in test.get("alert_rule_test", [])}
    assert alerts == tested
    assert {"KtuneDimmTemperatureNearCritical", "KtuneCpuThermalThrottling", "KtuneNumaMissRatioHigh",
            "KtuneCpuGovernorNotPerformance", "KtuneInstanceDown"} <= alerts


def test_a_wrong_expectation_makes_promtool_fail(promtool, tmp_path):
    suite = yaml.safe_load(RULE_TESTS.read_text())
    suite["rule_files"] = [str(RULES)]
    first = suite["tests"][0]["alert_rule_test"]
    first[1]["exp_alerts"] = []  # the DIMM at 81 of 85 °C does fire at 8m
    wrong = tmp_path / "wrong.test.yml"
    wrong.write_text(yaml.safe_dump(suite, allow_unicode=True))
    done = run(promtool, "test", "rules", str(wrong))
    assert done.returncode != 0
    assert "KtuneDimmTemperatureNearCritical" in done.stdout
