"""Issue 21, item 5: hostile page_cache settings thrown at the role's checks and, where they pass,
at the cron file it renders (roles/page_cache/templates/ktune-drop-caches.cron.j2); Debian's own
cron daemon then reads every rendered file and runs what it found.

Debian's cron has no offline check (it is built without -x debugging), so the test runs the
daemon itself, as root, inside a private mount namespace (unshare -m): a scratch /etc/cron.d,
a scratch spool, a scratch /run for its pid file, and /bin/sh replaced by a recorder, so every
job cron starts records the command text cron passes to the shell and the standard input cron
feeds it (cron turns an unescaped % into a newline of that input). libfaketime starts the clock
two seconds before a minute, four times faster, so one minute's jobs start within a second
and the next minute is fifteen seconds away.

Each rendered file gets a sentinel job after ktune's line: Debian's cron ignores a whole file
with a syntax error, so a missing sentinel means ktune's line broke the file. Every other job
that ran must be one of the rendered command lines, read back by the real shell (dash) as
exactly the argv the role meant; a file whose schedule is all '*' must have run it.

Needs (Debian packages): cron, libfaketime; KTUNE_TEST_CRON and KTUNE_TEST_LIBFAKETIME point at
unpacked copies (dpkg-deb -x) where they are not installed.
"""

import collections
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from hypothesis import HealthCheck, Phase, event, example, given, settings, strategies as st

from hostile_text import hostile_text

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests/unit/roles"))
from role_vars import evaluate  # noqa: E402

from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import role_options, spec_problems  # noqa: E402
from ansible_collections.ktune.inference.plugins.plugin_utils.role_settings import settings_problems  # noqa: E402
from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import page_cache_sources  # noqa: E402

