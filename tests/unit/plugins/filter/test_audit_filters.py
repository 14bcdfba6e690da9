"""Filters audit_controls/audit_status and the audit_report action's helpers."""

import pytest
from ansible.errors import AnsibleFilterError

import topologies
from module_runner import run_module
from ansible_collections.ktune.inference.plugins.action import audit_report as action
from ansible_collections.ktune.inference.plugins.filter.audit import audit_controls, audit_status
from ansible_collections.ktune.inference.plugins.modules import managed_state


@pytest.fixture(scope="module")
def nps4_result(tmp_path_factory):
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps4"], tmp_path_factory.mktemp("nps4"))
    empty = tree / "etc"
    result, failed = run_module(managed_state, {
        "sysfs_root": str(tree / "sys"), "procfs_root": str(tree / "proc"), "host_state": {
            "cron_file": str(empty / "cron"), "sysctl_file": str(empty / "sysctl.conf"),
            "environment_file": str(empty / "environment"), "env_dir": str(empty / "kt")}})
    assert not failed
    return result


def test_filter_grades_a_registered_result_with_role_defaults_under_host_vars(nps4_result):
    graded = dict((c["id"], c) for c in audit_controls(nps4_result, {"ktune_expected_nodes_per_socket": 2}))
    assert graded["numa.layout"]["status"] == "fail"
    assert graded["cpufreq.governor"]["finding"] == "expected governor performance, found policy0-63: powersave"
    assert graded["page_cache.cron"]["status"] == "fail"
    assert audit_status(list(graded.values())) == "fail"
    relaxed = dict((c["id"], c) for c in audit_controls(nps4_result["ansible_facts"],
                                                        {"ktune_cpu_governor": "powersave"}))
    assert relaxed["cpufreq.governor"]["status"] == "pass"
    assert relaxed["numa.layout"]["status"] == "pass"


def test_filter_refuses_something_else():
    with pytest.raises(AnsibleFilterError, match="managed_state with host_state"):
        audit_controls({"ktune_numa": {}})
    with pytest.raises(AnsibleFilterError, match="list"):
        audit_status("pass")


@pytest.mark.parametrize("result, reason", [
    (None, "no facts returned"),
    ({"unreachable": True, "msg": "ssh: refused"}, "unreachable: ssh: refused"),
    ({"failed": True, "msg": "boom"}, "fact gathering failed: boom"),
    ({"skipped": True, "skip_reason": "Conditional result was False"}, "skipped: Conditional result was False"),
    ({"ansible_facts": {}}, "no ktune_host_state"),
])
def test_results_that_cannot_be_graded_say_why(result, reason):
    assert reason in action.not_graded_reason(result)


def test_graded_result_and_primary_group(nps4_result):
    assert action.not_graded_reason(nps4_result) is None
    assert action.primary_group({"group_names": ["zeta", "production"]}) == "production"
    assert action.primary_group({"group_names": []}) == "ungrouped"


def test_report_files_are_written_with_baselines(tmp_path):
    baselines = tmp_path / "baselines"
    (baselines / "a").mkdir(parents=True)
    (baselines / "a" / "curve.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><circle r="3"/></svg>')
    found = action.read_baselines(str(baselines), ["a", "b"])
    assert list(found) == ["a"]
    report = {"hosts": {"a": {"status": "unknown", "controls": []}},
              "summary": {"generated_at": "t", "hosts": 1, "pass": 0, "fail": 0, "unknown": 1, "failed_hosts": [],
                          "unknown_hosts": {"a": "x"}, "error_failures": 0, "warning_failures": 0, "controls": {},
                          "groups": {"g": ["a"]}}}
    files = action.write_report(str(tmp_path / "out"), report, found)
    assert sorted(files) == ["html", "json", "xml"]
    assert '<circle r="3"/>' in (tmp_path / "out" / "audit.html").read_text()


def test_a_sweeps_chart_is_shown_next_to_the_curve_through_the_allow_list(tmp_path):
    from ansible_collections.ktune.inference.plugins.module_utils.svg_chart import sweep_chart
    baselines = tmp_path / "baselines"
    (baselines / "a").mkdir(parents=True)
    (baselines / "a" / "curve.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><circle r="3"/></svg>')
    (baselines / "a" / "slo-curve.svg").write_text(sweep_chart(
        [{"request_rate": 1.0, "slo_p99": {"ttft_s": 0.5}}, {"request_rate": 2.0, "slo_p99": {"ttft_s": 3.0}}],
        {"ttft_s": 2.0}, knee=1.0, title="a: p99 <script>x</script>"))
    found = action.read_baselines(str(baselines), ["a"])
    assert [caption for caption, _text in found["a"]] == ["performance baseline", "p99 against the request rate"]
    report = {"hosts": {"a": {"status": "unknown", "controls": []}},
              "summary": {"generated_at": "t", "hosts": 1, "pass": 0, "fail": 0, "unknown": 1, "failed_hosts": [],
                          "unknown_hosts": {"a": "x"}, "error_failures": 0, "warning_failures": 0, "controls": {},
                          "groups": {"g": ["a"]}}}
    action.write_report(str(tmp_path / "out"), report, found)
    page = (tmp_path / "out" / "audit.html").read_text()
    assert '<circle r="3"/>' in page and '<g class="knee" data-rate="1">' in page
    assert "p99 against the request rate</div>" in page and "<script>" not in page
