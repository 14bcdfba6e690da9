# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The upgrade gate of rollout.yml: a canary on the new software against its fleet's baseline.

The fleet baselines are the runs hosts recorded per fingerprint (performance_baseline with
ktune_baseline_scope=fleet). An upgrade changes the software part of the fingerprint, so the
canary's reference is the fleet group that differs from it in software only; the judgement
itself is benchmark.canary_compare's (pooled repetitions, stated confidence). The verdict is
also written as JUnit through audit_report.to_junit, the collection's one JUnit encoder.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils.audit_report import to_junit
from ansible_collections.ktune.inference.plugins.module_utils.benchmark import canary_compare
from ansible_collections.ktune.inference.plugins.module_utils.fingerprint import fingerprint_differences

RECORD_FIX = ("record the fleet baseline of this hardware and load with playbooks/baseline.yml "
              "-e ktune_baseline_scope=fleet -e ktune_baseline_mode=record on hosts still on the old version")


def _not_software(differences):
    return [item for item in differences if not item.startswith("software ")]


def _group_key(doc):
    return str((doc.get("fingerprint") or {}).get("key"))


def fleet_groups(fleet_docs):
    """{fingerprint key: [recorded runs]} of the fleet baselines."""
    groups = {}
    for doc in fleet_docs or []:
        if isinstance(doc, dict) and doc:
            groups.setdefault(_group_key(doc), []).append(doc)
    return groups


def closest_group(canary, fleet_docs, baseline_software=None):
    """(runs, differences other than software) of the fleet group the canary is judged against.

    The group with the fewest differences in hardware, kernel and load wins, the latest
    recorded among equals; baseline_software ({name: version}), when given, keeps only the
    groups recorded with that software (the version the fleet runs before the upgrade).
    """
    wanted = dict((str(name), str(value)) for name, value in (baseline_software or {}).items())
    ranked = []
    for docs in fleet_groups(fleet_docs).values():
        fingerprint = docs[0].get("fingerprint") or {}
        software = fingerprint.get("software") or {}
        if wanted and any(software.get(name) != value for name, value in wanted.items()):
            continue
        differences = _not_software(fingerprint_differences(fingerprint, canary.get("fingerprint")))
        latest = max(str(doc.get("recorded_at") or "") for doc in docs)
        ranked.append((len(differences), latest, docs, differences))
    if not ranked:
        return None, []
    ranked.sort(key=lambda item: item[1], reverse=True)
    ranked.sort(key=lambda item: item[0])
    return ranked[0][2], ranked[0][3]


