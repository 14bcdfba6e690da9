"""playbooks/audit.yml run by ansible-runner, the engine AWX and Automation Platform run jobs with.

Three local hosts (ansible_connection: local) read fixture sysfs/procfs trees: a production host
at NPS2 and one at NPS4 (expected NPS2), and a development host at NPS1. The job's artifacts
must hold its events (one managed_state result per host, the play's stats) and the audit report,
written into the artifact folder through ktune_report_dir.
"""

import json
import os
import sys
from pathlib import Path

import ansible_runner
import yaml

import checkout
import topologies

ROOT = Path(__file__).resolve().parents[2]
HOSTS = {
    "prod-nps2": ("production", "epyc-2s-nps2"),
    "prod-nps4": ("production", "epyc-2s-nps4"),
    "dev-nps1": ("development", "epyc-2s-nps1"),
}
GROUP_VARS = {"production": {"ktune_expected_nodes_per_socket": 2},
              "development": {"ktune_expected_nodes_per_socket": 1}}
IDENT = "audit"


def write_inventory(folder):
    children = {group: {"vars": dict(values), "hosts": {}} for group, values in GROUP_VARS.items()}
    for host, (group, topology) in HOSTS.items():
        tree = topologies.write_tree(topologies.catalog()[topology], folder / "trees" / host)
        children[group]["hosts"][host] = {"ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc")}
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
                         "children": children}}
    path = folder / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return path


def test_audit_job_artifacts_hold_events_and_report(tmp_path, monkeypatch):
    # ansible-runner starts the ansible-playbook found on PATH: the one of this Python
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    private = tmp_path / "runner"
    artifacts = private / "artifacts" / IDENT
    report_dir = artifacts / "ktune-report"
    private.mkdir()
    runner = ansible_runner.run(
        private_data_dir=str(private),
        ident=IDENT,
        project_dir=str(ROOT),
        playbook=str(ROOT / "playbooks" / "audit.yml"),
        inventory=str(write_inventory(tmp_path)),
        extravars={"ktune_report_dir": str(report_dir)},
        envvars={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
                 "ANSIBLE_COLLECTIONS_PATH": str(checkout.ensure_collection_link()),
                 "ANSIBLE_NOCOLOR": "1"},
        quiet=True,
    )
    stdout = (artifacts / "stdout").read_text()
    # The untuned trees fail controls, so the job fails at its last task, after the report is written.
    assert (runner.status, runner.rc) == ("failed", 2), stdout[-3000:]

    events = [json.loads(path.read_text()) for path in sorted((artifacts / "job_events").glob("*.json"))]
    facts_ok = sorted(event["event_data"]["host"] for event in events
                      if event["event"] == "runner_on_ok" and event["event_data"].get("resolved_action")
                      == "ktune.inference.managed_state")
    assert facts_ok == sorted(HOSTS)
    stats = [event for event in events if event["event"] == "playbook_on_stats"]
    assert len(stats) == 1
    assert sorted(stats[0]["event_data"]["processed"]) == sorted(HOSTS)
    assert stats[0]["event_data"]["dark"] == {}
    # Each host that fails an error control is blamed by its own assert (the untuned trees all do).
    assert stats[0]["event_data"]["failures"] == dict((host, 1) for host in HOSTS)

    report = json.loads((report_dir / "audit.json").read_text())
    assert sorted(report["hosts"]) == sorted(HOSTS)
    layout = {host: [item["status"] for item in entry["controls"] if item["id"] == "numa.layout"]
              for host, entry in report["hosts"].items()}
    assert layout == {"prod-nps2": ["pass"], "prod-nps4": ["fail"], "dev-nps1": ["pass"]}
    assert sorted(report["summary"]["failed_hosts"]) == sorted(HOSTS)  # untuned: governor, balancing...
    assert report["summary"]["unknown"] == 0
    assert (report_dir / "audit.xml").exists() and (report_dir / "audit.html").exists()
    assert "prod-nps4" in stdout
