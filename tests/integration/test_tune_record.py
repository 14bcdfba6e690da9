"""Which ktune tuned a host, end to end on a local host reading a fixture tree (issue 23): tune.yml
--check writes no record, nor does a run of some roles only (--tags); a run writes it (root, 0644, this collection's version and the time);
a second run changes nothing; an older recorded version prints "ktune X tuned this host; this
run is ktune Y", a newer one warns naming the fix; a link in the record's place is replaced, not
followed; audit.json carries the version per host; remove.yml takes the record away.

Every tuning role runs, set so that it writes only under tmp_path (the fixture's sysfs and procfs,
the sysctl file; no persistence unit, no cron job, no USE_NUMA): the record is then the one file the
second run could write. A run of some roles only (--tags) does not record."""

import json
import os
import re
import stat
import sys

import yaml

import topologies
from playbook_run import PROJECT, recap, run_playbook

# remove.yml runs for real: on a controller that is a ktune host it would take these away.
NEVER_WRITTEN = ["/etc/ktune", "/etc/ktransformers", "/etc/cron.d/ktune-drop-caches", "/etc/sysctl.d/90-ktune-numa.conf",
                 "/usr/local/lib/ktune-guard", "/var/lib/ktune-guard", "/etc/systemd/system/ktune-cpufreq.service"]
VERSION = yaml.safe_load((PROJECT / "galaxy.yml").read_text())["version"]
RECORD_TASK = "TASK [Record which ktune tuned the host]"


def test_tune_records_its_version_once_says_upgrades_and_downgrades_and_the_audit_reads_it(tmp_path):
    assert [path for path in NEVER_WRITTEN if os.path.lexists(path)] == [], "this controller is not a ktune host"
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "tree")
    record, marker = tmp_path / "var/lib/ktune-tuned", tmp_path / "var/lib/ktune-removed"
    record.parent.mkdir(parents=True)
    for governor in (tree / "sys/devices/system/cpu/cpufreq").glob("policy*/scaling_governor"):
        governor.write_text("performance\n")
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
            "ktune_expected_nodes_per_socket": 2, "ktune_tune_record": str(record),
            "ktune_removed_marker": str(marker), "ktune_sysctl_file": str(tmp_path / "90-ktune-numa.conf"),
            "ktune_cpu_governor_persist": False, "ktune_drop_caches_state": "absent", "ktune_use_numa": False}
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"gpu-a": host}}}))

    def tune(*args):
        done = run_playbook("tune.yml", [inventory], *args, cwd=tmp_path, timeout=600)
        assert done.returncode == 0, done.output[-4000:]
        done.changed = recap(done.output)["gpu-a"]["changed"]
        return done

    checked = tune("--check", "--diff")
    assert not os.path.lexists(str(record)), "check mode wrote the record"
    assert re.search(re.escape(RECORD_TASK) + r"[^\n]*\n(--- .*\n)*.*?\+version=%s\n" % re.escape(VERSION),
                     checked.output, re.S), checked.output[-4000:]
    assert checked.changed != "0"

    partial = tune("--tags", "nps_layout")
    assert partial.changed == "0" and not os.path.lexists(str(record)), partial.output[-4000:]

    first = tune()
    assert first.changed != "0", first.output[-4000:]
    info = os.lstat(str(record))
    assert (stat.S_ISREG(info.st_mode), info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (True, 0, 0, 0o644)
    text = record.read_text()
    assert "\nversion=%s\n" % VERSION in text
    assert re.search(r"^tuned_at=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", text, re.M), text
    assert "tuned this host; this run is" not in first.output

    second = tune()
    assert second.changed == "0", second.output[-4000:]
    # One module call on the host: the judge's read (the record read with it); the rest is skipped.
    ran = [block.split("]", 1)[0] for block in second.output.split("\nTASK [")[1:]
           if re.search(r"^(ok|changed): \[gpu-a\]", block.split("]", 1)[1], re.M)]
    assert [name for name in ran if not name.startswith("Select ")] == [
        "Name the mistakes in the settings", "Start with no tuning role selected",
        "Read the host once and judge every tuning role", "Show the NUMA layout and what the roles noted"], ran
    assert record.read_text() == text, "a run that changes nothing rewrote the record"
    assert re.search(re.escape(RECORD_TASK) + r"[^\n]*\nskipping: \[gpu-a\]", second.output), second.output[-4000:]

    record.write_text(text.replace("version=%s" % VERSION, "version=0.0.1"))
    upgraded = tune()
    assert "gpu-a: ktune 0.0.1 tuned this host; this run is ktune %s" % VERSION in upgraded.output, upgraded.output[-4000:]
    assert upgraded.changed == "1" and "\nversion=%s\n" % VERSION in record.read_text()

    record.write_text(text.replace("version=%s" % VERSION, "version=99.0.0"))
    downgraded = tune()
    warning = " ".join(downgraded.output.split())
    assert ("[WARNING]: gpu-a: tuned by a NEWER ktune: expected ktune %s or older in %s, found ktune 99.0.0"
            % (VERSION, record)) in warning, downgraded.output[-4000:]
    assert "Fix: install ktune.inference 99.0.0 or later" in warning

    # A link in the record's place (to a file root keeps elsewhere) is replaced, its target untouched.
    target = tmp_path / "elsewhere"
    target.write_text("not ktune's\n")
    record.unlink()
    record.symlink_to(target)
    relinked = tune()
    assert "is not one ktune wrote (a symbolic link, not followed); this run replaces it" in " ".join(
        relinked.output.split()), relinked.output[-4000:]
    assert not record.is_symlink() and "\nversion=%s\n" % VERSION in record.read_text()
    assert target.read_text() == "not ktune's\n"

    record.write_text(text.replace("version=%s" % VERSION, "version=0.0.1"))
    audited = run_playbook("audit.yml", [inventory], "-e", "ktune_report_dir=%s" % (tmp_path / "report"),
                           cwd=tmp_path, timeout=600)
    assert audited.returncode in (0, 2), audited.output[-4000:]
    report = json.loads((tmp_path / "report/audit.json").read_text())
    tuned_by = report["summary"]["tuned_by"]["gpu-a"]
    assert (tuned_by["state"], tuned_by["version"], tuned_by["running"], tuned_by["comparison"]) == (
        "present", "0.0.1", VERSION, "upgrade"), tuned_by
    assert set(report["hosts"]["gpu-a"]) == {"status", "controls"}

    removed = run_playbook("remove.yml", [inventory], cwd=tmp_path, timeout=600)
    assert removed.returncode == 0, removed.output[-4000:]
    assert not os.path.lexists(str(record))
    assert marker.read_text().startswith("ktune removed by playbooks/remove.yml at ")
