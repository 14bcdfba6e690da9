"""The check-mode run on fresh containers changed no file (compared by the side_effect step)."""

from playbook_run import recap


def test_check_run_changed_nothing(host):
    assert host.file("/var/lib/ktune-test/check-mode-result").content_string == "unchanged\n"


def test_second_check_run_predicts_no_change(tune):
    result = tune("--check")
    assert result.returncode == 0, result.output[-3000:]
    assert set(row["changed"] for row in recap(result.output).values()) == {"0"}
