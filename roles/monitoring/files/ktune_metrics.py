# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ktune metrics collector for node_exporter's textfile collector.

Run by ktune-metrics.service (a oneshot started by ktune-metrics.timer). Each run reads
the BMC's DIMM temperatures (ipmitool), per-node numastat counters, CPU frequencies,
thermal throttle counters, governors and EPP from sysfs, the NUMA kernel settings from
procfs, probes every ktransformers instance over HTTP, and replaces ktune.prom in the
textfile directory atomically (temporary file in the same directory, then rename), so
node_exporter never reads a half-written file.

    ktune_metrics.py --config /etc/ktune/monitoring.json

The monitoring role installs ipmi.py, host_telemetry.py, cpulist.py, cpufreq.py, sysctl.py
and sysfs.py from the collection's module_utils next to this file: governors, EPP and
kernel settings are read by the audit's own readers. What the host should run (the
``expected`` settings) is decided on the controller by the role, with the audit's
judgement (the alert_expectations filter); this script only reports it next to what it reads.
"""

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
try:
    import cpufreq
    import host_telemetry
    import ipmi
    import sysctl
    import sysfs
except ImportError:  # run from the collection checkout (unit tests)
    from ansible_collections.ktune.inference.plugins.module_utils import cpufreq, host_telemetry, ipmi, sysctl, sysfs

OUTPUT_NAME = "ktune.prom"
DEFAULTS = {
    "textfile_dir": "/var/lib/prometheus/node-exporter",
    "sysfs_root": "/sys",
    "procfs_root": "/proc",
    "ipmitool": "ipmitool",
    "ipmitool_args": ["sensor"],
    "ipmitool_timeout": 30,
    "instances": [],
    "probe_timeout": 5,
    # Written by the monitoring role from the host's settings; without them nothing is expected
    # (the governor alert then fires for every policy: it fails closed).
    "interval": None,
    "expected": {"governor": None, "epp": {"active_mode": None, "other": None}, "sysctls": {},
                 "transparent_hugepage": None},
}
NUMASTAT_METRICS = {
    "numa_hit": ("ktune_numa_hit_total", "Pages allocated on this node as intended"),
    "numa_miss": ("ktune_numa_miss_total", "Pages allocated on this node although another node was preferred"),
    "numa_foreign": ("ktune_numa_foreign_total", "Pages intended for this node but allocated on another"),
    "interleave_hit": ("ktune_numa_interleave_hit_total", "Interleaved pages allocated on this node as intended"),
    "local_node": ("ktune_numa_local_node_total", "Pages allocated on this node by a process running on it"),
    "other_node": ("ktune_numa_other_node_total", "Pages allocated on this node by a process running on another node"),
}


class Family(object):
    """One metric family: name, type, help and its samples [(labels, value)]."""

    def __init__(self, name, kind, help_text):
        self.name = name
        self.kind = kind
        self.help_text = help_text
        self.samples = []

    def add(self, value, **labels):
        self.samples.append((labels, value))
        return self


def escape_label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value):
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value == int(value) and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def render(families):
    """Prometheus text exposition format; families without samples are left out."""
    lines = []
    for family in families:
        if not family.samples:
            continue
        lines.append("# HELP %s %s" % (family.name, family.help_text))
        lines.append("# TYPE %s %s" % (family.name, family.kind))
        for labels, value in family.samples:
            label_text = ",".join('%s="%s"' % (key, escape_label(labels[key])) for key in sorted(labels))
            lines.append("%s%s %s" % (family.name, "{%s}" % label_text if label_text else "", format_value(value)))
    return "\n".join(lines) + "\n"


def write_atomically(directory, text, name=OUTPUT_NAME):
    """Replace directory/name with text; readers see the old or the new file, never a part."""
    handle, temporary = tempfile.mkstemp(dir=directory, prefix="." + name + ".")
    try:
        with os.fdopen(handle, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, os.path.join(directory, name))
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def find_ipmitool(name):
    if os.path.isabs(name):
        return name if os.access(name, os.X_OK) else None
    path = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/usr/local/sbin:/sbin"
    return shutil.which(name, path=path)


def read_dimms(config):
    """(available, reason, sensors) from ipmitool; never raises for a missing tool or BMC."""
    executable = find_ipmitool(config["ipmitool"])
    if not executable:
        return False, "%s not found" % config["ipmitool"], []
    command = [executable] + list(config["ipmitool_args"])
    try:
        done = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=config["ipmitool_timeout"], env=dict(os.environ, LC_ALL="C"), check=False)
    except subprocess.TimeoutExpired:
        return False, "%s did not answer within %s s" % (" ".join(command), config["ipmitool_timeout"]), []
    except OSError as exc:
        return False, "%s: %s" % (executable, exc), []
    if done.returncode != 0:
        return False, "%s exited with %d: %s" % (" ".join(command), done.returncode,
                                                 (done.stderr or done.stdout).strip()[:200]), []
    return True, None, ipmi.dimm_temperatures(done.stdout)


def unique_sensor_labels(sensors):
    """Sensor names as labels; repeats (Dell names several sensors just "Temp") get #2, #3."""
    seen = {}
    labels = []
    for sensor in sensors:
        count = seen.get(sensor["name"], 0) + 1
        seen[sensor["name"]] = count
        labels.append(sensor["name"] if count == 1 else "%s #%d" % (sensor["name"], count))
    return labels


