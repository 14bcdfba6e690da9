"""The fleet story of issue 15: the real ansible-rulebook (PyPI, on a Java 17 runtime) runs
extensions/eda/rulebooks/ktune_guard.yml against two real guard daemons whose DIMMs run hot, with
a 50% floor: exactly one host is drained, through its guard (its drain file, its readiness 503).

Each "host" is this machine with its own guard (roles/guard/files/ktune_guard.py laid out as the
role installs it) on its own port and state directory, a fake ipmitool printing a DIMM inside
the warn margin (hot: still serving), and a fake instance (tests/fake_ktransformers, bench mode).
ansible-rulebook comes from the venv tests/run-all.sh makes beside the main one (<venv>-eda) or
$KTUNE_RULEBOOK.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "fake_ktransformers"))
import server as fake_server  # noqa: E402

HOSTS = ("gpu-a", "gpu-b")


def rulebook_command():
    path = os.environ.get("KTUNE_RULEBOOK") or os.path.join(sys.prefix + "-eda", "bin", "ansible-rulebook")
    assert os.access(path, os.X_OK), "%s missing: tests/run-all.sh makes the -eda venv (pip ansible-rulebook)" % path
    assert shutil.which("java"), "java missing: tests/run-all.sh installs openjdk-17-jre-headless"
    return path


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def token_of(spec):
    return (spec["state"] / "token").read_text().strip()


def get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": "Bearer %s" % token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def fleet(tmp_path):
    """Two hot hosts, each with its running guard; yields {host: {port, state, url}}."""
    install = tmp_path / "install"
    install.mkdir()
    shutil.copy(str(ROOT / "roles/guard/files/ktune_guard.py"), str(install))
    for name in yaml.safe_load((ROOT / "roles/guard/vars/main.yml").read_text())["guard_shared_modules"]:
        shutil.copy(str(ROOT / "plugins/module_utils" / name), str(install))
    hosts, processes = {}, []
    with fake_server.running_bench_server(tokens_per_s=300.0) as (url, _plan):
        try:
            for host in HOSTS:
                base = tmp_path / host
                for name in ("state", "textfile"):
                    (base / name).mkdir(parents=True)
                # 78 C against a critical 85 C: 7 C of headroom, inside the 10 C warn margin -> hot.
                (base / "ipmi.json").write_text(json.dumps({"sensors": {"P1-DIMMA1 Temp": 78.0}, "critical": 85.0}))
                port = free_port()
                config = {"settings": {"interval_s": 1}, "listen_address": "127.0.0.1", "listen_port": port,
                          "textfile_dir": str(base / "textfile"), "state_dir": str(base / "state"),
                          "sysfs_root": str(base / "sys"), "ipmitool": str(ROOT / "tests/fake_ipmitool/ipmitool"),
                          "probe_interval_s": 3600,
                          "instances": [{"name": "r1", "backend": "legacy", "base_url": url}]}
                (base / "guard.json").write_text(json.dumps(config))
                env = dict(os.environ, FAKE_IPMITOOL_STATE=str(base / "ipmi.json"))
                env.pop("PYTHONPATH", None)
                processes.append(subprocess.Popen(
                    [sys.executable, str(install / "ktune_guard.py"), "--config", str(base / "guard.json")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
                hosts[host] = {"port": port, "state": base / "state", "url": "http://127.0.0.1:%d" % port}
            for host, spec in hosts.items():
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    try:
                        if get(spec["url"] + "/ready/r1", token_of(spec))[1]["state"] == "hot":
                            break
                    except OSError:
                        pass
                    time.sleep(0.2)
                assert get(spec["url"] + "/ready/r1", token_of(spec))[0] == 200, host
            members = dict((host, {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                                   "ktune_guard_listen_port": spec["port"], "ktune_guard_state_dir": str(spec["state"])})
                           for host, spec in hosts.items())
            inventory = {"inference": {"hosts": members, "vars": {"ktune_min_serving_fraction": 0.5}}}
            (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inventory))
            yield hosts
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()


def environment(venv_bin=None):
    venv_bin = venv_bin or os.path.dirname(sys.executable)  # ansible-playbook and ansible-galaxy for the rulebook
    return dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                ANSIBLE_COLLECTIONS_PATH=str(ROOT / "collections"), EDA_SHUTDOWN_DELAY="120",
                PATH=venv_bin + os.pathsep + os.environ.get("PATH", ""))


def test_two_hot_hosts_and_a_half_floor_drain_exactly_one(fleet, tmp_path):
    command = rulebook_command()
    (tmp_path / "vars.yml").write_text(yaml.safe_dump({
        "ktune_guard_urls": dict((host, spec["url"]) for host, spec in fleet.items()),
        "ktune_guard_tokens": dict((host, token_of(spec)) for host, spec in fleet.items()),
        "ktune_guard_poll_interval_s": 2}))
    # The shipped rulebook, but a source that stops after a few polls so the engine ends.
    rulebook = yaml.safe_load((ROOT / "extensions/eda/rulebooks/ktune_guard.yml").read_text())
    rulebook[0]["sources"][0]["ktune.inference.guard_status"]["max_polls"] = 4
    (tmp_path / "rulebook.yml").write_text(yaml.safe_dump(rulebook))
    done = subprocess.run([command, "--rulebook", str(tmp_path / "rulebook.yml"), "--inventory",
                           str(tmp_path / "inventory.yml"), "--vars", str(tmp_path / "vars.yml"), "--print-events"],
                          cwd=str(tmp_path), env=environment(), capture_output=True, text=True, timeout=300,
                          check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    drained = [host for host, spec in fleet.items() if (spec["state"] / "drain.json").exists()]
    assert drained == ["gpu-a"], output
    assert oct((fleet["gpu-a"]["state"] / "drain.json").stat().st_mode & 0o777) == "0o600"
    status, body = get(fleet["gpu-a"]["url"] + "/ready/r1", token_of(fleet["gpu-a"]))
    assert status == 503 and body["state"] == "drained" and body["guard_state"] == "hot"
    assert body["reason"] == ("drained by ktune fleet (guard_drain.yml): the fleet rulebook drained it after its "
                              "guard reported it hot")
    status, body = get(fleet["gpu-b"]["url"] + "/ready/r1", token_of(fleet["gpu-b"]))
    assert status == 200 and body["state"] == "hot"
    # The second event's run: the floor keeps gpu-b (the output wraps long lines).
    assert "gpu-b stays in rotation: draining it would leave 0 of 2 hosts serving (0%), below " \
           "ktune_min_serving_fraction 0.5" in " ".join(output.split())


def run_playbook(tmp_path, *extra):
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(tmp_path / "inventory.yml"),
               str(ROOT / "playbooks/guard_drain.yml")] + list(extra)
    done = subprocess.run(command, cwd=str(tmp_path), env=environment(), capture_output=True, text=True, timeout=300,
                          check=False)
    return done.returncode, done.stdout + done.stderr


def test_bad_floor_fails_naming_it_before_any_guard_changes(fleet, tmp_path):
    rc, output = run_playbook(tmp_path, "-e", "ktune_guard_drain_action=drain", "-e",
                              json.dumps({"ktune_guard_drain_hosts": ["gpu-a"], "ktune_min_serving_fraction": 1.5}))
    assert rc != 0
    assert "ktune_min_serving_fraction = 1.5: expected a fraction from 0 to 1, such as 0.5" in output, output
    assert "no guard was asked or changed" in output
    assert not [host for host, spec in fleet.items() if (spec["state"] / "drain.json").exists()]


def test_restore_removes_the_drain_and_the_guard_serves_again(fleet, tmp_path):
    rc, output = run_playbook(tmp_path, "-e", "ktune_guard_drain_action=drain", "-e",
                              json.dumps({"ktune_guard_drain_hosts": ["gpu-b"], "ktune_guard_drain_reason": "test"}))
    assert rc == 0, output
    assert get(fleet["gpu-b"]["url"] + "/ready/r1", token_of(fleet["gpu-b"]))[0] == 503
    rc, output = run_playbook(tmp_path, "-e", "ktune_guard_drain_action=restore", "-e",
                              json.dumps({"ktune_guard_drain_hosts": ["gpu-b"]}))
    assert rc == 0, output
    assert not (fleet["gpu-b"]["state"] / "drain.json").exists()
    assert get(fleet["gpu-b"]["url"] + "/ready/r1", token_of(fleet["gpu-b"]))[0] == 200


# --- issue 21, item 1: one guard answer must never run code on the controller ------------------

def hostile_guard(answer):
    """What a local user who took the guard's port could serve: any answer, whatever token comes."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "ktune-guard/1"  # the old role's identity check, trivially faked

        def log_message(self, fmt, *args):
            pass

        def do_GET(self):
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def core_216_bin():
    """ansible-core 2.16's venv beside the main one (tests/run-all.sh makes it for ansible-test)."""
    path = os.path.join(sys.prefix + "-core216", "bin")
    assert os.access(os.path.join(path, "ansible-playbook"), os.X_OK), "%s missing: tests/run-all.sh makes it" % path
    return path


