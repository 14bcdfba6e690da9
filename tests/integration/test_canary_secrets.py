"""Issue 21, item 4: no secret in any output. Canary secrets sit where operators put them
(ktune_service_api_key, an SGLang instance's api_key and environment value, ktune_baseline_api_key,
a legacy config.yaml's server.api_key and user.secret_key already in the service HOME, the guard's
token and the BMC password file on the host); then tune.yml (--check --diff), audit.yml,
diagnose.yml (a journal that logs the keys), baseline.yml (from the host and from the controller),
the guard role (--check --diff, then for real) and guard_tokens.yml run at -vvv on localhost
against fixture trees and a test server. Every byte they print, every report, bundle and baseline they write, and every
file the guard role writes that others can read is searched for each canary, raw, JSON-escaped,
URL-quoted and inside any base64 run (-v shows slurped files base64-encoded)."""

import base64
import binascii
import grp
import gzip
import json
import os
import pwd
import re
import shutil
import socket
import stat
import sys
import tarfile
import threading
import urllib.parse
from pathlib import Path

import pytest

import topologies
from fake_ktransformers.server import StreamPlan, bench_server, stop_bench_server
from playbook_run import run_playbook

# Long, distinct and unlike anything else a run prints.
CANARIES = {
    "ktune_service_api_key (the legacy instance's)": "cnryLegacyApiKey4d9e1f7a2b",
    "sglang instance api_key": "cnrySglangApiKey8c3b6a0f5e",
    "instance environment value": "cnryEnvHfToken1a2b3c4d5e6f",
    "ktune_baseline_api_key": "cnryBaselineKey9f8e7d6c5b",
    "server.api_key in config.yaml": "cnryConfigApiKey7e6d5c4b3a",
    "user.secret_key in config.yaml": "cnryConfigSecretKey2b3c4d5e",
    "the guard's token": "cnryGuardToken0a9b8c7d6e5f",
    "the guard's BMC (lanplus) password": "cnryBmcPassword3c2b1a0f9e",
}
BASE64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")


def decoded_base64_runs(data):
    """Every base64 run in DATA decoded, from each of the four offsets a run may start at."""
    for match in BASE64_RUN.finditer(data):
        run = match.group(0).rstrip(b"=")
        for start in range(4):
            chunk = run[start:]
            chunk = chunk[:len(chunk) - 1] if len(chunk) % 4 == 1 else chunk
            chunk += b"=" * (-len(chunk) % 4)
            for decode in (base64.b64decode, base64.urlsafe_b64decode):
                try:
                    yield decode(chunk)
                except (binascii.Error, ValueError):
                    pass


