# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ktune host guard: drains a hot or degraded ktransformers instance through a readiness endpoint.

Run by ktune-guard.service. Every interval it reads the DIMM temperatures (ipmitool, in
band or over lanplus with the password in a root-only file), the CPU throttle counters
(sysfs), each instance's health URL and its decode speed (SGLang's /metrics, or a sparse
streamed probe of the legacy server while no connection is open to it), steps each instance's state machine
(guard.py) and acts:

- GET /ready/NAME on the readiness address answers 200 while the instance serves, 503
  with a JSON reason otherwise (for HAProxy, nginx or Kubernetes probes); GET /status
  gives every instance; every request must carry "Authorization: Bearer TOKEN", TOKEN being
  the content of STATE_DIR/token (root only, 0600; the guard makes it at its first start),
  else the answer is 401;
- the port is held by ktune-guard.socket from boot (systemd socket activation, LISTEN_FDS):
  no other program can bind it first and answer in the guard's name;
- state, transitions and reasons go to ktune_guard.prom in node_exporter's textfile
  directory (replaced atomically) and to the journal (stdout, with syslog priority prefixes);
- a restart runs the configured command (systemctl restart ktransformers@NAME);
- a drain file (STATE_DIR/drain.json, root only: the fleet playbook writes it) takes the
  instances it names out of rotation (503, state "drained") until it is removed.

