"""playbooks/remove.yml on a host ktune never touched (issue 27): --check succeeds with no extra
variables and would change nothing. The removal itself runs in molecule/remove."""

import os
import sys

from playbook_run import recap, run_playbook

NEVER_WRITTEN = ["/etc/ktune", "/etc/ktransformers", "/etc/cron.d/ktune-drop-caches", "/etc/sysctl.d/90-ktune-numa.conf",
                 "/usr/local/lib/ktune-guard", "/var/lib/ktune-guard", "/etc/systemd/system/ktune-cpufreq.service"]


def test_check_on_a_host_ktune_never_touched_succeeds_and_changes_nothing(tmp_path):
    assert [path for path in NEVER_WRITTEN if os.path.lexists(path)] == [], "this controller is not a ktune host"
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("fresh ansible_connection=local ansible_python_interpreter=%s\n" % sys.executable)
    done = run_playbook("remove.yml", [inventory], "--check", "--diff", cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.output[-3000:]
    row = recap(done.output)["fresh"]
    assert (row["changed"], row["failed"]) == ("0", "0"), row
