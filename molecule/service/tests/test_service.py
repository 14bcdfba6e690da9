"""Verify the service scenario: two ktransformers instances (legacy and SGLang) on a fixture NPS2 host.

Flags are checked against the fixture topology itself (tests/topologies.py), not against what
the role computed, so a wrong derivation cannot agree with itself.
"""

import json
import shlex
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests"))
import topologies  # noqa: E402

TOPOLOGY = topologies.catalog()["epyc-2s-nps2"]
PHYSICAL_CORES = len(set(TOPOLOGY.core_key(cpu) for cpu in TOPOLOGY.online))
CPU_NODES = [node.id for node in TOPOLOGY.nodes if node.cpus]
HOME = "/var/lib/ktransformers"
LEGACY_KEY = "legacy-test-key-0123"
SGLANG_KEY = "sglang-test-key-4567"

EXPECTED_ARGV = {
    "r1": ["--model_path", "/srv/models/DeepSeek-R1", "--gguf_path", "/srv/models/DeepSeek-R1-GGUF",
           "--model_name", "DeepSeek-R1", "--host", "127.0.0.1", "--port", "10002", "--cpu_infer", str(PHYSICAL_CORES - 2),
           "--max_new_tokens", "1024", "--cache_lens", "32768", "--max_batch_size", "4",
           "--backend_type", "balance_serve", "--chunk_size", "256",
           "--optimize_config_path", "/srv/models/rules/DeepSeek-V3-Chat-serve.yaml", "--force_think"],
    "kimi": ["--model-path", "/srv/models/Kimi-K2", "--kt-weight-path", "/srv/models/Kimi-K2-CPU",
             "--kt-cpuinfer", str(PHYSICAL_CORES), "--kt-threadpool-count", str(len(CPU_NODES)),
             # nodes 0..n-1: kt-kernel's own mapping, so no --kt-numa-nodes
             "--kt-method", "AMXINT4", "--kt-num-gpu-experts", "0", "--watchdog-timeout", "3000",
             "--enable-metrics", "--host", "127.0.0.1", "--port", "30000", "--trust-remote-code",
             "--config", "/run/ktransformers-kimi/sglang-secrets.yaml"],
}
PORT = {"r1": 10002, "kimi": 30000}
MODE = {"r1": "legacy", "kimi": "sglang"}
KEY = {"r1": LEGACY_KEY, "kimi": SGLANG_KEY}


def record(host, name):
    return json.loads(host.file("/var/lib/ktune-test/%s.json" % name).content_string)


def started(host, name):
    return json.loads(host.file("%s/fake-argv-%d.json" % (HOME, PORT[name])).content_string)


def show(text):
    return dict(line.split("=", 1) for line in text.strip().splitlines())


def unit_show(host, name, *props):
    args = " ".join("-p %s" % prop for prop in props)
    return show(host.check_output("systemctl show %s ktransformers@%s.service" % (args, name)))


def curl(host, url, *extra):
    return host.run("curl -s -m 10 -w '\\n%%{http_code}' %s %s" % (" ".join(extra), url))


def chat(host, name, key, stream=True):
    body = json.dumps({"model": "m", "stream": stream, "messages": [{"role": "user", "content": "hello there"}]})
    auth = "-H 'Authorization: Bearer %s'" % key if key else ""
    result = curl(host, "http://127.0.0.1:%d/v1/chat/completions" % PORT[name], "-N", "-X POST",
                  "-H 'Content-Type: application/json'", auth, "-d '%s'" % body)
    text, _sep, status = result.stdout.rpartition("\n")
    return int(status), text


@pytest.mark.parametrize("name", ["r1", "kimi"])
def test_two_instances_active_and_listening_side_by_side(host, name):
    assert host.service("ktransformers@%s" % name).is_running
    assert host.service("ktransformers@%s" % name).is_enabled
    # loopback only by default: nothing outside the host reaches an unprotected route
    assert host.socket("tcp://127.0.0.1:%d" % PORT[name]).is_listening
    assert not host.socket("tcp://0.0.0.0:%d" % PORT[name]).is_listening