An instance with an API key names its key file (api_key_file: the ktransformers_service
role's root-only /etc/ktransformers/NAME.credentials, KTUNE_API_KEY=...): the guard reads
it every cycle and sends Authorization: Bearer KEY to the health check, /metrics and the
probe. The key is never in guard.json, the journal or the metrics.

    ktune_guard.py --config /etc/ktune/guard.json [--once | --check-config]

--check-config loads and checks the settings (and that the lanplus password file and
every key file are root-only), prints what it checked and exits 0, or prints the problems
and exits 2; "--config -" reads the settings from standard input (the role checks the
settings it is about to write that way).

The guard role installs guard.py, guard_token.py, ipmi.py, host_telemetry.py, cpulist.py, sysfs.py,
prom_text.py, openai_stream.py and http_body.py from the collection's module_utils next to this file.
"""

import argparse
import json
import math
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import guard
    import guard_token
    import host_telemetry
    import http_body
    import ipmi
    import openai_stream
    import prom_text
    import secret_file
    import sysfs
except ImportError:  # run from the collection checkout (unit tests)
    from ansible_collections.ktune.inference.plugins.module_utils import (
        guard, guard_token, host_telemetry, http_body, ipmi, openai_stream, prom_text, secret_file, sysfs)

OUTPUT_NAME = "ktune_guard.prom"
RESTARTS_FILE = "restarts.json"
DRAIN_FILE = "drain.json"
# systemd passes activated sockets from this descriptor on (sd_listen_fds(3)).
LISTEN_FDS_START = 3
KEY_VARIABLE = "KTUNE_API_KEY"
DEFAULTS = {
    "settings": {},
    "listen_address": "127.0.0.1",
    "listen_port": 9441,
    # True under ktune-guard.service: listen only on the socket systemd holds, never bind a port.
    "systemd_socket": False,
    "textfile_dir": "/var/lib/prometheus/node-exporter",
    "state_dir": "/var/lib/ktune-guard",
    "sysfs_root": "/sys",
    "procfs_root": "/proc",
    "ipmitool": "ipmitool",
    "ipmitool_args": ["sensor"],
    "ipmitool_timeout": 30,
    "lanplus": None,
    # --no-block: a model load can take many minutes; the guard keeps watching the other
    # instances and judges the restart by the health check (restart_timeout_s).
    "restart_command": ["systemctl", "restart", "--no-block", "ktransformers@{name}.service"],
    "restart_timeout": 300,
    "probe_timeout": 30,
    "probe_interval_s": 300,
    "probe_max_tokens": 64,
    "probe_prompt": "Count from one to forty in words.",
    "instances": [],
}
# /proc/net/tcp{,6}: 150 bytes a socket, so some 100000 sockets; a table beyond tells nothing.
NET_TCP_LIMIT = 16 * 1024 * 1024
# The local address of a /proc/net/tcp line: HEX_IP:HEX_PORT.
LOCAL_ADDRESS = re.compile(r"[0-9A-Fa-f]{8,32}:([0-9A-Fa-f]{4})\Z")
# syslog priorities journald reads from a "<N>" line prefix
INFO, WARNING, ERROR = 6, 4, 3


def log(priority, message):
    sys.stdout.write("<%d>%s\n" % (priority, message))
    sys.stdout.flush()


class ConfigError(Exception):
    pass


def load_config(path):
    if path == "-":
        config = dict(DEFAULTS, **json.load(sys.stdin))
    else:
        with open(path) as handle:
            config = dict(DEFAULTS, **json.load(handle))
    problems = guard.settings_problems(config["settings"])
    names = [instance.get("name") for instance in config["instances"]]
    if len(set(names)) != len(names) or not all(names):
        problems.append("instances: every instance needs a name, each once: %r" % names)
    for instance in config["instances"]:
        if instance.get("api_key_file"):
            label = "instances[%s].api_key_file" % instance.get("name")
            try:
                if not read_api_key(instance["api_key_file"], label):
                    problems.append("%s %s holds no %s= line or key" % (label, instance["api_key_file"], KEY_VARIABLE))
            except secret_file.SecretFileError as exc:
                problems.append(str(exc))
    lanplus = config.get("lanplus")
    if lanplus:
        problems += lanplus_problems(lanplus)
    if problems:
        raise ConfigError("%s: %s" % ("standard input" if path == "-" else path, "; ".join(problems)))
    return config


def lanplus_problems(lanplus):
    path = lanplus.get("password_file") or ""
    if not lanplus.get("host") or not lanplus.get("user") or not path:
        return ["lanplus: host, user and password_file are all needed"]
    try:
        secret_file.read_secret_file(path, "lanplus.password_file")
    except secret_file.SecretFileError as exc:
        return [str(exc)]
    return []


def read_api_key(path, label="api_key_file"):
    """The key in a credentials file: its KTUNE_API_KEY= line, or its only line; "" when none.

    SecretFileError when the file is not root-only (secret_file.read_secret_file)."""
    text = secret_file.read_secret_file(path, label, limit=sysfs.ATTRIBUTE_LIMIT).decode("utf-8", "replace")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line in lines:
        if line.startswith(KEY_VARIABLE + "="):
            return line.split("=", 1)[1].strip().strip("\"'")
    return lines[0] if len(lines) == 1 and "=" not in lines[0] else ""


def load_token(state_dir):
    """The guard's bearer token (STATE_DIR/token, made at the first start); ConfigError when unsafe."""
    try:
        return guard_token.ensure_token(os.path.join(state_dir, guard_token.TOKEN_FILE))
    except guard_token.TokenError as exc:
        raise ConfigError("%s. Fix: remove the file and restart ktune-guard (it makes a new one), or run the "
                          "guard role again" % exc)


def read_drain(state_dir):
    """{instance name or "*": reason} from STATE_DIR/drain.json; {} when there is none or it is unusable.

    The fleet playbook (playbooks/guard_drain.yml) writes {"instances": ["*"] or [NAME, ...],
    "reason": "...", "by": "..."}; only root can write the state directory.
    """
    try:
        text = sysfs.read_config_file(os.path.join(state_dir, DRAIN_FILE))
        if text is None:
            return {}
        data = json.loads(text)
    except sysfs.HostFileError as exc:
        log(WARNING, "ktune-guard: %s, ignored" % exc)
        return {}
    except ValueError as exc:
        log(WARNING, "ktune-guard: %s is not JSON, ignored: %s" % (DRAIN_FILE, exc))
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("instances"), list):
        log(WARNING, "ktune-guard: %s has no instances list, ignored" % DRAIN_FILE)
        return {}
    reason = "drained by %s: %s" % (data.get("by") or "an operator", data.get("reason") or "no reason given")
    return dict((str(name), reason) for name in data["instances"])


