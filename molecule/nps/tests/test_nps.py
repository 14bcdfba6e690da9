"""Verify the nps scenario: verdicts per host, facts equal to each fixture, and tune.yml's exit code."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests"))
import topologies  # noqa: E402
from playbook_run import recap  # noqa: E402  (one PLAY RECAP parser for every scenario)

CATALOG = topologies.catalog()
FIXTURE_OF = {
    "nps2-prod": "epyc-2s-nps2",
    "nps4-prod": "epyc-2s-64c-nps4",
    "snc-dev": "xeon8592-2s-snc-off",
    "cxl-dev": "xeon-2s-cxl-memory-only",
}
FAILURE_OF = {
    "nps2-prod": None,
    "nps4-prod": "nps4-prod: expected NPS2 (4 nodes on 2 sockets), found NPS4 (8 nodes with CPUs on 2 sockets). "
                 "Fix: set the BIOS option NUMA nodes per socket to NPS2",
    "snc-dev": None,
    "cxl-dev": "cxl-dev: expected no memory-only NUMA nodes, found nodes 2, 3 with memory and no CPUs",
}


def record(host, name):
    return json.loads(host.file("/var/lib/ktune-test/%s.json" % name).content_string)


def test_layout_verdict(host):
    name = host.backend.get_hostname()
    outcome = record(host, "nps_outcome")
    expected_failure = FAILURE_OF[name]
    if expected_failure is None:
        assert outcome == {"passed": True, "msg": ""}
    else:
        assert outcome["passed"] is False
        assert outcome["msg"].startswith(expected_failure)


def test_facts_equal_the_fixture(host):
    name = host.backend.get_hostname()
    topology = CATALOG[FIXTURE_OF[name]]
    facts = record(host, "ktune_numa")
    assert facts["vendor"] == topology.vendor
    assert facts["cpus_online"] == len(topology.online)
    assert facts["sockets"] == len(set(topology.socket_of.values()))
    assert facts["node_ids"] == [node.id for node in topology.nodes]
    assert [n["cpulist"] for n in facts["nodes"]] == [topologies.cpulist(node.cpus) for node in topology.nodes]
    assert [n["memory_mb"] for n in facts["nodes"]] == [node.memory_mb for node in topology.nodes]


def test_the_container_sees_the_fixture_not_the_host(host):
    name = host.backend.get_hostname()
    topology = CATALOG[FIXTURE_OF[name]]
    online = host.file("/sys/devices/system/cpu/online").content_string.strip()
    assert online == topologies.cpulist(topology.online)
    assert host.run("systemctl is-system-running").stdout.strip() in ("running", "degraded")


@pytest.fixture(scope="module")
def tune_run():
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    env = dict(os.environ, ANSIBLE_CONFIG=str(PROJECT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run(
        ["ansible-playbook", str(PROJECT / "playbooks/tune.yml"), "-i", inventory, "--check", "--tags", "nps_layout"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_tune_playbook_fails_exactly_the_mismatching_hosts(tune_run):
    rows = recap(tune_run.stdout)
    assert tune_run.returncode == 2, tune_run.stdout[-3000:] + tune_run.stderr[-2000:]
    assert {host: row["failed"] for host, row in rows.items()} == {
        host: "0" if failure is None else "1" for host, failure in FAILURE_OF.items()}
    assert all(row["changed"] == "0" for row in rows.values())
    for failure in FAILURE_OF.values():
        if failure:
            assert failure in tune_run.stdout + tune_run.stderr
