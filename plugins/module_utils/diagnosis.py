# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Likely causes of a slow inference host, from what the diagnose role collected.

``findings(data)`` judges the collected data and ``summary_markdown(data)`` writes the
summary.md of the bundle; ``settings_problems(settings)`` checks the role's settings before it
collects anything. ``data`` keys (all optional but ``host``):

- ``layout_problems``: messages of the nps_layout_problems filter; ``numa_summary``: lines;
- ``thermal_before`` / ``thermal_after``: the ktune_thermal fact (thermal_facts module)
  read at the start and at the end of the sampling window;
- ``frequency_samples``: text, one line per sample: ``epoch min_khz median_khz max_khz``;
- ``meminfo``: text of /proc/meminfo; ``numastat_m``: text of ``numastat -m``;
- ``kernel_log``: kernel log lines already filtered for thermal and machine check words;
- ``service_journal``: the ktransformers journal;
- ``missing``: {tool: why it was not run}, or the same as ``tool<TAB>why`` lines;
  an unavailable ipmitool (``ipmi.reason`` of the thermal fact) and ``numa_error`` (why the
  layout could not be read) are added to it;
- ``files``: names in the bundle;
- ``window_s``, ``collected_at``, ``thresholds`` (see DEFAULT_THRESHOLDS);
- ``cpu_governor``: ktune_cpu_governor, the governor the host should run; what "right" is
  comes from concerns.py, as for tune and the audit;
- ``controls``: the audit_controls filter's result for the host (host_state read, judged with
  the inventory's settings): the failed tuning controls (EPP, NUMA sysctls, USE_NUMA, the
  page-cache job) are findings.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.ktune.inference.plugins.module_utils import concern_registry as registry
from ansible_collections.ktune.inference.plugins.module_utils import concerns
from ansible_collections.ktune.inference.plugins.module_utils.report_encoding import markdown_text as md

DEFAULT_THRESHOLDS = {
    "dimm_margin_c": 5.0,            # within this of the BMC's upper critical threshold
    "dimm_hot_c": 85.0,              # when the BMC gives no threshold
    "numa_miss_ratio": 0.05,         # numa_miss / (numa_hit + numa_miss) per node
    "mem_available_ratio": 0.10,     # MemAvailable / MemTotal
    "node_free_ratio": 0.05,         # MemFree / MemTotal of one node (numastat -m)
    "frequency_drop_ratio": 0.75,    # a sample's median below this share of the best median
}
THROTTLE_LINE = re.compile(r"temperature above threshold|cpu clock throttled|power limit notification|"
                           r"heated above trip|throttling enabled", re.IGNORECASE)
MACHINE_CHECK_LINE = re.compile(r"hardware error|machine check|mce: \[|edac .*(error|ce|ue)\b|"
                                r"corrected error|uncorrected", re.IGNORECASE)
SERVICE_ERROR_LINE = re.compile(r"traceback|out of memory|oom|cuda error|segmentation fault|killed", re.IGNORECASE)
NOISE_LINE = re.compile(r"^Token \S+ not in hash table\.\Z")

# The diagnose role's whole-number settings: (variable, lowest allowed, what it is).
COUNT_SETTINGS = (
    ("ktune_diagnose_samples", 1, "CPU frequency samples over the window"),
    ("ktune_diagnose_window_s", 0, "seconds the CPU frequency is sampled over"),
    ("ktune_diagnose_perf_s", 0, "seconds perf stat counts for"),
    ("ktune_diagnose_log_lines", 0, "kernel log and journal lines kept"),
)
# Thresholds that are shares of something (0 to 1); the others are degrees Celsius.
RATIO_THRESHOLDS = ("numa_miss_ratio", "mem_available_ratio", "node_free_ratio", "frequency_drop_ratio")