def ipmitool_command(config):
    executable = config["ipmitool"]
    if not os.path.isabs(executable):
        path = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/usr/local/sbin:/sbin"
        executable = shutil.which(executable, path=path)
    if not executable:
        return None
    command = [executable]
    lanplus = config.get("lanplus")
    if lanplus:
        # -f reads the password from the file: it never shows in the process list.
        command += ["-I", "lanplus", "-H", lanplus["host"], "-U", lanplus["user"], "-f", lanplus["password_file"]]
    return command + list(config["ipmitool_args"])


def read_dimms(config):
    """([sensor, ...], None) or (None, why) when the BMC cannot be read."""
    command = ipmitool_command(config)
    if not command:
        return None, "%s not found" % config["ipmitool"]
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=config["ipmitool_timeout"], env=dict(os.environ, LC_ALL="C"), check=False)
    except subprocess.TimeoutExpired:
        return None, "ipmitool did not answer within %s s" % config["ipmitool_timeout"]
    except OSError as exc:
        return None, "%s: %s" % (command[0], exc)
    if done.returncode != 0:
        return None, "ipmitool exited with %d: %s" % (done.returncode, (done.stderr or done.stdout).strip()[:200])
    return ipmi.dimm_temperatures(done.stdout), None


def read_throttle(sysfs_root):
    """Total of every *_count throttle counter on the host, or None without any."""
    try:
        counters = host_telemetry.throttle_counters(sysfs_root, host_telemetry.node_cpus(sysfs_root))
    except (host_telemetry.TelemetryError, ValueError):
        return None
    counts = [value for node in counters.values() for name, value in node.items() if name.endswith("_count")]
    return sum(counts) if counts else None


def established_connections(procfs_root, port):
    """TCP connections in ESTABLISHED state to local `port` (/proc/net/tcp and tcp6), or None unreadable.

    The legacy server has no running-requests gauge: no open connection to its port means no
    request in flight, so a probe then measures the server alone and disturbs no user.
    """
    count, readable = 0, False
    for name in ("tcp", "tcp6"):
        try:
            lines = sysfs.read_text(os.path.join(procfs_root, "net", name), NET_TCP_LIMIT).splitlines()[1:]
        except sysfs.HostFileError:
            continue
        readable = True
        for line in lines:
            fields = line.split()
            # sl local_address rem_address st ...; addresses are HEX_IP:HEX_PORT, state 01 = ESTABLISHED
            local = LOCAL_ADDRESS.match(fields[1]) if len(fields) > 3 else None
            if local is None:
                return None  # not what the kernel writes: nothing in the table can be trusted
            if fields[3] == "01" and int(local.group(1), 16) == port:
                count += 1
    return count if readable else None


def restarted_unit(command):
    """The systemd unit a `systemctl ... restart UNIT` command restarts, else None."""
    if not command or os.path.basename(command[0]) != "systemctl" or "restart" not in command:
        return None
    units = [word for word in command[1:] if word.endswith(".service")]
    return units[-1] if units else None


def unit_invocation(unit):
    """The unit's current InvocationID (new at every start), or None when systemctl cannot tell."""
    try:
        done = subprocess.run(["systemctl", "show", "-p", "InvocationID", "--value", unit], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, universal_newlines=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (done.stdout.strip() or None) if done.returncode == 0 else None


def http_get(url, timeout, api_key=None):
    """(status, body) or (None, why)."""
    request = urllib.request.Request(url, headers={"Authorization": "Bearer %s" % api_key} if api_key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, http_body.read_body(response)
    except http_body.AnswerTooLarge as exc:
        return None, ("%s: %s" % (url, exc)).encode()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc)).encode()