def leaks(data):
    """The canaries found in DATA (bytes or text), each with the form it was found in."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    found = set()
    decoded = list(decoded_base64_runs(data))
    for what, canary in CANARIES.items():
        forms = {"raw": canary.encode(), "JSON-escaped": json.dumps(canary)[1:-1].encode(),
                 "URL-quoted": urllib.parse.quote(canary).encode(), "hex": canary.encode().hex().encode()}
        for form, needle in forms.items():
            if needle in data and (form == "raw" or needle != forms["raw"]):
                found.add("%s (%s)" % (what, form))
        if any(canary.encode() in blob for blob in decoded):
            found.add("%s (base64)" % what)
    return sorted(found)


def unpacked(path):
    """A file's bytes; a tarball's or a gzip file's members' bytes as well."""
    data = path.read_bytes()
    blobs = [data]
    if tarfile.is_tarfile(str(path)):
        with tarfile.open(str(path)) as archive:
            blobs += [archive.extractfile(member).read() for member in archive.getmembers() if member.isfile()]
    elif data[:2] == b"\x1f\x8b":
        blobs.append(gzip.decompress(data))
    return b"\n".join(blobs)


def leaks_in_tree(root, only_readable_by_others=False):
    """{path: leaks} for the files under ROOT (those group or others can read, if asked)."""
    found = {}
    for path in sorted(Path(root).rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        if only_readable_by_others and not path.stat().st_mode & (stat.S_IRGRP | stat.S_IROTH):
            continue
        hits = leaks(unpacked(path))
        if hits:
            found[str(path)] = hits
    return found


def test_the_leak_finder_finds_every_form():
    """The search itself can fail: each form of one canary, in a larger text, is found."""
    canary = CANARIES["the guard's token"]
    assert leaks("no secret here, ok=3 changed=1") == []
    assert leaks("x %s y" % canary) == ["the guard's token (raw)"]
    for prefix in ("", "a", "ab", "abc"):
        blob = base64.b64encode(("token: " + prefix + canary + "\n").encode()).decode()
        assert "the guard's token (base64)" in leaks('"content": "%s"' % blob), prefix
    assert "the guard's token (hex)" in leaks(canary.encode().hex())


def legacy_config(home, user):
    """A legacy ~/.ktransformers/config.yaml the server already runs with, lacking kvc2.disk_path
    (so the role adds it and shows a diff), owned by the service user as the server would keep it."""
    config_dir = home / ".ktransformers"
    config_dir.mkdir(parents=True)
    (config_dir / "config.yaml").write_text(
        "log:\n  dir: logs\nserver:\n  ip: 127.0.0.1\n  port: 10002\n  api_key: %s\n"
        "user:\n  secret_key: %s\n  algorithm: HS256\nmodel:\n  name: r1\n"
        % (CANARIES["server.api_key in config.yaml"], CANARIES["user.secret_key in config.yaml"]))
    account = pwd.getpwnam(user)
    for path in (home, config_dir, config_dir / "config.yaml"):
        os.chown(str(path), account.pw_uid, account.pw_gid)
    home.chmod(0o750)
    config_dir.chmod(0o700)
    (config_dir / "config.yaml").chmod(0o600)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fake_journalctl(bin_dir):
    """A journalctl that logs every instance secret, as SGLang logs its server_args (diagnose must
    redact the journal before it is packed)."""
    bin_dir.mkdir()
    lines = ["2026-12-07T03:00:0%d+0000 gpu-a ktransformers[12]: started with key %s" % (number, CANARIES[what])
             for number, what in enumerate(("ktune_service_api_key (the legacy instance's)",
                                            "sglang instance api_key", "instance environment value"))]
    (bin_dir / "journalctl").write_text(
        "#!/bin/sh\ncase \" $* \" in *' -k '*) echo 'kernel: mce: nothing'; exit 0;; esac\n"
        + "".join("echo '%s'\n" % line for line in lines))
    (bin_dir / "journalctl").chmod(0o755)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    base = tmp_path_factory.mktemp("canary")
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], base / "tree")
    models = base / "models"
    for name in ("R1", "R1-gguf", "V3", "V3-kt"):
        (models / name).mkdir(parents=True)
        (models / name / "weights.bin").write_bytes(b"\0" * 1024)
    user = "nobody"
    legacy_config(base / "home", user)
    for folder in ("remote-tmp", "work", "outputs"):
        (base / folder).mkdir()
    # The guard's host side: its token (as the daemon made it) and the BMC password file the operator placed.
    guard = base / "guard"
    (guard / "units").mkdir(parents=True)
    (guard / "state").mkdir(mode=0o700)
    (guard / "state" / "token").write_text(CANARIES["the guard's token"] + "\n")
    (guard / "bmc-password").write_text(CANARIES["the guard's BMC (lanplus) password"] + "\n")
    for secret in (guard / "state" / "token", guard / "bmc-password"):
        secret.chmod(0o600)
    fake_journalctl(base / "bin")
    fake_python = shutil.which("python3")
    bench_port = free_port()
    instances = [
        {"name": "r1", "model_path": str(models / "R1"), "gguf_path": str(models / "R1-gguf"), "port": 10002,
         "executable": fake_python},
        {"name": "s1", "backend": "sglang", "model_path": str(models / "V3"), "kt_weight_path": str(models / "V3-kt"),
         "port": 30000, "api_key": CANARIES["sglang instance api_key"], "python": fake_python,
         "environment": {"HF_TOKEN": CANARIES["instance environment value"], "OMP_NUM_THREADS": "10"},
         "share_cpus_with": ["r1"]},  # both on every CPU of the fixture host, said so on purpose
    ]
    host = {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
        "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
        "ktune_sysctl_file": str(base / "90-ktune-numa.conf"),
        "ktune_service_user": user, "ktune_service_group": grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name,
        "ktune_service_home": str(base / "home"),
        "ktune_service_sglang_install": False,
        "ktune_service_instances": instances,
        "ktune_service_api_key": CANARIES["ktune_service_api_key (the legacy instance's)"],
        "ktune_diagnose_remote_tmp": str(base / "remote-tmp"),
        "ktune_monitoring_ipmitool": str(base / "no-such-ipmitool"),
        "ktune_baseline_url": "http://127.0.0.1:%d" % bench_port,
        "ktune_baseline_api_key": CANARIES["ktune_baseline_api_key"],
        "ktune_baseline_max_tokens": 8, "ktune_baseline_requests": 3, "ktune_baseline_timeout_s": 10,
        "ktune_guard_state_dir": str(guard / "state"),
        "ktune_guard_textfile_dir": str(guard / "textfile"),
        "ktune_guard_lanplus_host": "10.0.0.9", "ktune_guard_lanplus_user": "admin",
        "ktune_guard_lanplus_password_file": str(guard / "bmc-password"),
    }
    (base / "hosts.yml").write_text(json.dumps({"all": {"hosts": {"gpu-a": host}}}))
    # The guard role's fixed locations, pointed into the folder (this machine has no systemd as PID 1).
    (base / "guard-locations.json").write_text(json.dumps({
        "guard_install_dir": str(guard / "lib"), "guard_config_path": str(guard / "etc/guard.json"),
        "guard_unit_dir": str(guard / "units"), "guard_state_dir": str(guard / "state"),
        "guard_manage_service": False}))
    (base / "guard.yml").write_text("- hosts: all\n  gather_facts: false\n  roles: [ktune.inference.guard]\n")
    env = {"ANSIBLE_REMOTE_TMP": str(base / "ansible-tmp"), "ANSIBLE_LOCAL_TEMP": str(base / "ansible-local"),
           "PATH": "%s%s%s" % (base / "bin", os.pathsep, os.environ["PATH"])}

    def run(playbook, *args):
        done = run_playbook(base / playbook if playbook == "guard.yml" else playbook, [base / "hosts.yml"],
                            "-vvv", *args, cwd=base / "work", timeout=600, env=env)
        log = "%s%s.log" % (playbook, "".join(arg for arg in args if str(arg).startswith("--")))
        (base / "outputs" / log).write_text(done.output)
        return done

    run.base, run.guard, run.bench_port = base, guard, bench_port
    return run


def assert_no_leak(done, *roots, returncode=0):
    """Nothing in what the run printed, in Ansible's temporary folders or under ROOTS."""
    assert done.returncode == returncode, done.output[-4000:]
    assert leaks(done.output) == [], done.output[-4000:]
    for root in roots:
        assert leaks_in_tree(root) == {}, root


