"""Verify the guard scenario: issue 15's host stories with ipmi_sim, the real ipmitool and the fake server.

Each story drives a real part (the simulator's console, the fake server's degrade file) and
watches only what a load balancer or an operator sees: the readiness endpoint, the textfile
metrics and the journal. Timings come from the scenario's settings (molecule.yml).
"""

import json
import time

import pytest
import yaml
from pathlib import Path

SCENARIO = yaml.safe_load((Path(__file__).resolve().parents[1] / "molecule.yml").read_text())
VARS = SCENARIO["provisioner"]["inventory"]["host_vars"]["guard-bmc"]
KEY = VARS["ktune_service_instances"][0]["api_key"]
BASELINE = VARS["ktune_guard_instances"][0]["baseline_tokens_per_s"]
RATIO = VARS["ktune_guard_degraded_ratio"]
INTERVAL = VARS["ktune_guard_interval_s"]
MIN_DWELL = VARS["ktune_guard_min_dwell_s"]
COOL_DWELL = VARS["ktune_guard_cool_dwell_s"]
PROBE_EVERY = VARS["ktune_guard_probe_interval_s"]
PROM = "/var/lib/prometheus/node-exporter/ktune_guard.prom"
DIMM_A = 2  # sensor number of "DIMMA1 Temp" in files/ktune-bmc.emu; its critical line is 85 C


def ready(host, name="r1", token=True):
    header = "-H \"Authorization: Bearer $(cat /var/lib/ktune-guard/token)\" " if token else ""
    result = host.run("curl -s -m 10 %s-w '\\n%%{http_code}' http://127.0.0.1:9441/ready/%s" % (header, name))
    text, _sep, status = result.stdout.rpartition("\n")
    return int(status), json.loads(text) if text.strip() else None


def metrics(host):
    found = {}
    for line in host.file(PROM).content_string.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            found[key] = float(value)
    return found


def journal(host, unit="ktune-guard.service"):
    return host.check_output("journalctl -u %s -o cat --no-pager" % unit).splitlines()


