"""service_health: a crash loop ends the health wait within one poll, a slow load does not."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ktune.inference.plugins.module_utils.service_health import not_coming_up, wait_for_health

UNIT = "ktransformers@r1.service"
URL = "http://127.0.0.1:10002/v1/models"


def state(active="activating", sub="start", restarts=0, result="success"):
    return {"Id": UNIT, "ActiveState": active, "SubState": sub, "NRestarts": str(restarts), "Result": result,
            "ExecMainStatus": "1" if result == "exit-code" else "0"}


class Host:
    """A fake host: a timeline of unit states and HTTP answers, one per poll, and a clock."""

    def __init__(self, states, answers):
        self.states, self.answers, self.now, self.polls = list(states), list(answers), 0.0, 0

    def show_unit(self, unit):
        assert unit == UNIT
        return self.states[min(self.polls, len(self.states) - 1)]

    def probe(self, url):
        answer = self.answers[min(self.polls, len(self.answers) - 1)]
        self.polls += 1
        return answer

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def wait(host, timeout_s=1800, interval_s=2):
    return wait_for_health(UNIT, URL, timeout_s, interval_s, host.show_unit, host.probe, host.clock, host.sleep)


REFUSED = (None, "[Errno 111] Connection refused")


def test_a_crash_loop_ends_the_wait_at_the_first_restart_not_after_the_timeout():
    host = Host([state(), state("activating", "auto-restart", 1, "exit-code")], [REFUSED])
    result = wait(host)
    assert result["ok"] is False and result["crashed"] is True
    assert result["polls"] == 2 and result["elapsed_s"] <= 2
    assert "is crash-looping" in result["msg"] and "NRestarts=1" in result["msg"] and UNIT in result["msg"]


def test_restarts_counted_between_polls_are_a_crash_loop_even_when_caught_running():
    host = Host([state("activating", "start", 3), state("active", "running", 5)], [REFUSED])
    result = wait(host)
    assert result["crashed"] is True and "restarted it 2 time(s)" in result["msg"]


def test_a_failed_unit_ends_the_wait():
    host = Host([state("failed", "failed", 0, "exit-code")], [REFUSED])
    result = wait(host)
    assert result["crashed"] is True and result["polls"] == 1
    assert result["msg"].startswith(UNIT + " failed (ActiveState=failed")


def test_a_slow_model_load_is_waited_for():
    loading = [REFUSED] * 30 + [(503, "HTTP 503 Service Unavailable")] * 10 + [(200, "HTTP 200")]
    host = Host([state("active", "running")], loading)
    result = wait(host)
    assert result["ok"] is True and result["status"] == 200 and result["polls"] == 41


def test_a_service_that_stays_up_but_never_answers_times_out():
    host = Host([state("active", "running")], [REFUSED])
    result = wait(host, timeout_s=20, interval_s=2)
    assert result["ok"] is False and result["crashed"] is False
    assert result["msg"].startswith("no HTTP 200 from %s within 20 s" % URL)
    assert 18 <= host.now <= 20


def test_judgement_of_single_states():
    assert not_coming_up(UNIT, state(), state("active", "running")) is None
    assert not_coming_up(UNIT, state(), state("activating", "start")) is None
    assert "stopped" in not_coming_up(UNIT, state(), state("inactive", "dead"))