def _whole_number(value):
    """int from an int or a string of digits (extra vars arrive as strings); None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^\s*-?[0-9]+\s*\Z", value):
        return int(value)
    return None


def _is_number(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and re.match(r"^\s*[0-9]+(\.[0-9]*)?\s*\Z", value) is not None


def settings_problems(settings):
    """Why the diagnose role's settings cannot be used, one message per variable; [] when valid.

    settings: {variable: value}; a variable left out takes the role's default, which is valid.
    """
    settings = settings or {}
    problems = []
    for name, lowest, what in COUNT_SETTINGS:
        if name not in settings:
            continue
        value = settings[name]
        number = _whole_number(value)
        if number is None or number < lowest:
            problems.append("%s = %r: expected a whole number of %s, %d or more" % (name, value, what, lowest))
    thresholds = settings.get("ktune_diagnose_thresholds")
    if thresholds is None:
        thresholds = {}
    if not isinstance(thresholds, dict):
        problems.append("ktune_diagnose_thresholds = %r: expected a dictionary of {name: number} with names from %s"
                        % (thresholds, ", ".join(sorted(DEFAULT_THRESHOLDS))))
        thresholds = {}
    for key, value in sorted(thresholds.items(), key=lambda item: str(item[0])):
        if key not in DEFAULT_THRESHOLDS:
            problems.append("ktune_diagnose_thresholds.%s is not a threshold: expected one of %s"
                            % (key, ", ".join(sorted(DEFAULT_THRESHOLDS))))
        elif not _is_number(value) or float(value) < 0 or (key in RATIO_THRESHOLDS and float(value) > 1):
            problems.append("ktune_diagnose_thresholds.%s = %r: expected %s (default %s)" % (
                key, value, "a share from 0 to 1" if key in RATIO_THRESHOLDS else "degrees Celsius, 0 or more",
                DEFAULT_THRESHOLDS[key]))
    for name in ("ktune_diagnose_remote_tmp", "ktune_sysfs_root", "ktune_procfs_root"):
        if name not in settings:
            continue
        value = settings[name]
        if not isinstance(value, str) or not value.startswith("/"):
            problems.append("%s = %r: expected an absolute path" % (name, value))
    dest = settings.get("ktune_diagnose_dest")
    if dest not in (None, "") and not isinstance(dest, str):
        problems.append("ktune_diagnose_dest = %r: expected a folder on the controller, or null for "
                        "./ktune-diagnostics/<UTC timestamp>" % (dest,))
    return problems


def _thresholds(data):
    merged = dict(DEFAULT_THRESHOLDS)
    merged.update(dict((key, float(value)) for key, value in (data.get("thresholds") or {}).items()
                       if key in DEFAULT_THRESHOLDS and value is not None))
    return merged


def finding(cause, evidence, fix, severity="warning"):
    return {"cause": cause, "evidence": evidence, "fix": fix, "severity": severity}


# ASCII digits only: \d, str.isdigit(), int() and float() also take the digits of other scripts.
_COUNT = re.compile(r"[0-9]{1,20}\Z")
_DECIMAL_NUMBER = re.compile(r"[0-9]{1,20}(\.[0-9]{1,20})?\Z")


def parse_meminfo_text(text):
    """{field: kB} from /proc/meminfo text; lines that do not parse are skipped."""
    fields = {}
    for line in (text or "").splitlines():
        key, colon, rest = line.partition(":")
        value = rest.split()
        if colon and value and _COUNT.match(value[0]):
            fields[key.strip()] = int(value[0])
    return fields


def parse_numastat_m(text):
    """{field: {node id: MB}} from ``numastat -m`` (``Token ... not in hash table.`` lines skipped)."""
    nodes = None
    table = {}
    for line in (text or "").splitlines():
        stripped = line.strip()
        if not stripped or NOISE_LINE.match(stripped) or set(stripped) <= set("- "):
            continue
        words = stripped.split()
        if words[0] == "Node" and len(words) >= 2:
            ids = words[1::2]
            nodes = [int(word) for word in ids] if all(_COUNT.match(word) for word in ids) else None
            continue
        if nodes is None:
            continue
        values = words[1:1 + len(nodes)]
        if len(values) == len(nodes):
            try:
                table[words[0]] = dict(zip(nodes, (float(value) for value in values)))
            except ValueError:
                continue
    return table


def parse_frequency_samples(text):
    """[(epoch, min_hz, median_hz, max_hz)] from the sampler's lines (kHz in, Hz out)."""
    samples = []
    for line in (text or "").splitlines():
        words = line.split()
        if len(words) == 4 and all(_DECIMAL_NUMBER.match(word) for word in words):
            stamp, low, middle, high = (float(word) for word in words)
            samples.append((stamp, low * 1000, middle * 1000, high * 1000))
    return samples


def _ghz(hertz):
    return "%.2f GHz" % (hertz / 1e9)


