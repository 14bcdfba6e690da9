"""playbooks/bios.yml in real ansible-playbook runs against fake BMCs (tests/fake_bmc.py), one per host.

The hosts are localhost with a fixture sysfs tree each; a BMC's reset rewrites its host's tree to the
layout the BIOS now has, as a real reboot would, so the playbook's check of the kernel's view is
the real one (ktune.inference.numa_facts on the tree).
"""

import json
import shutil
import sys

import pytest

import topologies
from fake_bmc import FakeBmc
from playbook_run import recap, run_playbook

PASSWORD = "bmc-vault-pass-7d1e"
NPS = {"NumaNodesPerSocket": {"1": 1, "2": 2, "4": 4},
       "NumaMemoryDomainsPerSocket": {"OneMemoryDomainPerSocket": 1, "TwoMemoryDomainsPerSocket": 2,
                                      "FourMemoryDomainsPerSocket": 4}}


def words(output):
    """The output with the YAML callback's line wrapping undone."""
    return " ".join(output.split())


def _write_layout(tree, nodes_per_socket):
    shutil.rmtree(tree, ignore_errors=True)
    topologies.write_tree(topologies.catalog()["epyc-2s-nps%d" % nodes_per_socket], tree)


@pytest.fixture
def fleet(tmp_path):
    """fleet({host: dict(flavor=..., kernel_follows=True, **FakeBmc options)}) -> (run, bmcs, trees)."""
    started = []

    def make(hosts):
        bmcs, trees, inventory = {}, {}, {}
        for name, options in hosts.items():
            options = dict(options)
            flavor = options.pop("flavor", "dell")
            kernel_follows = options.pop("kernel_follows", True)
            tree = tmp_path / name
            trees[name] = tree

            def switch(bmc, tree=tree, kernel_follows=kernel_follows):
                if kernel_follows:
                    _write_layout(tree, NPS[bmc.attribute][bmc.current[bmc.attribute]])
            bmc = FakeBmc(flavor, password=PASSWORD, on_reset=switch, **options).start()
            started.append(bmc)
            bmcs[name] = bmc
            _write_layout(tree, NPS[bmc.attribute][bmc.current[bmc.attribute]] if bmc.attribute else 4)
            guard = tmp_path / ("guard-" + name)
            guard.mkdir()
            (guard / "token").write_text("t" * 32)
            inventory[name] = {
                "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
                "ktune_bmc_address": bmc.url, "ktune_bmc_username": "root", "ktune_bmc_password": PASSWORD,
                "ktune_expected_nodes_per_socket": 2, "ktune_expected_sockets": 2,
                "ktune_guard_state_dir": str(guard), "ktune_bios_boot_delay": 0, "ktune_bios_boot_timeout": 20,
                "ktune_bios_graceful_timeout": 1,
            }
        (tmp_path / "hosts.yml").write_text(json.dumps({"all": {"hosts": inventory}}))

        def run(*args):
            done = run_playbook("bios.yml", [tmp_path / "hosts.yml"], *args, cwd=tmp_path, timeout=600)
            assert PASSWORD not in done.output
            assert not any(token in done.output for bmc in bmcs.values() for token in bmc.tokens_issued)
            assert all(bmc.sessions == {} for bmc in bmcs.values())  # every session this run opened was deleted
            return done
        return run, bmcs, trees
    yield make
    for bmc in started:
        bmc.stop()


def test_check_mode_sends_nothing_and_diff_shows_the_values(fleet):
    run, bmcs, dummy = fleet({"dell-1": {"flavor": "dell"}, "hpe-1": {"flavor": "hpe"}})
    done = run("--check", "--diff", "-vvv")
    assert done.returncode == 0, done.output
    assert all(bmc.changes() == [] for bmc in bmcs.values())
    assert all(bmc.session_log and bmc.session_log[-1][0] == "logout" for bmc in bmcs.values())
    assert "pending TwoMemoryDomainsPerSocket" in done.output and "current FourMemoryDomainsPerSocket" in done.output
    assert "would PATCH /redfish/v1/Systems/1/Bios/Settings" in words(done.output)
    assert recap(done.output)["dell-1"]["changed"] == "1"


def test_stages_then_a_second_run_changes_nothing_while_pending(fleet):
    run, bmcs, dummy = fleet({"dell-1": {"flavor": "dell"}, "hpe-1": {"flavor": "hpe"},
                              "done-1": {"flavor": "dell"}})
    bmcs["done-1"].current["NumaNodesPerSocket"] = "2"
    done = run("-v")
    assert done.returncode == 0, done.output
    rows = recap(done.output)
    assert (rows["dell-1"]["changed"], rows["hpe-1"]["changed"], rows["done-1"]["changed"]) == ("1", "1", "0")
    assert bmcs["dell-1"].staged() == {"NumaNodesPerSocket": "2"}
    assert bmcs["done-1"].changes() == []
    assert all(bmc.resets == [] for bmc in bmcs.values())

    again = run()
    assert again.returncode == 0, again.output
    assert {host: row["changed"] for host, row in recap(again.output).items()} == {
        "dell-1": "0", "hpe-1": "0", "done-1": "0"}
    assert "staged, applies at next reboot" in words(again.output)
    assert [method for method, dummy in bmcs["dell-1"].changes()] == ["PATCH", "POST"]  # the PATCH and Dell's job


def test_a_stale_pending_value_is_replaced(fleet):
    run, bmcs, dummy = fleet({"dell-1": {"flavor": "dell"}})
    bmcs["dell-1"].stage_elsewhere("1")
    done = run()
    assert done.returncode == 0, done.output
    assert bmcs["dell-1"].staged() == {"NumaNodesPerSocket": "2"}


