"""The invariants of one desired state, over generated settings and host states:

- tune's drift (the concern functions over what managed_state reads, as the roles' filters
  call them) is exactly the set of tunable controls the audit fails (over what host_facts reads);
- after applying what tune decides, the audit passes every one of them.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys
from pathlib import Path

import yaml
from hypothesis import given, settings as hypothesis_settings, strategies as st

from ansible_collections.ktune.inference.plugins.module_utils import audit_controls as ac
from ansible_collections.ktune.inference.plugins.module_utils import concern_registry as registry
from ansible_collections.ktune.inference.plugins.module_utils import concerns
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT / "tests"))
import topologies  # noqa: E402

DEFAULTS = ac.load_role_defaults(str(ROOT), yaml.safe_load)
ENV = "/etc/environment"
ENV_FILES = [ENV, "/etc/ktransformers/a.env", "/etc/ktransformers/b.env"]
USE_NUMA_LINES = ["USE_NUMA=1", "USE_NUMA=0", "export USE_NUMA=1", "  USE_NUMA=1", "USE_NUMA", "USE_NUMA=1 "]
USE_NUMA_RE = __import__("re").compile(concerns.USE_NUMA_LINE_PATTERN)
CRON_UNITS = ["cron.service", "crond.service", "cronie.service"]
TUNABLE = registry.TUNABLE
_NUMA = {}


def nps2():
    if not _NUMA:
        import tempfile
        tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], Path(tempfile.mkdtemp()))
        _NUMA["facts"] = gather_numa_facts(str(tree / "sys"), str(tree / "proc"))
    return _NUMA["facts"]


wanted_settings = st.fixed_dictionaries({
    "ktune_cpu_governor": st.sampled_from(["performance", "powersave", "schedutil"]),
    "ktune_cpu_epp": st.sampled_from([None, "performance", "balance_performance"]),
    "ktune_use_numa": st.booleans(),
    "ktune_cron_service": st.sampled_from([None, "cron", "crond"]),
    "ktune_numa_balancing": st.integers(0, 3),
    "ktune_zone_reclaim_mode": st.integers(0, 7),
    "ktune_transparent_hugepage": st.sampled_from([None] + list(concerns.THP_MODES)),
})
THP_FILE = "/sys/kernel/mm/transparent_hugepage/enabled"

unit_state = st.one_of(st.none(), st.tuples(st.sampled_from(["active", "inactive", "failed"]),
                                            st.sampled_from(["enabled", "disabled", "static"])))


@st.composite
def host_states(draw):
    driver = draw(st.sampled_from(["acpi-cpufreq", "amd-pstate-epp", "intel_pstate", "amd-pstate"]))
    has_epp = driver != "acpi-cpufreq" and draw(st.booleans()) or driver in concerns.ACTIVE_MODE_DRIVERS
    count = draw(st.integers(1, 5))
    policies = [{"governor": draw(st.sampled_from(["performance", "powersave", "schedutil"])),
                 "epp": draw(st.sampled_from(["performance", "balance_performance", "power"])) if has_epp else None}
                for _index in range(count)]
    # Mostly files already right one way or the other, so that one odd line decides.
    content = st.one_of(st.none(), st.just([]), st.just(["USE_NUMA=1"]), st.just(["OTHER=1", "USE_NUMA=1"]),
                        st.lists(st.sampled_from(USE_NUMA_LINES + ["OTHER=1"]), max_size=3))
    files = dict((path, draw(content)) for path in ENV_FILES)
    units = dict((unit, draw(unit_state)) for unit in CRON_UNITS)
    live = {"kernel.numa_balancing": draw(st.integers(0, 3)), "vm.zone_reclaim_mode": draw(st.integers(0, 7))}
    thp_lines = st.one_of(st.none(), st.just([]), st.just(["w /sys/kernel/mm/transparent_hugepage/enabled - - - - x"]),
                          st.sampled_from(concerns.THP_MODES).map(
                              lambda mode: concerns.transparent_hugepage_persist_lines(mode, THP_FILE)))
    return {"driver": driver, "policies": policies, "files": files, "units": units, "live": live,
            "thp": draw(st.sampled_from(concerns.THP_MODES)), "thp_file": draw(thp_lines)}


# --- the two readers' views of one host -------------------------------------------------


def use_numa_lines(lines):
    return [line for line in lines or [] if USE_NUMA_RE.search(line)]


def managed_state_view(host, wanted):
    """What ktune.inference.managed_state returns for the host (tune's reader)."""
    plan = {"applicable": True, "changes": [], "policies": [
        {"policy": n, "driver": host["driver"], "active": True, "before": dict(p)}
        for n, p in enumerate(host["policies"])]}
    files = dict((path, {"exists": False} if lines is None else
                  {"exists": True, "type": "file", "matching_lines": use_numa_lines(lines)})
                 for path, lines in host["files"].items())
    units = dict((unit, {"load_state": "loaded" if state else "not-found",
                         "active_state": state[0] if state else "inactive",
                         "unit_file_state": state[1] if state else None})
                 for unit, state in host["units"].items())
    files[concerns.THP_PERSIST_FILE] = ({"exists": False} if host["thp_file"] is None else
                                        {"exists": True, "type": "file", "matching_lines": list(host["thp_file"])})
    return {"cpufreq": plan, "files": files, "units": units, "sysctls": dict(host["live"]),
            "ktune_numa": dict(nps2(), transparent_hugepage=host["thp"])}


def host_facts_view(host, wanted):
    """What ktune.inference.host_facts returns for the host (the audit's reader)."""
    def groups(key):
        return concerns._group([(n, p[key]) for n, p in enumerate(host["policies"])])

    has_epp = host["policies"][0]["epp"] is not None
    cpufreq = {"applicable": True, "policy_count": len(host["policies"]), "driver": host["driver"],
               "active_mode": host["driver"] in concerns.ACTIVE_MODE_DRIVERS, "governors": groups("governor"),
               "available_governors": ["performance", "powersave", "schedutil"],
               "epp": groups("epp") if has_epp else None, "epp_choices": None}
    use_numa = {"files": [{"file": path, "exists": lines is not None} for path, lines in host["files"].items()],
                "definitions": [{"file": path, "line_number": n, "line": line.strip(), "text": line,
                                 "value": line.partition("=")[2].strip() or None}
                                for path, lines in host["files"].items()
                                for n, line in enumerate(use_numa_lines(lines), 1)]}
    job = {"path": "/etc/cron.d/ktune-drop-caches", "present": True, "jobs": [
        {"malformed": False, "schedule": ac.expected_schedule(wanted), "user": "root",
         "argv": ac.expected_cron_argv(wanted), "script": ac.DROP_SCRIPT, "script_executable": True}],
        "daemon": {"units": dict((unit, {"load_state": "loaded", "active_state": state[0],
                                         "unit_file_state": state[1]})
                                 for unit, state in host["units"].items() if state)}}
    persisted = concerns.numa_sysctls_wanted(wanted)
    sysctl = {"file": "/etc/sysctl.d/90-ktune-numa.conf", "file_present": True, "persisted": persisted,
              "live": dict(host["live"])}
    return {"ktune_numa": dict(nps2(), transparent_hugepage=host["thp"]), "ktune_host_state": {
        "cpufreq": cpufreq, "use_numa": use_numa, "page_cache": job, "sysctl": sysctl, "services": {"units": []},
        "files": {concerns.THP_PERSIST_FILE: host["thp_file"]}, "sysfs_root": "/sys"}}


# --- tune's decisions, as the roles take them ---------------------------------------------


def tune_drift(host, wanted):
    state = managed_state_view(host, wanted)
    cpufreq = concerns.cpufreq_drift(wanted, concerns.cpufreq_reading_from_plan(state["cpufreq"]))
    drift = set()
    if cpufreq["governor"]:
        drift.add("cpufreq.governor")
    if cpufreq["epp"]:
        drift.add("cpufreq.epp")
    if concerns.use_numa_files_drift(wanted["ktune_use_numa"],
                                     concerns.use_numa_files_from_state(state["files"], ENV_FILES)):
        drift.add("use_numa.policy")
    if not concerns.cron_daemons_running(state["units"], concerns.cron_units(wanted)):
        drift.add("page_cache.cron")
    if concerns.numa_sysctls_live_drift(concerns.numa_sysctls_wanted(wanted), state["sysctls"]):
        drift.add("numa.balancing")
    # The registered judgements of numa_env, as the concern_judgement lookup calls them.
    for entry in registry.judged_by_role("numa_env"):
        files = dict((path, state["files"][path].get("matching_lines") if state["files"][path]["exists"] else None)
                     for path in entry.reads)
        verdict = getattr(concerns, entry.judge)(wanted, {"sysfs_root": "/sys", "numa": state["ktune_numa"],
                                                          "files": files})
        if verdict.get("drift"):
            drift.add(entry.id)
    return drift, cpufreq


def apply_tune(host, wanted):
    """The host after the roles' change tasks ran for the drift tune found."""
    drift, cpufreq = tune_drift(host, wanted)
    after = {"driver": host["driver"], "live": concerns.numa_sysctls_wanted(wanted)}
    after["policies"] = [{"governor": concerns.expected_governor(wanted),
                          "epp": cpufreq["epp_wanted"] if cpufreq["epp_wanted"] is not None else p["epp"]}
                         for p in host["policies"]]
    files = {}
    for item in concerns.use_numa_files_drift(wanted["ktune_use_numa"], concerns.use_numa_files_from_state(
            managed_state_view(host, wanted)["files"], ENV_FILES)):
        kept = [line for line in host["files"][item["file"]] or [] if not USE_NUMA_RE.search(line)]
        files[item["file"]] = kept + (["USE_NUMA=1"] if wanted["ktune_use_numa"] else [])
    after["files"] = dict(host["files"], **files)
    units = dict(host["units"])
    if "page_cache.cron" in drift:
        units[(wanted["ktune_cron_service"] or "cron") + ".service"] = ("active", "enabled")
    after["units"] = units
    wanted_thp = wanted["ktune_transparent_hugepage"]
    after["thp"] = wanted_thp or host["thp"]
    after["thp_file"] = concerns.transparent_hugepage_persist_lines(wanted_thp, THP_FILE) if wanted_thp else host["thp_file"]
    return after


def failing(host, wanted):
    controls = ac.evaluate(host_facts_view(host, wanted), dict(DEFAULTS, **wanted))
    return set(c["id"] for c in controls if c["id"] in TUNABLE and c["status"] == "fail")


@hypothesis_settings(max_examples=300, deadline=None)
@given(wanted=wanted_settings, host=host_states())
def test_tunes_drift_is_exactly_what_the_audit_fails(wanted, host):
    assert tune_drift(host, wanted)[0] == failing(host, wanted)


@hypothesis_settings(max_examples=300, deadline=None)
@given(wanted=wanted_settings, host=host_states())
def test_after_tune_applies_its_decisions_the_audit_passes(wanted, host):
    after = apply_tune(host, wanted)
    assert failing(after, wanted) == set()
    assert tune_drift(after, wanted)[0] == set()
