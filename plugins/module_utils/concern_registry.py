# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every audit control, defined once: its id, severity, settings, tuning role, diagnosis and alert.

The audit (audit_controls.py: CONTROL_IDS, SETTING_NAMES, each control's severity), the
diagnosis (diagnosis.py: which failed controls are likely causes, at which severity) and the
tests (which controls tune changes, which alert watches which control) all read this table;
none of them keeps a list of its own. tests/unit/plugins/module_utils/test_concern_registry.py
fails when a control here has no evaluation, no diagnosis or no alert that it names.

Plain data in module_utils, not plugin_utils, because audit_controls.py and diagnosis.py
(module_utils) read it and module_utils may only import module_utils; nothing here runs on a
managed host.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.ktune.inference.plugins.module_utils.concerns import NUMA_SYSCTL_VARIABLES, THP_PERSIST_FILE

ERROR = "error"
WARNING = "warning"

# The diagnosis of a failed control, one of:
#   FROM_AUDIT: diagnosis.drift_findings names the failed control as a likely cause (``cause``),
#     with the audit's finding as evidence and its fix as the fix;
#   the name of a finding function in diagnosis.py that judges the concern from what the
#     diagnose role collected (the governor from the thermal fact, the layout from the
#     nps_layout_problems filter);
#   None: no diagnosis finding (said here, not forgotten).
FROM_AUDIT = "audit"

Control = namedtuple("Control", [
    "id",           # the audit control id (audit.json, audit.xml, the HTML matrix, rollout's gate): never renamed
    "severity",     # ERROR fails the host (audit exit 2, rollout's gate), WARNING is shown; audit and diagnosis both
    "relaxed_by",   # a boolean setting that makes an ERROR control a WARNING when false; None
    "settings",     # the variables its judgement reads (the audit takes them from the inventory over role defaults)
    "tag",          # the tune.yml tag whose role fixes it; None when tune cannot (BIOS, model size)
    "tunable",      # tune changes the host when it fails, after which the audit passes it
    "diagnosis",    # FROM_AUDIT, a diagnosis.py finding function's name, or None
    "cause",        # the likely cause diagnosis names for FROM_AUDIT; None otherwise
    "alert",        # the alert in roles/monitoring/files/ktune-alerts.rules.yml watching it between audits; None
    "expectation",  # its key in concerns.alert_expectations (the collector's ktune_*_expected); None
    "judge",        # the name of its judgement in concerns.py, which the audit and tune's roles both call
                    # (JUDGE_CONTRACT); None for a control audit_controls.py grades itself
    "reads",        # the files whose non-blank lines that judgement needs (the audit's and tune's one read)
])

# A registered judgement: concerns.<judge>(settings, reading) -> {"problems": [...], "skip": str or None,
# "host": [...], "drift": [...], "ok": str}. reading: {"sysfs_root", "numa": the NUMA layout (ktune_numa),
# "files": {path: [non-blank lines] or None when missing}} for the entry's reads, or None to judge the
# settings alone (then only "problems" counts). problems: the settings, naming the variable; skip: why
# the control is not graded (a setting left unset); host: what stops the change ("... Fix: ..."); drift:
# what tune would change; ok: the passing finding. audit_controls.registered_control grades it, the
# concern_judgement lookup gives a tuning role its share, so both say the same in the same words.
JUDGE_CONTRACT = ("problems", "skip", "host", "drift", "ok")

_LAYOUT = ("ktune_expected_nodes_per_socket", "ktune_expected_sockets")
_USE_NUMA = ("ktune_use_numa", "ktune_model_size_gb", "ktune_allow_memory_only_nodes")
_DROP_CACHES = (
    "ktune_drop_caches_state", "ktune_drop_caches_level", "ktune_drop_caches_minute", "ktune_drop_caches_hour",
    "ktune_drop_caches_day", "ktune_drop_caches_month", "ktune_drop_caches_weekday", "ktune_drop_caches_skip_unit",
    "ktune_drop_caches_skip_state", "ktune_procfs_root", "ktune_cron_service",
)
_SERVICES = ("ktune_service_instances",)


def _control(control_id, severity, settings, tag=None, tunable=False, diagnosis=None, cause=None, alert=None,
             expectation=None, relaxed_by=None, judge=None, reads=()):
    return Control(control_id, severity, relaxed_by, tuple(settings), tag, tunable, diagnosis, cause, alert, expectation,
                   judge, tuple(reads))


# In the order of audit.json, audit.xml and the HTML matrix.
CONTROLS = (
    _control("numa.layout", ERROR, _LAYOUT, diagnosis="layout_findings"),
    _control("numa.memory_balance", ERROR, ["ktune_require_balanced_memory"], diagnosis="layout_findings",
             relaxed_by="ktune_require_balanced_memory"),
    _control("numa.memory_only_nodes", ERROR, _USE_NUMA, diagnosis="layout_findings"),
    _control("numa.balancing", WARNING, NUMA_SYSCTL_VARIABLES, tag="numa_env", tunable=True, diagnosis=FROM_AUDIT,
             cause="NUMA kernel settings differ from the inventory", alert="KtuneNumaSysctlNotAsConfigured",
             expectation="sysctls"),
    # The live mode and its persistence are two verdicts: a host can run the right mode until its next boot.
    _control("memory.transparent_hugepage", WARNING, ["ktune_transparent_hugepage"], tag="numa_env", tunable=True,
             diagnosis=FROM_AUDIT, cause="Transparent hugepages differ from the inventory",
             alert="KtuneTransparentHugepageNotAsConfigured", expectation="transparent_hugepage",
             judge="transparent_hugepage_live"),
    _control("memory.transparent_hugepage_persisted", WARNING, ["ktune_transparent_hugepage"], tag="numa_env",
             tunable=True, diagnosis=FROM_AUDIT, cause="Transparent hugepages are not kept across reboots",
             judge="transparent_hugepage_boot", reads=[THP_PERSIST_FILE]),
    _control("cpufreq.governor", ERROR, ["ktune_cpu_governor"], tag="cpu_governor", tunable=True,
             diagnosis="governor_findings", alert="KtuneCpuGovernorNotPerformance", expectation="governor"),
    _control("cpufreq.epp", WARNING, ["ktune_cpu_governor", "ktune_cpu_epp"], tag="cpu_governor", tunable=True,
             diagnosis=FROM_AUDIT, cause="EPP is not what the inventory asks for", alert="KtuneCpuEppNotAsConfigured",
             expectation="epp"),
    _control("page_cache.cron", ERROR, _DROP_CACHES, tag="page_cache", tunable=True, diagnosis=FROM_AUDIT,
             cause="Page-cache job missing or not running"),
    _control("use_numa.policy", ERROR, _USE_NUMA, tag="numa_env", tunable=True, diagnosis=FROM_AUDIT,
             cause="USE_NUMA differs from the host's NUMA decision"),
    # The model's size against RAM: the fix is the BIOS or the inventory, not a tune run.
    _control("use_numa.memory", ERROR, _USE_NUMA),
    # Services are started by tune, not tuned: their failures are outages, which the journal
    # finding and KtuneInstanceDown cover, not drift.
    _control("service.active", ERROR, _SERVICES, tag="service", alert="KtuneInstanceDown"),
    _control("service.healthy", ERROR, _SERVICES, tag="service", alert="KtuneInstanceDown"),
    _control("service.listen", ERROR, _SERVICES, tag="service"),
    # A sharded entry's router (smg): up, every replica registered and healthy. Read on the host
    # (its GET /workers), so diagnose, which reads no services, has no finding of its own for it.
    _control("service.router", ERROR, _SERVICES, tag="service"),
    _control("service.numa_placement", WARNING, _SERVICES + _USE_NUMA, tag="service"),
    # kt-kernel's converted weights are cut for one count of thread pools; after a BIOS layout
    # change they no longer match the pools the instance starts. The fix is a conversion, not tune.
    _control("service.weights_layout", ERROR, _SERVICES),
    # Read through the host's BMC from the controller, only where ktune_bmc_address is set (else
    # skipped). A BIOS change waits for a reboot that bios.yml or the operator makes; a BMC the
    # audit could not read is graded unknown, never pass. Neither is tune's to fix.
    _control("bios.pending", WARNING, _LAYOUT),
    _control("bios.readable", WARNING, ()),
)

BY_ID = dict((entry.id, entry) for entry in CONTROLS)


def _unique(names):
    seen = []
    for name in names:
        if name not in seen:
            seen.append(name)
    return tuple(seen)


# The label Prometheus alerts carry for Alertmanager to route on, per audit severity: an alert
# watching a control between audits pages as loudly as the audit fails the host.
ALERT_SEVERITIES = {ERROR: "critical", WARNING: "warning"}


def alert_severity(alert):
    """The severity label of an alert the registry names: critical when any control it watches
    is an error control (the audit fails the host for it), warning otherwise; None for an alert
    no control names (thermal and collector alerts keep their own)."""
    severities = set(entry.severity for entry in CONTROLS if entry.alert == alert)
    if not severities:
        return None
    return ALERT_SEVERITIES[ERROR if ERROR in severities else WARNING]


CONTROL_IDS = tuple(entry.id for entry in CONTROLS)
SETTING_NAMES = _unique(name for entry in CONTROLS for name in entry.settings)
TUNABLE = tuple(entry.id for entry in CONTROLS if entry.tunable)
DRIFT_CONTROLS = tuple((entry.id, entry.cause) for entry in CONTROLS if entry.diagnosis == FROM_AUDIT)
# The files the registered judgements read (the audit's host_state "files", tune's file_line_patterns).
READ_FILES = _unique(path for entry in CONTROLS for path in entry.reads)


def judged_by_role(role):
    """The registered judgements a tuning role applies (its tag), in the registry's order."""
    return tuple(entry for entry in CONTROLS if entry.judge and entry.tag == role)
