"""playbooks/remove.yml on a host ktune never touched (issue 27): --check succeeds with no extra
variables and would change nothing; after a removal the audit says "not managed". The removal of
every file and unit runs in molecule/remove."""

import json
import os
import re
import sys

import topologies
from playbook_run import recap, run_playbook

NEVER_WRITTEN = ["/etc/ktune", "/etc/ktransformers", "/etc/cron.d/ktune-drop-caches", "/etc/sysctl.d/90-ktune-numa.conf",
                 "/usr/local/lib/ktune-guard", "/var/lib/ktune-guard", "/etc/systemd/system/ktune-cpufreq.service"]


def test_check_on_a_host_ktune_never_touched_succeeds_and_changes_nothing(tmp_path):
    assert [path for path in NEVER_WRITTEN if os.path.lexists(path)] == [], "this controller is not a ktune host"
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("fresh ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    done = run_playbook("remove.yml", [inventory], "--check", "--diff", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.output[-3000:]
    row = recap(done.output)["fresh"]
    assert (row["changed"], row["failed"]) == ("0", "0"), row


def test_after_a_removal_the_audit_says_not_managed_and_tune_takes_the_host_back(tmp_path):
    """A host whose only ktune file is its NUMA sysctl file (pointed into tmp_path; nothing else of
    ktune is on this controller): the audit grades it, remove.yml takes the file and leaves its
    marker, then the audit reports the host "not managed" (exit 0, every control skipped saying
    why) instead of failing it; tune would delete the marker."""
    assert [path for path in NEVER_WRITTEN if os.path.lexists(path)] == [], "this controller is not a ktune host"
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "tree")
    sysctl_file, marker = tmp_path / "90-ktune-numa.conf", tmp_path / "ktune-removed"
    sysctl_file.write_text("kernel.numa_balancing = 0\n")
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
            "ktune_sysctl_file": str(sysctl_file), "ktune_removed_marker": str(marker),
            "ktune_expected_nodes_per_socket": 2}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"gpu-a": host}}}))

    def audit(name):
        done = run_playbook("audit.yml", [inventory], "-e", "ktune_report_dir=%s" % (tmp_path / name),
                            cwd=tmp_path, timeout=300)
        done.report = json.loads((tmp_path / name / "audit.json").read_text())["hosts"]["gpu-a"]
        return done

    before = audit("before")
    assert before.returncode == 2 and before.report["status"] == "fail", before.output[-3000:]

    removed = run_playbook("remove.yml", [inventory], cwd=tmp_path, timeout=300)
    assert removed.returncode == 0, removed.output[-3000:]
    assert not sysctl_file.exists()
    assert marker.read_text().startswith("ktune removed by playbooks/remove.yml at ")

    after = audit("after")
    assert after.returncode == 0, after.output[-3000:]
    assert after.report["status"] == "not managed"
    assert set(item["status"] for item in after.report["controls"]) == {"skip"}
    assert all(item["finding"].startswith("not managed: ktune removed by playbooks/remove.yml at ")
               for item in after.report["controls"])
    assert re.search(r"^\s*- gpu-a\s+ungrouped\s+not managed\s+-\s+-$", after.output, re.M), after.output[-3000:]
    assert "fails error controls" not in after.output

    again = run_playbook("remove.yml", [inventory], cwd=tmp_path, timeout=300)
    assert recap(again.output)["gpu-a"]["changed"] == "0", again.output[-3000:]

    tune = run_playbook("tune.yml", [inventory], "--check", cwd=tmp_path, timeout=600)
    assert tune.returncode == 0, tune.output[-3000:]
    assert re.search(r"TASK \[Manage the host again after a removal\][^\n]*\nchanged: \[gpu-a\]", tune.output), \
        tune.output[-3000:]


def test_a_named_file_path_that_is_a_folder_stops_the_removal_before_anything_goes(tmp_path):
    """ktune_tune_record pointed at a folder (say /var/lib/ktune, the canary gate's state): remove.yml
    would have deleted the folder and everything in it as root; it stops first, naming the variable,
    and removes nothing (the sysctl file it would remove stays too)."""
    folder = tmp_path / "var-lib-ktune"
    (folder / "canary-gate").mkdir(parents=True)
    (folder / "canary-gate" / "state").write_text("kept\n")
    sysctl_file, marker = tmp_path / "90-ktune-numa.conf", tmp_path / "ktune-removed"
    sysctl_file.write_text("kernel.numa_balancing = 0\n")
    inventory = tmp_path / "hosts.yml"
    for record in (str(folder), str(folder) + "/", "relative/record"):
        inventory.write_text(json.dumps({"all": {"hosts": {"gpu-a": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "ktune_sysctl_file": str(sysctl_file), "ktune_removed_marker": str(marker),
            "ktune_tune_record": record}}}}))
        done = run_playbook("remove.yml", [inventory], cwd=tmp_path, timeout=300)
        assert done.returncode == 2, done.output[-3000:]
        assert "gpu-a: ktune_tune_record = %s: expected the absolute path of the file ktune wrote, found" \
            % json.dumps(record) in re.sub(r"\s+", " ", done.output), done.output[-3000:]
        assert "Nothing was removed. Fix: set ktune_tune_record to the file" in re.sub(r"\s+", " ", done.output)
        assert (folder / "canary-gate" / "state").read_text() == "kept\n"
        assert sysctl_file.exists() and not marker.exists()
