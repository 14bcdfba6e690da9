"""Issue 21, item 6, beyond the service role: a run cut short after writing the guard's, the
metrics collector's, node_exporter's or the cpufreq unit's files lost its daemon-reload and
restart; the next run finds the files right. Each role asks ktune.inference.unit_freshness
(NeedDaemonReload, a process older than its files) before deciding, and its decisions take the
answer into account.

The decisions are each role's own Jinja (task conditions and block variables), evaluated here
by ansible-playbook with the freshness answer and the write results as a cut-short run leaves
them. The run killed for real (SIGKILL between the write and the restart) is the service
scenario's (molecule/service, test_a_run_killed_between_the_units_write_and_its_restarts_...).
"""

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests/unit/roles"))
from role_vars import run_local_play  # noqa: E402

UNCHANGED = {"changed": False}


def tasks_of(role, name):
    """Every task of roles/ROLE/tasks/NAME, blocks flattened (a block first, then its tasks)."""
    found = []

    def walk(tasks):
        for task in tasks:
            found.append(task)
            for key in ("block", "rescue", "always"):
                walk(task.get(key, []))
    walk(yaml.safe_load((ROOT / "roles" / role / "tasks" / name).read_text()))
    return found


def task(role, file, name):
    [found] = [entry for entry in tasks_of(role, file) if entry.get("name") == name]
    return found


def conditions(entry):
    when = entry.get("when", [])
    # A when: is true for a non-empty list, as Jinja's if is.
    return "true if (%s) else false" % ") and (".join(when if isinstance(when, list) else [when])


def decide(role, expressions, cases, task_vars=None):
    """[{name: value}] per case: EXPRESSIONS rendered with the role's defaults and vars, TASK_VARS
    (a block's own variables) and the case's variables (results registered earlier)."""
    names = sorted(set(key for case in cases for key in case))
    evaluate = {"name": "Decide", "ansible.builtin.debug": {"msg": {name: "{{ %s }}" % expression
                                                                    for name, expression in expressions.items()}},
                "loop": "{{ __cases }}", "register": "__decided",
                "vars": dict(task_vars or {}, **{key: "{{ item[%r] }}" % key for key in names})}
    return run_local_play([evaluate], {"__cases": cases}, "__decided.results | map(attribute='msg') | list",
                          vars_files=[ROOT / "roles" / role / "defaults/main.yml",
                                      ROOT / "roles" / role / "vars/main.yml"])


def freshness(units, need_daemon_reload=(), stale=()):
    return {"units": [{"unit": unit, "stale": unit in stale, "need_daemon_reload": unit in need_daemon_reload,
                       "reason": "x was written after the running process started"} for unit in units],
            "stale": list(stale), "need_daemon_reload": bool(need_daemon_reload)}


def test_the_guard_reloads_and_restarts_what_a_cut_short_run_left():
    asked = task("guard", "main.yml", "Find the restart and the reload an interrupted run lost")
    start = task("guard", "main.yml", "Start the guard and wait for its readiness endpoint")
    socket = task("guard", "main.yml", "Enable and (re)start the guard's socket")
    units = ["ktune-guard.service", "ktune-guard.socket"]
    written = {"__guard_daemon": UNCHANGED, "__guard_shared": UNCHANGED, "__guard_config": UNCHANGED,
               "__guard_units": {"changed": False, "results": [UNCHANGED, UNCHANGED]}}
    cases = [dict(written, __guard_freshness=freshness(units)),
             dict(written, __guard_freshness=freshness(units, stale=["ktune-guard.service"])),
             dict(written, __guard_freshness=freshness(units, need_daemon_reload=units))]
    decided = decide("guard", {"restart": "__guard_any_changed", "socket": "__guard_socket_changed",
                               "reload": socket["ansible.builtin.systemd_service"]["daemon_reload"][3:-3],
                               "asked": "(%s) | to_json" % asked["ktune.inference.unit_freshness"]["units"][0]["files"][3:-3]},
                     cases, task_vars=start["vars"])
    assert [(case["restart"], case["socket"], case["reload"]) for case in decided] == [
        (False, False, False), (True, False, False), (True, True, True)]
    # What it asks about: every file the guard's service reads that the role writes.
    assert set(yaml.safe_load(decided[0]["asked"])) >= {
        "/usr/local/lib/ktune-guard/ktune_guard.py", "/etc/ktune/guard.json",
        "/etc/systemd/system/ktune-guard.service", "/etc/systemd/system/ktune-guard.socket"}
    assert [unit["unit"] for unit in asked["ktune.inference.unit_freshness"]["units"]] == units


def test_monitoring_reloads_the_timer_and_restarts_node_exporter_a_cut_short_run_left():
    asked = task("monitoring", "main.yml", "Find the restarts and the reload an interrupted run lost")
    timer = task("monitoring", "main.yml", "Reload the collector's timer an interrupted run left unreloaded")
    exporter = task("monitoring", "main.yml", "Restart node_exporter where an interrupted run lost its restart")
    assert (timer["notify"], exporter["notify"]) == ("Restart the ktune metrics timer", "Restart node_exporter")
    units = ["ktune-metrics.timer", "prometheus-node-exporter.service"]
    cases = [{"__monitoring_freshness": freshness(units)},
             {"__monitoring_freshness": freshness(units, need_daemon_reload=["ktune-metrics.timer"])},
             {"__monitoring_freshness": freshness(units, stale=["prometheus-node-exporter.service"])},
             {"__monitoring_freshness": {"skipped": True}}]
    decided = decide("monitoring", {"timer": conditions(timer),
                                    "exporter": "(%s) | map(attribute='unit') | list" % exporter["loop"][3:-3],
                                    "asked": "(%s) | to_json" % asked["ktune.inference.unit_freshness"]["units"][3:-3]},
                     [dict(case, ktune_monitoring_install_node_exporter=True,
                           monitoring_os={"node_exporter_service": "prometheus-node-exporter",
                                          "node_exporter_args_file": "/etc/default/prometheus-node-exporter"})
                      for case in cases])
    assert [(case["timer"], case["exporter"]) for case in decided] == [
        (False, []), (True, []), (False, ["prometheus-node-exporter.service"]), (False, [])]
    assert yaml.safe_load(decided[0]["asked"]) == [
        {"unit": "ktune-metrics.timer",
         "files": ["/etc/systemd/system/ktune-metrics.timer", "/etc/systemd/system/ktune-metrics.service"]},
        {"unit": "prometheus-node-exporter.service", "files": ["/etc/default/prometheus-node-exporter"]}]


def test_cpufreq_reloads_the_unit_a_cut_short_run_left_unreloaded():
    persist = task("cpu_governor", "main.yml", "Keep the settings across reboots")
    enable = task("cpu_governor", "persist.yml", "Enable the ktune-cpufreq unit at boot")
    unit = "ktune-cpufreq.service"
    cases = [{"__cpu_governor_freshness": freshness([unit])},
             {"__cpu_governor_freshness": freshness([unit], need_daemon_reload=[unit])},
             {"__cpu_governor_freshness": {"skipped": True}}]
    decided = decide("cpu_governor", {
        "persist": conditions(persist), "reload": enable["ansible.builtin.systemd_service"]["daemon_reload"][3:-3]},
        [dict(case, __cpu_governor_judgement={"plan": {"persist_wanted": True, "persist_differences": []}},
              __cpu_governor_files=UNCHANGED) for case in cases])
    assert [(case["persist"], case["reload"]) for case in decided] == [(False, False), (True, True), (False, False)]
