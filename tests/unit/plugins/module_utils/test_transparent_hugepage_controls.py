"""memory.transparent_hugepage and memory.transparent_hugepage_persisted: the live mode read under
sysfs_root and its persistence are two verdicts (issue 27), graded from the concern's one judgement."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.ktune.inference.plugins.module_utils import audit_controls as ac
from ansible_collections.ktune.inference.plugins.module_utils import concern_registry as registry
from ansible_collections.ktune.inference.plugins.module_utils import concerns
from ansible_collections.ktune.inference.plugins.module_utils.host_state import gather_host_state, host_state_options
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts
from ansible_collections.ktune.inference.plugins.module_utils.sysfs import HostFileError

import topologies

LIVE, BOOT = "memory.transparent_hugepage", "memory.transparent_hugepage_persisted"
ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"


def reading(mode="madvise", lines="madvise"):
    files = {concerns.THP_PERSIST_FILE: concerns.transparent_hugepage_persist_lines(lines, ENABLED)
             if lines in concerns.THP_MODES else lines}
    return {"sysfs_root": "/sys", "numa": {"transparent_hugepage": mode}, "files": files}


def grade(control_id, settings, host):
    return ac.registered_control(registry.BY_ID[control_id], host, settings)


def test_both_are_registered_warnings_that_tune_fixes_and_only_the_live_mode_is_alerted():
    live, boot = registry.BY_ID[LIVE], registry.BY_ID[BOOT]
    assert (live.severity, boot.severity) == (registry.WARNING, registry.WARNING)
    assert live.tag == boot.tag == "numa_env" and live.tunable and boot.tunable
    assert (live.alert, boot.alert) == ("KtuneTransparentHugepageNotAsConfigured", None)
    assert live.expectation == "transparent_hugepage"
    assert boot.reads == (concerns.THP_PERSIST_FILE,)


def test_the_live_mode_and_its_persistence_are_separate_verdicts():
    settings = {"ktune_transparent_hugepage": "madvise"}
    right_now_not_at_boot = reading("madvise", None)
    assert grade(LIVE, settings, right_now_not_at_boot)["status"] == "pass"
    boot = grade(BOOT, settings, right_now_not_at_boot)
    assert (boot["status"], boot["finding"]) == ("fail", "transparent hugepages not kept at boot, expected madvise (%s)"
                                                 % concerns.THP_PERSIST_FILE)
    kept_but_not_now = reading("always", "madvise")
    live = grade(LIVE, settings, kept_but_not_now)
    assert (live["status"], live["severity"]) == ("fail", "warning")
    assert live["finding"] == "transparent hugepages always live, expected madvise (%s)" % ENABLED
    assert live["fix"].endswith("--tags numa_env")
    assert grade(BOOT, settings, kept_but_not_now)["status"] == "pass"


def test_the_live_mode_is_the_one_read_under_sysfs_root():
    host = dict(reading("never", "never"), sysfs_root="/srv/image/sys")
    graded = grade(LIVE, {"ktune_transparent_hugepage": "never"}, host)
    assert graded["finding"] == "transparent hugepages never live, as configured (/srv/image/sys/%s)" % (
        "kernel/mm/transparent_hugepage/enabled")


def test_another_mode_kept_at_boot_is_named():
    boot = grade(BOOT, {"ktune_transparent_hugepage": "never"}, reading("never", "always"))
    assert boot["finding"] == "transparent hugepages always kept at boot, expected never (%s)" % concerns.THP_PERSIST_FILE


def test_unset_leaves_the_host_alone_and_is_skipped():
    for control_id in (LIVE, BOOT):
        graded = grade(control_id, {"ktune_transparent_hugepage": None}, reading("always", None))
        assert graded["status"] == "skip"
        assert graded["finding"] == ("ktune_transparent_hugepage unset: transparent hugepages are left as the host "
                                     "has them (always)")


@pytest.mark.parametrize("value", ["yes", "Madvise", 1, True, ["madvise"]])
def test_a_wrong_value_fails_naming_the_variable(value):
    graded = grade(LIVE, {"ktune_transparent_hugepage": value}, reading())
    assert graded["status"] == "fail"
    assert graded["finding"].startswith("ktune_transparent_hugepage = %r is not a transparent hugepage mode" % (value,))
    assert concerns.transparent_hugepage_problems({"ktune_transparent_hugepage": value}) == [graded["finding"]]
    with pytest.raises(ValueError, match="ktune_transparent_hugepage"):
        concerns.alert_expectations({"ktune_transparent_hugepage": value})


def test_a_kernel_without_transparent_hugepages_fails_with_the_fix():
    graded = grade(LIVE, {"ktune_transparent_hugepage": "never"}, reading(None, None))
    assert graded["status"] == "fail"
    assert graded["finding"] == "expected transparent hugepages (never), found no %s: this kernel has none" % ENABLED
    assert graded["fix"] == "unset ktune_transparent_hugepage for this host"


def test_unreadable_reads_are_failures_not_passes():
    host = dict(reading(), files={"error": "%s: cannot read (Permission denied)" % concerns.THP_PERSIST_FILE})
    graded = grade(BOOT, {"ktune_transparent_hugepage": "madvise"}, host)
    assert graded["status"] == "fail" and "Permission denied" in graded["finding"]
    graded = grade(LIVE, {"ktune_transparent_hugepage": "madvise"}, dict(reading(), numa={"error": "no node dir"}))
    assert graded["status"] == "fail" and "cannot read the NUMA layout: no node dir" == graded["finding"]


def test_the_persisted_mode_is_the_first_w_line_for_the_file():
    assert concerns.transparent_hugepage_persisted(["# x", "w /other - - - - always", "w %s - - - - never" % ENABLED,
                                                    "w %s - - - - always" % ENABLED], ENABLED) == "never"
    assert concerns.transparent_hugepage_persisted(None, ENABLED) is None


def test_the_alert_expects_the_setting_or_nothing():
    assert concerns.alert_expectations({"ktune_transparent_hugepage": "never"})["transparent_hugepage"] == "never"
    assert concerns.alert_expectations({})["transparent_hugepage"] is None


def test_the_audits_read_of_a_fixture_tree(tmp_path):
    """The whole audit path on a fixture sysfs tree: the NUMA layout's mode, the tmpfiles.d file's lines."""
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path)
    (tree / "sys/kernel/mm/transparent_hugepage/enabled").write_text("always madvise [never]\n")
    defaults = dict((name, spec.get("default")) for name, spec in host_state_options().items())
    params = dict(defaults, sysfs_root=str(tree / "sys"), procfs_root=str(tree / "proc"),
                  extra_env_files=[], cron_units=[])
    state = gather_host_state(params, lambda units: {}, lambda url: (None, ""))
    numa = gather_numa_facts(str(tree / "sys"), str(tree / "proc"))
    graded = ac.evaluate({"ktune_numa": numa, "ktune_host_state": state}, {"ktune_transparent_hugepage": "never"})
    controls = dict((c["id"], c) for c in graded)
    assert controls[LIVE]["status"] == "pass"
    assert controls[LIVE]["finding"].endswith("(%s)" % (tree / "sys/kernel/mm/transparent_hugepage/enabled"))
    assert concerns.THP_PERSIST_FILE in state["files"] and controls[BOOT]["status"] in ("pass", "fail")
    (tree / "sys/kernel/mm/transparent_hugepage/enabled").write_text("always madvise never\n")
    with pytest.raises(HostFileError):
        gather_numa_facts(str(tree / "sys"), str(tree / "proc"))


def test_the_diagnosis_names_a_failed_control_as_a_likely_cause_with_the_audits_words():
    from ansible_collections.ktune.inference.plugins.module_utils.diagnosis import drift_findings
    live = grade(LIVE, {"ktune_transparent_hugepage": "never"}, reading("always", "never"))
    found = drift_findings({"controls": [live]})
    assert len(found) == 1
    assert found[0]["cause"] == "Transparent hugepages differ from the inventory (memory.transparent_hugepage)"
    assert found[0]["evidence"] == live["finding"] and found[0]["fix"] == live["fix"]
    assert found[0]["severity"] == "warning"
