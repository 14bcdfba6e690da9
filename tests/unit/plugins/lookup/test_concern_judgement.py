"""concern_judgement: a tuning role's share of the registry's judgements, the audit's own words."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import role_judgement
from ansible_collections.ktune.inference.plugins.module_utils import audit_controls as ac
from ansible_collections.ktune.inference.plugins.module_utils import concern_registry as registry

FILE = "/etc/example.conf"


class Judges(object):
    """A judgement following concern_registry.JUDGE_CONTRACT: ktune_example must be the file's line."""

    @staticmethod
    def example(settings, reading):
        wanted = settings.get("ktune_example")
        if wanted not in (None, "on", "off"):
            return {"problems": ["ktune_example = %r is not on or off" % (wanted,)]}
        if reading is None:
            return {"problems": []}
        if wanted is None:
            return {"problems": [], "skip": "ktune_example unset"}
        if reading["numa"].get("broken"):
            return {"problems": [], "host": ["expected a kernel with it, found none. Fix: unset ktune_example"]}
        lines = reading["files"][FILE]
        return {"problems": [], "drift": [] if lines == [wanted] else ["%s: %r, expected %s" % (FILE, lines, wanted)],
                "ok": "%s as configured" % wanted}


ENTRY = registry._control("example.control", registry.WARNING, ["ktune_example"], tag="example_role", tunable=True,
                          judge="example", reads=[FILE])


def state(lines):
    return {"files": {FILE: {"exists": lines is not None, "matching_lines": lines or []}}}


def test_the_request_reads_the_entries_files():
    assert role_judgement([ENTRY], {"ktune_example": "on"}, "/sys", judges=Judges)["request"] == {
        "file_line_patterns": {FILE: r"\S"}}


def test_a_wrong_setting_is_a_problem_before_any_read():
    found = role_judgement([ENTRY], {"ktune_example": "maybe"}, "/sys", state(["on"]), {}, judges=Judges)
    assert found["problems"] == ["ktune_example = 'maybe' is not on or off"]
    assert found["drift"] == [] and found["host_problems"] == []


def test_drift_host_problems_and_an_unset_setting():
    assert role_judgement([ENTRY], {"ktune_example": "on"}, "/sys", state(None), {}, judges=Judges)["drift"] == [
        "/etc/example.conf: None, expected on"]
    assert role_judgement([ENTRY], {"ktune_example": "on"}, "/sys", state(["on"]), {}, judges=Judges)["drift"] == []
    broken = role_judgement([ENTRY], {"ktune_example": "on"}, "/sys", state(None), {"broken": True}, judges=Judges)
    assert broken["host_problems"] == ["expected a kernel with it, found none. Fix: unset ktune_example"]
    assert broken["drift"] == []
    unset = role_judgement([ENTRY], {"ktune_example": None}, "/sys", state(None), {}, judges=Judges)
    assert (unset["drift"], unset["host_problems"], unset["problems"]) == ([], [], [])


def test_the_audit_grades_the_same_judgement_with_the_same_words(monkeypatch):
    monkeypatch.setattr(ac.concerns, "example", Judges.example, raising=False)
    monkeypatch.setitem(registry.BY_ID, ENTRY.id, ENTRY)
    reading = {"sysfs_root": "/sys", "numa": {}, "files": {FILE: ["off"]}}
    graded = ac.registered_control(ENTRY, reading, {"ktune_example": "on"})
    tuned = role_judgement([ENTRY], {"ktune_example": "on"}, "/sys", state(["off"]), {}, judges=Judges)
    assert (graded["status"], graded["severity"], graded["finding"]) == ("fail", "warning", tuned["drift"][0])
    assert graded["fix"].endswith("--tags example_role")
    reading["files"][FILE] = ["on"]
    assert ac.registered_control(ENTRY, reading, {"ktune_example": "on"})["status"] == "pass"
    assert ac.registered_control(ENTRY, reading, {"ktune_example": None})["status"] == "skip"
    assert ac.registered_control(ENTRY, reading, {"ktune_example": "x"})["finding"] == "ktune_example = 'x' is not on or off"
    host = ac.registered_control(ENTRY, dict(reading, numa={"broken": True}), {"ktune_example": "on"})
    expected = ("fail", "expected a kernel with it, found none", "unset ktune_example")
    assert (host["status"], host["finding"], host["fix"]) == expected
    unreadable = ac.registered_control(ENTRY, dict(reading, files={"error": "/etc: denied"}), {"ktune_example": "on"})
    assert unreadable["status"] == "fail" and "cannot read the files the control reads: /etc: denied" in unreadable["finding"]