class Instance(object):
    """One guarded instance: its settings, its machine and what the daemon last saw of it."""

    def __init__(self, spec, settings, restarts, now):
        self.name = spec["name"]
        self.backend = spec.get("backend", "legacy")
        self.base_url = spec["base_url"].rstrip("/")
        self.health_url = spec.get("health_url") or self.base_url + (
            "/health" if self.backend == "sglang" else "/v1/models")
        self.metrics = bool(spec.get("metrics", self.backend == "sglang"))
        self.api_key_file = spec.get("api_key_file")
        self.api_key = None
        self.key_problem = None
        self.drained = None
        self.machine = guard.InstanceGuard(settings, spec.get("baseline_tokens_per_s"), restarts, now)
        self.restart_failed = False
        # The unit's InvocationID before the guard's restart: health counts once it changed.
        self.restart_unit = None
        self.invocation_before = None
        self.restart_count = 0
        self.last_probe = None
        self.tokens_per_s = None
        self.running = None
        self.decision = guard.Decision(guard.SERVING, guard.NONE, "started", False)
        self.changed_at = time.time()
        self.stepped = False

    def status(self):
        if not self.stepped:
            return {"instance": self.name, "state": guard.STARTING, "ready": False,
                    "reason": "the guard has not read this instance yet", "since": self.changed_at}
        if self.drained:
            # The fleet's drain overrides readiness; the machine keeps judging underneath.
            return {"instance": self.name, "state": guard.DRAINED, "ready": False, "reason": self.drained,
                    "since": self.changed_at, "guard_state": self.decision.state}
        return {"instance": self.name, "state": self.decision.state, "ready": self.decision.ready,
                "reason": self.decision.reason, "since": self.changed_at}


