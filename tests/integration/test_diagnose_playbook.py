"""playbooks/diagnose.yml (the ktune.inference.diagnose role) end to end on a local host reading a
fixture tree: the bundle and summary.md on the controller, the findings judged against the
inventory's settings (not a literal), --check, missing tools noted and never fatal, the temporary
directory removed, and bad input failing before anything is collected, naming the variable."""

import json
import os
import re
import sys
import tarfile
import time
from pathlib import Path

import pytest

import topologies
from playbook_run import recap, run_playbook

FAST = ["-e", "ktune_diagnose_window_s=0", "-e", "ktune_diagnose_samples=1", "-e", "ktune_diagnose_perf_s=0"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """gpu-a: a two-socket NPS1 host whose cpufreq policies run schedutil (acpi-cpufreq, no EPP);
    gpu-b: NPS2, amd-pstate-epp on powersave with EPP balance_performance (tests/topologies.py).
    Neither has a BMC tool; both have the NUMA sysctls at 1, live and persisted."""
    base = tmp_path_factory.mktemp("diagnose")
    hosts = {}
    for host, topology in (("gpu-a", "epyc-2s-nps1"), ("gpu-b", "epyc-2s-nps2")):
        tree = topologies.write_tree(topologies.catalog()[topology], base / host)
        (base / host / "remote-tmp").mkdir()
        hosts[host] = {"ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
                       "ktune_diagnose_remote_tmp": str(base / host / "remote-tmp"),
                       "ktune_sysctl_file": str(base / "90-ktune-numa.conf")}
    (base / "90-ktune-numa.conf").write_text("kernel.numa_balancing = 1\nvm.zone_reclaim_mode = 1\n")
    for host in hosts:
        assert (base / host / "proc/sys/vm/zone_reclaim_mode").read_text() == "1\n"
        (base / host / "proc/sys/kernel").mkdir(parents=True, exist_ok=True)
        (base / host / "proc/sys/kernel/numa_balancing").write_text("1\n")
    policies = base / "gpu-a/sys/devices/system/cpu/cpufreq"
    assert {path.read_text().strip() for path in policies.glob("policy*/scaling_governor")} == {"schedutil"}
    assert not list(policies.glob("policy*/energy_performance_preference"))
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                  "ktune_monitoring_ipmitool": str(base / "no-such-ipmitool")},
                         "hosts": hosts}}
    (base / "hosts.yml").write_text(json.dumps(inventory))
    runs = []

    def run(*args, limit="gpu-a", env=None):
        dest = base / ("dest-%d" % len(runs))
        runs.append(dest)
        done = run_playbook("diagnose.yml", [base / "hosts.yml"], "--limit", limit,
                            "-e", "ktune_diagnose_dest=%s" % dest, *(FAST + list(args)), cwd=base, timeout=300,
                            env=env)
        done.dest = dest / "gpu-a"
        done.dests = dict((host, dest / host) for host in hosts)
        done.leftovers = sorted(path.name for host in hosts for path in (base / host / "remote-tmp").iterdir())
        return done

    run.base = base
    return run


def summary_of(done, host="gpu-a"):
    assert done.returncode == 0, done.output[-3000:]
    return (done.dests[host] / "summary.md").read_text()


def causes(summary):
    return re.findall(r"^\d+\. \*\*(.+?)\*\* \(", summary, re.M)


def judged(summary):
    """The causes the inventory's settings decide (not the host's heat, memory or logs)."""
    return [cause for cause in causes(summary)
            if "governor" in cause or "layout" in cause or "EPP" in cause or "NUMA kernel settings" in cause]


@pytest.fixture(scope="module")
def defaults(site):
    """Both hosts with the roles' defaults: governor performance, EPP performance in active mode,
    numa_balancing and zone_reclaim_mode 0, no layout asserted."""
    return site(limit="gpu-a,gpu-b")


