"""Verify the page_cache role: the cron job, the cron daemon, the drop script and what it logs.

The hosts have ktune_procfs_root pointing at a fixture proc tree (/opt/ktune-fixture/proc, with
meminfo and a writable sys/vm/drop_caches file), so running the job writes there and never to the
drop_caches of the machine running the containers (privileged containers share its /proc/sys).
The role is applied with its default schedule.

Every command through the ansible backend costs seconds, so each test makes one call: a small
Python program run in the container (REMOTE below) does the setup, the run, the journal query
and the cleanup, and answers in JSON.
"""

import json
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[3] / "roles" / "page_cache"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
CRON_FILE = "/etc/cron.d/ktune-drop-caches"
SCRIPT = "/usr/local/sbin/ktune-drop-caches"
FIXTURE_PROCFS = "/opt/ktune-fixture/proc"
PROBE = "/etc/cron.d/ktune-test-drop-caches-probe"
PROBE_MARK = "MemAvailable 4242 MiB"  # the cron probe's meminfo, told apart from the other runs
DROPPED = re.compile(r"^dropped (page cache|dentries and inodes) \(level ([123])\): "
                     r"MemAvailable (\d+) MiB -> (\d+) MiB \(freed (-?\d+) MiB\)$")

# Runs in the container. argv[1] is a JSON spec:
#   facts: true               -> stat and content of the installed files, state of the cron services,
#                                ID and ID_LIKE of /etc/os-release
#   shell: "..."              -> run with $D = a scratch procfs tree (meminfo with MemAvailable 8192 MiB,
#                                sys/vm/drop_caches containing 0), then return rc, stdout, stderr,
#                                the scratch drop_caches and the journal messages tagged
#                                ktune-drop-caches logged meanwhile (waiting up to `wait` s for `want`)
#   cursor: "..."             -> those journal messages logged after the cursor
REMOTE = r'''
import json, os, re, shutil, stat, subprocess, sys, tempfile, time
spec = json.loads(sys.argv[1])

def sh(*argv):
    return subprocess.run(argv, capture_output=True, text=True)

if spec.get("facts"):
    files = {}
    for path in spec["files"]:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            files[path] = None
            continue
        with open(path, "rb") as handle:
            content = handle.read()
        files[path] = {"owner": sh("stat", "-c", "%U:%G", path).stdout.strip(), "mode": stat.S_IMODE(st.st_mode),
                       "regular": stat.S_ISREG(st.st_mode), "content": content.decode()}
    services = {name: [sh("systemctl", "is-enabled", name).stdout.strip(), sh("systemctl", "is-active", name).stdout.strip()]
                for name in spec["services"]}
    with open("/etc/os-release") as handle:
        release = dict(line.rstrip("\n").split("=", 1) for line in handle if "=" in line)
    family = (release.get("ID", "") + " " + release.get("ID_LIKE", "")).replace('"', "").split()
    print(json.dumps({"files": files, "services": services, "os": family}))
    sys.exit(0)

def journal_after(cursor, want, wait):
    # journalctl 252 returns nothing for -t with --after-cursor when the next entry has another
    # identifier: filter here.
    deadline = time.monotonic() + wait
    while True:
        entries = [json.loads(line) for line in sh("journalctl", "--no-pager", "-o", "json", "--after-cursor", cursor).stdout.splitlines()
                   if line.startswith("{")]
        journal = [e["MESSAGE"] for e in entries
                   if e.get("SYSLOG_IDENTIFIER") == "ktune-drop-caches" and isinstance(e.get("MESSAGE"), str)]
        if not want or any(re.search(want, m) for m in journal) or time.monotonic() > deadline:
            return journal
        time.sleep(0.2)

if spec.get("cursor"):
    print(json.dumps({"journal": journal_after(spec["cursor"], spec.get("want"), spec.get("wait", 10))}))
    sys.exit(0)

d = tempfile.mkdtemp(prefix="ktune-pc-test.")
try:
    os.makedirs(d + "/sys/vm")
    with open(d + "/meminfo", "w") as handle:
        handle.write("MemTotal:       16777216 kB\nMemAvailable:    8388608 kB\n")
    with open(d + "/sys/vm/drop_caches", "w") as handle:
        handle.write("0\n")
    cursor = re.search(r"^-- cursor: (\S+)", sh("journalctl", "-n", "0", "--show-cursor", "--no-pager").stdout, re.M).group(1)
    run = subprocess.run(["/bin/sh", "-c", spec["shell"]], capture_output=True, text=True,
                         env=dict(os.environ, D=d), timeout=spec.get("timeout", 60))
    journal = journal_after(cursor, spec.get("want"), spec.get("wait", 10))
    drop = d + "/sys/vm/drop_caches"
    print(json.dumps({"rc": run.returncode, "stdout": run.stdout, "stderr": run.stderr, "journal": journal,
                      "drop_caches": open(drop).read() if os.path.isfile(drop) else None}))
finally:
    shutil.rmtree(d, ignore_errors=True)
'''