def dimm_families(available, sensors):
    up = Family("ktune_ipmi_up", "gauge", "1 when ipmitool read the BMC's sensors on the last run")
    up.add(1 if available else 0)
    temperature = Family("ktune_dimm_temperature_celsius", "gauge", "DIMM temperature reported by the BMC")
    critical = Family("ktune_dimm_upper_critical_celsius", "gauge", "The BMC's upper critical threshold of the sensor")
    unread = Family("ktune_dimm_sensors_without_reading", "gauge",
                    "Memory temperature sensors with no reading (empty slot, disabled or discrete)")
    hottest = Family("ktune_dimm_temperature_max_celsius", "gauge", "Highest DIMM temperature on the host")
    hottest_critical = Family("ktune_dimm_temperature_max_upper_critical_celsius", "gauge",
                              "Upper critical threshold of the hottest DIMM sensor")
    for label, sensor in zip(unique_sensor_labels(sensors), sensors):
        if sensor["celsius"] is not None:
            temperature.add(sensor["celsius"], sensor=label)
            if sensor["upper_critical"] is not None:
                critical.add(sensor["upper_critical"], sensor=label)
    if sensors:
        unread.add(sum(1 for sensor in sensors if sensor["celsius"] is None))
    top = ipmi.hottest(sensors)
    if top is not None:
        hottest.add(top["celsius"])
        if top["upper_critical"] is not None:
            hottest_critical.add(top["upper_critical"])
    return [up, temperature, critical, hottest, hottest_critical, unread]


def numastat_families(counters_by_node):
    families = []
    for counter, (name, help_text) in NUMASTAT_METRICS.items():
        family = Family(name, "counter", help_text + " (numastat, pages)")
        for node, counters in sorted(counters_by_node.items()):
            if counter in counters:
                family.add(counters[counter], node=node)
        families.append(family)
    return families


def frequency_families(summary):
    families = []
    for stat in ("min", "median", "max"):
        family = Family("ktune_cpu_frequency_%s_hertz" % stat, "gauge",
                        "%s current frequency of the node's CPUs (scaling_cur_freq)" % stat.capitalize())
        for node, values in sorted(summary.items()):
            family.add(values[stat], node=node)
        families.append(family)
    return families


def throttle_families(throttle_by_node):
    events = Family("ktune_cpu_thermal_throttle_events_total", "counter",
                    "Thermal throttle and power limit events (thermal_throttle/*_count; core summed over the "
                    "node's CPUs, package the maximum)")
    seconds = Family("ktune_cpu_thermal_throttle_seconds_total", "counter",
                     "Time spent throttled (thermal_throttle/*_total_time_ms)")
    for node, counters in sorted(throttle_by_node.items()):
        for name, value in sorted(counters.items()):
            if name.endswith("_count"):
                events.add(value, node=node, counter=name[:-len("_count")])
            elif name.endswith("_total_time_ms"):
                seconds.add(value / 1000.0, node=node, counter=name[:-len("_total_time_ms")])
    return [events, seconds]