def wait_until(what, check, timeout, step=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(step)
    pytest.fail("not within %s s: %s" % (timeout, what))


def draining(host):
    answer = ready(host)
    return answer if answer[0] == 503 else None


def set_dimm(host, sensor, celsius):
    host.check_output("python3 /usr/local/lib/ktune_bmc_console.py sensor_set_value 0x20 0 %d %d 0" % (sensor, celsius))


def test_settings_are_root_only_and_carry_no_key(host):
    settings = host.file("/etc/ktune/guard.json")
    assert settings.user == "root" and settings.mode == 0o600
    assert KEY not in settings.content_string
    config = json.loads(settings.content_string)
    assert config["instances"][0]["api_key_file"] == "/etc/ktransformers/r1.credentials"
    assert config["lanplus"] == {"host": "127.0.0.1", "user": "ktune-guard", "password_file": "/etc/ktune/bmc.password"}
    assert host.service("ktune-guard").is_running and host.service("ktune-guard").is_enabled


def test_the_guard_reads_the_simulated_bmc_over_lanplus(host):
    # The same read the guard does, by hand: the real ipmitool against ipmi_sim.
    out = host.check_output("ipmitool -I lanplus -H 127.0.0.1 -U ktune-guard -f /etc/ktune/bmc.password -C 3 "
                            "sensor 2>/dev/null")
    assert [line.split("|")[0].strip() for line in out.splitlines()] == ["DIMMA1 Temp", "DIMMB1 Temp"]
    assert metrics(host)["ktune_guard_ipmi_up"] == 1
    assert not [line for line in journal(host) if "DIMM temperatures unreadable" in line]
    assert "ipmitool over lanplus to 127.0.0.1" in host.check_output(
        "/usr/bin/python3 /usr/local/lib/ktune-guard/ktune_guard.py --check-config")


def test_the_probe_sends_the_instance_key(host):
    """The fake server answers chat only with the key: the guard's probes must get 200, never 401."""
    def probes():
        lines = [line for line in journal(host, "ktransformers@r1.service") if "POST /v1/chat/completions" in line]
        return lines if [line for line in lines if '" 200 ' in line] else None

    lines = wait_until("a probe of r1 answered 200", probes, PROBE_EVERY + 15)
    assert not [line for line in lines if '" 401 ' in line]
    assert not [line for line in journal(host) if KEY in line]


def test_a_hot_dimm_drains_and_serves_again_after_the_dwell(host):
    assert ready(host)[0] == 200
    set_dimm(host, DIMM_A, 84)  # 1 C below critical: inside the 3 C critical margin
    try:
        status, body = wait_until("503 for a hot DIMM", lambda: draining(host), 5 * INTERVAL + 10)
        assert body["state"] == "draining" and body["ready"] is False
        assert "DIMMA1 Temp at 84 C, 1 C below its critical 85 C" in body["reason"]
    finally:
        set_dimm(host, DIMM_A, 45)
    cooled = time.monotonic()
    seen = set()

    def serving():
        status, body = ready(host)
        seen.add(body["state"])
        return status == 200

    wait_until("200 after cooling", serving, MIN_DWELL + COOL_DWELL + 6 * INTERVAL + 10)
    # draining holds for the minimum dwell, then cooling for the cool dwell: never at once.
    assert time.monotonic() - cooled >= COOL_DWELL
    assert "cooling" in seen
    assert "r1: cooling -> serving (action restore): cooled: DIMM DIMMA1 Temp at 45 C" in "\n".join(journal(host))


def test_a_degrading_instance_gets_exactly_one_restart_and_recovers(host):
    def invocation():
        return host.check_output("systemctl show -p InvocationID --value ktransformers@r1.service")

    before = invocation()
    assert metrics(host)['ktune_guard_restarts_total{name="r1"}'] == 0
    # The fake server paces answers at 0.3 x its tokens/s from now on; a restart cures it.
    host.check_output("echo 0.3 > /var/lib/ktune-test/degrade")
    wait_until("the guard restarted r1", lambda: [line for line in journal(host) if line.startswith("r1: restarted")],
               PROBE_EVERY + 30)

    # Recovered: serving again and the next probe measures the healthy rate.
    def recovered():
        sample = metrics(host).get('ktune_guard_tokens_per_s{name="r1"}')
        return ready(host)[0] == 200 and sample is not None and sample >= RATIO * BASELINE and sample

    rate = wait_until("tokens/s back above baseline x ratio", recovered, PROBE_EVERY + 30, step=0.25)
    assert rate >= RATIO * BASELINE
    restarts = [line for line in journal(host) if line.startswith("r1: restarted")]
    assert len(restarts) == 1, restarts
    assert metrics(host)['ktune_guard_restarts_total{name="r1"}'] == 1
    assert invocation() != before
    lines = "\n".join(journal(host))
    assert "r1: serving -> degraded (action drain): degraded, draining before a restart: tokens/s median" in lines


def test_a_readable_password_file_is_refused_before_anything_changes(host):
    outcome = json.loads(host.file("/var/lib/ktune-test/password-readable.json").content_string)
    assert outcome["failed"], outcome
    assert "guard-bmc: ktune-guard would not start with these settings" in outcome["msg"]
    assert ("lanplus.password_file /etc/ktune/bmc.password: expected a regular file (not a symlink) owned by root "
            "with mode 0600 or 0400, found a regular file owned by uid 0 with mode 0644") in outcome["msg"]
    after = json.loads(host.file("/var/lib/ktune-test/after-refusal.json").content_string)
    assert after["pid_before"] == after["pid_after"] and after["sha1_before"] == after["sha1_after"]


def test_a_port_held_by_another_service_fails_with_the_journal(host):
    outcome = json.loads(host.file("/var/lib/ktune-test/port-in-use.json").content_string)
    assert outcome["failed"], outcome
    msg = outcome["msg"]
    assert "guard-bmc: ktune-guard did not answer on 127.0.0.1:9442 within 5 s" in msg
    # systemd names the failure to listen; its errno text varies (EADDRINUSE, or EIO after a unit change)
    assert "ktune-guard.socket" in msg and ("Address already in use" in msg or "Failed to listen on sockets" in msg)
    assert "Fix:" in msg
    # restored afterwards: back on 9441
    assert host.socket("tcp://127.0.0.1:9441").is_listening


def test_the_guard_answers_its_token_only_and_the_port_stays_held_while_it_is_down(host):
    token = host.file("/var/lib/ktune-guard/token")
    assert token.user == "root" and token.mode == 0o600
    assert ready(host, token=False)[0] == 401
    host.check_output("systemctl stop ktune-guard.service")
    try:
        squat = host.run("setpriv --reuid=nobody --regid=nogroup --clear-groups python3 -c "
                         "\"import socket; socket.socket().bind(('127.0.0.1', 9441))\"")
        assert squat.rc != 0 and "Address already in use" in squat.stderr, squat.stderr
        # The next request starts the guard again through its socket: the answer is the guard's.
        status, body = ready(host)
        assert status in (200, 503) and body["instance"] == "r1", (status, body)
        assert host.service("ktune-guard.service").is_running
    finally:
        host.run("systemctl start ktune-guard.service")