def remote(host, **spec):
    result = host.run("python3 -c %s %s" % (shlex.quote(REMOTE), shlex.quote(json.dumps(spec))))
    assert result.rc == 0, result.stderr
    return json.loads(result.stdout)


def scratch_run(host, shell, want=None, **spec):
    """Runs shell with $D = a fresh scratch tree; the journal left out the cron probe's runs."""
    answer = remote(host, shell=shell, want=want, **spec)
    answer["journal"] = [m for m in answer["journal"] if PROBE_MARK not in m]
    return answer


@pytest.fixture(scope="module")
def installed(host):
    return remote(host, facts=True, files=[CRON_FILE, SCRIPT], services=["cron", "crond"])


@pytest.fixture(scope="module")
def job(installed):
    """The cron job line: {"schedule": [5 fields], "user": ..., "command": ..., "args": [...]}."""
    lines = [line for line in installed["files"][CRON_FILE]["content"].splitlines()
             if line.strip() and not line.startswith("#") and not re.match(r"^[A-Z_]+=", line)]
    assert len(lines) == 1, lines
    fields = lines[0].split(None, 6)
    return {"schedule": fields[:5], "user": fields[5], "command": fields[6], "args": shlex.split(fields[6])}


def arg(job, name):
    return job["args"][job["args"].index(name) + 1]


# ---- what the role installed -------------------------------------------------------------------

def test_cron_file_owner_mode_and_name(installed):
    cron = installed["files"][CRON_FILE]
    assert cron is not None, "%s is missing" % CRON_FILE
    assert (cron["regular"], cron["owner"], oct(cron["mode"])) == (True, "root:root", "0o644")
    assert "." not in CRON_FILE.rsplit("/", 1)[1], "Debian's cron ignores cron.d files with a dot"


def test_cron_file_content(installed, job):
    text = installed["files"][CRON_FILE]["content"]
    assert text.startswith("# managed by ktune")
    assert text.endswith("\n"), "cron ignores a last line without a newline"
    assert re.search(r"^PATH=/usr/sbin:/usr/bin:/sbin:/bin$", text, re.M)
    assert re.search(r"^SHELL=/bin/sh$", text, re.M)
    assert "%" not in job["command"], "% is a newline to cron"
    assert job["schedule"] == [str(DEFAULTS["ktune_drop_caches_%s" % field])
                               for field in ("minute", "hour", "day", "month", "weekday")]
    assert job["user"] == "root"
    assert job["args"][0] == SCRIPT
    assert arg(job, "--level") == str(DEFAULTS["ktune_drop_caches_level"])


def test_cron_daemon_installed_enabled_and_running(installed):
    name = "cron" if "debian" in installed["os"] else "crond"
    assert installed["services"][name] == ["enabled", "active"]


def test_drop_script(installed):
    script = installed["files"][SCRIPT]
    assert script is not None, "%s is missing" % SCRIPT
    assert (script["regular"], script["owner"], oct(script["mode"])) == (True, "root:root", "0o755")
    assert script["content"].startswith("#!/bin/sh\n")
    assert re.search(r"^set -eu$", script["content"], re.M)


# ---- running the job -----------------------------------------------------------------------------

