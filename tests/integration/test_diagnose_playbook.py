"""playbooks/diagnose.yml (the ktune.inference.diagnose role) end to end on a local host reading a
fixture tree: the bundle and summary.md on the controller, the findings judged against the
inventory's settings (not a literal), --check, missing tools noted and never fatal, the temporary
directory removed, and bad input failing before anything is collected, naming the variable."""

import json
import re
import sys
import tarfile
from pathlib import Path

import pytest

import topologies
from playbook_run import recap, run_playbook

FAST = ["-e", "ktune_diagnose_window_s=0", "-e", "ktune_diagnose_samples=1", "-e", "ktune_diagnose_perf_s=0"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """gpu-a: a two-socket NPS1 host whose cpufreq policies run schedutil (acpi-cpufreq), no BMC."""
    base = tmp_path_factory.mktemp("diagnose")
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps1"], base / "tree")
    governors = {path.read_text().strip() for path in
                 (tree / "sys/devices/system/cpu/cpufreq").glob("policy*/scaling_governor")}
    assert governors == {"schedutil"}  # what the tests below rely on
    (base / "remote-tmp").mkdir()
    inventory = {"all": {"hosts": {"gpu-a": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
        "ktune_diagnose_remote_tmp": str(base / "remote-tmp"),
        "ktune_monitoring_ipmitool": str(base / "no-such-ipmitool"),
    }}}}
    (base / "hosts.yml").write_text(json.dumps(inventory))
    runs = []

    def run(*args):
        dest = base / ("dest-%d" % len(runs))
        runs.append(dest)
        done = run_playbook("diagnose.yml", [base / "hosts.yml"], "-e", "ktune_diagnose_dest=%s" % dest,
                            *(FAST + list(args)), cwd=base, timeout=300)
        done.dest = dest / "gpu-a"
        done.leftovers = sorted(path.name for path in (base / "remote-tmp").iterdir())
        return done

    return run


def summary_of(done):
    assert done.returncode == 0, done.output[-3000:]
    return (done.dest / "summary.md").read_text()


def causes(summary):
    return re.findall(r"^\d+\. \*\*(.+?)\*\* \(", summary, re.M)


def test_bundle_and_summary_on_the_controller_and_nothing_left_on_the_host(site):
    done = site()
    summary = summary_of(done)
    with tarfile.open(done.dest / "gpu-a-diagnostics.tar.gz") as bundle:
        members = {Path(member).name for member in bundle.getnames()}
        packed = bundle.extractfile("gpu-a-diagnostics/summary.md").read().decode()
    assert {"meminfo.txt", "cpufreq-policies.txt", "cpu-frequency-samples.txt", "numa-facts.json",
            "thermal-facts-start.json", "thermal-facts-end.json", "kernel-thermal-mce.txt",
            "journal-ktransformers.txt", "summary.md", "missing.tsv", "ipmitool.txt"} <= members
    assert packed == summary
    assert summary.startswith("# Diagnosis of gpu-a\n")
    assert "- ipmitool: " in summary  # no BMC tool: noted, the run still passed
    assert done.leftovers == []
    assert recap(done.output)["gpu-a"]["failed"] == "0"


def test_the_governor_finding_expects_ktune_cpu_governor_not_a_literal(site):
    """The host runs schedutil: a finding with the default (performance), none when the inventory
    asks for schedutil, and one naming schedutil when the host would run something else."""
    assert "CPU governor is not performance" in causes(summary_of(site()))
    assert [cause for cause in causes(summary_of(site("-e", "ktune_cpu_governor=schedutil")))
            if "governor" in cause] == []
    assert "CPU governor is not powersave" in causes(summary_of(site("-e", "ktune_cpu_governor=powersave")))


def test_the_layout_finding_expects_the_inventorys_layout(site):
    assert "Wrong NUMA layout" not in causes(summary_of(site("-e", "ktune_expected_nodes_per_socket=1")))
    summary = summary_of(site("-e", "ktune_expected_nodes_per_socket=2"))
    assert "Wrong NUMA layout" in causes(summary) and "NPS2" in summary


def test_check_mode_collects_too_and_cleans_up(site):
    done = site("--check")
    assert summary_of(done).startswith("# Diagnosis of gpu-a\n")
    assert (done.dest / "gpu-a-diagnostics.tar.gz").is_file()
    assert done.leftovers == []


@pytest.mark.parametrize("extra, message", [
    (["-e", "ktune_diagnose_samples=0"],
     "gpu-a: ktune_diagnose_samples = '0': expected a whole number of CPU frequency samples over the window, 1 or more"),
    (["-e", '{"ktune_diagnose_thresholds": {"dimm_hot": 80}}'],
     "gpu-a: ktune_diagnose_thresholds.dimm_hot is not a threshold: expected one of dimm_hot_c, dimm_margin_c"),
    (["-e", '{"ktune_diagnose_thresholds": {"numa_miss_ratio": 5}}'],
     "gpu-a: ktune_diagnose_thresholds.numa_miss_ratio = 5: expected a share from 0 to 1"),
    (["-e", "ktune_diagnose_window_s=ten"], "ktune_diagnose_window_s"),
])
def test_bad_input_fails_before_anything_is_collected(site, extra, message):
    done = site(*extra)
    output = re.sub(r"\s+", " ", done.output)
    assert done.returncode == 2, output[-3000:]
    assert message in output
    assert recap(done.output)["gpu-a"]["failed"] == "1"
    assert not done.dest.parent.exists() and done.leftovers == []
