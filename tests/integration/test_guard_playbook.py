"""The guard role in real ansible-playbook runs on localhost: check mode, a second run that changes
nothing, bad input that fails before anything changes, naming the variable.

The role's fixed locations (vars/main.yml) are pointed into a temporary folder with extra vars,
and guard_manage_service is off: this machine has no systemd as PID 1.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import topologies
from ansible_collections.ktune.inference.plugins.module_utils import guard

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path):
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "tree")
    target = tmp_path / "target"
    (target / "units").mkdir(parents=True)  # /etc/systemd/system exists on every host
    inventory = {"all": {"hosts": {"gpu-a": {
        "ansible_connection": "local",
        "ansible_python_interpreter": sys.executable,
        "ktune_sysfs_root": str(tree / "sys"),
        "ktune_procfs_root": str(tree / "proc"),
        "ktune_guard_textfile_dir": str(target / "textfile"),
        "ktune_service_instances": [
            {"name": "r1", "backend": "legacy", "model_path": "/srv/models/R1", "gguf_path": "/srv/models/R1-gguf",
             "port": 10002, "share_cpus_with": ["s1"]},
            {"name": "s1", "backend": "sglang", "model_path": "/srv/models/V3", "kt_weight_path": "/srv/models/V3-kt",
             "port": 30000},
            {"name": "old", "state": "absent", "model_path": "/srv/models/old", "port": 10003},
        ],
    }}}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  roles: [ktune.inference.guard]\n")
    locations = {"guard_install_dir": str(target / "lib"), "guard_config_path": str(target / "etc/guard.json"),
                 "guard_unit_dir": str(target / "units"), "guard_state_dir": str(target / "state"),
                 "guard_manage_service": False}
    (tmp_path / "locations.json").write_text(json.dumps(locations))

    def run(*extra):
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"),
                   PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
        command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i",
                   str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
                   "-e", "@" + str(tmp_path / "locations.json")]
        done = subprocess.run(command + list(extra), cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        return done.returncode, done.stdout + done.stderr

    run.target = target
    return run


def recap(output, host="gpu-a"):
    line = [line for line in output.splitlines() if line.startswith(host + " ") and "changed=" in line][-1]
    return dict(part.split("=") for part in line.split(":", 1)[1].split())


def test_check_mode_then_apply_then_nothing_changes(site):
    rc, output = site("--check", "--diff")
    assert rc == 0, output
    assert int(recap(output)["changed"]) > 0
    assert not (site.target / "lib").exists() and not (site.target / "etc").exists()
    assert "ktune-guard.service" in output  # the diff shows the unit it would write

    rc, output = site()
    assert rc == 0, output
    config = json.loads((site.target / "etc/guard.json").read_text())
    assert [(i["name"], i["backend"], i["base_url"], i["health_url"]) for i in config["instances"]] == [
        ("r1", "legacy", "http://127.0.0.1:10002", "http://127.0.0.1:10002/v1/models"),
        ("s1", "sglang", "http://127.0.0.1:30000", "http://127.0.0.1:30000/health")]
    assert config["settings"] == guard.make_settings()
    assert config["listen_address"] == "127.0.0.1" and config["lanplus"] is None
    assert config["systemd_socket"] is True  # the guard listens only on the socket systemd holds
    for name in ("ktune_guard.py", "guard.py", "prom_text.py", "openai_stream.py", "ipmi.py", "secret_file.py"):
        assert (site.target / "lib" / name).exists()
    assert "ProtectSystem=strict" in (site.target / "units/ktune-guard.service").read_text()

    rc, output = site()
    assert rc == 0 and recap(output)["changed"] == "0", output
    rc, output = site("--check")
    assert rc == 0 and recap(output)["changed"] == "0", output


def test_named_instance_with_a_baseline(site):
    rc, output = site("-e", json.dumps({"ktune_guard_instances": [{"name": "s1", "baseline_tokens_per_s": 14.5}]}))
    assert rc == 0, output
    config = json.loads((site.target / "etc/guard.json").read_text())
    assert [(i["name"], i.get("baseline_tokens_per_s")) for i in config["instances"]] == [("s1", 14.5)]


BAD = {
    "order": ({"ktune_guard_warn_margin_c": 2, "ktune_guard_critical_margin_c": 5},
              "ktune_guard_critical_margin_c = 5.0 must be smaller than ktune_guard_warn_margin_c = 2.0"),
    "interval": ({"ktune_guard_interval_s": 0}, "ktune_guard_interval_s = 0: expected 1 to 3600"),
    "ratio": ({"ktune_guard_degraded_ratio": 1.2}, "ktune_guard_degraded_ratio = 1.2: expected 0.05 to 0.99"),
    "restarts": ({"ktune_guard_max_restarts_per_hour": -1}, "ktune_guard_max_restarts_per_hour = -1:"),
    "unknown": ({"ktune_guard_instances": [{"name": "nope"}]},
                "ktune_guard_instances[0].name = 'nope' is not a present instance of ktune_service_instances "
                "(present: r1, s1)"),
    "absent": ({"ktune_guard_instances": [{"name": "old"}]}, "ktune_guard_instances[0].name = 'old' is not a present"),
    "port": ({"ktune_guard_listen_port": 80}, "ktune_guard_listen_port = 80"),
    "address": ({"ktune_guard_listen_address": "localhost"}, "ktune_guard_listen_address = 'localhost'"),
    "lanplus": ({"ktune_guard_lanplus_host": "10.0.0.9"}, "expected all three"),
    # A second line in the root unit (issue 21, item 5).
    "python": ({"ktune_guard_python": "/usr/bin/python3\nExecStartPre=/bin/touch /tmp/ktune-pwned"},
               "ktune_guard_python = '/usr/bin/python3\\nExecStartPre=/bin/touch /tmp/ktune-pwned': expected an "
               "absolute path of letters"),
}


def test_bad_input_fails_before_anything_changes(site, tmp_path):
    """One run, one host per bad value: each host fails naming its variable, and nothing is written."""
    inventory = json.loads((tmp_path / "hosts.yml").read_text())
    good = inventory["all"]["hosts"].pop("gpu-a")
    for name, (bad, _named) in BAD.items():
        inventory["all"]["hosts"]["bad-" + name] = dict(good, **bad)
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    rc, output = site()
    assert rc != 0
    for name, (_bad, named) in BAD.items():
        lines = [line for line in output.splitlines() if ("bad-%s: " % name) in line and "nothing was changed" in line]
        assert len(lines) == 1 and named in lines[0], (name, output)
        assert recap(output, "bad-" + name)["failed"] == "1" and recap(output, "bad-" + name)["changed"] == "0"
    assert sorted(path.name for path in site.target.iterdir()) == ["units"]
    assert not list((site.target / "units").iterdir())


def test_keyed_instance_without_its_credentials_file_stops_before_the_settings(site, tmp_path):
    """The key never shows (-v --diff), and the daemon's own check refuses a missing key file."""
    key = "guard-integration-key-4711"
    inventory = json.loads((tmp_path / "hosts.yml").read_text())
    host = inventory["all"]["hosts"]["gpu-a"]
    host["ktune_service_instances"][0]["api_key"] = key
    host["ktune_service_instances"][0]["name"] = "ktune-guard-test-nokey"
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    credentials = Path("/etc/ktransformers/ktune-guard-test-nokey.credentials")
    assert not credentials.exists()
    rc, output = site("-v", "--diff")
    assert rc != 0
    assert key not in output
    line = [line for line in output.splitlines() if "ktune-guard would not start with these settings" in line]
    assert line and ("instances[ktune-guard-test-nokey].api_key_file %s: expected a regular file (not a symlink) "
                     "owned by root with mode 0600 or 0400, found No such file or directory" % credentials) in output, output
    assert not (site.target / "etc/guard.json").exists()