CRON = os.environ.get("KTUNE_TEST_CRON", "/usr/sbin/cron")
LIBFAKETIME = os.environ.get("KTUNE_TEST_LIBFAKETIME", "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
TEMPLATE = ROOT / "roles/page_cache/templates/ktune-drop-caches.cron.j2"
FIELDS = ("minute", "hour", "day", "month", "weekday")
# 2026-01-01 00:00 is minute 0, hour 0, day 1, January, a Thursday (4).
FAKE_START = "@2025-12-31 23:59:58 x4"
SETTLE_S = 1.5  # no new job record for this long: the minute's jobs have all started
RECORDER = """#!%s
import json, os, sys
path = os.path.join(%r, "%%d" %% os.getpid())
with open(path + ".tmp", "w") as out:
    json.dump({"command": sys.argv[-1], "stdin": sys.stdin.read()}, out)
os.rename(path + ".tmp", path + ".json")
"""
# Each example runs two ansible-playbook evaluations and one cron minute over a batch of cases;
# no shrinking (minutes per step): a failure prints the whole batch.
EXAMPLES = settings(max_examples=2, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def require_cron():
    for path in (CRON, LIBFAKETIME, shutil.which("unshare"), shutil.which("dash")):
        assert path and os.path.exists(path), "missing %s: apt-get install cron libfaketime" % path
    assert os.geteuid() == 0, "cron runs its jobs through setgid/initgroups/setuid: run this test as root"


def read_runs(folder):
    return [json.loads((folder / name).read_text()) for name in sorted(os.listdir(str(folder)))
            if name.endswith(".json")]


def cron_runs(files, tmp_path, ready):
    """[{command, stdin}] of every job Debian's cron ran in one minute with FILES as /etc/cron.d,
    once READY(runs so far) holds and no further job started for SETTLE_S."""
    require_cron()
    scratch = tmp_path / "cron"
    shutil.rmtree(str(scratch), ignore_errors=True)
    for folder in ("cron.d", "run", "out"):
        (scratch / folder).mkdir(parents=True)
    for name, text in files.items():
        (scratch / "cron.d" / name).write_text(text)
        (scratch / "cron.d" / name).chmod(0o644)
    recorder = scratch / "sh"
    recorder.write_text(RECORDER % (sys.executable, str(scratch / "out")))
    recorder.chmod(0o755)
    script = ('mount --bind "$1/cron.d" /etc/cron.d && mount -t tmpfs tmpfs /var/spool'
              ' && mkdir -p /var/spool/cron/crontabs && mount --bind "$1/run" /run && mount --bind "$1/sh" /bin/sh'
              ' && exec env LD_PRELOAD="$2" FAKETIME="$3" FAKETIME_DONT_RESET=1 "$4" -f')
    # -m alone: the daemon must really be root to start a job (a user namespace refuses initgroups).
    daemon = subprocess.Popen(["unshare", "-m", "/bin/dash", "-c", script, "dash", str(scratch), LIBFAKETIME,
                               FAKE_START, CRON], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = scratch / "out"
    try:
        deadline = time.monotonic() + 12  # before the next fake minute
        while not ready(read_runs(out)) and time.monotonic() < deadline:
            assert daemon.poll() is None, daemon.stdout.read()
            time.sleep(0.1)
        count, still = -1, time.monotonic()
        while time.monotonic() - still < SETTLE_S and time.monotonic() < deadline:
            if len(os.listdir(str(out))) != count:
                count, still = len(os.listdir(str(out))), time.monotonic()
            time.sleep(0.1)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=10)
    # A recorder writes its file in one go, named .json only when complete.
    return read_runs(out)


def shell_argv(command, tmp_path):
    """The argv the real shell (dash) gives the drop script for COMMAND, the script replaced by a recorder."""
    folder = tmp_path / "sbin"
    shutil.rmtree(str(folder), ignore_errors=True)
    folder.mkdir()
    (folder / "ktune-drop-caches").write_text("#!/bin/dash\nprintf '%s\\0' \"$0\" \"$@\"\n")
    (folder / "ktune-drop-caches").chmod(0o755)
    done = subprocess.run(["unshare", "-m", "/bin/dash", "-c", 'mount --bind "$1" /usr/local/sbin && exec dash -c "$2"',
                           "dash", str(folder), command], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]


def sentinel(index):
    return "/usr/local/sbin/ktune-sentinel-%d" % index


def judge_and_render(cases):
    """Per case: the role's problems and, for accepted cases, the rendered file and the argv it means."""
    options = role_options("page_cache")
    defaults = dict((name, option.get("default")) for name, option in options.items())
    # What the judge action refuses: the argument specification's complaints, then the role's own.
    judged = [{"problems": spec_problems(options, case) + settings_problems("page_cache", dict(defaults, **case))}
              for case in cases]
    accepted = [case for case, result in zip(cases, judged) if not result["problems"]]
    if not accepted:
        return judged, []
    # The cron line's argv as the judge gives it to the template (role_judgements.page_cache_sources).
    with_argv = [dict(case, page_cache_cron_argv=page_cache_sources(dict(defaults, **case))["variables"]["page_cache_cron_argv"])
                 for case in accepted]
    rendered = evaluate("page_cache", {"text": "lookup('ansible.builtin.template', %r)" % str(TEMPLATE),
                                       "argv": "page_cache_cron_argv"}, with_argv)
    return judged, list(zip(accepted, rendered))


def assert_cron_runs_each_line_as_one_job(rendered, tmp_path):
    files = {"ktune-drop-caches-%d" % index: result["text"] + "* * * * * root %s\n" % sentinel(index)
             for index, (_case, result) in enumerate(rendered)}
    sentinels = set(sentinel(index) for index in range(len(rendered)))
    runs = cron_runs(files, tmp_path, lambda runs: sentinels <= set(run["command"] for run in runs))
    commands = collections.Counter(run["command"] for run in runs)
    for index in range(len(rendered)):
        assert commands.pop(sentinel(index), 0) == 1, "cron ignored file %d (a syntax error):\n%s" % (
            index, rendered[index][1]["text"])
    assert all(run["stdin"] == "" for run in runs), runs  # no % split a command
    meant = collections.Counter(tuple(result["argv"]) for _case, result in rendered)
    every_minute = collections.Counter(tuple(result["argv"]) for case, result in rendered
                                       if all(str(case.get("ktune_drop_caches_" + field, "*")) == "*"
                                              for field in FIELDS))
    ran = collections.Counter()
    for command, count in commands.items():
        ran[tuple(shell_argv(command, tmp_path))] += count
    assert not ran - meant, "cron ran jobs ktune did not mean: %s" % (ran - meant)
    assert not every_minute - ran, "jobs scheduled every minute did not run: %s" % (every_minute - ran)


def field():
    return st.one_of(st.just("*"), st.just("*"), st.sampled_from(["0", "1", "0-59/7", "jan", "thu", "*/2", "4,5"]),
                     inventory_text())


def inventory_text():
    """Hostile text an inventory can carry: YAML and JSON have no lone surrogates."""
    return hostile_text(min_size=1).map(lambda text: "".join(char for char in text
                                                             if not 0xD800 <= ord(char) <= 0xDFFF) or "x")


def word():
    return st.one_of(inventory_text(), st.text("abcxyz019._-:@\\%/ ", min_size=1, max_size=12))


CASE = st.fixed_dictionaries({}, optional={
    "ktune_drop_caches_minute": field(), "ktune_drop_caches_hour": field(), "ktune_drop_caches_day": field(),
    "ktune_drop_caches_month": field(), "ktune_drop_caches_weekday": field(),
    "ktune_drop_caches_level": st.one_of(st.sampled_from([1, 2, 3, "3"]), word()),
    "ktune_drop_caches_skip_unit": st.one_of(st.just("ktransformers@r1.service"), word()),
    "ktune_drop_caches_skip_state": st.one_of(st.just("activating"), word()),
    "ktune_procfs_root": st.one_of(st.just("/proc"), word().map(lambda text: "/" + text)),
}).map(lambda case: dict(case, ktune_drop_caches_minute=case.get("ktune_drop_caches_minute", "*")))


def test_cron_and_the_shell_are_the_judges(tmp_path):
    """A line split by a newline runs a second job; a % feeds the rest to the job's input; a
    syntax error makes cron ignore the whole file: the checks above see each."""
    files = {"split": "* * * * * root /usr/local/sbin/ktune-drop-caches --level 3\n* * * * * root /bin/id\n",
             "percent": "* * * * * root /usr/local/sbin/ktune-drop-caches --level 3%x\n",
             "broken": "* * * * * root /usr/local/sbin/ktune-drop-caches\n61 * * * * root %s\n" % sentinel(9)}
    runs = cron_runs(files, tmp_path, lambda runs: len(runs) >= 3)
    assert sorted((run["command"], run["stdin"]) for run in runs) == [
        ("/bin/id", ""), ("/usr/local/sbin/ktune-drop-caches --level 3", ""),
        ("/usr/local/sbin/ktune-drop-caches --level 3", "x\n")]
    assert shell_argv("/usr/local/sbin/ktune-drop-caches --level 3 '--x y'", tmp_path) == [
        "/usr/local/sbin/ktune-drop-caches", "--level", "3", "--x y"]


@EXAMPLES
@given(cases=st.lists(CASE, min_size=16, max_size=16))
@example(cases=[{"ktune_drop_caches_minute": "*", "ktune_drop_caches_skip_unit": "ktransformers@r1.service"},
                {"ktune_drop_caches_minute": "*\n* * * * * root /bin/id"},
                {"ktune_drop_caches_minute": "*", "ktune_drop_caches_skip_unit": "a.service\n* * * * * root /bin/id"},
                {"ktune_drop_caches_minute": "*", "ktune_procfs_root": "/proc%x"},
                {"ktune_drop_caches_minute": "0", "ktune_drop_caches_weekday": "thu"},
                {"ktune_drop_caches_minute": "*", "ktune_drop_caches_skip_unit": "x\\x2d%h.service"}])
def test_each_rendered_cron_line_is_one_job_running_the_meant_argv(cases, tmp_path):
    judged, rendered = judge_and_render(cases)
    for result in judged:
        event("refused" if result["problems"] else "accepted: run by cron")
    if rendered:
        assert_cron_runs_each_line_as_one_job(rendered, tmp_path)


def test_ordinary_settings_are_accepted_and_run(tmp_path):
    """The property above is not vacuous: a skip unit with an escape and every-minute jobs pass and run."""
    cases = [{"ktune_drop_caches_minute": "*"},
             {"ktune_drop_caches_minute": "*", "ktune_drop_caches_level": 1,
              "ktune_drop_caches_skip_unit": "ktransformers@r1.service", "ktune_drop_caches_skip_state": "active"}]
    judged, rendered = judge_and_render(cases)
    assert [result["problems"] for result in judged] == [[], []]
    assert_cron_runs_each_line_as_one_job(rendered, tmp_path)
    assert rendered[1][1]["argv"][-4:] == ["--skip-unit", "ktransformers@r1.service", "--skip-state", "active"]
