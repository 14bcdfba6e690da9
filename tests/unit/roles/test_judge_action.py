"""The judge action in a real play: every role's settings' types first (argument specification),
the host read only where they pass, then each role's own checks, each role's host state and drift templated
only when what comes before it passed, and the roles following the run's tags."""

import hashlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests/unit/roles"))
from role_vars import run_local_play  # noqa: E402
from topologies import catalog, write_tree  # noqa: E402

BROKEN = "{{ undefined_thing.attribute }}"
# A state as the read returns it: the page-cache job and script missing, no cron daemon.
STATE = {"files": {}, "units": {}}


def judge(variables, roles=("page_cache",), args=None, tags=()):
    task = {"name": "Judge", "ktune.inference.judge": dict({"roles": list(roles)}, **(args or {})),
            "register": "judged", "tags": ["always"]}
    return run_local_play([task], variables, "judged | combine({'facts': ansible_facts.keys() | select('match', '__') | list})",
                          argv=["--tags", ",".join(tags)] if tags else [])


def test_a_host_with_good_settings_gets_the_roles_drift_and_no_fact():
    judged = judge({}, args={"state": STATE})
    assert judged["problems"] == [] and judged["host_problems"] == []
    assert "/etc/cron.d/ktune-drop-caches: missing" in " ".join(judged["drift"]), judged["drift"]
    assert judged["roles_with_drift"] == ["page_cache"]
    assert judged["roles"]["page_cache"]["drift"] == judged["drift"]
    assert judged["facts"] == []


def test_a_type_error_is_named_and_the_host_is_neither_read_nor_judged():
    judged = judge({"ktune_drop_caches_level": 7})
    assert len(judged["problems"]) == 1 and "ktune_drop_caches_level" in judged["problems"][0], judged
    assert judged["drift"] == [] and judged["state"] == {}


def test_the_roles_own_problems_leave_its_host_state_and_drift_unjudged():
    judged = judge({"ktune_drop_caches_minute": "61"}, args={"state": STATE})
    assert len(judged["problems"]) == 1 and judged["problems"][0].startswith("ktune_drop_caches_minute"), judged
    assert judged["host_problems"] == [] and judged["drift"] == [] and judged["roles_with_drift"] == []


def test_a_type_error_in_one_role_stops_every_role_before_the_read():
    judged = judge({"ktune_drop_caches_level": "high", "monitoring_drift_items": BROKEN},
                   roles=("page_cache", "cpu_governor"))
    assert judged["problems"] and all("ktune_drop_caches_level" in problem for problem in judged["problems"]), judged
    assert judged["roles"]["cpu_governor"] == {"problems": [], "host_problems": [], "drift": [], "notes": []}
    assert judged["state"] == {} and judged["roles_with_drift"] == []


def test_host_problems_leave_the_drift_unjudged():
    judged = judge({"monitoring_host_problems": ["unknown OS family"], "monitoring_drift_items": BROKEN},
                   roles=("monitoring",), args={"state": STATE})
    assert judged["problems"] == [] and judged["host_problems"] == ["unknown OS family"] and judged["drift"] == []


def test_the_deprecated_select_by_tags_still_selects_the_roles_the_tags_name():
    judged = judge({"monitoring_drift_items": BROKEN}, roles=("page_cache", "monitoring"),
                   args={"state": STATE, "select_by_tags": True}, tags=("page_cache",))
    assert list(judged["roles"]) == ["page_cache"] and judged["roles_with_drift"] == ["page_cache"]
    assert "select_by_tags is deprecated" in judged["deprecations"][0]["msg"]


def test_one_read_serves_every_role_and_the_layout(tmp_path):
    write_tree(catalog()["epyc-2s-nps2"], tmp_path)
    judged = judge({"ktune_expected_nodes_per_socket": 2, "ktune_expected_sockets": 2,
                    "ktune_sysfs_root": str(tmp_path / "sys"), "ktune_procfs_root": str(tmp_path / "proc")},
                   roles=("nps_layout", "page_cache"),
                   args={"sysfs_root": str(tmp_path / "sys"), "procfs_root": str(tmp_path / "proc")})
    assert judged["problems"] == [] and judged["host_problems"] == [], judged
    assert judged["ansible_facts"]["ktune_numa"]["layout"] == "NPS2"
    assert any(note.startswith("NPS2 on 2 sockets") for note in judged["notes"]), judged["notes"]
    assert "/usr/local/sbin/ktune-drop-caches" in judged["state"]["files"]