def layout_findings(data):
    return [finding("Wrong NUMA layout", problem, "Change the BIOS setting named above and reboot; until then "
                    "the inventory's cpu_infer, thread pools and USE_NUMA do not fit the host.",
                    registry.BY_ID["numa.layout"].severity)
            for problem in data.get("layout_problems") or []]


def dimm_findings(data, limits):
    thermal = data.get("thermal_after") or data.get("thermal_before") or {}
    hot = []
    for sensor in (thermal.get("ipmi") or {}).get("dimms") or []:
        celsius = sensor.get("celsius")
        if celsius is None:
            continue
        critical = sensor.get("upper_critical")
        if critical is not None and celsius >= critical - limits["dimm_margin_c"]:
            hot.append("%s %.1f °C (critical %.1f °C)" % (sensor["name"], celsius, critical))
        elif critical is None and celsius >= limits["dimm_hot_c"]:
            hot.append("%s %.1f °C (no BMC threshold, %.0f °C assumed)"
                       % (sensor["name"], celsius, limits["dimm_hot_c"]))
    if not hot:
        return []
    return [finding("Hot DIMMs", "; ".join(hot),
                    "DDR5 throttles its bandwidth when hot and tokens/s fall in steps: check fan policy and airflow "
                    "over the memory banks, blanking panels, and inlet temperature.", "critical")]


def throttle_deltas(before, after):
    """{node: {counter: increase}} between two thermal_facts readings (increases only)."""
    deltas = {}
    for node, counters in ((after or {}).get("throttle") or {}).items():
        earlier = ((before or {}).get("throttle") or {}).get(node, {})
        for name, value in counters.items():
            if name.endswith("_count") and value - earlier.get(name, value) > 0:
                deltas.setdefault(node, {})[name] = value - earlier.get(name, value)
    return deltas


def throttle_findings(data):
    found = []
    deltas = throttle_deltas(data.get("thermal_before"), data.get("thermal_after"))
    thermal = dict((node, counters) for node, counters in deltas.items()
                   if any("throttle" in name for name in counters))
    if thermal:
        evidence = "; ".join("node %s: %s" % (node, ", ".join("%s +%d" % item for item in sorted(counters.items())))
                             for node, counters in sorted(thermal.items()))
        found.append(finding("CPU thermal throttling during the sampling window", evidence,
                             "The CPUs ran below their set frequency: check CPU cooling, fan policy and power "
                             "limits in the BIOS/BMC.", "critical"))
    log_lines = [line for line in (data.get("kernel_log") or "").splitlines() if THROTTLE_LINE.search(line)]
    if log_lines and not thermal:
        found.append(finding("CPU thermal throttling in the kernel log", "%d lines, last: %s"
                             % (len(log_lines), log_lines[-1].strip()),
                             "Throttling happened since boot; watch ktune_cpu_thermal_throttle_events_total."))
    return found


def governor_findings(data):
    """Policies on another governor than ktune_cpu_governor (data["cpu_governor"]), the
    audit's rule (concerns.governor_is_expected); the fix is the audit control's, which names the
    host and inventory."""
    settings = {"ktune_cpu_governor": data.get("cpu_governor")}
    thermal = data.get("thermal_after") or data.get("thermal_before") or {}
    wrong = [entry for entry in thermal.get("governors") or []
             if not concerns.governor_is_expected(settings, entry.get("governor"))]
    if not wrong:
        return []
    evidence = ", ".join("%d policies on %s (%s)" % (entry["policies"], entry["governor"], entry["driver"])
                         for entry in wrong)
    audit_fix = [control.get("fix") for control in data.get("controls") or []
                 if isinstance(control, dict) and control.get("id") == "cpufreq.governor" and control.get("fix")]
    return [finding("CPU governor is not %s" % concerns.expected_governor(settings), evidence,
                    audit_fix[0] if audit_fix else "Run playbooks/tune.yml --tags cpu_governor on this host.",
                    registry.BY_ID["cpufreq.governor"].severity)]


# The audit controls (audit_controls.py, judged with concerns.py) that the diagnosis reports as
# tuning drift, with the cause it names: those the registry marks FROM_AUDIT. The governor and
# the layout have findings of their own (above); the service controls need the audit's service read.
DRIFT_CONTROLS = registry.DRIFT_CONTROLS


