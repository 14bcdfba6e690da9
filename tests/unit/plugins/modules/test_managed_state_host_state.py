"""ktune.inference.managed_state's host_state: everything the audit grades, in one read-only pass over
a fixture host (sysfs, procfs and /etc files); the readers in module_utils/host_state.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import http.server
import os
import threading

import pytest

import topologies
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.module_utils import host_state
from ansible_collections.ktune.inference.plugins.modules import managed_state

CRON = """# managed by ktune
SHELL=/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
43 * * * * root {script} --level 3 --procfs-root /proc
"""


@pytest.fixture
def host(tmp_path):
    """An NPS2 host with amd-pstate-epp, its /etc files under tmp_path/etc."""
    topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path)
    etc = tmp_path / "etc"
    (etc / "cron.d").mkdir(parents=True)
    (etc / "sysctl.d").mkdir()
    (etc / "ktransformers").mkdir()
    script = tmp_path / "ktune-drop-caches"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    (etc / "cron.d/ktune-drop-caches").write_text(CRON.format(script=script))
    (etc / "sysctl.d/90-ktune-numa.conf").write_text(
        "# managed\n-kernel.numa_balancing = 0\n-vm.zone_reclaim_mode = 0\n")
    (etc / "environment").write_text('PATH="/usr/bin"\nUSE_NUMA=0\n')
    (etc / "ktransformers/r1.env").write_text("HOME=/var/lib/ktransformers\nexport USE_NUMA=1\n")
    (etc / "ktransformers/other.conf").write_text("USE_NUMA=1\n")
    return tmp_path


def host_state_for(tree, **extra):
    """The host_state options that read the fixture host's /etc files."""
    etc = tree / "etc"
    options = {"cron_file": str(etc / "cron.d/ktune-drop-caches"), "sysctl_file": str(etc / "sysctl.d/90-ktune-numa.conf"),
               "environment_file": str(etc / "environment"), "env_dir": str(etc / "ktransformers"),
               "removed_marker": str(tree / "var/lib/ktune-removed")}
    options.update(extra)
    return options


def args_for(tree, **extra):
    """managed_state's arguments for the audit's read of the fixture host."""
    return {"sysfs_root": str(tree / "sys"), "procfs_root": str(tree / "proc"),
            "host_state": host_state_for(tree, **extra)}


def checksums(tree):
    sums = {}
    for folder, _unused, files in os.walk(tree):
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                sums[path] = hashlib.md5(handle.read()).hexdigest()
    return sums


