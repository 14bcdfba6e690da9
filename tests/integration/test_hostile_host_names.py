"""Inventory host names that are no file names (../../escape, -rf) on the controller: the
diagnosis bundle and summary, the performance baseline and the audit report land inside their
folders, under the name the host_path_component filter gives, and the audit finds the baseline
chart it embeds under that same name. Issue 21, item 5."""

import json
import sys
import threading

import pytest

import topologies
from fake_ktransformers.server import StreamPlan, bench_server, stop_bench_server
from playbook_run import recap, run_playbook

ESCAPING = "../../escape"
OPTION = "-rf"
FILE_NAMES = {ESCAPING: "%2E.%2F..%2Fescape", OPTION: "%2Drf"}
FAST_DIAGNOSIS = ["-e", "ktune_diagnose_window_s=0", "-e", "ktune_diagnose_samples=1", "-e", "ktune_diagnose_perf_s=0"]


def files_under(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The two hosts read one NPS2 fixture tree; the controller works in work/deep/er."""
    base = tmp_path_factory.mktemp("hostile-names")
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], base / "fixture")
    work = base / "work" / "deep" / "er"
    work.mkdir(parents=True)
    hosts = {}
    for host in FILE_NAMES:
        (base / "remote-tmp" / FILE_NAMES[host]).mkdir(parents=True)
        hosts[host] = {"ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
                       "ktune_diagnose_remote_tmp": str(base / "remote-tmp" / FILE_NAMES[host]),
                       "ktune_sysctl_file": str(base / "90-ktune-numa.conf")}
    inventory = {"all": {"vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                  "ktune_monitoring_ipmitool": str(base / "no-such-ipmitool")},
                         "hosts": hosts}}
    (base / "hosts.yml").write_text(json.dumps(inventory))
    (base / "environment").write_text('PATH="/usr/bin:/bin"\nUSE_NUMA=1\n')
    return {"base": base, "work": work, "inventory": base / "hosts.yml"}


def stray(site, *folders):
    """Files written anywhere but the given folders (and the test's own inputs)."""
    inputs = ("fixture/", "hosts.yml", "environment", "remote-tmp/")
    allowed = tuple(str(folder.relative_to(site["base"])) + "/" for folder in folders)
    return [path for path in files_under(site["base"]) if not path.startswith(inputs + allowed)]


def test_diagnosis_bundles_stay_inside_the_dest_folder(site):
    dest = site["work"] / "diagnostics"
    done = run_playbook("diagnose.yml", [site["inventory"]], "-e", "ktune_diagnose_dest=%s" % dest, *FAST_DIAGNOSIS,
                        cwd=site["work"], timeout=300)
    assert stray(site, dest) == [], done.output[-3000:]
    assert done.returncode == 0, done.output[-3000:]
    assert files_under(dest) == sorted("%s/%s" % (name, file) for name in FILE_NAMES.values()
                                       for file in ("%s-diagnostics.tar.gz" % name, "summary.md"))
    summary = (dest / FILE_NAMES[ESCAPING] / "summary.md").read_text()
    assert summary.startswith("# Diagnosis of ../../escape\n")
    assert set(recap(done.output)) == set(FILE_NAMES)


def test_baselines_and_the_audit_report_stay_inside_their_folders_and_find_each_other(site):
    plan = StreamPlan(tokens_per_s=300, ttft_s=0.01, fixed_length=True)
    server = bench_server(plan, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        url = "http://127.0.0.1:%d" % server.server_address[1]
        done = run_playbook("baseline.yml", [site["inventory"]], "-f", "1", "-e", "ktune_baseline_url=%s" % url,
                            "-e", "ktune_baseline_requests=4", "-e", "ktune_baseline_max_tokens=8",
                            "-e", "ktune_baseline_environment_file=%s" % (site["base"] / "environment"),
                            cwd=site["work"], timeout=300)
    finally:
        stop_bench_server(server, plan)
        thread.join(10)
    baselines = site["work"] / "ktune-baselines"
    assert stray(site, site["work"] / "diagnostics", baselines) == [], done.output[-3000:]
    assert done.returncode == 0, done.output[-3000:]
    assert files_under(baselines) == sorted("%s/%s" % (name, file) for name in FILE_NAMES.values()
                                            for file in ("baseline.json", "curve.svg", "last.json"))
    report = site["work"] / "report"
    done = run_playbook("audit.yml", [site["inventory"]], "-e", "ktune_report_dir=%s" % report, cwd=site["work"],
                        timeout=300)
    assert files_under(report) == ["audit.html", "audit.json", "audit.xml"], done.output[-3000:]
    page = (report / "audit.html").read_text()
    assert page.count('<div class="curve">') == 2 and "not shown" not in page
    assert "../../escape: tokens/s" in page
    assert stray(site, site["work"] / "diagnostics", baselines, report) == []
