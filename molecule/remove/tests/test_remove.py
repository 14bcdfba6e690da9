"""playbooks/remove.yml against the scenario's container: --check changes nothing and says what would
go, the run leaves nothing ktune wrote but its removal marker, the operator's settings stay, the
audit then reports the host "not managed", a second run changes nothing."""

import json
import os
import sys
import tempfile
from pathlib import Path

import testinfra

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests"))
from playbook_run import recap, run_playbook  # noqa: E402

HOST = "remove-nps2"
WRITTEN = ["/etc/cron.d/ktune-drop-caches", "/usr/local/sbin/ktune-drop-caches", "/etc/systemd/system/ktune-cpufreq.service",
           "/usr/local/sbin/ktune-cpufreq-apply", "/etc/default/ktune-cpufreq", "/etc/sysctl.d/90-ktune-numa.conf",
           "/etc/ktune", "/var/lib/ktune-guard", "/usr/local/lib/ktune-guard", "/usr/local/libexec/ktune",
           "/etc/ktransformers", "/etc/systemd/system/ktransformers@.service",
           "/var/lib/prometheus/node-exporter/ktune.prom", "/var/lib/prometheus/node-exporter/ktune_guard.prom",
           "/var/lib/ktune-tuned"]
SECRETS = ["token-secret-0123456789", "credential-secret-0123456789", "proxy.example"]
# What remove.yml leaves so that the audit reports the host "not managed" (host_state.py reads it).
MARKER = "/var/lib/ktune-removed"


def inventory():
    return os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])


def remove(*args):
    return run_playbook("remove.yml", [inventory()], *args, timeout=600)


def audited(host_name):
    """audit.yml's verdict on the host, from the audit.json it writes."""
    with tempfile.TemporaryDirectory() as reports:
        done = run_playbook("audit.yml", [inventory()], "-e", "ktune_report_dir=%s" % reports, cwd=reports, timeout=600)
        done.report = json.loads((Path(reports) / "audit.json").read_text())["hosts"][host_name]
    return done


def present(host):
    return [path for path in WRITTEN if host.file(path).exists]


def test_remove_takes_away_what_ktune_wrote_and_nothing_else():
    host = testinfra.get_host("podman://" + HOST)
    assert present(host) == WRITTEN, "converge and prepare should have written every path"
    assert host.service("ktransformers@demo").is_running
    assert host.service("ktune-cpufreq").is_enabled
    assert "USE_NUMA=1" in host.file("/etc/environment").content_string

    checked = remove("--check", "--diff")
    assert checked.returncode == 0, checked.output[-3000:]
    assert recap(checked.output)[HOST]["changed"] != "0", checked.output[-3000:]
    assert present(host) == WRITTEN
    assert not host.file(MARKER).exists
    assert host.service("ktransformers@demo").is_running
    assert not [secret for secret in SECRETS if secret in checked.output]

    done = remove("--diff")
    assert done.returncode == 0, done.output[-3000:]
    assert present(host) == []
    marker = host.file(MARKER)
    assert (marker.is_file, marker.user, marker.group, marker.mode) == (True, "root", "root", 0o644)
    written = marker.content_string
    assert written.startswith("ktune removed by playbooks/remove.yml at "), written
    assert not [secret for secret in SECRETS if secret in done.output]
    listed = host.run("systemctl list-units --all --plain --no-legend 'ktransformers@*' 'ktune-*'")
    assert [line for line in listed.stdout.splitlines() if "not-found" not in line] == [], listed.stdout
    assert not host.service("ktransformers@demo").is_running
    environment = host.file("/etc/environment").content_string
    assert "USE_NUMA" not in environment and "http_proxy=http://proxy.example:3128" in environment

    after = audited(HOST)
    assert after.returncode == 0, after.output[-3000:]
    assert after.report["status"] == "not managed", after.report
    assert after.report["controls"] and set(control["status"] for control in after.report["controls"]) == {"skip"}
    assert all(control["finding"].startswith("not managed: ktune removed by playbooks/remove.yml at ")
               for control in after.report["controls"]), after.report["controls"]

    again = remove()
    assert again.returncode == 0, again.output[-3000:]
    assert recap(again.output)[HOST]["changed"] == "0", again.output[-3000:]
    assert host.file(MARKER).content_string == written
    rechecked = remove("--check")
    assert recap(rechecked.output)[HOST]["changed"] == "0", rechecked.output[-3000:]