def drift_findings(data):
    """A finding per failed DRIFT_CONTROLS control in data["controls"] (the audit_controls
    filter's result for the host): the audit's finding as evidence, its fix as the fix, and the
    control's severity in the registry, as the audit grades it."""
    failed = dict((control.get("id"), control) for control in data.get("controls") or []
                  if isinstance(control, dict) and control.get("status") == "fail")
    return [finding("%s (%s)" % (cause, control_id), failed[control_id].get("finding", ""),
                    failed[control_id].get("fix") or "Run playbooks/tune.yml on this host.",
                    registry.BY_ID[control_id].severity)
            for control_id, cause in DRIFT_CONTROLS if control_id in failed]


def frequency_findings(data, limits):
    samples = parse_frequency_samples(data.get("frequency_samples"))
    if len(samples) < 2:
        return []
    best = max(sample[2] for sample in samples)
    low = [sample for sample in samples if sample[2] < best * limits["frequency_drop_ratio"]]
    if not low:
        return []
    return [finding("CPU frequency dropped during the sampling window",
                    "%d of %d samples had a median below %d%% of the best median (%s; lowest %s)"
                    % (len(low), len(samples), limits["frequency_drop_ratio"] * 100, _ghz(best),
                       _ghz(min(sample[2] for sample in low))),
                    "Look for throttling, power capping or a powersave governor.")]


def memory_findings(data, limits):
    found = []
    meminfo = parse_meminfo_text(data.get("meminfo"))
    total, available = meminfo.get("MemTotal"), meminfo.get("MemAvailable")
    if total and available is not None and available < total * limits["mem_available_ratio"]:
        found.append(finding("Memory pressure", "MemAvailable %.1f GiB of %.1f GiB (%.0f%%)"
                             % (available / 1048576.0, total / 1048576.0, 100.0 * available / total),
                             "Free memory for the model: drop the page cache (page_cache role), stop other "
                             "processes, or serve a smaller model.", "critical"))
    table = parse_numastat_m(data.get("numastat_m"))
    totals, free = table.get("MemTotal", {}), table.get("MemFree", {})
    full = ["node %d %.0f MB free of %.0f MB" % (node, free[node], totals[node])
            for node in sorted(totals) if totals[node] > 0 and node in free
            and free[node] < totals[node] * limits["node_free_ratio"]]
    if full:
        found.append(finding("NUMA node nearly full", "; ".join(full),
                             "Allocations spill to other nodes (cross-node traffic): drop the page cache before "
                             "the model loads and check that one model copy fits each node."))
    return found


def numa_traffic_findings(data, limits):
    thermal = data.get("thermal_after") or data.get("thermal_before") or {}
    crossing = []
    for node, counters in sorted((thermal.get("numastat") or {}).items()):
        hit, miss = counters.get("numa_hit", 0), counters.get("numa_miss", 0)
        if hit + miss and miss / float(hit + miss) > limits["numa_miss_ratio"]:
            crossing.append("node %s numa_miss %.1f%% of allocations" % (node, 100.0 * miss / (hit + miss)))
    if not crossing:
        return []
    return [finding("Cross-node memory traffic", "; ".join(crossing) + " (since boot)",
                    "Memory meant for one node lands on another: bind the service to its node(s) or build "
                    "with USE_NUMA=1 on a multi-node layout, and drop the page cache before loading.")]


def log_findings(data):
    found = []
    checks = [line for line in (data.get("kernel_log") or "").splitlines()
              if MACHINE_CHECK_LINE.search(line) and not THROTTLE_LINE.search(line)]
    if checks:
        found.append(finding("Machine check or memory errors in the kernel log", "%d lines, last: %s"
                             % (len(checks), checks[-1].strip()),
                             "Check the BMC's event log (ipmitool sel elist) and replace failing DIMMs.", "critical"))
    errors = [line for line in (data.get("service_journal") or "").splitlines() if SERVICE_ERROR_LINE.search(line)]
    if errors:
        found.append(finding("Errors in the ktransformers journal", "%d lines, last: %s"
                             % (len(errors), errors[-1].strip()), "Read journal-ktransformers.txt in the bundle."))
    return found


# Hardware and outages first, then failed error controls, then warnings.
SEVERITY_ORDER = ("critical", registry.ERROR, registry.WARNING)


def findings(data):
    """Likely causes, most severe first (SEVERITY_ORDER)."""
    limits = _thresholds(data)
    found = (layout_findings(data) + dimm_findings(data, limits) + throttle_findings(data)
             + governor_findings(data) + drift_findings(data) + frequency_findings(data, limits)
             + memory_findings(data, limits)
             + numa_traffic_findings(data, limits) + log_findings(data))
    return sorted(found, key=lambda item: SEVERITY_ORDER.index(item["severity"]))