@pytest.mark.parametrize("name", ["r1", "kimi"])
def test_flags_match_the_facts(host, name):
    start = started(host, name)
    assert start["mode"] == MODE[name]
    assert start["argv"] == EXPECTED_ARGV[name]
    # The unit's main process is the server itself (the launcher and wrappers exec).
    pid = int(unit_show(host, name, "MainPID")["MainPID"])
    assert start["pid"] == pid
    cmdline = host.file("/proc/%d/cmdline" % pid).content_string.split("\0")
    assert cmdline[-len(EXPECTED_ARGV[name]) - 1:-1] == EXPECTED_ARGV[name]


def test_fixture_is_what_the_container_sees(host):
    assert PHYSICAL_CORES == 32 and CPU_NODES == [0, 1, 2, 3]
    assert host.file("/sys/devices/system/node/online").content_string.strip() == "0-3"


@pytest.mark.parametrize("name", ["r1", "kimi"])
def test_runs_as_the_dedicated_user_with_its_home(host, name):
    start = started(host, name)
    assert start["user"] == "ktransformers"
    assert start["home"] == HOME
    user = host.user("ktransformers")
    assert user.home == HOME and user.uid < 1000 and user.shell == "/usr/sbin/nologin"
    assert host.file(HOME + "/.ktransformers").is_directory
    assert host.file(HOME + "/.ktransformers").user == "ktransformers"


def test_legacy_config_completed_under_home(host):
    """prepare.yml left a config.yaml of an older seed: the keys upstream reads without a default
    (kvc2.disk_path since v0.3.2) and model.name were added, every value there was kept."""
    config = host.file(HOME + "/.ktransformers/config.yaml")
    assert config.user == "ktransformers" and config.mode == 0o600
    values = yaml.safe_load(config.content_string)
    assert values["log"]["dir"] == HOME + "/.ktransformers/logs" and values["log"]["level"] == "debug"
    assert values["db"]["host"] == HOME + "/.ktransformers"
    assert values["server"]["api_key"] == LEGACY_KEY
    assert values["kvc2"]["disk_path"] == HOME + "/.ktransformers/kvc2"
    assert values["kvc2"]["cpu_memory_size_GB"] == 500
    assert values["model"]["name"] == "DeepSeek-R1"