def test_tune_in_check_mode_with_diff_shows_no_secret(site):
    done = site("tune.yml", "--check", "--diff")
    assert "kvc2" in done.output  # the diff of config.yaml is shown ...
    assert "TASK [ktune.inference.ktransformers_service : Write the root-only credentials file of s1]" in done.output
    assert_no_leak(done, site.base / "work", site.base / "ansible-tmp", site.base / "ansible-local")


def test_audit_prints_and_writes_no_secret(site):
    """The fixture host fails error controls (no systemd here, governor powersave): exit 2, reports written."""
    done = site("audit.yml", "-e", "ktune_report_dir=%s" % (site.base / "work" / "reports"))
    assert {path.name for path in (site.base / "work" / "reports").iterdir()} >= {"audit.json", "audit.xml", "audit.html"}
    assert "ktransformers@s1.service" in (site.base / "work" / "reports" / "audit.json").read_text()
    assert_no_leak(done, site.base / "work", site.base / "ansible-tmp", site.base / "ansible-local", returncode=2)


def test_diagnose_prints_and_packs_no_secret(site):
    dest = site.base / "work" / "diagnostics"
    done = site("diagnose.yml", "-e", "ktune_diagnose_dest=%s" % dest, "-e", "ktune_diagnose_window_s=0",
                "-e", "ktune_diagnose_samples=1", "-e", "ktune_diagnose_perf_s=0")
    bundle = dest / "gpu-a" / "gpu-a-diagnostics.tar.gz"
    assert bundle.is_file(), done.output[-4000:]
    with tarfile.open(str(bundle)) as archive:
        journal = archive.extractfile("gpu-a-diagnostics/journal-ktransformers.txt").read().decode()
    assert journal.count("started with key <redacted>") == 3, journal  # the journal was read, then redacted
    assert_no_leak(done, dest, site.base / "remote-tmp", site.base / "ansible-tmp", site.base / "ansible-local")


