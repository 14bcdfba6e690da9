"""ktune_transparent_hugepage end to end on a local host reading a fixture sysfs tree: the audit grades
the live mode and its persistence as two warnings, tune.yml --check --diff shows the change it would
make and writes nothing, a wrong value stops tune naming the variable."""

import json
import sys

import pytest

import topologies
from playbook_run import recap, run_playbook

ENABLED = "sys/kernel/mm/transparent_hugepage/enabled"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("thp")
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], base / "host")
    (tree / ENABLED).write_text("always [madvise] never\n")
    for path in (tree / "sys/devices/system/cpu/cpufreq").glob("policy*/scaling_governor"):
        path.write_text("performance\n")
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
            "ktune_expected_nodes_per_socket": 2, "ktune_drop_caches_state": "absent", "ktune_use_numa": False,
            "ktune_transparent_hugepage": "never"}
    (base / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"thp": host}}}))

    def run(playbook, *args):
        return run_playbook(playbook, [base / "hosts.yml"], *args, cwd=base, timeout=600)

    run.base, run.tree = base, tree
    return run


def test_the_audit_grades_the_live_mode_and_its_persistence_apart(site):
    report = site.base / "report"
    done = site("audit.yml", "-e", "ktune_report_dir=%s" % report)
    assert done.returncode == 0, done.output[-3000:]  # warnings: shown, not fatal
    controls = dict((c["id"], c) for c in json.loads((report / "audit.json").read_text())["hosts"]["thp"]["controls"])
    live = controls["memory.transparent_hugepage"]
    assert (live["status"], live["severity"]) == ("fail", "warning")
    assert live["finding"] == "transparent hugepages madvise live, expected never (%s)" % (site.tree / ENABLED)
    assert "--tags numa_env" in live["fix"]
    boot = controls["memory.transparent_hugepage_persisted"]
    assert (boot["status"], boot["severity"]) == ("fail", "warning")
    assert boot["finding"].startswith("transparent hugepages not kept at boot, expected never")


def test_tune_check_with_diff_shows_the_change_and_writes_nothing(site):
    done = site("tune.yml", "--check", "--diff", "--tags", "numa_env")
    assert done.returncode == 0, done.output[-4000:]
    assert "TASK [ktune.inference.numa_env : Set transparent hugepages now and at boot]" in done.output
    assert "-madvise\n+never" in done.output, done.output[-4000:]
    assert "+w %s - - - - never" % (site.tree / ENABLED) in done.output
    assert recap(done.output)["thp"]["changed"] != "0"
    assert (site.tree / ENABLED).read_text() == "always [madvise] never\n"


def test_a_wrong_value_stops_tune_before_any_change_naming_the_variable(site):
    done = site("tune.yml", "--check", "--tags", "numa_env", "-e", "ktune_transparent_hugepage=sometimes")
    assert done.returncode != 0
    assert "ktune_transparent_hugepage" in done.output and "sometimes" in done.output
    assert "TASK [ktune.inference.numa_env : Set transparent hugepages now and at boot]" not in done.output
    assert (site.tree / ENABLED).read_text() == "always [madvise] never\n"