def test_unit_hardening_and_limits(host):
    unit = host.file("/etc/systemd/system/ktransformers@.service").content_string
    for line in ("Restart=on-failure", "LimitMEMLOCK=infinity", "LimitNOFILE=1048576", "NoNewPrivileges=yes",
                 "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=read-only", "ReadWritePaths=%s" % HOME,
                 "StandardOutput=journal", "EnvironmentFile=/etc/ktransformers/%i.env",
                 "EnvironmentFile=-/etc/ktransformers/%i.credentials", "User=ktransformers",
                 "Environment=HOME=%s" % HOME):
        assert line in unit.splitlines(), line
    props = unit_show(host, "r1", "User", "LimitMEMLOCK", "LimitNOFILE", "NoNewPrivileges", "ProtectSystem",
                      "PrivateTmp", "Restart")
    assert props == {"User": "ktransformers", "LimitMEMLOCK": "infinity", "LimitNOFILE": "1048576",
                     "NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                     "Restart": "on-failure"}


@pytest.mark.parametrize("name", ["r1", "kimi"])
def test_model_paths_are_read_only_to_the_service(host, name):
    # The model directories are mode 0777: only ProtectSystem=strict keeps the service out.
    assert host.file("/srv/models/DeepSeek-R1").mode == 0o777
    assert started(host, name)["model_path_writable"] is False


@pytest.mark.parametrize("name", ["r1", "kimi"])
def test_api_key_never_on_the_command_line(host, name):
    pid = int(unit_show(host, name, "MainPID")["MainPID"])
    assert KEY[name] not in host.file("/proc/%d/cmdline" % pid).content_string
    assert KEY[name] not in host.check_output("ps -eo args")
    credentials = host.file("/etc/ktransformers/%s.credentials" % name)
    assert (credentials.user, credentials.group, credentials.mode) == ("root", "root", 0o600)
    assert "KTUNE_API_KEY=%s" % KEY[name] in credentials.content_string.splitlines()
    env = host.file("/etc/ktransformers/%s.env" % name)
    assert env.mode == 0o644 and KEY[name] not in env.content_string
    assert started(host, name)["api_key_set"] is True
    assert KEY[name] not in host.check_output("journalctl -u ktransformers@%s --no-pager" % name)


@pytest.mark.parametrize("name", ["r1", "kimi"])
def test_streamed_chat_completions(host, name):
    status, _unused = chat(host, name, None)
    assert status == 401
    status, text = chat(host, name, KEY[name])
    assert status == 200
    events = [line[len("data: "):] for line in text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks).endswith("hello there")


def test_health_endpoints(host):
    body, _sep, status = curl(host, "http://127.0.0.1:10002/v1/models").stdout.rpartition("\n")
    assert status == "200" and json.loads(body)[0]["id"] == "DeepSeek-R1"
    assert curl(host, "http://127.0.0.1:10002/health").stdout.endswith("404")  # the legacy server has none
    assert curl(host, "http://127.0.0.1:30000/health").stdout.endswith("200")


def test_journald_logging(host):
    journal = host.check_output("journalctl -u ktransformers@r1 --no-pager")
    assert "ktransformers-exec: r1 (legacy, API key set)" in journal
    assert "fake legacy: serving DeepSeek-R1 on 127.0.0.1:10002" in journal


def test_a_rerun_restarts_nothing(host):
    converged = record(host, "after-converge")
    before = record(host, "before-side-effect")
    assert converged == before
    for text in converged.values():
        assert int(show(text)["MainPID"]) > 0


def test_invalid_settings_are_refused_before_any_change(host):
    outcome = record(host, "invalid-settings")
    assert outcome["failed"] is True
    assert outcome["msg"].startswith(
        "svc-nps2: ktune_service_instances[0] (r1): cache_lens = 4096 must be greater than max_batch_size * "
        "max_new_tokens = 4 * 2048 = 8192 (ktransformers' rule for its KV cache). Fix: raise cache_lens above "
        "8192, or lower max_batch_size or max_new_tokens")
    assert outcome["msg"].endswith("Nothing was changed.")


def test_a_port_in_use_is_refused(host):
    outcome = record(host, "port-in-use")
    assert outcome["failed"] is True
    assert "svc-nps2: ktune_service_instances[2] (r1-copy): port = 10010 is already in use by pid " in outcome["msg"]
    assert "(squatter.service): expected a free port, or one held by ktransformers@r1-copy.service itself" \
        in outcome["msg"]
    assert not host.file("/etc/ktransformers/r1-copy.env").exists
    # the instances' own ports, held by their own units, were not refused
    assert "port = 10002" not in outcome["msg"] and "port = 30000" not in outcome["msg"]


def test_a_broken_change_rolls_back_and_the_old_config_still_answers(host):
    outcome = record(host, "rollback")
    assert outcome["failed"] is True
    msg = outcome["msg"]
    assert msg.startswith("svc-nps2: ktransformers@r1.service did not come up with the new configuration: "
                          "expected HTTP 200 from GET http://127.0.0.1:10002/v1/models within 600 s")
    assert "Rolled back: put back /etc/ktransformers/r1.env, /etc/ktransformers/r1.credentials and restarted; the " \
           "previous configuration answers again at http://127.0.0.1:10002/v1/models" in msg
    assert "Last 30 journal lines of ktransformers@r1.service:" in msg
    assert "FAKE_FAIL_AT_START is set" in msg
    # the old configuration is back on disk and serving
    env = host.file("/etc/ktransformers/r1.env").content_string
    assert "--max_new_tokens 1024" in env
    # The instance's environment lives in the root-only credentials file (issue 21, item 4).
    assert "FAKE_FAIL_AT_START" not in host.file("/etc/ktransformers/r1.credentials").content_string
    assert started(host, "r1")["argv"] == EXPECTED_ARGV["r1"]
    assert host.service("ktransformers@r1").is_running
    status, _unused = chat(host, "r1", LEGACY_KEY)
    assert status == 200


def test_a_crash_loop_is_rolled_back_within_seconds_not_after_the_health_timeout(host):
    outcome = record(host, "rollback")
    assert "ktransformers@r1.service is crash-looping: it exited and systemd restarted it" in outcome["msg"]
    # RestartSec is 2 s here; the whole change, rollback and old config's health wait included,
    # takes far less than the 600 s health timeout.
    assert float(outcome["seconds"]) < 90, outcome["seconds"]


def test_no_backup_file_is_left_behind(host):
    assert record(host, "backups-left") == []
    assert host.run("ls -a /etc/ktransformers").stdout.count(".ktune-previous") == 0


def test_the_rollback_restarted_only_the_broken_instance(host):
    before = record(host, "before-side-effect")
    after = record(host, "after-side-effect")
    r1_before, r1_after = show(before["ktransformers@r1.service"]), show(after["ktransformers@r1.service"])
    kimi_before, kimi_after = show(before["ktransformers@kimi.service"]), show(after["ktransformers@kimi.service"])
    assert r1_after["MainPID"] != r1_before["MainPID"]
    assert kimi_after == kimi_before
    # The planted-link runs after it restarted nothing (side_effect.yml read r1 before the
    # interrupted-run story, which restarts it on purpose).
    assert show(record(host, "after-links")["ktransformers@r1.service"]) == {"MainPID": r1_after["MainPID"]}


# side_effect.yml planted each link as the service user (the real entry put aside), ran the role
# and put the real entry back.
PLANTED = [("config-dir-link", HOME + "/.ktransformers", "a directory owned by ktransformers or root", "/etc"),
           ("config-file-link", HOME + "/.ktransformers/config.yaml", "a regular file owned by ktransformers",
            "/etc/shadow")]


@pytest.mark.parametrize("name, path, expected, target", PLANTED, ids=[entry[0] for entry in PLANTED])
def test_a_link_the_service_user_plants_in_home_fails_the_host_naming_it(host, name, path, expected, target):
    outcome = record(host, name)
    assert outcome["failed"] is True
    assert outcome["msg"].startswith("svc-nps2: %s: expected %s, found a symlink to %s. Fix: remove the link (rm %s)"
                                     % (path, expected, target, path)), outcome["msg"]
    assert outcome["msg"].endswith("Nothing was changed.")


def test_root_followed_no_link_out_of_home(host):
    etc = host.file("/etc")
    assert (etc.user, etc.group, etc.mode) == ("root", "root", 0o755)
    assert not host.file("/etc/config.yaml").exists  # no seed written through the link
    shadow = host.file("/etc/shadow")
    assert (shadow.user, shadow.group, shadow.mode) == ("root", "shadow", 0o640)
    # Nothing the service user or the test records can read holds a line of /etc/shadow.
    lines = [line for line in shadow.content_string.splitlines() if line.startswith(("root:", "ktransformers:"))]
    assert len(lines) == 2
    for line in lines:
        found = host.run("grep -rlF -e %s %s /var/lib/ktune-test" % (shlex.quote(line), HOME))
        assert found.stdout == "", found.stdout


def test_the_real_config_is_back_and_untouched_by_the_refused_runs(host):
    for name, path, _expected, _target in PLANTED:
        assert not host.file(path + ".aside").exists
    config = host.file(HOME + "/.ktransformers")
    assert config.is_directory and not config.is_symlink
    assert host.file(HOME + "/.ktransformers/config.yaml").is_file


def test_a_run_killed_between_the_units_write_and_its_restarts_is_finished_by_the_next_run(host):
    """Issue 21, item 6, for real: an ansible-playbook run killed (SIGKILL) right after it wrote a
    changed unit (tests/callbacks/kill_after_task.py) left systemd on the old unit and both
    instances running; the next run, whose files were already right, reloaded systemd and
    restarted both, saying so twice (side_effect.yml; its output wraps lines: counted, not parsed)."""
    killed = record(host, "killed-run")
    assert killed["killed_rc"] == -9
    assert "RestartSec=3" in killed["killed_unit"]  # the breakpoint came after the write
    for unit in ("ktransformers@r1.service", "ktransformers@kimi.service"):
        after_kill, after_next = show(killed["after_kill"][unit]), show(killed["after_next"][unit])
        assert (after_kill["NeedDaemonReload"], after_kill["ActiveState"]) == ("yes", "active"), after_kill
        assert (after_next["NeedDaemonReload"], after_next["ActiveState"]) == ("no", "active"), after_next
        assert after_next["MainPID"] != after_kill["MainPID"], (after_kill, after_next)
    assert len(killed["next_lost"]) == 2, killed["next_lost"]  # "...: restarting it now." once per instance


def test_a_restart_an_interrupted_run_lost_is_made_by_the_next_run(host):
    """Issue 21, item 6: the files were right, the process older than them ran the old command line;
    the next run restarted it (side_effect.yml), instead of reporting ok."""
    argv = record(host, "lost-restart")["argv"]
    assert argv[argv.index("--max_new_tokens") + 1] == "1536", argv