def canary_gate(canary, fleet_docs, max_regression_pct, host, baseline_dir="the baseline folder",
                baseline_software=None):
    """The gate's verdict on the canary's run: a dict with passed, judged, msg, verdicts, baseline.

    msg says "expected X, found Y. Fix: Z" when the canary does not pass; judged is False
    when no comparison was made (no fleet baseline, or none of the canary's hardware and load).
    """
    docs, differences = closest_group(canary, fleet_docs, baseline_software)
    wanted = ", ".join("%s %s" % item for item in sorted((baseline_software or {}).items()))
    if docs is None:
        return {"passed": False, "judged": False, "verdicts": [], "baseline": None, "msg": (
            "%s: expected a fleet baseline in %s/fleet%s to judge the canary against, found none. Fix: %s"
            % (host, baseline_dir, " recorded with " + wanted if wanted else "", RECORD_FIX))}
    hosts = sorted(str(doc.get("host")) for doc in docs)
    baseline = {"key": _group_key(docs[0]), "hosts": hosts,
                "software": (docs[0].get("fingerprint") or {}).get("software") or {}}
    if differences:
        return {"passed": False, "judged": False, "verdicts": [], "baseline": baseline,
                "fingerprint_differences": differences, "msg": (
                    "%s: not judged: expected the hardware, kernel and load of a fleet baseline (only the software "
                    "may differ from it), found %s against the closest, fingerprint %s recorded by %s. Fix: measure "
                    "the canary with the fleet's benchmark settings on a host of the fleet's hardware, or %s"
                    % (host, "; ".join(differences), baseline["key"], ", ".join(hosts), RECORD_FIX))}
    result = canary_compare(canary, docs, max_regression_pct, host)
    upgrade = [item for item in fingerprint_differences(docs[0].get("fingerprint"), canary.get("fingerprint"))
               if item.startswith("software ")]
    against = "the fleet baseline of fingerprint %s (%s; %s)" % (
        baseline["key"], ", ".join(hosts), "; ".join(upgrade) if upgrade else "the same software")
    verdicts = result.get("confidence") or []
    if result["passed"] and all(verdict["change_pct"] is None for verdict in verdicts):
        return {"passed": False, "judged": False, "verdicts": verdicts, "baseline": baseline, "msg": (
            "%s: not judged: expected figures on both sides to compare with %s, found none compared (%s). Fix: "
            "measure with the fleet's settings (ktune_baseline_slo and ktune_baseline_repetitions as recorded)"
            % (host, against, result["msg"]))}
    if result["passed"]:
        msg = "%s: passed the canary gate against %s: %s" % (host, against, result["msg"])
    else:
        found = [verdict["msg"] for verdict in verdicts if verdict["regression"]] or [result["msg"]]
        msg = ("%s: failed the canary gate: expected goodput, p99 latencies and tokens/s within %s%% of %s, found %s. "
               "Fix: keep the fleet on its version and find why the new one is slower on this host (measure it "
               "with playbooks/baseline.yml --limit %s), then run the rollout again"
               % (host, "%g" % max_regression_pct, against, "; ".join(found), host))
    return {"passed": result["passed"], "judged": True, "verdicts": verdicts, "baseline": baseline,
            "software_changes": upgrade, "msg": msg}


GATE_FIX = "keep the fleet on its version; the rollout rolls the canary back"


def gate_report(gate, host):
    """The verdict as the report document audit_report.to_junit reads: one control per metric.

    A refused comparison is one control the gate could not judge (a JUnit error); a metric
    beyond the margin and the spread is a failed error control (a JUnit failure).
    """
    if not gate.get("judged"):
        controls = [{"id": "canary.fingerprint", "status": "unknown", "severity": "error",
                     "finding": gate["msg"], "fix": "see the message"}]
    else:
        controls = [{"id": "canary.%s" % verdict["metric"].replace(" ", "_"),
                     "status": "fail" if verdict["regression"] else "pass", "severity": "error",
                     "finding": "%s: %s" % (host, verdict["msg"]), "fix": GATE_FIX}
                    for verdict in gate.get("verdicts") or []]
    status = "pass" if gate.get("passed") else "fail"
    return {"hosts": {host: {"status": status, "controls": controls}},
            "summary": {"groups": {"canary gate": [host]}, "unknown_hosts": {}}}


def gate_junit(gate, host):
    return to_junit(gate_report(gate, host), title="ktune canary gate")


# What the ktransformers_service role writes once per host (its vars/main.yml): the unit templates and the launcher.
SERVICE_FILES = ("/etc/systemd/system/ktransformers@.service", "/usr/local/libexec/ktune/ktransformers-exec")
ROUTER_UNIT_TEMPLATE = "/etc/systemd/system/ktransformers-router@.service"


def rollback_targets(resolved, routers):
    """{files, units} a rollback restores and restarts, from the resolved instances and their routers.

    A sharded entry is one unit per replica (NAME-socketS, NAME-nodeN) and its router, not NAME. Each
    instance's root-only NAME.credentials file is restored with its environment file: an upgrade that
    changed the key would otherwise leave the old server asked for the new one.
    """
    present = [instance for instance in resolved if instance.get("state", "present") == "present"]
    files = list(SERVICE_FILES) + ([ROUTER_UNIT_TEMPLATE] if routers else [])
    files += [instance["env_file"] for instance in present] + [router["env_file"] for router in routers]
    files += [instance["credentials_file"] for instance in present]
    units = [instance["unit"] for instance in present] + [router["unit"] for router in routers]
    return {"files": files, "units": units}