def test_a_layout_other_than_the_inventorys_is_a_host_problem(tmp_path):
    write_tree(catalog()["epyc-2s-nps2"], tmp_path)
    judged = judge({"ktune_expected_nodes_per_socket": 4, "ktune_expected_sockets": 2},
                   roles=("nps_layout",),
                   args={"sysfs_root": str(tmp_path / "sys"), "procfs_root": str(tmp_path / "proc")})
    assert judged["problems"] == [] and judged["roles_with_drift"] == []
    assert len(judged["host_problems"]) == 1 and "NPS4" in judged["host_problems"][0], judged["host_problems"]


def test_a_wrongly_typed_cpufreq_setting_is_named_not_sent_to_the_read():
    # It used to reach the read's own argument check, which failed the host naming min_freq_khz.
    judged = judge({"ktune_cpu_min_freq_khz": "fast"}, roles=("cpu_governor",))
    assert len(judged["problems"]) == 1 and "ktune_cpu_min_freq_khz" in judged["problems"][0], judged["problems"]
    assert judged["state"] == {}


def test_a_kernel_setting_out_of_range_is_named_through_the_one_table():
    judged = judge({"ktune_numa_balancing": 7}, roles=("numa_env",), args={"state": STATE})
    assert any(problem.startswith("ktune_numa_balancing = 7 is not a kernel.numa_balancing value: expected an integer 0-3")
               for problem in judged["problems"]), judged["problems"]
    assert judged["drift"] == []


def test_a_part_that_cannot_be_worked_out_is_a_problem_that_stops_every_host():
    # A judge task that failed would stop its host only (tune.yml's judge is outside the fatal block).
    judged = judge({"monitoring_drift_items": BROKEN}, roles=("monitoring",), args={"state": dict(STATE, os_family="Debian")})
    assert len(judged["problems"]) == 1 and judged["problems"][0].startswith("role monitoring cannot be judged"), judged
    assert judged["roles_with_drift"] == []


def test_a_setting_computed_from_the_layout_is_checked_after_the_read(tmp_path):
    write_tree(catalog()["epyc-2s-nps2"], tmp_path)
    judged = judge({"ktune_model_size_gb": "{{ 10 * (ktune_numa.sockets | int) }}"}, roles=("numa_env",),
                   args={"sysfs_root": str(tmp_path / "sys"), "procfs_root": str(tmp_path / "proc")})
    assert judged["problems"] == [], judged["problems"]
    assert judged["state"]["ansible_facts"]["ktune_numa"]["sockets"] == 2


def test_snc3_is_an_accepted_layout_and_matches_a_xeon6_host(tmp_path):
    write_tree(catalog()["xeon-1s-snc3"], tmp_path)
    judged = judge({"ktune_expected_nodes_per_socket": 3, "ktune_expected_sockets": 1},
                   roles=("nps_layout",),
                   args={"sysfs_root": str(tmp_path / "sys"), "procfs_root": str(tmp_path / "proc")})
    assert judged["problems"] == [] and judged["host_problems"] == [], judged
    assert judged["ansible_facts"]["ktune_numa"]["layout"] == "SNC3"


def test_a_layout_no_cpu_has_is_refused_by_the_argument_specification():
    judged = judge({"ktune_expected_nodes_per_socket": 5}, roles=("nps_layout",))
    assert len(judged["problems"]) == 1 and "ktune_expected_nodes_per_socket" in judged["problems"][0], judged


def in_place(content, mode):
    return {"exists": True, "type": "file", "owner": "root", "group": "root", "mode": mode,
            "checksum": hashlib.sha1(content.encode()).hexdigest()}