def test_bundle_and_summary_on_the_controller_and_nothing_left_on_the_host(defaults):
    summary = summary_of(defaults)
    with tarfile.open(defaults.dests["gpu-a"] / "gpu-a-diagnostics.tar.gz") as bundle:
        members = {Path(member).name for member in bundle.getnames()}
        packed = bundle.extractfile("gpu-a-diagnostics/summary.md").read().decode()
    assert {"meminfo.txt", "cpufreq-policies.txt", "cpu-frequency-samples.txt", "numa-facts.json",
            "thermal-facts-start.json", "thermal-facts-end.json", "kernel-thermal-mce.txt",
            "journal-ktransformers.txt", "summary.md", "missing.tsv", "ipmitool.txt", "host-state.json",
            "audit-controls.json"} <= members
    assert packed == summary
    assert summary.startswith("# Diagnosis of gpu-a\n")
    assert "- ipmitool: " in summary  # no BMC tool: noted, the run still passed
    assert defaults.leftovers == []
    rows = recap(defaults.output)
    assert (rows["gpu-a"]["failed"], rows["gpu-b"]["failed"]) == ("0", "0")


def test_findings_expect_the_inventorys_settings_not_literals(site, defaults):
    """gpu-a runs schedutil without EPP, gpu-b powersave with EPP balance_performance; both have
    kernel.numa_balancing and vm.zone_reclaim_mode 1 live and in ktune_sysctl_file."""
    assert judged(summary_of(defaults)) == ["CPU governor is not performance",
                                            "NUMA kernel settings differ from the inventory (numa.balancing)"]
    assert "vm.zone_reclaim_mode = 1 live, expected 0" in summary_of(defaults)
    # The governor is an error control, EPP and the NUMA kernel settings warnings (the audit's
    # severities), in the audit's order.
    assert judged(summary_of(defaults, "gpu-b")) == ["CPU governor is not performance",
                                                     "NUMA kernel settings differ from the inventory (numa.balancing)",
                                                     "EPP is not what the inventory asks for (cpufreq.epp)"]
    assert "**CPU governor is not performance** (error)" in summary_of(defaults, "gpu-b")
    assert "expected EPP performance, found policy0-63: balance_performance" in summary_of(defaults, "gpu-b")

    # The inventory asks for what gpu-a has: no judged finding on gpu-a.
    done = site("-e", "ktune_cpu_governor=schedutil", "-e", "ktune_expected_nodes_per_socket=1",
                "-e", "ktune_numa_balancing=1", "-e", "ktune_zone_reclaim_mode=1")
    assert judged(summary_of(done)) == []

    # Another governor, layout and EPP: named with the inventory's values.
    done = site("-e", "ktune_cpu_governor=powersave", "-e", "ktune_expected_nodes_per_socket=4",
                "-e", "ktune_cpu_epp=power", "-e", "ktune_numa_balancing=1", "-e", "ktune_zone_reclaim_mode=1",
                limit="gpu-a,gpu-b")
    assert judged(summary_of(done)) == ["Wrong NUMA layout", "CPU governor is not powersave"]
    assert "NPS4" in summary_of(done)
    assert judged(summary_of(done, "gpu-b")) == ["Wrong NUMA layout",
                                                 "EPP is not what the inventory asks for (cpufreq.epp)"]
    assert "expected EPP power, found policy0-63: balance_performance" in summary_of(done, "gpu-b")


def test_check_mode_collects_too_and_cleans_up(site):
    done = site("--check")
    assert summary_of(done).startswith("# Diagnosis of gpu-a\n")
    assert (done.dest / "gpu-a-diagnostics.tar.gz").is_file()
    assert done.leftovers == []


def test_a_layout_that_cannot_be_read_is_noted_not_fatal(site, tmp_path):
    (tmp_path / "sys").mkdir()
    done = site("-e", "ktune_sysfs_root=%s" % (tmp_path / "sys"))
    summary = summary_of(done)
    assert re.search(r"^- numa-layout: .+", summary, re.M), summary
    assert (done.dest / "gpu-a-diagnostics.tar.gz").is_file() and done.leftovers == []


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
    # ansible-core 2.16's YAML result format doubles the quotes inside a quoted message.
    output = re.sub(r"\s+", " ", done.output).replace("''", "'")
    assert done.returncode == 2, output[-3000:]
    assert message in output
    assert recap(done.output)["gpu-a"]["failed"] == "1"
    assert not done.dest.parent.exists() and done.leftovers == []
    assert "TASK [ktune.inference.diagnose : Read the NUMA layout" not in done.output


