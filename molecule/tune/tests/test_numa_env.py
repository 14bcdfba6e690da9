"""numa_env: USE_NUMA defined only where NUMA is on (absent, never 0, where off), and the NUMA sysctls."""

import json
import re
import shlex

import pytest
import testinfra

from conftest import run_tune
from playbook_run import recap

# Per inventory host: whether ktransformers gets USE_NUMA=1, and why (the start of the
# role's reason). Runtime values: None means the fixture kernel lacks the key, which
# must then stay absent (the vm fixture has no kernel.numa_balancing).
EXPECTED = {
    "amd-nps2": {"use_numa": True, "reason": "ktune_use_numa is true",
                 "runtime": {"kernel.numa_balancing": "0", "vm.zone_reclaim_mode": "0"}},
    "amd-nps1-dev": {"use_numa": False, "reason": "ktune_use_numa is false",
                     "runtime": {"kernel.numa_balancing": "0", "vm.zone_reclaim_mode": "0"}},
    "intel-snc2": {"use_numa": True, "reason": "auto: 4 NUMA nodes with CPUs",
                   "runtime": {"kernel.numa_balancing": "0", "vm.zone_reclaim_mode": "0"}},
    "vm": {"use_numa": False, "reason": "auto: 1 NUMA node with CPUs",
           "runtime": {"kernel.numa_balancing": None, "vm.zone_reclaim_mode": "0"}},
}
SYSCTL_FILE = "/etc/sysctl.d/90-ktune-numa.conf"
FIXTURE_PROCFS = "/opt/ktune-fixture/proc"  # ktune_procfs_root of every host in molecule.yml
SYSCTL_LINES = ["-kernel.numa_balancing = 0", "-vm.zone_reclaim_mode = 0"]
USE_NUMA_LINE = re.compile(r"^[ \t]*(export[ \t]+)?USE_NUMA\b.*$", re.M)


# Everything the tests read from a host, in one remote command (each one costs seconds).
READ_STATE = """python3 - "$0" <<'EOF'
import json, os, stat, sys
root, conf = sys.argv[1], "%s"
def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except FileNotFoundError:
        return None
def attrs(path):
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return {"uid": info.st_uid, "gid": info.st_gid, "mode": stat.S_IMODE(info.st_mode),
            "regular": stat.S_ISREG(info.st_mode)}
print(json.dumps({
    "environment": read("/etc/environment"), "environment_attrs": attrs("/etc/environment"),
    "sysctl": read(conf), "sysctl_attrs": attrs(conf), "sysctl_dir": sorted(os.listdir(os.path.dirname(conf))),
    "runtime": dict((name, read(os.path.join(root, "sys", *name.split(".")))) for name in %s),
}))
EOF""" % (SYSCTL_FILE, json.dumps(["kernel.numa_balancing", "vm.zone_reclaim_mode"]))


def name_of(host):
    return host.backend.get_hostname()


@pytest.fixture(scope="module")
def state(host):
    root = FIXTURE_PROCFS
    assert root != "/proc", "the scenario must point ktune_procfs_root at a fixture tree"
    return json.loads(host.check_output("sh -c %s %s" % (shlex.quote(READ_STATE), shlex.quote(root))))


def use_numa_lines(text):
    return [match.group(0) for match in USE_NUMA_LINE.finditer(text or "")]


def test_use_numa_in_etc_environment(host, state):
    lines = use_numa_lines(state["environment"])
    if EXPECTED[name_of(host)]["use_numa"]:
        assert lines == ["USE_NUMA=1"]
    else:
        # USE_NUMA=0 would turn NUMA support on: off means no line at all.
        assert lines == []


def test_etc_environment_stays_a_plain_file(state):
    assert state["environment_attrs"] == {"uid": 0, "gid": 0, "mode": 0o644, "regular": True}


def test_sysctl_file_is_owned_and_complete(state):
    assert state["sysctl_attrs"] == {"uid": 0, "gid": 0, "mode": 0o644, "regular": True}
    lines = state["sysctl"].splitlines()
    assert lines[0].startswith("# Managed by ktune")
    assert [line for line in lines if not line.startswith("#")] == SYSCTL_LINES
    assert [name for name in state["sysctl_dir"] if name.startswith(".")] == []  # no temporary file left


def test_fixture_runtime_values_are_zero(host, state):
    for name, wanted in EXPECTED[name_of(host)]["runtime"].items():
        if wanted is None:
            assert state["runtime"][name] is None, "%s was created although the fixture kernel lacks it" % name
        else:
            assert (state["runtime"][name] or "").strip() == wanted, name


@pytest.fixture(scope="module")
def numa_env_check_run():
    return run_tune("--check", "--diff", "--tags", "numa_env")


def test_check_run_predicts_no_change_and_states_the_decision(host, numa_env_check_run):
    result = numa_env_check_run
    assert result.returncode == 0, result.output[-3000:]
    assert recap(result.output)[name_of(host)]["changed"] == "0"
    expected = EXPECTED[name_of(host)]
    state = "on (USE_NUMA=1)" if expected["use_numa"] else "off (USE_NUMA absent)"
    assert "%s: USE_NUMA %s: %s" % (name_of(host), state, expected["reason"]) in re.sub(r"\s+", " ", result.output)
    if expected["runtime"]["kernel.numa_balancing"] is None:
        assert "%s: not applicable, persisted for kernels that have them: the running kernel has no " \
               "kernel.numa_balancing" % name_of(host) in re.sub(r"\s+", " ", result.output)


ENV_FILE_HOSTS = ("amd-nps2", "amd-nps1-dev")


@pytest.fixture(scope="module")
def env_files():
    """A ktransformers env file with traps on an on host and an off host, then one tune run."""
    targets = dict((name, testinfra.get_host("podman://%s" % name))
                   for name in ENV_FILE_HOSTS)
    for target in targets.values():
        target.run_expect([0], "mkdir -p /etc/ktransformers && printf '%s' > /etc/ktransformers/server.env"
                          % "MODEL=/srv/models/r1\\nexport USE_NUMA=0\\n  USE_NUMA = 1\\n")
    result = run_tune("--tags", "numa_env", "--limit", ",".join(ENV_FILE_HOSTS))
    contents = dict((name, target.check_output("cat /etc/ktransformers/server.env; rm -rf /etc/ktransformers"))
                    for name, target in targets.items())
    return result, contents


def test_ktransformers_env_files_follow_the_decision(env_files):
    result, contents = env_files
    assert result.returncode == 0, result.output[-3000:]
    assert "Remind to rebuild ktransformers" in result.output
    for name in ENV_FILE_HOSTS:
        lines = contents[name].splitlines()
        assert "MODEL=/srv/models/r1" in lines
        wanted = ["USE_NUMA=1"] if EXPECTED[name]["use_numa"] else []
        assert [line for line in lines if "USE_NUMA" in line] == wanted, name