@pytest.mark.parametrize("core", ["main", "2.16"])
def test_a_hostile_guard_answer_runs_nothing_on_the_controller(tmp_path, core):
    """Through the real ansible-rulebook, the shipped rulebook and guard_drain.yml, on the main
    ansible-core and on 2.16 (where a mere reference to the event templates every field of it):
    templates in a guard's reason or instance name reach no template engine; the drain still
    happens, by host."""
    command = rulebook_command()
    venv_bin = core_216_bin() if core == "2.16" else None
    marker = tmp_path / "controller-pwned"
    payload = "{{ lookup('ansible.builtin.pipe', 'touch %s') }}" % marker
    servers = {"gpu-a": hostile_guard([{"instance": "r1", "state": "hot", "ready": True, "reason": "hot " + payload}]),
               "gpu-b": hostile_guard([{"instance": "r1" + payload, "state": "hot", "ready": True, "reason": "hot"}])}
    try:
        members = {}
        for host, server in servers.items():
            state = tmp_path / host
            state.mkdir()
            (state / "token").write_text("controller-side-token-%s\n" % ("x" * 20))
            (state / "token").chmod(0o600)
            members[host] = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                             "ktune_guard_listen_port": server.server_address[1], "ktune_guard_state_dir": str(state)}
        (tmp_path / "inventory.yml").write_text(yaml.safe_dump(
            {"inference": {"hosts": members, "vars": {"ktune_min_serving_fraction": 0}}}))
        (tmp_path / "vars.yml").write_text(yaml.safe_dump({
            "ktune_guard_urls": dict((host, "http://127.0.0.1:%d" % server.server_address[1])
                                     for host, server in servers.items()),
            "ktune_guard_tokens": dict((host, "controller-side-token-%s" % ("x" * 20)) for host in servers),
            "ktune_guard_poll_interval_s": 1}))
        rulebook = yaml.safe_load((ROOT / "extensions/eda/rulebooks/ktune_guard.yml").read_text())
        rulebook[0]["sources"][0]["ktune.inference.guard_status"]["max_polls"] = 2
        (tmp_path / "rulebook.yml").write_text(yaml.safe_dump(rulebook))
        done = subprocess.run([command, "--rulebook", str(tmp_path / "rulebook.yml"), "--inventory",
                               str(tmp_path / "inventory.yml"), "--vars", str(tmp_path / "vars.yml"), "--print-events"],
                              cwd=str(tmp_path), env=environment(venv_bin), capture_output=True, text=True,
                              timeout=300, check=False)
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not marker.exists(), output
    assert "controller-pwned" not in output  # no free text of a guard in any event or playbook output
    drain = json.loads((tmp_path / "gpu-a" / "drain.json").read_text())
    assert drain["reason"] == "the fleet rulebook drained it after its guard reported it hot"
    assert not (tmp_path / "gpu-b" / "drain.json").exists()  # an invalid answer is no hot event
    assert "'state': 'invalid'" in output or '"state": "invalid"' in output, output
    if core == "2.16":
        assert "ansible-playbook [core 2.16." in subprocess.run(
            [os.path.join(venv_bin, "ansible-playbook"), "--version"], capture_output=True, text=True, check=True).stdout