def count_by(policies, key):
    """{(value, driver): number of policies} of the policies' state[key], None values left out."""
    counts = {}
    for policy in policies:
        value = policy["state"][key]
        if value is not None:
            counts[(value, policy["driver"])] = counts.get((value, policy["driver"]), 0) + 1
    return counts


def cpufreq_families(policies, expected):
    """Policies per governor and per EPP in force, read as the audit reads them (cpufreq.read_policies:
    an inactive policy, whose files answer EBUSY, is left out), and what the host should run:
    the governor (ktune_cpu_governor) and the EPP for the driver's mode, both decided by the role.
    The alert rules compare the two, so no rule names a value."""
    policies = [policy for policy in policies if policy["active"]]
    governors = Family("ktune_cpu_governor_policies", "gauge", "cpufreq policies per governor and driver in force")
    for (governor, driver), count in sorted(count_by(policies, "governor").items()):
        governors.add(count, governor=governor, driver=driver)
    epps = Family("ktune_cpu_epp_policies", "gauge",
                  "cpufreq policies per energy_performance_preference and driver in force")
    for (epp, driver), count in sorted(count_by(policies, "epp").items()):
        epps.add(count, epp=epp, driver=driver)
    wanted_governor = Family("ktune_cpu_governor_expected", "gauge", "1 for the governor this host is configured for")
    if expected.get("governor"):
        wanted_governor.add(1, governor=expected["governor"])
    wanted_epp = Family("ktune_cpu_epp_expected", "gauge",
                        "1 for the EPP this host is configured for (absent where EPP is left alone)")
    epp_by_mode = expected.get("epp") or {}
    wanted = epp_by_mode.get("active_mode" if cpufreq.in_active_mode(policies) else "other")
    if wanted and epps.samples:
        wanted_epp.add(1, epp=wanted)
    return [governors, wanted_governor, epps, wanted_epp]


def sysctl_families(procfs_root, expected):
    """The kernel settings the host should have (ktune_numa_balancing, ktune_zone_reclaim_mode),
    read live as the audit reads them (sysctl.read_runtime), next to their expected values.
    A key the running kernel lacks has no live value, so it cannot alert (as in the audit)."""
    live = Family("ktune_sysctl_value", "gauge", "Live value of a kernel setting ktune manages (/proc/sys)")
    wanted = Family("ktune_sysctl_expected", "gauge", "The value this host is configured for")
    for name, value in sorted(expected.items()):
        wanted.add(value, sysctl=name)
        found = sysctl.display_value(sysctl.read_runtime(procfs_root, name)[1])
        if isinstance(found, int):
            live.add(found, sysctl=name)
    return [live, wanted]


def transparent_hugepage_families(sysfs_root, expected):
    """The transparent hugepage mode in force, read as the audit reads it (sysfs.read_transparent_hugepage),
    and the mode this host is configured for (absent where ktune_transparent_hugepage is unset)."""
    live = Family("ktune_transparent_hugepage_mode", "gauge", "1 for the transparent hugepage mode in force")
    wanted = Family("ktune_transparent_hugepage_expected", "gauge",
                    "1 for the transparent hugepage mode this host is configured for")
    if expected:
        wanted.add(1, mode=expected)
    mode = sysfs.read_transparent_hugepage(sysfs_root)
    if mode:
        live.add(1, mode=mode)
    return [live, wanted]


def probe(url, timeout):
    """(up, HTTP status or 0, seconds): up means the health endpoint answered 200."""
    started = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="GET"), timeout=timeout) as answer:
            status = answer.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError):
        status = 0
    return status == 200, status, time.monotonic() - started


def instance_families(instances, timeout):
    up = Family("ktune_instance_up", "gauge", "1 when the ktransformers instance's health endpoint answered 200")
    status = Family("ktune_instance_http_status", "gauge", "HTTP status of the health probe, 0 without an answer")
    duration = Family("ktune_instance_probe_duration_seconds", "gauge", "Time the health probe took")
    for instance in instances:
        answered, code, seconds = probe(instance["url"], timeout)
        up.add(1 if answered else 0, name=instance["name"], url=instance["url"])
        status.add(code, name=instance["name"])
        duration.add(round(seconds, 6), name=instance["name"])
    return [up, status, duration]


