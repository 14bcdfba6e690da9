"""The guard daemon's CPU time at a 10 s interval, as a percentage of one core (target: <= 0.5%).

Runs roles/guard/files/ktune_guard.py as a process against the fake server
(tests/fake_ktransformers/server.py bench, a legacy-style streaming server), the fake
ipmitool (tests/fake_ipmitool) and a fixture sysfs tree with throttle counters. After a
warm-up cycle, counts the daemon's CPU time (user + system, its own and that of the
ipmitool and restart children it waited for) over the measured window and divides it by
the window's wall time. A speed probe every --probe-interval seconds (default 60, five
times the role's default, so the number is conservative) is included. Prints the
percentage and its ratio to the target.

    python bench/guard_overhead.py [--cycles 9] [--interval 10] [--probe-interval 60]
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import topologies  # noqa: E402

TARGET_PCT = 0.5
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid):
    """utime + stime + cutime + cstime of a process, in seconds (from /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime..cstime are fields 14..17.
    return sum(int(value) for value in fields[11:15]) / float(TICKS)


def wait_for(url, timeout=30, token_file=None):
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            headers = {"Authorization": "Bearer " + token_file.read_text().strip()} if token_file else {}
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=2) as response:
                return response.status
        except OSError as exc:
            status = getattr(exc, "code", None)
            if status:
                return status
            time.sleep(0.2)
    sys.exit("%s did not answer within %d s" % (url, timeout))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=9, help="measured cycles after the warm-up")
    parser.add_argument("--interval", type=int, default=10)
    parser.add_argument("--probe-interval", type=int, default=60)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ktune-guard-bench-"))
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], work / "tree")
    for cpu in range(4):
        throttle = tree / "sys/devices/system/cpu" / ("cpu%d" % cpu) / "thermal_throttle"
        throttle.mkdir(parents=True, exist_ok=True)
        (throttle / "core_throttle_count").write_text("3\n")
        (throttle / "package_throttle_count").write_text("9\n")
    for name in ("textfile", "state"):
        (work / name).mkdir()
    (work / "ipmi.json").write_text(json.dumps({"sensors": dict(("P%d-DIMM%s1 Temp" % (socket_id, slot), 45.0)
                                                                for socket_id in (1, 2) for slot in "ABCDEFGH")}))
    server_port, guard_port = free_port(), free_port()
    config = {
        "settings": {"interval_s": args.interval}, "listen_address": "127.0.0.1", "listen_port": guard_port,
        "textfile_dir": str(work / "textfile"), "state_dir": str(work / "state"),
        "sysfs_root": str(tree / "sys"), "ipmitool": str(ROOT / "tests/fake_ipmitool/ipmitool"),
        "probe_interval_s": args.probe_interval, "probe_max_tokens": 32, "restart_command": ["/bin/true"],
        "instances": [{"name": "r1", "backend": "legacy", "base_url": "http://127.0.0.1:%d" % server_port}],
    }
    (work / "guard.json").write_text(json.dumps(config))
    env = dict(os.environ, FAKE_IPMITOOL_STATE=str(work / "ipmi.json"), PYTHONPATH=str(ROOT / "collections"))
    server = subprocess.Popen([sys.executable, str(ROOT / "tests/fake_ktransformers/server.py"), "bench",
                               "--port", str(server_port), "--tokens-per-s", "200"],
                              stderr=subprocess.DEVNULL)
    daemon = None
    try:
        wait_for("http://127.0.0.1:%d/health" % server_port)
        daemon = subprocess.Popen([sys.executable, str(ROOT / "roles/guard/files/ktune_guard.py"), "--config",
                                   str(work / "guard.json")], env=env, stdout=subprocess.DEVNULL)
        wait_for("http://127.0.0.1:%d/ready/r1" % guard_port, token_file=work / "state" / "token")
        time.sleep(args.interval / 2.0)  # the first cycle (imports, baseline probe) is start-up, not steady state
        start_cpu, start_wall = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(args.cycles * args.interval)
        cpu, wall = cpu_seconds(daemon.pid) - start_cpu, time.monotonic() - start_wall
        metrics = (work / "textfile/ktune_guard.prom").read_text()
    finally:
        for process in (daemon, server):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
    if 'ktune_guard_state{name="r1",state="serving"} 1' not in metrics:
        sys.exit("the guard did not keep r1 serving during the run:\n" + metrics)
    percent = cpu * 100.0 / wall
    figures = (wall, args.cycles, args.interval, args.probe_interval, cpu, percent, TARGET_PCT, percent / TARGET_PCT)
    print("guard CPU over %.0f s (%d cycles at %d s, a probe every %d s): %.3f s = %.3f%% of one core "
          "(target <= %.1f%%: ratio %.2f)" % figures)
    return 0 if percent <= TARGET_PCT else 1


if __name__ == "__main__":
    sys.exit(main())