@pytest.mark.parametrize("check_mode", [False, True])
def test_reads_every_section_and_writes_nothing(host, check_mode):
    before = checksums(host)
    result, failed = run_module(managed_state, args_for(host), check_mode=check_mode)
    assert not failed
    assert result["changed"] is False
    assert checksums(host) == before
    facts = result["ansible_facts"]
    assert facts["ktune_numa"]["layout"] == "NPS2"
    state = facts["ktune_host_state"]
    assert state["cpufreq"] == {
        "applicable": True, "policy_count": 64, "driver": "amd-pstate-epp", "active_mode": True,
        "governors": {"powersave": "0-63"}, "available_governors": ["performance", "powersave"],
        "epp": {"balance_performance": "0-63"},
        "epp_choices": ["balance_performance", "balance_power", "default", "performance", "power"]}
    job = state["page_cache"]["jobs"][0]
    assert state["page_cache"]["present"] is True
    assert job["schedule"] == ["43", "*", "*", "*", "*"]
    assert job["user"] == "root"
    assert job["argv"][1:] == ["--level", "3", "--procfs-root", "/proc"]
    assert job["script_executable"] is True
    assert state["sysctl"]["persisted"] == {"kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 0}
    assert state["sysctl"]["live"] == {"kernel.numa_balancing": 1, "vm.zone_reclaim_mode": 1}
    assert state["services"] == {"units": []}


def test_finds_use_numa_in_environment_and_env_files_only(host):
    result, _unused = run_module(managed_state, args_for(host))
    use_numa = result["ansible_facts"]["ktune_host_state"]["use_numa"]
    assert [f["file"] for f in use_numa["files"]] == [str(host / "etc/environment"),
                                                      str(host / "etc/ktransformers/r1.env")]
    assert [(os.path.basename(d["file"]), d["line_number"], d["value"]) for d in use_numa["definitions"]] == [
        ("environment", 2, "0"), ("r1.env", 2, "1")]


def test_listed_env_files_replace_the_directory_search(host):
    listed = host / "custom.env"
    listed.write_text("USE_NUMA\n")
    missing = host / "missing.env"
    result, _unused = run_module(managed_state, args_for(host, extra_env_files=[str(listed), str(missing)]))
    use_numa = result["ansible_facts"]["ktune_host_state"]["use_numa"]
    assert [(f["file"], f["exists"]) for f in use_numa["files"]] == [
        (str(host / "etc/environment"), True), (str(listed), True), (str(missing), False)]
    assert [d["value"] for d in use_numa["definitions"]] == ["0", None]


def test_absent_files_and_no_cpufreq_are_reported_not_failed(tmp_path):
    topologies.write_tree(topologies.catalog()["vm-1node-no-cpufreq"], tmp_path)
    result, failed = run_module(managed_state, args_for(tmp_path))
    assert not failed
    state = result["ansible_facts"]["ktune_host_state"]
    assert state["cpufreq"] == {
        "applicable": False, "policy_count": 0, "bare_metal": False,
        "reason": "no cpufreq policies: %s/sys/devices/system/cpu/cpufreq does not exist" % tmp_path,
        "virtual": "virtual machine: the CPUs have the hypervisor flag", "dmi": "QEMU Standard PC (Q35 + ICH9, 2009)"}
    assert state["page_cache"] == {"path": str(tmp_path / "etc/cron.d/ktune-drop-caches"), "present": False, "jobs": []}
    assert state["sysctl"]["file_present"] is False
    assert state["sysctl"]["live"]["kernel.numa_balancing"] is None
    assert state["use_numa"] == {"files": [{"file": str(tmp_path / "etc/environment"), "exists": False}],
                                 "definitions": []}


def test_bare_metal_without_cpufreq_is_told_apart_from_a_vm(tmp_path):
    topologies.write_tree(topologies.catalog()["epyc-2s-nps2-no-cpufreq"], tmp_path)
    result, failed = run_module(managed_state, args_for(tmp_path))
    assert not failed
    cpufreq = result["ansible_facts"]["ktune_host_state"]["cpufreq"]
    assert (cpufreq["applicable"], cpufreq["bare_metal"], cpufreq["virtual"]) == (False, True, None)
    assert cpufreq["dmi"] == "Dell Inc. PowerEdge R7625"


def test_unreadable_section_is_reported_with_its_file_and_the_rest_still_read(host):
    broken = host / "sys/devices/system/cpu/cpufreq/policy3/scaling_driver"
    broken.unlink()
    broken.mkdir()
    result, failed = run_module(managed_state, args_for(host))
    assert not failed
    state = result["ansible_facts"]["ktune_host_state"]
    assert str(broken) in state["cpufreq"]["error"]
    assert state["page_cache"]["present"] is True
    assert result["ansible_facts"]["ktune_numa"]["layout"] == "NPS2"


def test_host_state_joins_the_other_reads_and_leaves_their_results_as_they_were(host):
    env = str(host / "etc/environment")
    other = {"files": [env], "line_pattern": "USE_NUMA", "sysctls": ["kernel.numa_balancing"],
             "sysfs_root": str(host / "sys"), "procfs_root": str(host / "proc")}
    alone, failed = run_module(managed_state, other)
    assert not failed and "ansible_facts" not in alone
    both, failed = run_module(managed_state, dict(other, host_state=host_state_for(host)))
    assert not failed
    assert dict((key, both[key]) for key in alone) == alone
    assert both["files"][env]["matching_lines"] == ["USE_NUMA=0"]
    assert sorted(both["ansible_facts"]) == ["ktune_host_state", "ktune_numa"]
    assert sorted(both["ansible_facts"]["ktune_host_state"]) == ["cpufreq", "files", "page_cache", "removal",
                                                                 "services", "sysctl", "sysfs_root", "tune_record",
                                                                 "use_numa"]


def test_the_removal_marker_is_read_with_what_it_says(host):
    result, failed = run_module(managed_state, args_for(host))
    assert not failed
    assert result["ansible_facts"]["ktune_host_state"]["removal"] == {
        "marker": str(host / "var/lib/ktune-removed"), "removed": False, "note": ""}
    (host / "var/lib").mkdir(parents=True, exist_ok=True)
    (host / "var/lib/ktune-removed").write_text("ktune removed by playbooks/remove.yml at 2026-12-07T16:00:00Z\n")
    result, failed = run_module(managed_state, args_for(host))
    assert not failed
    removal = result["ansible_facts"]["ktune_host_state"]["removal"]
    assert (removal["removed"], removal["note"]) == (True, "ktune removed by playbooks/remove.yml at 2026-12-07T16:00:00Z")


def test_the_tune_record_is_read_with_the_host_state_and_alone_in_the_same_call(host):
    """The audit reads it in host_state, tune with the top-level option; both by the one reader."""
    record = host / "var/lib/ktune-tuned"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text("# ktune\nversion=0.1.0\ntuned_at=2026-12-07T23:00:00Z\n")
    result, failed = run_module(managed_state, dict(args_for(host, tune_record=str(record)), tune_record=str(record)))
    assert not failed
    expected = {"path": str(record), "state": "present", "version": "0.1.0", "tuned_at": "2026-12-07T23:00:00Z",
                "reason": None}
    assert result["ansible_facts"]["ktune_host_state"]["tune_record"] == expected
    assert result["tune_record"] == expected
    record.unlink()
    os.symlink(str(host / "etc/environment"), str(record))
    result, failed = run_module(managed_state, {"tune_record": str(record)})
    assert not failed
    assert (result["tune_record"]["state"], result["tune_record"]["reason"]) == ("unknown", "a symbolic link, not followed")
    result, failed = run_module(managed_state, {})
    assert not failed and "tune_record" not in result


def test_an_empty_host_state_reads_everything_with_the_defaults(tmp_path):
    topologies.write_tree(topologies.catalog()["vm-1node-no-cpufreq"], tmp_path)
    result, failed = run_module(managed_state, {"sysfs_root": str(tmp_path / "sys"),
                                                "procfs_root": str(tmp_path / "proc"), "host_state": {}})
    assert not failed
    state = result["ansible_facts"]["ktune_host_state"]
    assert state["page_cache"]["path"] == "/etc/cron.d/ktune-drop-caches"
    assert state["sysctl"]["file"] == "/etc/sysctl.d/90-ktune-numa.conf"
    assert sorted(state["sysctl"]["live"]) == ["kernel.numa_balancing", "vm.zone_reclaim_mode"]
    assert state["use_numa"]["files"][0]["file"] == "/etc/environment"
    assert state["removal"]["marker"] == "/var/lib/ktune-removed"
    assert state["tune_record"]["path"] == "/var/lib/ktune-tuned"
    assert result["ansible_facts"]["ktune_numa"]["node_count"] == 1


def test_numa_and_host_state_read_the_layout_once(host, monkeypatch):
    reads, read = [], host_state.gather_numa_facts

    def counted(*args):
        reads.append(args)
        return read(*args)
    monkeypatch.setattr(managed_state, "gather_numa_facts", counted)
    monkeypatch.setattr(host_state, "gather_numa_facts", counted)
    result, failed = run_module(managed_state, dict(args_for(host), numa=True))
    assert not failed
    assert len(reads) == 1
    assert result["ansible_facts"]["ktune_numa"]["layout"] == "NPS2"
    assert "cpufreq" in result["ansible_facts"]["ktune_host_state"]


def test_an_unreadable_layout_is_reported_for_the_audit_and_fails_when_numa_is_asked(host):
    broken = host / "sys/devices/system/node/node1/distance"
    broken.write_text("10 12\n")
    result, failed = run_module(managed_state, args_for(host))
    assert not failed
    assert str(broken) in result["ansible_facts"]["ktune_numa"]["error"]
    assert result["ansible_facts"]["ktune_host_state"]["page_cache"]["present"] is True
    result, failed = run_module(managed_state, dict(args_for(host), numa=True))
    assert failed and str(broken) in result["msg"] and result["path"] == str(broken)


def test_a_host_state_sysctl_name_outside_procfs_fails_naming_the_option(host):
    result, failed = run_module(managed_state, args_for(host, sysctls=["kernel.numa_balancing", "../../etc/passwd"]))
    assert failed
    assert result["msg"].startswith("host_state.sysctls: ") and "'../../etc/passwd'" in result["msg"]


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        self.send_response(200 if self.path == "/v1/models" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def health_servers():
    """Two local HTTP servers answering 200 on /v1/models and 404 elsewhere; yields their ports."""
    servers = [http.server.HTTPServer(("127.0.0.1", 0), _Health) for _unused in range(2)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    yield [server.server_address[1] for server in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


def test_services_get_units_and_real_http_answers(host, health_servers):
    legacy_port, sglang_port = health_servers
    numa = host_state.gather_numa_facts(str(host / "sys"), str(host / "proc"))
    instances, error = host_state.expected_instances(
        [{"name": "r1", "model_path": "/m", "gguf_path": "/g", "port": legacy_port},
         {"name": "kimi", "backend": "sglang", "model_path": "/m", "kt_weight_path": "/w", "port": sglang_port,
          "share_cpus_with": ["r1"]},
         {"name": "old", "model_path": "/m", "gguf_path": "/g", "state": "absent"}], numa, {})
    assert error is None
    shown = {"ktransformers@r1.service": {"LoadState": "loaded", "ActiveState": "active", "SubState": "running",
                                          "UnitFileState": "enabled"}}
    services = host_state.read_services(instances, lambda units: shown, host_state.http_prober(2))
    by_name = dict((unit["name"], unit) for unit in services["units"])
    assert by_name["r1"]["active_state"] == "active"
    assert by_name["r1"]["health_url"] == "http://127.0.0.1:%d/v1/models" % legacy_port
    assert by_name["r1"]["health_status"] == 200
    assert by_name["kimi"]["active_state"] is None
    assert by_name["kimi"]["health_status"] == 404
    assert by_name["old"]["health_status"] is None


def test_refused_connection_and_missing_systemd_are_reported(host):
    instances = [{"name": "r1", "state": "present", "unit": "ktransformers@r1.service", "backend": "legacy",
                  "health_url": "http://127.0.0.1:9/v1/models"}]

    def no_systemd(units):
        raise OSError("systemd is not running here")
    services = host_state.read_services(instances, no_systemd, host_state.http_prober(2))
    assert services["systemd_error"] == "systemd is not running here"
    assert services["units"][0]["health_status"] is None
    assert "refused" in services["units"][0]["health_message"].lower()


def test_instances_that_do_not_resolve_still_name_their_units():
    instances, error = host_state.expected_instances([{"name": "r1"}], {}, {})
    assert [i["unit"] for i in instances] == ["ktransformers@r1.service"]
    assert "model_path" in error


def test_parse_systemctl_show_blocks():
    text = ("Id=ktransformers@a.service\nLoadState=loaded\nActiveState=active\n\n"
            "Id=ktransformers@b.service\nLoadState=not-found\nActiveState=inactive\n")
    units = host_state.parse_systemctl_show(text)
    assert units["ktransformers@a.service"]["ActiveState"] == "active"
    assert units["ktransformers@b.service"]["LoadState"] == "not-found"


def test_cron_parser_skips_comments_and_variables_and_flags_short_lines():
    jobs = host_state.parse_cron_file("# c\nMAILTO=\"\"\n*/5 * * * * root /x --a 'b c'\n1 2 3\n")
    assert jobs[0]["argv"] == ["/x", "--a", "b c"]
    assert jobs[1] == {"line": "1 2 3", "malformed": True}


def test_sysctl_parser_accepts_dash_slash_and_comments():
    assert host_state.parse_sysctl_file("; x\n# y\n-kernel.numa_balancing=0\nvm/zone_reclaim_mode = 1\n") == {
        "kernel.numa_balancing": 0, "vm.zone_reclaim_mode": 1}


def test_cron_daemon_states_of_loaded_units_only():
    shown = {"cron.service": {"LoadState": "loaded", "ActiveState": "active", "UnitFileState": "enabled"},
             "crond.service": {"LoadState": "not-found", "ActiveState": "inactive"}}
    assert host_state.read_cron_daemon(["cron.service", "crond.service"], lambda units: shown) == {
        "units": {"cron.service": {"load_state": "loaded", "active_state": "active", "unit_file_state": "enabled"}}}

    def no_systemd(units):
        raise OSError("systemd is not running here")
    assert host_state.read_cron_daemon(["cron.service"], no_systemd) == {
        "units": None, "unknown": "systemd is not running here"}


def test_cron_daemon_is_asked_only_when_the_job_exists(host, tmp_path):
    asked = []

    def show(units):
        asked.append(list(units))
        return {}
    params = dict(host_state_for(host), sysfs_root=str(host / "sys"), procfs_root=str(host / "proc"),
                  sysctls=["kernel.numa_balancing"], extra_env_files=None, instances=[],
                  service_settings={}, cron_units=["cron.service"])
    state = host_state.gather_host_state(params, show, None)
    assert asked == [["cron.service"]]
    assert state["page_cache"]["daemon"] == {"units": {}}
    params["cron_file"] = str(tmp_path / "absent")
    assert "daemon" not in host_state.gather_host_state(params, show, None)["page_cache"]
    assert len(asked) == 1


# A real numa_maps excerpt shape: anonymous 2 MiB huge pages on N1, a file mapping over N0/N1.
NUMA_MAPS = """\
7f0000000000 bind:1 anon=40960 dirty=40960 active=0 N1=40960 kernelpagesize_kB=2048
7f2000000000 default file=/srv/models/k2-cpu/experts.bin mapped=2560 mapmax=2 N0=256 N1=2304 kernelpagesize_kB=4
7ffd00000000 default stack anon=33 dirty=33 N1=33 kernelpagesize_kB=4
"""


def test_the_main_process_memory_per_node_is_read_from_numa_maps(tmp_path):
    (tmp_path / "proc" / "4242").mkdir(parents=True)
    (tmp_path / "proc" / "4242" / "numa_maps").write_text(NUMA_MAPS)
    instances = [{"name": "k2", "state": "present", "unit": "ktransformers@k2.service", "backend": "sglang",
                  "health_url": None},
                 {"name": "gone", "state": "present", "unit": "ktransformers@gone.service", "backend": "sglang",
                  "health_url": None}]
    shown = {"ktransformers@k2.service": {"ActiveState": "active", "MainPID": "4242"},
             "ktransformers@gone.service": {"ActiveState": "active", "MainPID": "4343"}}
    services = host_state.read_services(instances, lambda units: shown, None, str(tmp_path / "proc"))
    by_name = dict((unit["name"], unit) for unit in services["units"])
    assert by_name["k2"]["main_pid"] == 4242
    assert by_name["k2"]["numa_resident_kb"] == {"0": 256 * 4, "1": 40960 * 2048 + 2304 * 4 + 33 * 4}
    assert by_name["gone"]["numa_resident_kb"] is None  # no numa_maps: not judged
    assert "MainPID" in host_state.SHOW_PROPERTIES


def test_the_registrys_files_are_read_as_non_blank_lines(tmp_path):
    from ansible_collections.ktune.inference.plugins.module_utils.host_state import read_lines
    present = tmp_path / "present.conf"
    present.write_text("# a comment\n\n  \nw /sys/x - - - - y\n")
    assert read_lines([str(present), str(tmp_path / "missing.conf")]) == {
        str(present): ["# a comment", "w /sys/x - - - - y"], str(tmp_path / "missing.conf"): None}


def test_the_audits_read_judges_each_instances_weights_under_weights_root(host):
    from ansible_collections.ktune.inference.tests.unit.kt_weight_tree import write_merged

    # The fixture host is 2 sockets x NPS2: 4 nodes, so 4 pools; these weights were cut for 2.
    write_merged(str(host / "models" / "ds-AMXINT4-NUMA2"), 2)
    instances = [{"name": "k2", "backend": "sglang", "model_path": "/models/ds", "port": 1029,
                  "kt_weight_path": "/models/ds-AMXINT4-NUMA2"}]
    result, failed = run_module(managed_state, args_for(host, instances=instances, weights_root=str(host),
                                                        health_timeout=0.5))
    assert not failed and not result["changed"]
    unit = result["ansible_facts"]["ktune_host_state"]["services"]["units"][0]
    assert unit["kt_threadpool_count"] == 4
    assert unit["weights_split"]["status"] == "fail"
    assert unit["weights_split"]["finding"] == (
        "k2: expected kt-kernel weights cut for 4 thread pools (--kt-threadpool-count 4, nodes 0 1 2 3), "
        "found 2 thread pools in /models/ds-AMXINT4-NUMA2")
    assert "--threadpool-count 4; then set kt_weight_path: /models/ds-AMXINT4-NUMA4" in unit["weights_split"]["fix"]