def main_pid(unit):
    """The unit's main process id from systemd, or None."""
    try:
        out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", unit], capture_output=True,
                             text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    pid = int(out) if re.match(r"[0-9]{1,20}\Z", out) else 0
    return pid if pid > 0 else None


def placement_families(instances, procfs_root="/proc"):
    """Each instance's resident memory per NUMA node (its main process's numa_maps): the metric
    of the NUMA-placement proof, which the audit's service.numa_placement judges."""
    resident = Family("ktune_instance_numa_resident_bytes", "gauge",
                      "Resident memory of the instance's main process on each NUMA node")
    for instance in instances:
        pid = main_pid("ktransformers@%s.service" % instance["name"])
        if pid is None:
            continue
        per_node = host_telemetry.read_numa_maps_resident_kb(procfs_root, pid)
        if per_node is None:
            continue
        for node, kb in sorted(per_node.items()):
            resident.add(kb * 1024, name=instance["name"], node=str(node))
    return [resident]


def collect(config):
    """Every family of one run. A section that fails is logged, marked 0 and skipped."""
    families = []
    success = Family("ktune_collector_success", "gauge", "1 when the section was collected on the last run")
    root = config["sysfs_root"]

    def section(name, build):
        try:
            families.extend(build())
            success.add(1, section=name)
        except Exception as exc:  # one unreadable file must not blank the other metrics
            sys.stderr.write("ktune-metrics: %s: %s\n" % (name, exc))
            success.add(0, section=name)

    def dimms():
        available, reason, sensors = read_dimms(config)
        if reason:
            sys.stderr.write("ktune-metrics: ipmi: %s\n" % reason)
        return dimm_families(available, sensors)

    def cpu():
        nodes = host_telemetry.node_cpus(root)
        policies = host_telemetry.cpufreq_policies(root)
        return (frequency_families(host_telemetry.frequency_summary(policies, nodes))
                + throttle_families(host_telemetry.throttle_counters(root, nodes)))

    expected = config["expected"]
    section("ipmi", dimms)
    section("numastat", lambda: numastat_families(host_telemetry.numastat(root)))
    section("cpu", cpu)
    section("cpufreq", lambda: cpufreq_families(cpufreq.read_policies(root), expected))
    section("sysctl", lambda: sysctl_families(config["procfs_root"], expected.get("sysctls") or {}))
    section("transparent_hugepage",
            lambda: transparent_hugepage_families(root, expected.get("transparent_hugepage")))
    section("instances", lambda: instance_families(config["instances"], config["probe_timeout"]))
    section("placement", lambda: placement_families(config["instances"]))
    stamp = Family("ktune_collector_last_run_timestamp_seconds", "gauge", "When the collector last ran (Unix time)")
    stamp.add(round(time.time(), 3))
    interval = Family("ktune_collector_interval_seconds", "gauge",
                      "Seconds between two collector runs (ktune_monitoring_interval)")
    if config.get("interval"):
        interval.add(config["interval"])
    return families + [success, stamp, interval]


def load_config(path):
    config = dict(DEFAULTS)
    if path:
        with open(path) as handle:
            config.update(json.load(handle))
    return config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--config", help="JSON settings written by the monitoring role")
    parser.add_argument("--textfile-dir", help="override textfile_dir")
    parser.add_argument("--sysfs-root", help="override sysfs_root")
    parser.add_argument("--stdout", action="store_true", help="print the metrics instead of writing the file")
    options = parser.parse_args(argv)
    config = load_config(options.config)
    if options.textfile_dir:
        config["textfile_dir"] = options.textfile_dir
    if options.sysfs_root:
        config["sysfs_root"] = options.sysfs_root
    text = render(collect(config))
    if options.stdout:
        sys.stdout.write(text)
    else:
        write_atomically(config["textfile_dir"], text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
