"""playbooks/audit.yml end to end on local hosts reading fixture trees, plus one unreachable host:
the PLAY RECAP blames exactly the hosts that fail, an unreachable host is unreachable there, the
exit status tells the three outcomes apart, and the JUnit file fails only on error controls."""

import json
import re
import shlex
import sys
import xml.etree.ElementTree as ET

import pytest

import topologies
from playbook_run import PROJECT, recap, run_playbook


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """good: NPS2 as expected, governor performance, no cron or USE_NUMA wanted (passes, with warnings);
    bad: NPS4 where NPS2 is expected (fails numa.layout and more); gone: nothing listens on its port."""
    base = tmp_path_factory.mktemp("audit")
    catalog = topologies.catalog()
    for name in ("epyc-2s-nps2", "epyc-2s-nps4"):
        topologies.write_tree(catalog[name], base / name)
    for path in (base / "epyc-2s-nps2/sys/devices/system/cpu/cpufreq").glob("policy*/scaling_governor"):
        path.write_text("performance\n")
    hosts = {
        # First in the inventory: the host a run_once task runs on.
        "good": {"ktune_sysfs_root": str(base / "epyc-2s-nps2/sys"), "ktune_procfs_root": str(base / "epyc-2s-nps2/proc"),
                 "ktune_drop_caches_state": "absent", "ktune_use_numa": False},
        "bad": {"ktune_sysfs_root": str(base / "epyc-2s-nps4/sys"), "ktune_procfs_root": str(base / "epyc-2s-nps4/proc")},
        "gone": {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9,
                 "ansible_ssh_common_args": "-o ConnectTimeout=5"},
    }
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                  "ktune_expected_nodes_per_socket": 2},
                         "hosts": hosts}}
    (base / "hosts.yml").write_text(json.dumps(inventory))

    def run(limit):
        report = base / ("report-" + limit.replace(",", "-"))
        done = run_playbook("audit.yml", [base / "hosts.yml"], "--limit", limit, "-e", "ktune_report_dir=%s" % report,
                            cwd=base, timeout=300)
        done.report = report
        return done

    return run


def test_all_hosts_pass_exit_0(site):
    done = site("good")
    assert done.returncode == 0, done.output[-3000:]
    assert recap(done.output)["good"]["failed"] == "0"


def test_recap_blames_the_failing_host_not_the_first(site):
    done = site("good,bad")
    assert done.returncode == 2, done.output[-3000:]
    rows = recap(done.output)
    assert (rows["good"]["failed"], rows["bad"]["failed"]) == ("0", "1"), rows
    assert "bad: fails error controls: numa.layout (expected NPS2 (4 nodes on 2 sockets), found NPS4" in done.output
    assert "fix: set the BIOS option NUMA nodes per socket to NPS2" in done.output


def test_fix_hints_name_the_real_inventory_and_host(site):
    done = site("good,bad")
    # Run from the inventory's folder: the inventory as typed; the checkout's playbook by its path.
    tune = "ansible-playbook %s -i hosts.yml --limit bad --tags" % (PROJECT / "playbooks/tune.yml")
    assert tune in done.output
    report = json.loads((done.report / "audit.json").read_text())
    fixes = [item["fix"] for item in report["hosts"]["bad"]["controls"] if "ansible-playbook" in item.get("fix", "")]
    assert fixes and all(fix.startswith(tune) for fix in fixes), fixes
    assert "INVENTORY" not in done.output and "--limit HOST" not in (done.report / "audit.html").read_text()


def test_unreachable_host_is_unreachable_and_exits_4(site):
    done = site("good,bad,gone")
    assert done.returncode == 4, done.output[-3000:]
    rows = recap(done.output)
    assert rows["gone"]["unreachable"] == "1" and rows["gone"]["failed"] == "0", rows
    assert (rows["good"]["failed"], rows["bad"]["failed"]) == ("0", "1"), rows
    report = json.loads((done.report / "audit.json").read_text())
    assert report["summary"]["unknown_hosts"]["gone"].startswith("unreachable:")


def test_console_table_keeps_its_columns_for_the_unreachable_host(site):
    done = site("good,bad,gone")
    # The debug task prints the table as a YAML list: "    - gone  ungrouped  unknown  -  -".
    rows = [re.sub(r"^\s*- ", "", line).strip("'\"").split() for line in done.output.splitlines()]
    row = [cells for cells in rows if cells[:1] == ["gone"] and ":" not in cells][0]
    assert row == ["gone", "ungrouped", "unknown", "-", "-"], row
    assert "gone: not audited: unreachable:" in done.output


def test_junit_fails_only_on_error_controls(site):
    done = site("good,bad")
    root = ET.parse(done.report / "audit.xml").getroot()
    report = json.loads((done.report / "audit.json").read_text())
    assert report["summary"]["warning_failures"] >= 2  # numa.balancing and cpufreq.epp warn on both hosts
    failed = [(case.get("classname"), case.get("name")) for case in root.iter("testcase") if case.find("failure") is not None]
    assert failed == [("bad", item["id"]) for item in report["hosts"]["bad"]["controls"]
                      if item["status"] == "fail" and item["severity"] == "error"]
    assert root.get("failures") == str(report["summary"]["error_failures"])
    warned = [case for case in root.iter("testcase") if case.get("classname") == "good" and case.get("name") == "cpufreq.epp"]
    assert warned[0].find("system-out").text.startswith("warning: ")


PYTHON_RECORDER = """#!/bin/sh
# Stands in for the host's Python: notes the module file of each run Ansible starts, then runs it.
echo "${1##*/}" >> %s
exec %s "$@"
"""


def test_the_audit_runs_one_module_on_each_host(tmp_path):
    """Every Python process Ansible starts for a host is noted by that host's interpreter (a recorder
    in front of the real one); with pipelining off each names the AnsiballZ file it runs."""
    catalog = topologies.catalog()
    hosts = {}
    for name, topology in (("first", "epyc-2s-nps2"), ("second", "epyc-2s-nps4")):
        tree = topologies.write_tree(catalog[topology], tmp_path / name)
        recorder = tmp_path / ("python-" + name)
        recorder.write_text(PYTHON_RECORDER % (shlex.quote(str(tmp_path / (name + ".runs"))), shlex.quote(sys.executable)))
        recorder.chmod(0o755)
        hosts[name] = {"ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
                       "ansible_python_interpreter": str(recorder), "ansible_pipelining": False}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"vars": {"ansible_connection": "local"}, "hosts": hosts}}))
    done = run_playbook("audit.yml", [inventory], "-e", "ktune_report_dir=%s" % (tmp_path / "report"), cwd=tmp_path,
                        timeout=300)
    assert done.returncode == 2, done.output[-3000:]  # the untuned trees fail controls
    report = json.loads((tmp_path / "report/audit.json").read_text())
    assert sorted(report["hosts"]) == ["first", "second"] and report["summary"]["unknown"] == 0
    runs = dict((name, (tmp_path / (name + ".runs")).read_text().split()) for name in hosts)
    assert runs == {"first": ["AnsiballZ_managed_state.py"], "second": ["AnsiballZ_managed_state.py"]}, runs