class Guard(object):
    def __init__(self, config, clock=time.monotonic, wall=time.time, token=None):
        self.config = config
        self.token = token
        self.clock = clock
        self.wall = wall
        self.settings = guard.make_settings(config["settings"])
        self.lock = threading.Lock()
        now = clock()
        history = self._load_restarts()
        self.instances = []
        for spec in config["instances"]:
            # Restart times are kept as wall-clock time; the machines count on the monotonic clock.
            restarts = [now - (wall() - when) for when in history.get(spec["name"], [])]
            self.instances.append(Instance(spec, self.settings, restarts, now))
        self.ipmi_error = None
        self.cycles = 0
        # Set by SIGTERM/SIGINT: systemd stops the whole unit, ipmitool included, mid-cycle.
        self.stop = threading.Event()

    # --- restarts kept across daemon restarts -----------------------------------------------

    def _restarts_path(self):
        return os.path.join(self.config["state_dir"], RESTARTS_FILE)

    def _load_restarts(self):
        try:
            data = json.loads(sysfs.read_config_file(self._restarts_path()) or "{}")
            return dict((name, [float(when) for when in times]) for name, times in data.items())
        except (sysfs.HostFileError, ValueError, AttributeError, TypeError):
            return {}

    def _save_restarts(self):
        now, wall = self.clock(), self.wall()
        data = dict((instance.name, [wall - (now - when) for when in instance.machine.restarts])
                    for instance in self.instances)
        write_atomically(self.config["state_dir"], json.dumps(data) + "\n", RESTARTS_FILE, mode=0o600)

    # --- one cycle -------------------------------------------------------------------------

    def cycle(self):
        dimms, error = read_dimms(self.config)
        if error != self.ipmi_error and (error or self.cycles) and not self.stop.is_set():
            # Once per change, not every cycle: a BMC that stays unreadable is one journal line.
            log(WARNING if error else INFO, "ktune-guard: DIMM temperatures %s" % (
                "unreadable: %s" % error if error else "readable again"))
        self.ipmi_error = error
        throttle = read_throttle(self.config["sysfs_root"])
        drain = read_drain(self.config["state_dir"])
        for instance in self.instances:
            self.apply_drain(instance, drain.get(instance.name) or drain.get("*"))
            if instance.api_key_file:
                instance.api_key = self.current_api_key(instance)
            reading = self.read_instance(instance, dimms, throttle)
            decision = instance.machine.step(reading)
            self.log_learned(instance)
            self.act(instance, decision)
        self.cycles += 1
        write_atomically(self.config["textfile_dir"], render_metrics(self))

    def current_api_key(self, instance):
        """The instance's key, read again every cycle; None (and one journal line) while its file is unsafe."""
        try:
            key, problem = read_api_key(instance.api_key_file, "instances[%s].api_key_file" % instance.name), None
        except secret_file.SecretFileError as exc:
            key, problem = None, str(exc)
        if problem != instance.key_problem:
            said = problem + ": no key sent" if problem else "the key file is usable again"
            log(ERROR if problem else INFO, "%s: %s" % (instance.name, said))
            instance.key_problem = problem
        return key or None

    def apply_drain(self, instance, reason):
        """Take the instance out of rotation while the drain file names it (reason), back when it does not."""
        if reason == instance.drained:
            return
        with self.lock:
            previous, instance.drained = instance.drained, reason
            instance.changed_at = self.wall()
        if reason:
            log(WARNING, "%s: %s -> %s: %s" % (instance.name, instance.decision.state, guard.DRAINED, reason))
        else:
            log(INFO, "%s: %s -> %s: the drain file no longer names it (was: %s)" % (
                instance.name, guard.DRAINED, instance.decision.state, previous))

    def read_instance(self, instance, dimms, throttle):
        timeout = self.config["probe_timeout"]
        status, _body = http_get(instance.health_url, timeout, instance.api_key)
        health = status == 200
        instance.tokens_per_s, instance.running = None, None
        measured = health and instance.metrics and self.read_metrics(instance, timeout)
        now = self.clock()
        # Without metrics (the legacy server, or SGLang started without --enable-metrics): a sparse probe.
        # A drained instance serves no users: its probe disturbs nobody, so it goes on.
        if health and not measured and instance.machine.state in guard.READY_STATES and self.probe_due(
                instance, now) and self.idle(instance):
            instance.last_probe = now
            instance.tokens_per_s = probe(instance, self.config)
        if health and instance.machine.state == guard.RESTARTING and not self.restart_took_effect(instance):
            health = False  # the old process still answers: --no-block has not stopped it yet
        failed, instance.restart_failed = instance.restart_failed, False
        return guard.Reading(now, dimms=dimms, throttle_count=throttle, health=health,
                             tokens_per_s=instance.tokens_per_s, running_requests=instance.running,
                             restart_failed=failed)

    def idle(self, instance):
        """No connection in flight to the instance's port (unknown counts as idle: the probe is sparse)."""
        port = urllib.parse.urlsplit(instance.base_url).port
        if port is None:
            return True
        return not established_connections(self.config["procfs_root"], port)

    def probe_due(self, instance, now):
        return instance.last_probe is None or now - instance.last_probe >= self.config["probe_interval_s"]

    def read_metrics(self, instance, timeout):
        """Running requests and a per-request speed from SGLang's /metrics; False when there are none."""
        status, body = http_get(instance.base_url + "/metrics", timeout, instance.api_key)
        if status != 200:
            return False
        try:
            samples = prom_text.parse(body.decode("utf-8", "replace"))
        except prom_text.ParseError:
            return False
        running = prom_text.total(samples, "sglang:num_running_reqs")
        throughput = prom_text.total(samples, "sglang:gen_throughput")
        if running is None:
            return False
        instance.running = int(running) if running is not None and not math.isnan(running) else None
        # gen_throughput is the batch's total; per running request it is judged against the
        # baseline of its load band (guard.py). Idle, it is stale: no sample.
        if instance.running and throughput and not math.isnan(throughput):
            instance.tokens_per_s = throughput / instance.running
        return True

    def log_learned(self, instance):
        """One journal line when a band's baseline is learned, raised or refused: what degradation is judged by."""
        note = instance.machine.learned
        if note is not None:
            log(WARNING if note.startswith("did not") else INFO, "%s: %s" % (instance.name, note))

    def act(self, instance, decision):
        with self.lock:
            previous = instance.decision
            instance.decision = decision
            instance.stepped = True
            if decision.changed:
                instance.changed_at = self.wall()
        if decision.changed or decision.action != guard.NONE:
            priority = WARNING if not decision.ready else INFO
            log(priority, "%s: %s -> %s (action %s): %s" % (
                instance.name, previous.state, decision.state, decision.action, decision.reason))
        if decision.action == guard.RESTART:
            self.restart(instance)

    def restart_took_effect(self, instance):
        """Whether the unit restarted since the guard asked (a new InvocationID); True when unknowable."""
        if not instance.restart_unit or not instance.invocation_before:
            return True
        current = unit_invocation(instance.restart_unit)
        if current is None or current != instance.invocation_before:
            instance.invocation_before = None
            return True
        return False

    def restart(self, instance):
        command = [word.replace("{name}", instance.name) for word in self.config["restart_command"]]
        instance.restart_unit = restarted_unit(command)
        instance.invocation_before = unit_invocation(instance.restart_unit) if instance.restart_unit else None
        instance.restart_count += 1
        self._save_restarts()
        try:
            done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                                  timeout=self.config["restart_timeout"], check=False)
            failed = done.returncode != 0
            why = "exit %d: %s" % (done.returncode, done.stdout.strip()[-300:])
        except (OSError, subprocess.TimeoutExpired) as exc:
            failed, why = True, str(exc)
        if failed:
            instance.restart_failed = True
            log(ERROR, "%s: restart failed (%s): %s" % (instance.name, " ".join(command), why))
        else:
            log(INFO, "%s: restarted (%s)" % (instance.name, " ".join(command)))

    def status(self, name=None):
        with self.lock:
            if name is None:
                return [instance.status() for instance in self.instances]
            for instance in self.instances:
                if instance.name == name:
                    return instance.status()
        return None


