"""After a BIOS layout change, playbooks/audit.yml fails a host whose kt-kernel weights were converted
for the old count of NUMA thread pools (service.weights_layout), naming the host, the weight path and
the conversion to run; the same inventory passes the control where the weights match.

Two local hosts read fixture trees: both are NPS4 now (2 sockets, 8 nodes, so an SGLang instance
starts 8 pools); "stale" still has the weights converted under NPS2 (4 pools), "fresh" has weights
converted again for 8. The weight directories are shaped as kt-kernel's converter writes them
(tests/unit/kt_weight_tree.py), in a copy of the hosts' tree read under ktune_weights_root (not /);
"badroot" sets ktune_weights_root to a relative path and is graded unknown, naming the variable."""

import json
import re
import sys

import pytest

import topologies
from playbook_run import run_playbook
from ansible_collections.ktune.inference.tests.unit.kt_weight_tree import write_merged


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    base = tmp_path_factory.mktemp("weights")
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps4"], base / "host")
    for path in (tree / "sys/devices/system/cpu/cpufreq").glob("policy*/scaling_governor"):
        path.write_text("performance\n")
    copy = base / "copy"
    stale, fresh = "/models/DeepSeek-V3-AMXINT4-NUMA4", "/models/DeepSeek-V3-AMXINT4-NUMA8"
    write_merged(str(copy) + stale, 4)
    write_merged(str(copy) + fresh, 8)

    def host(weights, root=str(copy)):
        return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ktune_weights_root": root,
                "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
                "ktune_expected_nodes_per_socket": 4, "ktune_drop_caches_state": "absent", "ktune_use_numa": False,
                "ktune_service_instances": [{"name": "k2", "backend": "sglang", "port": 30011,
                                             "model_path": str(base / "models" / "DeepSeek-V3"),
                                             "kt_weight_path": weights, "kt_cpuinfer": 60}]}
    hosts = {"stale": host(stale), "fresh": host(fresh), "badroot": host(fresh, root="copy")}
    (base / "hosts.yml").write_text(json.dumps({"all": {"hosts": hosts}}))
    report = base / "report"
    done = run_playbook("audit.yml", [base / "hosts.yml"], "-e", "ktune_report_dir=%s" % report, cwd=base,
                        timeout=600)
    done.hosts = json.loads((report / "audit.json").read_text())["hosts"]
    done.controls = dict((name, dict((c["id"], c) for c in entry["controls"])) for name, entry in done.hosts.items())
    done.stale, done.fresh = stale, fresh
    return done


def test_weights_cut_for_the_old_layout_fail_the_host_naming_path_and_conversion(audit):
    # Nothing runs the instances here, so service.active fails both hosts too: exit 2 either way.
    assert audit.returncode == 2, audit.output[-3000:]
    control = audit.controls["stale"]["service.weights_layout"]
    assert (control["status"], control["severity"]) == ("fail", "error")
    assert control["finding"] == ("k2: expected kt-kernel weights cut for 8 thread pools (--kt-threadpool-count 8, "
                                  "nodes 0 1 2 3 4 5 6 7), found 4 thread pools in %s" % audit.stale)
    assert "--threadpool-count 8; then set kt_weight_path: %s" % audit.fresh in control["fix"]
    # The console names the host with the finding.
    assert "stale: fails error controls:" in audit.output
    assert "service.weights_layout (k2: expected kt-kernel weights cut for 8 thread pools" in audit.output


def test_weights_converted_again_pass_the_same_control(audit):
    control = audit.controls["fresh"]["service.weights_layout"]
    assert control["status"] == "pass", control
    assert control["finding"] == "k2: %s is cut for 8 thread pools, as started" % audit.fresh


def test_a_relative_weights_root_is_graded_unknown_naming_the_variable(audit):
    # Nothing is read under it: the host's read fails, so no control is graded, and the host fails.
    assert audit.hosts["badroot"] == {"status": "unknown", "controls": []}
    assert "ktune_weights_root = 'copy': expected an absolute path without control characters or newlines, such " \
           "as / (the directory kt_weight_path is read under; / on a live host). Fix: correct it in the inventory " \
           "or on the command line" in audit.output
    assert re.search(r"badroot +: ok=[0-9]+ +changed=0 +unreachable=0 +failed=1 ", audit.output), audit.output[-2000:]