def test_the_job_writes_the_level_and_logs_mem_available(host, job):
    procfs = arg(job, "--procfs-root")
    # Running the job against the real /proc would drop the CI machine's caches.
    assert procfs == FIXTURE_PROCFS, "the job uses %s, not the fixture %s" % (procfs, FIXTURE_PROCFS)
    drop_caches = procfs + "/sys/vm/drop_caches"
    # Runs the command exactly as cron would, then puts the fixture's drop_caches back.
    shell = """
        saved=$(cat {dc})
        printf '0\\n' > {dc} && {job} && cat {dc} && sed -n 's/^MemAvailable: *//p' {mi}
        rc=$?
        printf '%s\\n' "$saved" > {dc}
        exit $rc
    """.format(dc=drop_caches, job=job["command"], mi=procfs + "/meminfo")
    r = scratch_run(host, shell, want=DROPPED.pattern)
    assert r["rc"] == 0, r
    written, mem_available = r["stdout"].split("\n")[:2]
    level = str(DEFAULTS["ktune_drop_caches_level"])
    assert written == level
    dropped = [DROPPED.match(line) for line in r["journal"] if DROPPED.match(line)]
    assert len(dropped) == 1, r["journal"]
    mib = int(mem_available.split()[0]) // 1024
    assert dropped[0].group(2) == level
    assert (int(dropped[0].group(3)), int(dropped[0].group(4)), int(dropped[0].group(5))) == (mib, mib, 0)


def test_mem_available_is_read_before_and_after_the_write(host):
    # meminfo and drop_caches as FIFOs fed in order: MemAvailable 10240 MiB, then the script's
    # write, then 12288 MiB. The script can only finish if it reads, writes, reads in that order.
    shell = """
        rm "$D/meminfo" "$D/sys/vm/drop_caches" && mkfifo "$D/meminfo" "$D/sys/vm/drop_caches"
        ( printf 'MemTotal: 1 kB\\nMemAvailable:   10485760 kB\\n' > "$D/meminfo"
          read level < "$D/sys/vm/drop_caches"; echo "written $level"
          printf 'MemAvailable:   12582912 kB\\n' > "$D/meminfo" ) &
        timeout 30 {script} --level 1 --procfs-root "$D"; rc=$?
        wait; exit $rc
    """.format(script=SCRIPT)
    r = scratch_run(host, shell, want="freed")
    assert (r["rc"], r["stdout"]) == (0, "written 1\n"), r
    assert r["journal"] == ["dropped page cache (level 1): MemAvailable 10240 MiB -> 12288 MiB (freed 2048 MiB)"]


def test_a_failed_write_fails_the_run_and_is_logged(host):
    r = scratch_run(host, 'rm "$D/sys/vm/drop_caches" && mkdir "$D/sys/vm/drop_caches" && '
                          '%s --level 3 --procfs-root "$D"' % SCRIPT, want="cannot write")
    assert r["rc"] == 1
    assert re.search(r"^ktune-drop-caches: cannot write 3 to /\S+/sys/vm/drop_caches: Is a directory$", r["stderr"], re.M), r
    assert [line for line in r["journal"] if line.startswith("cannot write 3 to")], r["journal"]


def test_missing_mem_available_fails_before_dropping(host):
    r = scratch_run(host, 'printf "MemTotal: 1 kB\\n" > "$D/meminfo" && %s --procfs-root "$D"' % SCRIPT,
                    want="cannot read MemAvailable")
    assert r["rc"] == 1
    assert "cannot read MemAvailable from" in r["stderr"] and "not dropping caches" in r["stderr"]
    assert r["drop_caches"] == "0\n"
    assert any("cannot read MemAvailable" in line for line in r["journal"]), r["journal"]


def test_bad_usage_exits_2_without_dropping(host):
    shell = "; ".join('%s --procfs-root "$D" %s; echo "rc=$?"' % (SCRIPT, args)
                      for args in ("--level 4", "--level", "--procfs-root proc", "--bogus"))
    r = scratch_run(host, shell)
    assert r["stdout"].split() == ["rc=2"] * 4
    assert r["stderr"].count("usage: ktune-drop-caches") == 4
    assert r["drop_caches"] == "0\n"
    assert r["journal"] == []


# ---- skipping while a unit is in a state -------------------------------------------------------

# A transient oneshot service stays 'activating' while it runs, like a model loading.
WITH_LOADING_UNIT = """
    unit=ktune-test-loading.service
    systemctl stop $unit 2>/dev/null; systemctl reset-failed $unit 2>/dev/null
    systemd-run --quiet --no-block --unit=$unit --service-type=oneshot /bin/sleep 300
    i=0
    while [ "$(systemctl show --property=ActiveState --value $unit)" != activating ]; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "the test unit never became activating" >&2; exit 99; }
        sleep 0.1
    done
    {body}
    rc=$?
    systemctl stop $unit; systemctl reset-failed $unit 2>/dev/null
    exit $rc
"""