# --- the textfile ---------------------------------------------------------------------------

def escape_label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def metric_lines(name, kind, help_text, samples):
    lines = ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind)]
    for labels, value in samples:
        text = ",".join('%s="%s"' % (key, escape_label(labels[key])) for key in sorted(labels))
        number = repr(float(value)) if isinstance(value, float) else int(value)
        lines.append("%s%s %s" % (name, "{%s}" % text if text else "", number))
    return lines


def render_metrics(daemon):
    # Instances are labelled name=, as in the monitoring role: Prometheus sets instance= itself.
    lines = []
    lines += metric_lines("ktune_guard_up", "gauge", "1 while the guard runs its cycles", [({}, 1)])
    lines += metric_lines("ktune_guard_ipmi_up", "gauge", "1 when the last ipmitool read worked",
                          [({}, int(daemon.ipmi_error is None))])
    lines += metric_lines("ktune_guard_last_cycle_timestamp_seconds", "gauge", "When the last cycle ended (Unix time)",
                          [({}, float(int(daemon.wall())))])
    states, ready, transitions, restarts, blocked, reasons, rates, baselines = [], [], [], [], [], [], [], []
    drained, running = [], []
    for instance in daemon.instances:
        machine = instance.machine
        label = {"name": instance.name}
        for state in guard.STATES:
            states.append(({"name": instance.name, "state": state}, int(machine.state == state)))
        ready.append((label, int(instance.decision.ready and not instance.drained)))
        drained.append((label, int(bool(instance.drained))))
        transitions.append((label, machine.transitions))
        restarts.append((label, instance.restart_count))
        blocked.append((label, int(machine.restart_blocked)))
        # The words before the first colon: a bounded set of label values (the full reason,
        # with its temperatures and speeds, is in the journal and the readiness answer).
        reasons.append(({"name": instance.name, "cause": machine.reason.split(":", 1)[0]}, 1))
        if instance.tokens_per_s is not None:
            rates.append((label, float(instance.tokens_per_s)))
        if instance.running is not None:
            running.append((label, instance.running))
        for band, baseline in machine.baselines():
            baselines.append(({"name": instance.name, "running_requests": guard.band_label(band)}, float(baseline)))
    lines += metric_lines("ktune_guard_state", "gauge", "1 for the instance's current guard state", states)
    lines += metric_lines("ktune_guard_ready", "gauge", "1 while the readiness endpoint answers 200", ready)
    lines += metric_lines("ktune_guard_drained", "gauge", "1 while the fleet's drain file takes the instance out",
                          drained)
    lines += metric_lines("ktune_guard_transitions_total", "counter", "State changes since the guard started",
                          transitions)
    lines += metric_lines("ktune_guard_restarts_total", "counter", "Restarts the guard ran since it started",
                          restarts)
    lines += metric_lines("ktune_guard_restart_blocked", "gauge",
                          "1 while a degraded instance waits because the hourly restart budget is used", blocked)
    lines += metric_lines("ktune_guard_reason_info", "gauge", "Why the instance is in its state, in short", reasons)
    if rates:
        lines += metric_lines("ktune_guard_tokens_per_s", "gauge", "Last decode-rate sample, per running request",
                              rates)
    if running:
        lines += metric_lines("ktune_guard_running_requests", "gauge", "Requests running at the last reading",
                              running)
    if baselines:
        lines += metric_lines("ktune_guard_baseline_tokens_per_s", "gauge",
                              "Decode rate per request judged healthy at a load band's running requests", baselines)
    return "\n".join(lines) + "\n"