def test_a_host_whose_job_is_in_place_has_nothing_to_change():
    """The job's files as the role writes them (the script verbatim, the cron file as cron reads it,
    written out here by hand for the defaults), the cron daemon running: no drift. The judge renders
    the role's own file and template to compare, as its tasks write them."""
    script = (ROOT / "roles/page_cache/files/ktune-drop-caches").read_text()
    cron_line = "43 * * * * root /usr/local/sbin/ktune-drop-caches --level 3 --procfs-root /proc"
    cron = [line for line in (ROOT / "roles/page_cache/templates/ktune-drop-caches.cron.j2").read_text().splitlines()
            if not line.startswith("{{ ktune_drop_caches_minute }}")]
    cron = "\n".join(line.replace("{{ ktune_drop_caches_level }}", "3") for line in cron) + "\n" + cron_line + "\n"
    running = {"load_state": "loaded", "active_state": "active", "unit_file_state": "enabled"}
    state = {"files": {"/usr/local/sbin/ktune-drop-caches": in_place(script, "0755"),
                       "/etc/cron.d/ktune-drop-caches": in_place(cron, "0644")},
             "units": {"cron.service": running}}
    judged = judge({}, args={"state": state})
    assert judged["problems"] == [] and judged["drift"] == [], judged
    assert judged["roles"]["page_cache"]["plan"]["cron_running"] is True
    state["files"]["/etc/cron.d/ktune-drop-caches"] = in_place(cron.replace("--level 3", "--level 1"), "0644")
    assert judge({}, args={"state": state})["drift"] == ["/etc/cron.d/ktune-drop-caches: content differs"]


def test_the_cpufreq_persistence_files_are_rendered_and_compared_on_the_controller():
    """The judge renders the role's three templates (a template error would make the role
    unjudgeable): on a host without them each is missing; the plan carries the EPP the env file takes."""
    cpufreq = {"applicable": True, "changes": [], "policies": [
        {"policy": 0, "cpus": "0", "driver": "intel_pstate", "active": True,
         "before": {"governor": "performance", "epp": "balance_performance", "min_freq_khz": None}}]}
    judged = judge({}, roles=("cpu_governor",), args={"state": {"files": {}, "units": {}, "cpufreq": cpufreq}})
    assert judged["problems"] == [] and judged["host_problems"] == [], judged
    assert judged["drift"] == ["EPP policy0: balance_performance", "/usr/local/sbin/ktune-cpufreq-apply: missing",
                               "/etc/default/ktune-cpufreq: missing", "/etc/systemd/system/ktune-cpufreq.service: missing",
                               "ktune-cpufreq.service: not enabled at boot"], judged["drift"]
    assert judged["roles"]["cpu_governor"]["plan"]["epp"] == "performance"


def test_persistence_files_written_by_the_template_module_are_in_place(tmp_path):
    """What the role's persist.yml writes (the template module, the same templates and EPP) is what
    the judge compares with: those files on the host leave nothing to change."""
    templates = ROOT / "roles/cpu_governor/templates"
    files = {"/usr/local/sbin/ktune-cpufreq-apply": ("ktune-cpufreq-apply.sh.j2", "0755"),
             "/etc/default/ktune-cpufreq": ("ktune-cpufreq.env.j2", "0644"),
             "/etc/systemd/system/ktune-cpufreq.service": ("ktune-cpufreq.service.j2", "0644")}
    tasks = [{"name": "Write %s" % path, "ansible.builtin.template": {"src": str(templates / src), "dest": str(tmp_path / src)},
              "vars": {"ktune_cpu_governor": "performance", "ktune_cpu_min_freq_khz": None, "ktune_cpu_boost": None,
                       "cpu_governor_epp": "performance"}} for path, (src, _mode) in files.items()]
    run_local_play(tasks, {}, "true")
    state = {"files": dict((path, in_place((tmp_path / src).read_text(), mode)) for path, (src, mode) in files.items()),
             "units": {"ktune-cpufreq.service": {"unit_file_state": "enabled"}},
             "cpufreq": {"applicable": True, "changes": [], "policies": [
                 {"policy": 0, "cpus": "0", "driver": "intel_pstate", "active": True,
                  "before": {"governor": "performance", "epp": "performance", "min_freq_khz": None}}]}}
    judged = judge({}, roles=("cpu_governor",), args={"state": state})
    assert judged["problems"] == [] and judged["drift"] == [], judged