def missing_tools(data):
    """{tool: why} from ``missing`` (dict or TSV text), the thermal fact's ipmi reason and
    ``numa_error`` (the layout the host_state read could not read)."""
    missing = data.get("missing") or {}
    if not isinstance(missing, dict):
        missing = dict(line.split("\t", 1) for line in str(missing).splitlines() if "\t" in line)
    ipmi = (data.get("thermal_after") or data.get("thermal_before") or {}).get("ipmi") or {}
    if ipmi and not ipmi.get("available") and ipmi.get("reason"):
        missing.setdefault("ipmitool", ipmi["reason"])
    if data.get("numa_error"):
        missing.setdefault("numa-layout", str(data["numa_error"]))
    return missing


def _measurements(data):
    lines = ["- Layout: %s" % md(line) for line in (data.get("numa_summary") or [])[:1]]
    thermal = data.get("thermal_after") or data.get("thermal_before") or {}
    ipmi = thermal.get("ipmi") or {}
    if ipmi.get("available"):
        dimms = ipmi.get("dimms") or []
        top = ipmi.get("hottest")
        lines.append("- DIMM sensors: %d (%d with a reading)%s" % (
            len(dimms), len([d for d in dimms if d.get("celsius") is not None]),
            ", hottest %s at %.1f °C" % (md(top["name"]), top["celsius"]) if top else ""))
    for entry in thermal.get("governors") or []:
        lines.append("- Governor: %s on %d policies (%s)" % (md(entry["governor"]), entry["policies"], md(entry["driver"])))
    samples = parse_frequency_samples(data.get("frequency_samples"))
    if samples:
        lines.append("- CPU frequency over %d samples: lowest %s, median of medians %s, highest %s" % (
            len(samples), _ghz(min(s[1] for s in samples)), _ghz(sorted(s[2] for s in samples)[len(samples) // 2]),
            _ghz(max(s[3] for s in samples))))
    meminfo = parse_meminfo_text(data.get("meminfo"))
    if meminfo.get("MemTotal") and "MemAvailable" in meminfo:
        lines.append("- Memory available: %.1f of %.1f GiB" % (meminfo["MemAvailable"] / 1048576.0, meminfo["MemTotal"] / 1048576.0))
    for node, counters in sorted((thermal.get("numastat") or {}).items()):
        hit, miss = counters.get("numa_hit", 0), counters.get("numa_miss", 0)
        if hit + miss:
            lines.append("- Node %s: numa_miss %.2f%% of %d allocations, other_node %d" % (
                md(node), 100.0 * miss / (hit + miss), hit + miss, counters.get("other_node", 0)))
    deltas = throttle_deltas(data.get("thermal_before"), data.get("thermal_after"))
    during = "; ".join("node %s %s" % (node, counters) for node, counters in sorted(deltas.items()))
    lines.append("- Throttle events during the window: %s" % (md(during) or "none"))
    return lines


def summary_markdown(data):
    """The bundle's summary.md. Every value in it is markdown_text: what a host reports (its
    name, log lines, sensor and tool names) renders as its own characters, never as markup."""
    found = findings(data)
    out = ["# Diagnosis of %s" % md(data["host"]), ""]
    if data.get("collected_at"):
        out.append("Collected %s%s." % (md(data["collected_at"]),
                                        ", sampling window %s s" % md(data["window_s"]) if data.get("window_s") else ""))
        out.append("")
    out += ["## Likely causes", ""]
    if found:
        for number, item in enumerate(found, 1):
            out.append("%d. **%s** (%s): %s  " % (number, md(item["cause"]), md(item["severity"]), md(item["evidence"])))
            out.append("   Fix: %s" % md(item["fix"]))
    else:
        out.append("None found in the collected data.")
    out += ["", "## Measurements", ""] + _measurements(data)
    missing = missing_tools(data)
    out += ["", "## Not collected", ""]
    if missing:
        out += ["- %s: %s" % (md(tool), md(why)) for tool, why in sorted(missing.items())]
    else:
        out.append("Everything was collected.")
    if data.get("files"):
        out += ["", "## Files in the bundle", ""] + ["- %s" % md(name) for name in sorted(data["files"])]
    return "\n".join(out) + "\n"