def write_atomically(directory, text, name=OUTPUT_NAME, mode=0o644):
    """Replace directory/name with text; readers see the old or the new file, never a part."""
    handle, temporary = tempfile.mkstemp(dir=directory, prefix="." + name + ".")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


# --- the probe ------------------------------------------------------------------------------

def probe(instance, config):
    """One streamed request's decode tokens/s, or None when it gave no measurement."""
    timeout = config["probe_timeout"]
    try:
        endpoint = openai_stream.Endpoint(instance.base_url)
        models = openai_stream.list_models(endpoint, timeout, api_key=instance.api_key)
        if not models:
            return None
        result = openai_stream.stream_chat(endpoint, models[0], config["probe_prompt"], config["probe_max_tokens"],
                                           timeout, api_key=instance.api_key)
    except (openai_stream.StreamError, ValueError) as exc:
        log(WARNING, "%s: probe gave no measurement: %s" % (instance.name, exc))
        return None
    return result["tokens_per_s"]


# --- the readiness endpoint -------------------------------------------------------------------

def make_handler(daemon):
    class Handler(BaseHTTPRequestHandler):
        server_version = "ktune-guard/1"

        def version_string(self):
            return self.server_version  # no Python version in the Server header

        def log_message(self, fmt, *args):
            pass  # probes every few seconds would flood the journal

        def send_error(self, code, message=None, explain=None):
            """A malformed request: the status alone, no page and nothing about the guard."""
            self.close_connection = True
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()

        def authorized(self):
            """Whether the request carries the token; answers 401 itself when it does not."""
            if daemon.token and guard_token.bearer_matches(self.headers.get("Authorization"), daemon.token):
                return True
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer realm="ktune-guard"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return False

        def refuse_method(self):
            if self.authorized():
                self.send_response(405)
                self.send_header("Allow", "GET, HEAD")
                self.send_header("Content-Length", "0")
                self.end_headers()

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = refuse_method

        def send_json(self, status, body):
            data = (json.dumps(body) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if not self.authorized():
                return
            if path == "/status":
                self.send_json(200, daemon.status())
            elif path.startswith("/ready/"):
                status = daemon.status(path[len("/ready/"):])
                if status is None:
                    self.send_json(404, {"error": "no guarded instance %r" % path[len("/ready/"):]})
                else:
                    self.send_json(200 if status["ready"] else 503, status)
            else:
                self.send_json(404, {"error": "try /ready/NAME or /status"})

        do_HEAD = do_GET

    return Handler


def activated_socket(environ=None):
    """The listening socket systemd passed (ktune-guard.socket), or None when it passed none.

    sd_listen_fds(3) read by hand: the sockets start at fd 3, LISTEN_FDS counts them and
    LISTEN_PID names the process they are for (another process's are not ours); the variables
    are removed (the restart commands the guard runs must not see them) and the descriptor is
    made close-on-exec. ConfigError when what was passed is not the one listening TCP socket
    the unit declares.
    """
    environ = os.environ if environ is None else environ
    pid, count = environ.get("LISTEN_PID"), environ.get("LISTEN_FDS")
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        environ.pop(name, None)
    if pid is None or count is None or not pid.isdigit() or int(pid) != os.getpid():
        return None
    if not count.isdigit():
        raise ConfigError("LISTEN_FDS=%r: expected a count of sockets" % count)
    if int(count) == 0:
        return None
    if int(count) != 1:
        raise ConfigError("systemd passed %s sockets: expected the one of ktune-guard.socket (one ListenStream=)"
                          % count)
    try:
        mode = os.fstat(LISTEN_FDS_START).st_mode
    except OSError as exc:
        raise ConfigError("LISTEN_FDS=1 but descriptor %d: %s" % (LISTEN_FDS_START, exc.strerror))
    if not stat.S_ISSOCK(mode):
        raise ConfigError("descriptor %d from systemd is no socket: expected ktune-guard.socket's" % LISTEN_FDS_START)
    os.set_inheritable(LISTEN_FDS_START, False)
    inherited = socket.socket(fileno=LISTEN_FDS_START)
    listening = inherited.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)
    if inherited.family not in (socket.AF_INET, socket.AF_INET6) or inherited.type != socket.SOCK_STREAM \
            or not listening:
        raise ConfigError("the socket from systemd is %s %s%s: expected a listening TCP socket (ListenStream=)" % (
            inherited.family.name, inherited.type.name, "" if listening else ", not listening"))
    return inherited


