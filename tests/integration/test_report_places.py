"""Where the controller's reports land (issue 23 item 3, issue 27): audit.yml's reports and
diagnose.yml's bundles under the directory the operator runs ansible-playbook from, never next to
the playbook or inside the collection; an audit whose hosts are all unreachable still writes
audit.json, audit.xml and audit.html listing them, and exits 4."""

import json
import sys
import xml.etree.ElementTree as ET

import topologies
from playbook_run import PROJECT, recap, run_playbook

UNREACHABLE = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9,
               "ansible_ssh_common_args": "-o ConnectTimeout=5"}
FAST = ["-e", "ktune_diagnose_window_s=0", "-e", "ktune_diagnose_samples=1", "-e", "ktune_diagnose_perf_s=0"]


def collection_files():
    """Every path in the checkout (the collection), but the link the tests make, caches, and the
    build-ignored folder other tests running beside this one keep their artifacts in."""
    skip = {".git", "collections", ".pytest_cache", ".ansible", ".hypothesis", "test-artifacts"}
    return set(str(path.relative_to(PROJECT)) for path in PROJECT.rglob("*")
               if not skip.intersection(path.relative_to(PROJECT).parts))


def only_child(folder):
    children = list(folder.iterdir())
    assert len(children) == 1, children
    return children[0]


def test_an_audit_with_no_reachable_host_writes_its_reports_in_the_working_directory(tmp_path):
    inventory = tmp_path / "inv/hosts.yml"
    inventory.parent.mkdir()
    inventory.write_text(json.dumps({"all": {"hosts": {"gpu-1": UNREACHABLE, "gpu-2": UNREACHABLE}}}))
    work = tmp_path / "operator"
    work.mkdir()
    before = collection_files()
    done = run_playbook("audit.yml", [inventory], cwd=work, timeout=300)
    assert done.returncode == 4, done.output[-3000:]
    rows = recap(done.output)
    assert {host: (row["unreachable"], row["failed"]) for host, row in rows.items()} == \
        {"gpu-1": ("1", "0"), "gpu-2": ("1", "0")}, rows
    report_dir = only_child(work / "ktune-reports")
    assert sorted(path.name for path in report_dir.iterdir()) == ["audit.html", "audit.json", "audit.xml"]
    report = json.loads((report_dir / "audit.json").read_text())
    assert sorted(report["summary"]["unknown_hosts"]) == ["gpu-1", "gpu-2"]
    assert all(reason.startswith("unreachable:") for reason in report["summary"]["unknown_hosts"].values())
    junit = ET.parse(report_dir / "audit.xml").getroot()
    assert {case.get("classname") for case in junit.iter("testcase")} == {"gpu-1", "gpu-2"}
    html = (report_dir / "audit.html").read_text()
    assert "gpu-1" in html and "gpu-2" in html and "unreachable" in html
    assert "report: %s" % (report_dir / "audit.html") in done.output
    assert collection_files() == before


def test_a_report_folder_inside_the_collection_is_refused_naming_the_variable(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"gpu-1": UNREACHABLE}}}))
    before = collection_files()
    done = run_playbook("audit.yml", [inventory], "-e", "ktune_report_dir=%s" % (PROJECT / "playbooks/reports"),
                        cwd=tmp_path, timeout=300)
    assert done.returncode != 0
    assert "ktune_report_dir: expected a folder outside the collection ktune.inference" in done.output
    assert "Fix: run ansible-playbook from your own working directory" in done.output
    assert collection_files() == before


def diagnose_site(base):
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], base / "host")
    (base / "remote-tmp").mkdir()
    inventory = base / "hosts.yml"
    inventory.write_text(json.dumps({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "ktune_monitoring_ipmitool": str(base / "no-such-ipmitool")},
        "hosts": {"gpu-a": {"ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
                            "ktune_diagnose_remote_tmp": str(base / "remote-tmp"),
                            "ktune_sysctl_file": str(base / "90-ktune-numa.conf")}}}}))
    return inventory


def test_diagnose_bundles_land_under_the_working_directory_not_the_playbook(tmp_path):
    inventory = diagnose_site(tmp_path)
    work = tmp_path / "operator"
    work.mkdir()
    before = collection_files()
    done = run_playbook("diagnose.yml", [inventory], *FAST, cwd=work, timeout=300)
    assert done.returncode == 0, done.output[-3000:]
    bundle = only_child(work / "ktune-diagnostics") / "gpu-a"
    assert sorted(path.name for path in bundle.iterdir()) == ["gpu-a-diagnostics.tar.gz", "summary.md"]
    # The copy-paste fixes name this inventory and host (the fixture's governor is not the expected one).
    summary = (bundle / "summary.md").read_text()
    assert "ansible-playbook %s -i %s --limit gpu-a --tags cpu_governor" % (PROJECT / "playbooks/tune.yml", inventory) \
        in summary, summary
    assert "INVENTORY" not in summary and "--limit HOST" not in summary
    assert collection_files() == before


def test_diagnose_run_from_inside_the_collection_stops_before_collecting(tmp_path):
    inventory = diagnose_site(tmp_path)
    before = collection_files()
    done = run_playbook("diagnose.yml", [inventory], *FAST, cwd=PROJECT / "playbooks", timeout=300)
    assert done.returncode == 2, done.output[-3000:]
    assert "ktune_diagnose_dest: expected a folder outside the collection ktune.inference" in done.output
    assert "-e ktune_diagnose_dest=DIR" in done.output
    assert collection_files() == before
    assert not list((tmp_path / "remote-tmp").iterdir())