def test_skips_while_the_unit_is_in_the_named_state(host):
    body = ('%s --procfs-root "$D" --skip-unit $unit --skip-state activating && cat "$D/sys/vm/drop_caches"'
            % SCRIPT)
    r = scratch_run(host, WITH_LOADING_UNIT.replace("{body}", body), want="skipped")
    assert (r["rc"], r["stdout"]) == (0, "0\n"), r
    assert r["journal"] == ["skipped dropping caches (level 3): ktune-test-loading.service is activating"]


def test_drops_when_the_unit_is_in_another_state(host):
    body = ('{s} --procfs-root "$D" --skip-unit $unit --skip-state active && cat "$D/sys/vm/drop_caches" && '
            # a unit that does not exist is inactive
            '{s} --level 2 --procfs-root "$D" --skip-unit ktune-no-such.service && cat "$D/sys/vm/drop_caches"'
            ).format(s=SCRIPT)
    r = scratch_run(host, WITH_LOADING_UNIT.replace("{body}", body), want="level 2")
    assert (r["rc"], r["stdout"]) == (0, "3\n2\n"), r
    assert [DROPPED.match(line).group(1, 2) for line in r["journal"]] == [
        ("page cache", "3"), ("dentries and inodes", "2")]


# ---- cron itself runs the line ---------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def cron_probe(host):
    """Before this host's first test: the installed job line, every minute, against a scratch tree, in a
    second cron.d file. test_cron_runs_the_job_line checks it last, so waiting for cron's next minute
    overlaps the other tests."""
    start = r"""
        set -eu
        [ -f {cron} ] || {{ echo "no {cron}"; exit 0; }}
        d=$(mktemp -d /tmp/ktune-pc-probe.XXXXXX)
        mkdir -p "$d/sys/vm"
        printf 'MemTotal:       16777216 kB\nMemAvailable:    4343808 kB\n' > "$d/meminfo"
        printf '0\n' > "$d/sys/vm/drop_caches"
        cursor=$(journalctl -n 0 --show-cursor --no-pager | sed -n 's/^-- cursor: //p')
        {{ grep -E '^[A-Z_]+=' {cron}
          grep -vE '^(#|[A-Z_]+=|[[:space:]]*$)' {cron} |
            sed -E "s|^([^ ]+ +){{5}}|* * * * * |; s|--procfs-root [^ ]+|--procfs-root $d|"
        }} > {probe}.new
        mv {probe}.new {probe}
        echo "$d"; echo "$cursor"; cat {probe}
    """.format(cron=CRON_FILE, probe=PROBE)
    result = host.run(start)
    lines = result.stdout.splitlines()
    probe = {"dir": lines[0], "cursor": lines[1], "file": "\n".join(lines[2:])} if result.rc == 0 and len(lines) > 2 else None
    yield probe or {"error": result.stdout + result.stderr}
    host.run("rm -f %s %s.new" % (PROBE, PROBE) + (" && rm -rf %s" % shlex.quote(probe["dir"]) if probe else ""))


def test_cron_runs_the_job_line(host, job, cron_probe):
    # Proves cron accepts the line (only the schedule and --procfs-root differ) and that the
    # script works in cron's environment. Up to two minutes after the probe was written.
    assert "dir" in cron_probe, cron_probe
    assert cron_probe["file"].splitlines()[-1] == "* * * * * %s %s" % (
        job["user"], job["command"].replace(arg(job, "--procfs-root"), cron_probe["dir"]))
    drop_caches = cron_probe["dir"] + "/sys/vm/drop_caches"
    wait = host.run("i=0; while grep -qx 0 %s; do i=$((i + 1)); [ $i -lt 130 ] || exit 1; sleep 1; done; cat %s"
                    % (drop_caches, drop_caches))
    host.run("rm -f %s" % PROBE)
    assert (wait.rc, wait.stdout) == (0, "%s\n" % DEFAULTS["ktune_drop_caches_level"]), "cron did not run the job"
    journal = remote(host, cursor=cron_probe["cursor"], want=PROBE_MARK)["journal"]
    assert any(DROPPED.match(m) and PROBE_MARK in m for m in journal), journal