def serve(daemon, address, port, inherited=None):
    family = inherited.family if inherited is not None else (socket.AF_INET6 if ":" in address else socket.AF_INET)
    server_class = ThreadingHTTPServer
    if family == socket.AF_INET6:
        server_class = type("ThreadingHTTPServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    if inherited is None:
        server = server_class((address, port), make_handler(daemon))
    else:
        server = server_class(inherited.getsockname()[:2], make_handler(daemon), bind_and_activate=False)
        server.socket.close()
        server.socket = inherited
        server.server_address = inherited.getsockname()
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="readiness", daemon=True)
    thread.start()
    return server


def run_cycle(daemon):
    try:
        daemon.cycle()
    except Exception as exc:  # one bad cycle must not end the guard: log it and go on
        log(ERROR, "ktune-guard: cycle failed: %s: %s" % (exc.__class__.__name__, exc))


def main(argv=None):
    parser = argparse.ArgumentParser(description="ktune host guard")
    parser.add_argument("--config", default="/etc/ktune/guard.json")
    parser.add_argument("--once", action="store_true", help="run one cycle, write the metrics and exit")
    parser.add_argument("--check-config", action="store_true",
                        help="check the settings and the secret files' permissions, then exit (0 good, 2 not)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except (OSError, ValueError, ConfigError) as exc:
        if args.check_config:
            sys.stderr.write("ktune-guard: the settings would not start: %s\n" % exc)
            return 2
        log(ERROR, "ktune-guard: cannot start: %s" % exc)
        return 2
    if args.check_config:
        print("ktune-guard: settings good: %d instance(s) (%s), readiness on %s:%s, %s" % (
            len(config["instances"]), ", ".join(i["name"] for i in config["instances"]) or "none",
            config["listen_address"], config["listen_port"],
            "ipmitool over lanplus to %s" % config["lanplus"]["host"] if config.get("lanplus") else "ipmitool in band"))
        return 0
    try:
        token = load_token(config["state_dir"])
    except ConfigError as exc:
        log(ERROR, "ktune-guard: cannot start: %s" % exc)
        return 2
    daemon = Guard(config, token=token)
    if args.once:
        daemon.cycle()
        print(json.dumps(daemon.status()))
        return 0
    try:
        inherited = activated_socket()
    except ConfigError as exc:
        log(ERROR, "ktune-guard: cannot start: %s" % exc)
        return 2
    if inherited is None and config["systemd_socket"]:
        log(ERROR, "ktune-guard: cannot start: expected the listening socket of ktune-guard.socket (LISTEN_FDS), "
                   "found none. Fix: systemctl start ktune-guard.socket, then ktune-guard.service (the guard binds "
                   "no port itself: a port it would bind late could already be another program's)")
        return 1
    stop = daemon.stop
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # One cycle before the endpoint opens: no 200 for an instance the guard has not yet looked at.
    run_cycle(daemon)
    try:
        server = serve(daemon, config["listen_address"], int(config["listen_port"]), inherited)
    except OSError as exc:
        log(ERROR, "ktune-guard: cannot listen on %s:%s for readiness: %s. Fix: free the port or set "
                   "ktune_guard_listen_port / ktune_guard_listen_address" % (
                       config["listen_address"], config["listen_port"], exc.strerror or exc))
        return 1
    log(INFO, "ktune-guard: readiness on http://%s:%d/ready/NAME for %s; a cycle every %d s" % (
        config["listen_address"], server.server_address[1], ", ".join(i.name for i in daemon.instances) or "nothing",
        daemon.settings["interval_s"]))
    interval = daemon.settings["interval_s"]
    started = time.monotonic()
    while not stop.wait(max(0.0, interval - (time.monotonic() - started))):
        started = time.monotonic()
        run_cycle(daemon)
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