def test_a_bmc_without_the_attribute_fails_that_host_alone(fleet):
    run, bmcs, dummy = fleet({"bare-1": {"flavor": "none"}, "dell-1": {"flavor": "dell"}})
    done = run()
    assert done.returncode != 0
    rows = recap(done.output)
    assert rows["bare-1"]["failed"] == "1" and rows["dell-1"]["failed"] == "0"
    assert bmcs["dell-1"].staged() == {"NumaNodesPerSocket": "2"}
    assert "bare-1" in done.output and bmcs["bare-1"].url in done.output
    assert "NUMANodesPerSocket#<hash>" in words(done.output)


def test_bad_input_stops_every_host_before_any_bmc_is_asked(fleet):
    run, bmcs, dummy = fleet({"dell-1": {"flavor": "dell"}, "dell-2": {"flavor": "dell"}})
    done = run("-e", "ktune_expected_nodes_per_socket=5")
    assert done.returncode != 0
    assert "ktune_expected_nodes_per_socket: expected 0, 1, 2, 3 or 4" in done.output
    assert all(bmc.requests == [] for bmc in bmcs.values())


def test_reboot_in_batches_verifies_the_kernel_and_stops_after_a_failed_batch(fleet, tmp_path):
    run, bmcs, trees = fleet({
        "a": {"flavor": "hpe"},
        "b": {"flavor": "dell", "kernel_follows": False},  # the BIOS takes it, the kernel still shows NPS4
        "c": {"flavor": "dell"},
        "ok": {"flavor": "hpe"},  # already right: no restart
        "d": {"flavor": "hpe"},
    })
    bmcs["ok"].current["NumaMemoryDomainsPerSocket"] = "TwoMemoryDomainsPerSocket"
    bmcs["ok"].pending = dict(bmcs["ok"].current)
    _write_layout(trees["ok"], 2)
    done = run("-e", "ktune_bios_reboot=true", "-e", '{"ktune_bios_batches": [1, 3, 1]}')
    assert done.returncode != 0
    rows = recap(done.output)
    assert rows["a"]["failed"] == "0" and rows["c"]["failed"] == "0" and rows["b"]["failed"] == "1"
    assert (rows["d"]["ok"], rows["d"]["changed"]) == ("1", "0")  # only the input check: its batch never started
    assert bmcs["d"].requests == []

    assert bmcs["a"].resets == ["GracefulRestart"] and bmcs["c"].resets == ["GracefulRestart"]
    assert bmcs["ok"].resets == [] and bmcs["ok"].changes() == []
    said = words(done.output)
    assert "b: after the restart the BIOS reports NumaNodesPerSocket \"2\" but the kernel shows: expected NPS2" in said
    assert "found NPS4" in said and "The host stays drained" in said
    # restored where the layout took; the failed host stays drained
    assert not (tmp_path / "guard-a" / "drain.json").exists()
    assert not (tmp_path / "guard-c" / "drain.json").exists()
    assert json.loads((tmp_path / "guard-b" / "drain.json").read_text())["instances"] == ["*"]


def test_reboot_check_mode_restarts_nothing(fleet):
    run, bmcs, dummy = fleet({"a": {"flavor": "hpe"}})
    done = run("--check", "-e", "ktune_bios_reboot=true")
    assert done.returncode == 0, done.output
    assert bmcs["a"].changes() == [] and bmcs["a"].resets == []
    assert "would drain, restart through the BMC and verify the layout" in words(done.output)


def test_the_audit_grades_a_staged_layout_and_an_unreadable_bmc(fleet, tmp_path):
    run, bmcs, dummy = fleet({"staged": {"flavor": "dell"}, "right": {"flavor": "hpe"}, "down": {"flavor": "dell"}})
    bmcs["staged"].stage_elsewhere("2")
    bmcs["right"].current["NumaMemoryDomainsPerSocket"] = "TwoMemoryDomainsPerSocket"
    bmcs["right"].pending = dict(bmcs["right"].current)
    bmcs["down"].stop()  # its address now refuses connections
    done = run_playbook("audit.yml", [tmp_path / "hosts.yml"], "-v", "-e", "ktune_report_dir=%s" % (tmp_path / "r"),
                        cwd=tmp_path, timeout=600)
    assert done.returncode in (0, 2), done.output  # graded (the fixture hosts may fail other controls), none unreachable
    assert PASSWORD not in done.output
    assert not any(token in done.output for bmc in bmcs.values() for token in bmc.tokens_issued)
    assert all(bmc.changes() == [] and bmc.sessions == {} for name, bmc in bmcs.items() if name != "down")
    report = json.loads((tmp_path / "r/audit.json").read_text())
    graded = dict((host, dict((c["id"], c) for c in entry["controls"])) for host, entry in report["hosts"].items())
    assert (graded["staged"]["bios.pending"]["status"], graded["staged"]["bios.pending"]["severity"]) == (
        "fail", "warning")
    assert "NumaNodesPerSocket \"2\" staged (current \"4\"): staged, applies at next reboot" in \
        graded["staged"]["bios.pending"]["finding"]
    assert graded["staged"]["bios.pending"]["fix"].endswith(
        "--limit staged -e ktune_bios_reboot=true")  # a command to copy: the real inventory and host
    assert (graded["right"]["bios.pending"]["status"], graded["right"]["bios.readable"]["status"]) == ("pass", "pass")
    assert graded["down"]["bios.readable"]["status"] == "unknown"
    assert "expected the BIOS layout read through the BMC, found the read failed" in \
        graded["down"]["bios.readable"]["finding"]
    assert graded["down"]["bios.pending"]["status"] == "skip"
    assert report["summary"]["controls"]["bios.readable"]["unknown"] == 1
    junit = (tmp_path / "r/audit.xml").read_text()
    assert '<testcase classname="down" name="bios.readable"><error message=' in junit