# --- issue 21, item 4: no secret in a bundle, the summary or -vvv output; bundles private -------

KNOWN_KEY = "canary-known-key-5f1e2d3c4b"
ENV_TOKEN = "canary-env-token-77aa88bb"
LOGGED_KEY = "canary-logged-key-9a8b7c6d"


def test_no_key_in_the_bundle_the_summary_or_vvv_and_the_bundle_is_private(site, tmp_path):
    """A journal that logs the inventory's key and another one (SGLang logs its server_args) is
    redacted before it is packed; every read of it is no_log; the bundle and its folder are
    owner-only; a directory an interrupted run left behind is removed."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "journalctl").write_text(
        "#!/bin/sh\n"
        "case \" $* \" in *' -k '*) echo 'kernel: mce: nothing'; exit 0;; esac\n"
        "echo \"2026-12-07T03:00:00+0000 gpu-a sglang[11]: server_args=ServerArgs(model_path='/m', "
        "api_key='%s', port=30000)\"\n"
        "echo '2026-12-07T03:00:01+0000 gpu-a ktransformers[12]: started with key %s'\n"
        "echo '2026-12-07T03:00:02+0000 gpu-a ktransformers[12]: hub login %s, 10 shards'\n"
        % (LOGGED_KEY, KNOWN_KEY, ENV_TOKEN))
    (fake / "journalctl").chmod(0o755)
    stale = site.base / "gpu-a" / "remote-tmp" / "ktune-diagnostics.interrupted"
    stale.mkdir()
    (stale / "journal-ktransformers.txt").write_text("left by a run cut short\n")
    two_hours_ago = time.time() - 7200
    os.utime(str(stale), (two_hours_ago, two_hours_ago))
    old_tarball = site.base / "gpu-a" / "remote-tmp" / "ktune-diagnostics.abc123.tar.gz"  # beside it, before 0.2
    old_tarball.write_bytes(b"old bundle")
    os.utime(str(old_tarball), (two_hours_ago, two_hours_ago))
    done = site("-vvv", "-e", json.dumps({"ktune_service_instances": [
        {"name": "r1", "model_path": "/srv/m", "gguf_path": "/srv/g", "api_key": KNOWN_KEY,
         "environment": {"HF_TOKEN": ENV_TOKEN, "OMP_NUM_THREADS": "10"}}]}),
        env={"PATH": "%s:%s" % (fake, os.environ["PATH"])})
    assert done.returncode == 0, done.output[-3000:]
    assert KNOWN_KEY not in done.output and LOGGED_KEY not in done.output and ENV_TOKEN not in done.output
    bundle_path = done.dests["gpu-a"] / "gpu-a-diagnostics.tar.gz"
    with tarfile.open(bundle_path) as bundle:
        journal = bundle.extractfile("gpu-a-diagnostics/journal-ktransformers.txt").read().decode()
        packed = b"".join(bundle.extractfile(member).read() for member in bundle.getmembers() if member.isfile())
    assert "api_key='<redacted>'" in journal and "started with key <redacted>" in journal
    assert "hub login <redacted>, 10 shards" in journal  # a short value ("10") is no secret: left alone
    assert KNOWN_KEY.encode() not in packed and LOGGED_KEY.encode() not in packed and ENV_TOKEN.encode() not in packed
    summary = (done.dests["gpu-a"] / "summary.md").read_text()
    assert KNOWN_KEY not in summary and LOGGED_KEY not in summary
    assert oct(bundle_path.stat().st_mode & 0o777) == "0o600"
    assert oct((done.dests["gpu-a"] / "summary.md").stat().st_mode & 0o777) == "0o600"
    assert oct(done.dests["gpu-a"].stat().st_mode & 0o777) == "0o700"
    assert done.leftovers == []
