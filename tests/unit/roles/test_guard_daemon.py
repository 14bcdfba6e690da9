"""The guard daemon (roles/guard/files/ktune_guard.py) against the fake server and a fake ipmitool.

The stories of issue 15: a degrading server gets exactly one restart and its tokens/s
recover; a hot DIMM turns readiness to 503 and, cooled, back to 200 after the dwell.
The metrics it writes are read with prometheus_client's parser, as node_exporter would.
"""

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[3]
FAKE_IPMITOOL = ROOT / "tests" / "fake_ipmitool" / "ipmitool"
sys.path.insert(0, str(ROOT / "tests" / "fake_ktransformers"))
import server as fake_server  # noqa: E402


def load_daemon():
    spec = importlib.util.spec_from_file_location("ktune_guard", ROOT / "roles/guard/files/ktune_guard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ktune_guard = load_daemon()


class Clock(object):
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def host(tmp_path, monkeypatch):
    """Directories, the fake ipmitool's state file, and a config factory."""
    for name in ("textfile", "state"):
        (tmp_path / name).mkdir()
    state_file = tmp_path / "ipmi.json"
    monkeypatch.setenv("FAKE_IPMITOOL_STATE", str(state_file))
    monkeypatch.setenv("FAKE_IPMITOOL_ARGV", str(tmp_path / "ipmi-argv.jsonl"))

    def set_temps(**temps):
        state_file.write_text(json.dumps({"sensors": dict((name.replace("_", " "), value)
                                                          for name, value in temps.items())}))

    def config(instances, **overrides):
        data = dict(ktune_guard.DEFAULTS, textfile_dir=str(tmp_path / "textfile"), state_dir=str(tmp_path / "state"),
                    sysfs_root=str(tmp_path / "sys"), ipmitool=str(FAKE_IPMITOOL), instances=instances,
                    probe_timeout=10, probe_interval_s=0, probe_max_tokens=12, listen_port=0)
        data.update(overrides)
        path = tmp_path / "guard.json"
        path.write_text(json.dumps(data))
        return ktune_guard.load_config(str(path)), path

    set_temps(DIMMA1_Temp=50.0)
    return {"tmp": tmp_path, "set_temps": set_temps, "config": config}


SERVERS = {}
TOKEN = "test-guard-token-" + "x" * 24


def readiness(daemon, name, token=TOKEN):
    """GET /ready/NAME from the daemon's readiness server (one per daemon, closed at the end of the test)."""
    daemon.token = daemon.token or TOKEN
    server = SERVERS.get(id(daemon))
    if server is None:
        server = SERVERS[id(daemon)] = ktune_guard.serve(daemon, "127.0.0.1", 0)
    url = "http://127.0.0.1:%d/ready/%s" % (server.server_address[1], name)
    request = urllib.request.Request(url, headers={"Authorization": "Bearer %s" % token} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(autouse=True)
def close_readiness_servers():
    yield
    while SERVERS:
        server = SERVERS.popitem()[1]
        server.shutdown()
        server.server_close()


def restart_script(tmp_path, url):
    """A stand-in for systemctl restart: resets the fake server's request count, logs the call."""
    script = tmp_path / "restart"
    script.write_text("#!%s\nimport sys, urllib.request\nopen(%r, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                      "urllib.request.urlopen(urllib.request.Request(%r, method='POST'), timeout=5).read()\n"
                      % (sys.executable, str(tmp_path / "restarts.log"), url + "/fake/reset"))
    script.chmod(0o755)
    return [str(script), "ktransformers@{name}.service"]


def test_degrading_server_gets_exactly_one_restart_and_recovers(host):
    tmp = host["tmp"]
    # Full speed for 3 requests, then half: the curve a restart resets (FAKE /fake/reset).
    with fake_server.running_bench_server(tokens_per_s=300.0, ttft_s=0.0, degradation="1,0.5@3") as (url, plan):
        config, _path = host["config"](
            [{"name": "r1", "backend": "legacy", "base_url": url}],
            restart_command=restart_script(tmp, url),
            settings={"degraded_samples": 3, "degraded_ratio": 0.75, "drain_grace_s": 0, "min_dwell_s": 0,
                      "max_restarts_per_hour": 5})
        clock = Clock()
        daemon = ktune_guard.Guard(config, clock=clock)
        states, rates = [], []
        for _cycle in range(11):
            clock.now += 10
            daemon.cycle()
            instance = daemon.instances[0]
            states.append(instance.decision.state)
            rates.append(instance.tokens_per_s)
    assert (tmp / "restarts.log").read_text().splitlines() == ["ktransformers@r1.service"]
    assert states.count("restarting") == 1 and "degraded" in states, states
    baseline = daemon.instances[0].machine.baseline_for(None)
    after = [rate for rate in rates[states.index("restarting") + 1:] if rate is not None]
    assert len(after) >= 2 and min(after) >= 0.75 * baseline, (baseline, rates, states)
    assert states[-1] == "serving"
    metrics = samples((tmp / "textfile" / "ktune_guard.prom").read_text())
    assert metrics[("ktune_guard_restarts_total", frozenset({("name", "r1")}))] == 1
    assert metrics[("ktune_guard_state", frozenset({("name", "r1"), ("state", "serving")}))] == 1
    assert metrics[("ktune_guard_reason_info", frozenset({("name", "r1"), ("cause", "serving")}))] == 1
    kept = json.loads((tmp / "state" / "restarts.json").read_text())
    assert len(kept["r1"]) == 1 and abs(kept["r1"][0] - time.time()) < 120


def chat(url):
    """One streamed chat request, read to its end."""
    body = {"model": "fake-bench-model", "messages": [{"role": "user", "content": "hi"}], "stream": True,
            "max_tokens": 4}
    request = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def wait_for(condition, what, timeout=60):
    """Wait for condition(); the generous limit only matters on a loaded machine (2 shared cores in CI)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@contextlib.contextmanager
def concurrent_requests(url, batch, count):
    """`count` streamed requests running on the fake SGLang server (held open) until the block ends."""
    batch.hold()
    users = [threading.Thread(target=chat, args=(url,), daemon=True) for _user in range(count)]
    for user in users:
        user.start()
    try:
        wait_for(lambda: batch.running == count, "%d requests running on the fake server" % count)
        yield
    finally:
        batch.release()
        for user in users:
            user.join(30)
        wait_for(lambda: batch.running == 0, "the fake server's requests finished")


def sglang_guard(host, url, clock):
    config, _path = host["config"]([{"name": "s1", "backend": "sglang", "base_url": url}],
                                   restart_command=restart_script(host["tmp"], url),
                                   settings={"degraded_samples": 3, "degraded_ratio": 0.75, "drain_grace_s": 600,
                                             "min_dwell_s": 0, "max_restarts_per_hour": 5})
    return ktune_guard.Guard(config, clock=clock)


def cycles(daemon, clock, count):
    """Run `count` cycles 10 s apart; (state, readiness status, running requests read) after each."""
    seen = []
    for _cycle in range(count):
        clock.now += 10
        daemon.cycle()
        instance = daemon.instances[0]
        seen.append((instance.decision.state, readiness(daemon, instance.name)[0], instance.running))
    return seen


def test_sglang_at_1_4_and_16_concurrent_requests_is_never_drained_or_restarted(host):
    """Batched decode: each request's tokens/s falls as the batch grows (20, 12.5, 5 tokens/s). That is load."""
    batch = fake_server.BatchedDecode(single_stream_tokens_per_s=20.0, per_extra_request_s=0.01)
    with fake_server.running_bench_server(batch=batch) as (url, _plan):
        clock = Clock()
        daemon = sglang_guard(host, url, clock)
        for running in (1, 4, 16, 4, 1, 16):
            with concurrent_requests(url, batch, running):
                seen = cycles(daemon, clock, 6)
            assert seen == [("serving", 200, running)] * 6, (running, seen, daemon.instances[0].decision.reason)
    assert not (host["tmp"] / "restarts.log").exists()
    metrics = samples((host["tmp"] / "textfile" / "ktune_guard.prom").read_text())
    for running, speed in (("1", 20.0), ("4", 12.5), ("16", 5.0)):
        key = ("ktune_guard_baseline_tokens_per_s", frozenset({("name", "s1"), ("running_requests", running)}))
        assert metrics[key] == pytest.approx(speed), running
    assert metrics[("ktune_guard_running_requests", frozenset({("name", "s1")}))] == 16


def test_sglang_forty_percent_slower_at_unchanged_load_is_drained_then_restarted_once(host, capsys):
    batch = fake_server.BatchedDecode(single_stream_tokens_per_s=20.0, per_extra_request_s=0.01)
    with fake_server.running_bench_server(batch=batch) as (url, _plan):
        clock = Clock()
        daemon = sglang_guard(host, url, clock)
        with concurrent_requests(url, batch, 1):
            assert cycles(daemon, clock, 5) == [("serving", 200, 1)] * 5
        with concurrent_requests(url, batch, 4):
            assert cycles(daemon, clock, 6) == [("serving", 200, 4)] * 6
            batch.slowdown = 0.6  # 7.5 tokens/s per request at 4 running, below 12.5 x 0.75
            # The median of the last 3 samples at 4 requests: one slow sample is tolerated, two drain.
            # Drained while its 4 requests finish: no restart under them.
            assert cycles(daemon, clock, 3) == [("serving", 200, 4), ("degraded", 503, 4), ("degraded", 503, 4)]
            assert not (host["tmp"] / "restarts.log").exists()
            reason = readiness(daemon, "s1")[1]["reason"]
            assert "at 4 running requests" in reason and "baseline 12.50" in reason, reason
        # The requests ended: restarted (the fake's restart cures the slowdown), then serving again.
        assert [state for state, _status, _running in cycles(daemon, clock, 2)] == ["restarting", "serving"]
        with concurrent_requests(url, batch, 4):
            assert cycles(daemon, clock, 6) == [("serving", 200, 4)] * 6
    assert (host["tmp"] / "restarts.log").read_text().splitlines() == ["ktransformers@s1.service"]
    journal = capsys.readouterr().out
    assert "s1: learned a baseline at 4 running requests: 12.50 tokens/s per request" in journal, journal


def test_hot_dimm_turns_readiness_503_and_back_to_200_after_the_dwell(host):
    with fake_server.running_bench_server(tokens_per_s=300.0) as (url, _plan):
        config, _path = host["config"]([{"name": "r1", "backend": "legacy", "base_url": url}], probe_interval_s=3600,
                                       settings={"min_dwell_s": 30, "cool_dwell_s": 60})
        clock = Clock()
        daemon = ktune_guard.Guard(config, clock=clock)
        daemon.cycle()
        assert readiness(daemon, "r1")[0] == 200
        host["set_temps"](DIMMA1_Temp=50.0, DIMMB1_Temp=83.0)
        clock.now += 10
        daemon.cycle()
        status, body = readiness(daemon, "r1")
        assert status == 503 and body["state"] == "draining"
        assert "DIMMB1 Temp at 83 C" in body["reason"]
        host["set_temps"](DIMMA1_Temp=50.0, DIMMB1_Temp=60.0)
        seen = []
        for _cycle in range(10):
            clock.now += 10
            daemon.cycle()
            seen.append((clock.now - 1010, readiness(daemon, "r1")[0], daemon.instances[0].decision.state))
        back = [elapsed for elapsed, status, _state in seen if status == 200]
        # draining for min_dwell 30 s, then cooling for cool_dwell 60 s
        assert back and back[0] == 90, seen
        assert [state for _elapsed, _status, state in seen][:3] == ["draining", "draining", "cooling"]


def test_unknown_instance_is_404_and_status_lists_all(host):
    config, _path = host["config"]([{"name": "r1", "backend": "sglang", "base_url": "http://127.0.0.1:9"}])
    daemon = ktune_guard.Guard(config)
    assert readiness(daemon, "nope")[0] == 404
    status, body = readiness(daemon, "r1")
    assert status == 503 and body["state"] == "starting"  # no 200 before the first reading
    daemon.cycle()
    status, body = readiness(daemon, "r1")
    assert status == 503 and body["state"] == "unhealthy"


def test_sglang_metrics_give_running_requests_and_per_request_rate(host, monkeypatch):
    text = (ROOT / "tests/fixtures/sglang/metrics.txt").read_text()
    config, _path = host["config"]([{"name": "s1", "backend": "sglang", "base_url": "http://127.0.0.1:1"}])
    daemon = ktune_guard.Guard(config)
    monkeypatch.setattr(ktune_guard, "http_get", lambda url, timeout, api_key=None: (200, text.encode()))
    reading = daemon.read_instance(daemon.instances[0], [], None)
    assert reading.running_requests == 162
    assert reading.tokens_per_s == pytest.approx(86.50814177726902 / 162)


def test_sglang_without_metrics_is_probed_instead(host):
    with fake_server.running_bench_server(tokens_per_s=300.0, ttft_s=0.0) as (url, plan):
        config, _path = host["config"]([{"name": "s1", "backend": "sglang", "base_url": url}])
        daemon = ktune_guard.Guard(config, clock=Clock())
        reading = daemon.read_instance(daemon.instances[0], [], None)
        assert plan.count == 1 and reading.running_requests is None
        assert 200 < reading.tokens_per_s < 400


def test_legacy_probe_waits_while_a_connection_is_open(host):
    import socket
    with fake_server.running_bench_server(tokens_per_s=300.0, ttft_s=0.0) as (url, plan):
        config, _path = host["config"]([{"name": "r1", "backend": "legacy", "base_url": url}])
        daemon = ktune_guard.Guard(config, clock=Clock())
        port = int(url.rsplit(":", 1)[1])
        user = socket.create_connection(("127.0.0.1", port))  # a client in the middle of a request
        try:
            time.sleep(0.2)
            assert ktune_guard.established_connections("/proc", port) == 1
            assert daemon.read_instance(daemon.instances[0], [], None).tokens_per_s is None
            assert plan.count == 0
        finally:
            user.close()
        time.sleep(0.2)
        assert ktune_guard.established_connections("/proc", port) == 0
        assert daemon.read_instance(daemon.instances[0], [], None).tokens_per_s > 0 and plan.count == 1


def test_established_connections_reads_proc_net_tcp(tmp_path):
    (tmp_path / "net").mkdir()
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (tmp_path / "net/tcp").write_text(header + (
        "   0: 0100007F:2712 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
        "   1: 0100007F:2712 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 2\n"
        "   2: 0100007F:D431 0100007F:2712 01 00000000:00000000 00:00000000 00000000     0        0 3\n"
        "   3: 0100007F:2712 0100007F:D432 06 00000000:00000000 00:00000000 00000000     0        0 4\n"))
    assert ktune_guard.established_connections(str(tmp_path), 10002) == 1  # 0x2712: the server's side only
    assert ktune_guard.established_connections(str(tmp_path), 30000) == 0
    assert ktune_guard.established_connections(str(tmp_path / "none"), 10002) is None


def test_default_restart_does_not_wait_for_the_model_load():
    assert ktune_guard.DEFAULTS["restart_command"] == ["systemctl", "restart", "--no-block",
                                                       "ktransformers@{name}.service"]


def test_failed_restart_command_leaves_the_instance_failed_and_drained(host):
    with fake_server.running_bench_server(tokens_per_s=300.0, ttft_s=0.0, degradation="1,0.5@3") as (url, _plan):
        config, _path = host["config"]([{"name": "r1", "backend": "legacy", "base_url": url}],
                                       restart_command=["/bin/false"],
                                       settings={"degraded_samples": 3, "drain_grace_s": 0, "min_dwell_s": 0})
        clock = Clock()
        daemon = ktune_guard.Guard(config, clock=clock)
        for _cycle in range(9):
            clock.now += 10
            daemon.cycle()
        assert daemon.instances[0].decision.state == "failed"
        assert readiness(daemon, "r1")[0] == 503
        metrics = samples((host["tmp"] / "textfile" / "ktune_guard.prom").read_text())
        assert metrics[("ktune_guard_state", frozenset({("name", "r1"), ("state", "failed")}))] == 1


def test_lanplus_reads_the_password_from_a_root_only_file(host):
    password = host["tmp"] / "bmc.password"
    password.write_text("secret\n")
    password.chmod(0o644)
    with pytest.raises(ktune_guard.ConfigError, match="found a regular file owned by uid %d with mode 0644"
                       % os.geteuid()):
        host["config"]([], lanplus={"host": "127.0.0.1", "user": "admin", "password_file": str(password)})
    password.chmod(0o600)
    os.chown(password, 65534, 65534)
    with pytest.raises(ktune_guard.ConfigError, match="owned by uid 65534"):
        host["config"]([], lanplus={"host": "127.0.0.1", "user": "admin", "password_file": str(password)})
    os.chown(password, os.geteuid(), os.getegid())
    config, _path = host["config"]([], lanplus={"host": "127.0.0.1", "user": "admin", "password_file": str(password)})
    dimms, error = ktune_guard.read_dimms(config)
    assert error is None and [d["name"] for d in dimms] == ["DIMMA1 Temp"]
    argv = json.loads((host["tmp"] / "ipmi-argv.jsonl").read_text().splitlines()[-1])
    assert argv == ["-I", "lanplus", "-H", "127.0.0.1", "-U", "admin", "-f", str(password), "sensor"]
    assert "secret" not in json.dumps(argv)


def test_bad_settings_refuse_to_start(host):
    with pytest.raises(ktune_guard.ConfigError, match="interval_s = 0"):
        host["config"]([], settings={"interval_s": 0})


def test_throttle_counters_rising_drain(host):
    cpu = host["tmp"] / "sys/devices/system/cpu"
    (cpu / "cpu0/thermal_throttle").mkdir(parents=True)
    (cpu / "online").write_text("0\n")
    counter = cpu / "cpu0/thermal_throttle/package_throttle_count"
    counter.write_text("4\n")
    with fake_server.running_bench_server(tokens_per_s=300.0) as (url, _plan):
        config, _path = host["config"]([{"name": "r1", "backend": "legacy", "base_url": url}], probe_interval_s=3600)
        daemon = ktune_guard.Guard(config, clock=Clock())
        daemon.cycle()
        assert daemon.instances[0].decision.state == "serving"
        counter.write_text("7\n")
        daemon.cycle()
        assert daemon.instances[0].decision.state == "draining"


def test_daemon_process_serves_readiness_and_stops_on_sigterm(host):
    with fake_server.running_bench_server(tokens_per_s=300.0) as (url, _plan):
        _config, path = host["config"]([{"name": "r1", "backend": "legacy", "base_url": url}], probe_interval_s=3600,
                                       listen_port=0, settings={"interval_s": 1})
        # A fixed free port for the subprocess: bind, read it, release it.
        import socket
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        data = json.loads(path.read_text())
        data["listen_port"] = port
        path.write_text(json.dumps(data))
        # Laid out as the role installs it: the daemon with the shared module_utils beside it.
        install = host["tmp"] / "install"
        install.mkdir()
        shutil.copy(str(ROOT / "roles/guard/files/ktune_guard.py"), str(install))
        shared = yaml.safe_load((ROOT / "roles/guard/vars/main.yml").read_text())["guard_shared_modules"]
        for name in shared:
            shutil.copy(str(ROOT / "plugins/module_utils" / name), str(install))
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        process = subprocess.Popen([sys.executable, str(install / "ktune_guard.py"), "--config", str(path)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=str(install))
        try:
            token_file = host["tmp"] / "state" / "token"
            deadline = time.monotonic() + 20
            status = None
            while time.monotonic() < deadline and status != 200:
                try:
                    request = urllib.request.Request("http://127.0.0.1:%d/ready/r1" % port, headers={
                        "Authorization": "Bearer %s" % token_file.read_text().strip()})
                    with urllib.request.urlopen(request, timeout=2) as response:
                        status = response.status
                except (urllib.error.URLError, OSError):
                    time.sleep(0.2)
            assert status == 200
            assert oct(token_file.stat().st_mode & 0o777) == "0o600"
            process.send_signal(signal.SIGTERM)
            out, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert process.returncode == 0, err
        assert b"<6>ktune-guard: readiness on http://127.0.0.1:%d/ready/NAME for r1" % port in out
        assert (host["tmp"] / "textfile" / "ktune_guard.prom").exists()


def install_daemon(tmp_path):
    """The daemon laid out as the role installs it, with the shared module_utils beside it."""
    install = tmp_path / "install"
    install.mkdir()
    shutil.copy(str(ROOT / "roles/guard/files/ktune_guard.py"), str(install))
    for name in yaml.safe_load((ROOT / "roles/guard/vars/main.yml").read_text())["guard_shared_modules"]:
        shutil.copy(str(ROOT / "plugins/module_utils" / name), str(install))
    return install / "ktune_guard.py"


def key_file(tmp_path, key, mode=0o600):
    path = tmp_path / "r1.credentials"
    path.write_text("# Managed by Ansible (ktune.inference.ktransformers_service). Root only.\nKTUNE_API_KEY=%s\n" % key)
    path.chmod(mode)
    return path


def test_api_key_from_a_root_only_file_reaches_the_probe(host):
    """A keyed server answers the probe only with the key; the key is in no file the guard writes."""
    key = "guard-test-key-0123"
    with fake_server.running_bench_server(tokens_per_s=300.0, ttft_s=0.0, api_key=key) as (url, _plan):
        spec = {"name": "r1", "backend": "legacy", "base_url": url}
        config, _path = host["config"]([spec])
        daemon = ktune_guard.Guard(config, clock=Clock())
        daemon.cycle()
        assert daemon.instances[0].tokens_per_s is None  # no key: 401, no measurement
        path = key_file(host["tmp"], key, 0o644)
        with pytest.raises(ktune_guard.ConfigError, match="api_key_file %s: expected .* mode 0600 or 0400, found "
                                                          "a regular file owned by uid %d with mode 0644"
                                                          % (path, os.geteuid())):
            host["config"]([dict(spec, api_key_file=str(path))])
        path.chmod(0o600)
        config, config_path = host["config"]([dict(spec, api_key_file=str(path))])
        daemon = ktune_guard.Guard(config, clock=Clock())
        daemon.cycle()
        assert daemon.instances[0].tokens_per_s > 0
        written = [config_path.read_text()] + [p.read_text() for p in (host["tmp"] / "textfile").iterdir()]
        assert not [text for text in written if key in text]
        empty = host["tmp"] / "empty.credentials"
        empty.write_text("# nothing\n")
        empty.chmod(0o600)
        with pytest.raises(ktune_guard.ConfigError, match="holds no KTUNE_API_KEY= line"):
            host["config"]([dict(spec, api_key_file=str(empty))])


def test_a_symlinked_key_or_password_file_is_refused_even_to_a_root_only_file(host):
    """The one secret-file check (secret_file.read_secret_file) opens without following a link."""
    real = key_file(host["tmp"], "guard-test-key-0123")
    link = host["tmp"] / "link.credentials"
    link.symlink_to(real)
    spec = {"name": "r1", "backend": "legacy", "base_url": "http://127.0.0.1:9", "api_key_file": str(link)}
    with pytest.raises(ktune_guard.ConfigError, match="api_key_file %s: expected .*, found a symlink" % link):
        host["config"]([spec])
    with pytest.raises(ktune_guard.ConfigError, match="password_file %s: expected .*, found a symlink" % link):
        host["config"]([], lanplus={"host": "127.0.0.1", "user": "admin", "password_file": str(link)})


def test_a_key_file_that_turns_readable_to_others_sends_no_key(host, capsys):
    """Read every cycle through the same check: a key file made 0644 after the start is not used."""
    key = "guard-test-key-0123"
    with fake_server.running_bench_server(tokens_per_s=300.0, ttft_s=0.0, api_key=key) as (url, _plan):
        path = key_file(host["tmp"], key)
        config, _path = host["config"]([{"name": "r1", "backend": "legacy", "base_url": url,
                                         "api_key_file": str(path)}])
        daemon = ktune_guard.Guard(config, clock=Clock())
        daemon.cycle()
        assert daemon.instances[0].api_key == key
        path.chmod(0o644)
        daemon.cycle()
        daemon.cycle()
        assert daemon.instances[0].api_key is None and daemon.instances[0].tokens_per_s is None
    out = capsys.readouterr().out
    assert out.count("<3>r1: instances[r1].api_key_file %s: expected" % path) == 1, out
    assert "with mode 0644: no key sent" in out and key not in out


def test_check_config_exits_0_or_2_naming_the_problem(host):
    daemon = install_daemon(host["tmp"])
    password = host["tmp"] / "bmc.password"
    password.write_text("secret\n")
    password.chmod(0o600)
    _config, path = host["config"]([], lanplus={"host": "127.0.0.1", "user": "admin", "password_file": str(password)})
    password.chmod(0o640)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, str(daemon), "--check-config", "--config", str(path)], capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode == 2
    assert "lanplus.password_file %s: expected a regular file (not a symlink) owned by root" % password in done.stderr
    assert "found a regular file owned by uid %d with mode 0640" % os.geteuid() in done.stderr
    password.chmod(0o600)
    done = subprocess.run([sys.executable, str(daemon), "--check-config", "--config", str(path)], capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "settings good" in done.stdout and "lanplus to 127.0.0.1" in done.stdout
    # "-": the settings come on standard input (the role checks what it is about to write).
    data = json.loads(path.read_text())
    data["settings"] = {"interval_s": 0}
    done = subprocess.run([sys.executable, str(daemon), "--check-config", "--config", "-"], input=json.dumps(data),
                          capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 2 and "standard input: interval_s = 0" in done.stderr


def test_drain_file_takes_named_instances_out_until_it_goes(host):
    with fake_server.running_bench_server(tokens_per_s=300.0) as (url, _plan):
        config, _path = host["config"]([{"name": "r1", "backend": "legacy", "base_url": url},
                                        {"name": "r2", "backend": "legacy", "base_url": url}], probe_interval_s=3600)
        daemon = ktune_guard.Guard(config, clock=Clock())
        daemon.cycle()
        assert readiness(daemon, "r1")[0] == 200
        drain = host["tmp"] / "state" / "drain.json"
        drain.write_text(json.dumps({"instances": ["r1"], "reason": "DIMM hot on 2 of 4 hosts", "by": "ktune fleet"}))
        daemon.cycle()
        status, body = readiness(daemon, "r1")
        assert status == 503 and body["state"] == "drained" and body["guard_state"] == "serving"
        assert body["reason"] == "drained by ktune fleet: DIMM hot on 2 of 4 hosts"
        assert readiness(daemon, "r2")[0] == 200
        metrics = samples((host["tmp"] / "textfile" / "ktune_guard.prom").read_text())
        assert metrics[("ktune_guard_drained", frozenset({("name", "r1")}))] == 1
        assert metrics[("ktune_guard_ready", frozenset({("name", "r1")}))] == 0
        drain.write_text(json.dumps({"instances": ["*"], "reason": "maintenance"}))
        daemon.cycle()
        assert readiness(daemon, "r2")[0] == 503
        drain.unlink()
        daemon.cycle()
        assert readiness(daemon, "r1")[0] == 200 and readiness(daemon, "r2")[0] == 200


def test_bmc_unreadable_is_one_journal_line_per_change_and_none_while_stopping(host, capsys):
    config, _path = host["config"]([])
    daemon = ktune_guard.Guard(config, clock=Clock())
    daemon.cycle()
    (host["tmp"] / "ipmi.json").write_text(json.dumps({"fail": True}))
    daemon.cycle()
    daemon.cycle()
    host["set_temps"](DIMMA1_Temp=50.0)
    daemon.cycle()
    lines = [line for line in capsys.readouterr().out.splitlines() if "DIMM temperatures" in line]
    assert lines == ["<4>ktune-guard: DIMM temperatures unreadable: ipmitool exited with 1: "
                     "Error: Unable to establish IPMI v2 / RMCP+ session",
                     "<6>ktune-guard: DIMM temperatures readable again"]
    # systemd stops the unit: ipmitool dies with the daemon; no "unreadable" line for that.
    daemon.stop.set()
    (host["tmp"] / "ipmi.json").write_text(json.dumps({"fail": True}))
    daemon.cycle()
    assert "DIMM temperatures" not in capsys.readouterr().out


def test_a_restart_counts_as_healthy_only_once_the_unit_restarted(host, monkeypatch):
    """systemctl restart --no-block returns at once: the old process may still answer the health check."""
    assert ktune_guard.restarted_unit(["systemctl", "restart", "--no-block", "ktransformers@r1.service"]) == \
        "ktransformers@r1.service"
    assert ktune_guard.restarted_unit(["/bin/false"]) is None
    invocations = {"ktransformers@r1.service": "aaa"}
    monkeypatch.setattr(ktune_guard, "unit_invocation", invocations.get)
    with fake_server.running_bench_server(tokens_per_s=300.0, ttft_s=0.0) as (url, _plan):
        config, _path = host["config"]([{"name": "r1", "backend": "legacy", "base_url": url}],
                                       restart_command=["/bin/true", "systemctl", "restart", "x"],
                                       probe_interval_s=3600)
        daemon = ktune_guard.Guard(config, clock=Clock())
        instance = daemon.instances[0]
        instance.machine.state = "restarting"
        instance.restart_unit, instance.invocation_before = "ktransformers@r1.service", "aaa"
        assert daemon.read_instance(instance, [], None).health is False  # same invocation: not restarted yet
        invocations["ktransformers@r1.service"] = "bbb"
        assert daemon.read_instance(instance, [], None).health is True
        assert instance.invocation_before is None


# --- issue 21: a guard that answers only its token's holder, on a port nobody can take first -------

def raw_get(url, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize("header", [None, "Bearer wrong-token-wrong-token", "Basic " + TOKEN, "Bearer"])
def test_every_endpoint_answers_401_without_the_token(host, header):
    config, _path = host["config"]([{"name": "r1", "backend": "sglang", "base_url": "http://127.0.0.1:9"}])
    daemon = ktune_guard.Guard(config, token=TOKEN)
    server = SERVERS[id(daemon)] = ktune_guard.serve(daemon, "127.0.0.1", 0)
    base = "http://127.0.0.1:%d" % server.server_address[1]
    for path in ("/status", "/ready/r1", "/ready/nope", "/"):
        status, body = raw_get(base + path, {"Authorization": header} if header else {})
        assert (status, body) == (401, b""), path
    assert raw_get(base + "/status", {"Authorization": "Bearer " + TOKEN})[0] == 200


def raw_request(port, data):
    """Send raw bytes to the guard; (status line, headers and body as bytes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(data)
        answer = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _sep, body = answer.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0], head, body


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"])
def test_no_method_answers_anything_but_401_without_the_token(host, method):
    """No endpoint, method or malformed request is answered past the token: the guard has no open
    liveness endpoint (its liveness is ktune_guard_up and the last-cycle time in its metrics)."""
    config, _path = host["config"]([{"name": "r1", "backend": "sglang", "base_url": "http://127.0.0.1:9"}])
    daemon = ktune_guard.Guard(config, token=TOKEN)
    server = SERVERS[id(daemon)] = ktune_guard.serve(daemon, "127.0.0.1", 0)
    port = server.server_address[1]
    request = "%s /status HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n" % method
    status, head, body = raw_request(port, (request + "\r\n").encode())
    expected_without = b"HTTP/1.0 501" if method == "PROPFIND" else b"HTTP/1.0 401"
    assert status.startswith(expected_without) and body == b"", (status, body)
    assert b"Python" not in head and b"Server: ktune-guard/1\r\n" in head + b"\r\n", head
    if method != "PROPFIND":
        status, head, body = raw_request(port, (request + "Authorization: Bearer %s\r\n\r\n" % TOKEN).encode())
        assert status.startswith(b"HTTP/1.0 405") and b"Allow: GET, HEAD" in head and body == b"", (status, head)


def test_a_malformed_request_gets_no_page(host):
    config, _path = host["config"]([{"name": "r1", "backend": "sglang", "base_url": "http://127.0.0.1:9"}])
    daemon = ktune_guard.Guard(config, token=TOKEN)
    server = SERVERS[id(daemon)] = ktune_guard.serve(daemon, "127.0.0.1", 0)
    for line in (b"GET /status HTTP/2.0", b"GET /status HTTP/x.y", b"GARBAGE"):
        status, head, body = raw_request(server.server_address[1], line + b"\r\n\r\n")
        # The request line is unreadable, so the answer is HTTP/0.9's: no status line, and no page either.
        assert (status, head, body) == (b"", b"", b""), (line, status, head, body)


def test_the_token_is_made_owner_only_once_and_kept(tmp_path):
    token = ktune_guard.load_token(str(tmp_path))
    path = tmp_path / "token"
    assert oct(path.stat().st_mode & 0o777) == "0o600" and len(token) >= 32
    assert ktune_guard.load_token(str(tmp_path)) == token


@pytest.mark.parametrize("plant", ["readable", "symlink", "short"])
def test_an_unsafe_token_file_refuses_to_start(tmp_path, plant):
    path = tmp_path / "token"
    if plant == "readable":
        path.write_text("x" * 40)
        path.chmod(0o644)
    elif plant == "symlink":
        (tmp_path / "elsewhere").write_text("x" * 40)
        (tmp_path / "elsewhere").chmod(0o600)
        path.symlink_to(tmp_path / "elsewhere")
    else:
        path.write_text("short")
        path.chmod(0o600)
    with pytest.raises(ktune_guard.ConfigError, match=str(path)):
        ktune_guard.load_token(str(tmp_path))


def test_socket_activation_serves_on_the_port_systemd_holds(host):
    """systemd's own systemd-socket-activate binds the port and passes it, as ktune-guard.socket does."""
    activate = shutil.which("systemd-socket-activate")
    assert activate, "systemd-socket-activate missing: tests/run-all.sh installs Debian's systemd"
    _config, path = host["config"]([], settings={"interval_s": 1})
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = json.loads(path.read_text())
    data["listen_port"] = port + 1 if port < 65535 else port - 1  # ignored: the passed socket wins
    data["systemd_socket"] = True  # as the role writes it
    path.write_text(json.dumps(data))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    process = subprocess.Popen([activate, "--listen", "127.0.0.1:%d" % port, sys.executable,
                                str(install_daemon(host["tmp"])), "--config", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        # systemd-socket-activate starts the guard on the first connection, which waits in the
        # socket's queue meanwhile: no connection is refused, the first answer is the guard's.
        deadline, status = time.monotonic() + 20, None
        while time.monotonic() < deadline and status is None:
            try:
                status = raw_get("http://127.0.0.1:%d/status" % port)[0]
            except (OSError, urllib.error.URLError):
                time.sleep(0.2)
        assert status == 401
        token = (host["tmp"] / "state" / "token").read_text().strip()
        assert raw_get("http://127.0.0.1:%d/status" % port, {"Authorization": "Bearer " + token})[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert b"readiness on http://127.0.0.1:%d/ready/NAME" % port in out, (out, err)


# Execs the guard in its own process (so LISTEN_PID is its pid, as systemd sets it) with fd 3
# (and 4) made as asked: what a misconfigured or foreign socket unit could pass.
PASS_FDS = r"""
import os, socket, sys
kind = sys.argv[1]
def at(fd, sock):
    os.dup2(sock.fileno(), fd)
    os.set_inheritable(fd, True)
count = 1
if kind == "udp":
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); sock.bind(("127.0.0.1", 0)); at(3, sock)
elif kind == "not_listening":
    sock = socket.socket(); sock.bind(("127.0.0.1", 0)); at(3, sock)
elif kind == "two":
    for fd in (3, 4):
        sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(); at(fd, sock)
    count = 2
elif kind == "file":
    handle = os.open(sys.argv[0], os.O_RDONLY); os.dup2(handle, 3); os.set_inheritable(3, True)
elif kind == "other_pid":
    sock = socket.socket(); sock.bind(("127.0.0.1", 0)); sock.listen(); at(3, sock)
if kind != "none":
    os.environ.update(LISTEN_FDS=str(count), LISTEN_PID=str(os.getpid() + (1 if kind == "other_pid" else 0)))
os.execv(sys.executable, [sys.executable] + sys.argv[2:])
"""


@pytest.mark.parametrize("kind, expected", [
    ("udp", "the socket from systemd is AF_INET SOCK_DGRAM, not listening: expected a listening TCP socket"),
    ("not_listening", "the socket from systemd is AF_INET SOCK_STREAM, not listening: expected a listening TCP"),
    ("two", "systemd passed 2 sockets: expected the one of ktune-guard.socket"),
    ("file", "descriptor 3 from systemd is no socket"),
    ("other_pid", "expected the listening socket of ktune-guard.socket (LISTEN_FDS), found none"),
    ("none", "expected the listening socket of ktune-guard.socket (LISTEN_FDS), found none"),
])
def test_under_systemd_the_guard_listens_only_on_the_socket_systemd_holds(host, kind, expected):
    """sd_listen_fds(3) semantics, read by hand: one listening TCP socket at fd 3 for this very
    process, or no start; the guard never binds the port itself (a late bind could find the port
    another program's)."""
    _config, path = host["config"]([], settings={"interval_s": 1})
    data = json.loads(path.read_text())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        data["listen_port"] = probe.getsockname()[1]
    data["systemd_socket"] = True
    path.write_text(json.dumps(data))
    script = host["tmp"] / "pass_fds.py"
    script.write_text(PASS_FDS)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, str(script), kind, str(install_daemon(host["tmp"])), "--config", str(path)],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode in (1, 2) and expected in done.stdout, (done.returncode, done.stdout, done.stderr)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", data["listen_port"]))  # the guard did not take the port itself


def test_the_passed_socket_is_close_on_exec_and_the_variables_are_gone(monkeypatch):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    monkeypatch.setattr(ktune_guard, "LISTEN_FDS_START", listener.fileno())
    os.set_inheritable(listener.fileno(), True)
    environ = {"LISTEN_FDS": "1", "LISTEN_PID": str(os.getpid()), "LISTEN_FDNAMES": "ktune-guard.socket", "X": "1"}
    inherited = ktune_guard.activated_socket(environ)
    try:
        assert environ == {"X": "1"}
        assert inherited.getsockname() == listener.getsockname()
        assert not os.get_inheritable(inherited.fileno())
    finally:
        inherited.detach()
        listener.close()


def test_an_empty_token_file_a_cut_short_start_left_is_made_again(tmp_path):
    (tmp_path / "token").write_text("")
    (tmp_path / "token").chmod(0o600)
    token = ktune_guard.load_token(str(tmp_path))
    assert len(token) >= 32 and (tmp_path / "token").read_text().strip() == token