@pytest.mark.parametrize("run_on", ["host", "controller"])
def test_baseline_prints_and_records_no_secret(site, run_on):
    plan = StreamPlan(tokens_per_s=300, ttft_s=0.01, fixed_length=True)
    server = bench_server(plan, "127.0.0.1", site.bench_port, api_key=CANARIES["ktune_baseline_api_key"])
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        done = site("baseline.yml", "-e", "ktune_baseline_run_on=%s" % run_on, "-e", "ktune_baseline_mode=record")
    finally:
        stop_bench_server(server, plan)
        thread.join(10)
    assert plan.count == 3, done.output[-4000:]  # the key was right: every request was served
    assert (site.base / "work" / "ktune-baselines" / "gpu-a" / "baseline.json").is_file()
    assert_no_leak(done, site.base / "work", site.base / "ansible-tmp", site.base / "ansible-local")


def test_the_guard_role_shows_no_key_token_or_bmc_password(site):
    done = site("guard.yml", "-e", "@%s" % (site.base / "guard-locations.json"), "--check", "--diff")
    assert "ktune-guard.service" in done.output and "api_key_file" in done.output  # the diffs are shown
    assert_no_leak(done, site.base / "ansible-tmp", site.base / "ansible-local")
    # For real, with instances that have no key file yet (the service role writes them under
    # /etc/ktransformers): the installed daemon judges the settings, reading the BMC password file.
    done = site("guard.yml", "-e", "@%s" % (site.base / "guard-locations.json"), "--diff",
                "-e", json.dumps({"ktune_service_api_key": None, "ktune_service_instances": [
                    dict(instance, api_key=None) for instance in json.loads(
                        (site.base / "hosts.yml").read_text())["all"]["hosts"]["gpu-a"]["ktune_service_instances"]]}))
    assert (site.guard / "etc" / "guard.json").is_file(), done.output[-4000:]
    assert "--check-config" in done.output  # the daemon was asked
    assert_no_leak(done, site.base / "ansible-tmp", site.base / "ansible-local")
    assert leaks_in_tree(site.guard, only_readable_by_others=True) == {}


def test_guard_tokens_copies_the_token_without_showing_it(site):
    tokens = site.base / "guard-tokens"  # outside work/: it holds the token by design
    done = site("guard_tokens.yml", "-e", "ktune_guard_fleet_group=all", "-e", "ktune_guard_token_dir=%s" % tokens)
    assert (tokens / "gpu-a").read_text().strip() == CANARIES["the guard's token"]  # copied, owner-only ...
    assert oct((tokens / "gpu-a").stat().st_mode & 0o777) == "0o600"
    assert leaks(done.output) == [], done.output[-4000:]  # ... and never shown
    assert leaks_in_tree(site.base / "ansible-tmp") == {} and leaks_in_tree(site.base / "ansible-local") == {}
