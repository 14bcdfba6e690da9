"""The canary gate's record and rollback (roles/canary_gate, tasks_from: record / rollback) on localhost
against files in a temporary folder: what root restores comes from the list this run works out, never
from the host's manifest.json, and nothing is recorded into or restored from a state folder another
user could change. The instance's root-only NAME.credentials file is recorded and restored like the other files,
and its content shows nowhere, not at -vvv with --diff."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import topologies
from test_canary_secrets import CANARIES, leaks

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Record the configuration
      ansible.builtin.include_role:
        name: ktune.inference.canary_gate
        tasks_from: record
      when: step == 'record'
    - name: Work out the files again, as a later run would
      ansible.builtin.include_role:
        name: ktune.inference.canary_gate
        tasks_from: paths
      when: step == 'rollback'
    - name: Roll back
      ansible.builtin.include_role:
        name: ktune.inference.canary_gate
        tasks_from: rollback
      when: step == 'rollback'
"""
OLD, NEW = "KTRANSFORMERS_VERSION=0.4.0\n", "KTRANSFORMERS_VERSION=0.5.0\n"


def run(tmp_path, step, files=("etc/ktransformers.env", "etc/added-by-upgrade.conf"), options=()):
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    variables = {"ansible_python_interpreter": sys.executable, "step": step,
                 "ktune_canary_gate_state_dir": str(tmp_path / "state"),
                 "ktune_canary_gate_rollback_files": [str(tmp_path / name) for name in files]}
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           str(tmp_path / "play.yml"), "-e", json.dumps(variables)] + list(options),
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    return done.returncode, " ".join((done.stdout + done.stderr).split())


def upgraded(tmp_path):
    """Record the old configuration, then upgrade: a new environment file and an added file."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/ktransformers.env").write_text(OLD)
    code, output = run(tmp_path, "record")
    assert code == 0, output[-3000:]
    (tmp_path / "etc/ktransformers.env").write_text(NEW)
    (tmp_path / "etc/added-by-upgrade.conf").write_text("new\n")
    return tmp_path / "state/rollback/manifest.json"


def test_rollback_restores_the_recorded_files_and_removes_the_added_one(tmp_path):
    upgraded(tmp_path)
    state = (tmp_path / "state").stat()
    assert (state.st_uid, state.st_mode & 0o777) == (0, 0o700)
    code, output = run(tmp_path, "rollback")
    assert code == 0, output[-3000:]
    assert (tmp_path / "etc/ktransformers.env").read_text() == OLD
    assert not (tmp_path / "etc/added-by-upgrade.conf").exists()


# The secret-output test's canaries, so its finder looks for them in every form (raw, escaped, base64, ...).
OLD_KEY, NEW_KEY = CANARIES["ktune_service_api_key (the legacy instance's)"], CANARIES["sglang instance api_key"]
CREDENTIALS = ("etc/ktransformers.env", "etc/kimi.credentials", "etc/added-by-upgrade.conf")


def credentials_upgraded(tmp_path, link_target=None):
    """Record an env file and a root-only credentials file at -vvv --diff, then upgrade both (the credentials
    file turned into a link to LINK_TARGET when given). Returns the record run's output."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/ktransformers.env").write_text(OLD)
    credentials = tmp_path / "etc/kimi.credentials"
    credentials.write_text("API_KEY=%s\n" % OLD_KEY)
    credentials.chmod(0o600)
    code, output = run(tmp_path, "record", CREDENTIALS, ["-vvv", "--diff"])
    assert code == 0, output[-3000:]
    (tmp_path / "etc/ktransformers.env").write_text(NEW)
    credentials.unlink()
    if link_target is None:
        credentials.write_text("API_KEY=%s\n" % NEW_KEY)
        credentials.chmod(0o600)
    else:
        credentials.symlink_to(link_target)
    return output


def assert_root_only_with_the_old_key(path):
    info = os.lstat(path)
    assert stat.S_ISREG(info.st_mode) and (info.st_uid, info.st_gid, info.st_mode & 0o777) == (0, 0, 0o600)
    assert path.read_text() == "API_KEY=%s\n" % OLD_KEY


def test_the_credentials_file_is_recorded_root_only_and_restored_without_showing_its_content(tmp_path):
    recorded = credentials_upgraded(tmp_path)
    manifest = json.loads((tmp_path / "state/rollback/manifest.json").read_text())
    assert manifest == [[str(tmp_path / name), name != "etc/added-by-upgrade.conf"] for name in CREDENTIALS]
    assert_root_only_with_the_old_key(tmp_path / "state/rollback/file-1")
    code, output = run(tmp_path, "rollback", CREDENTIALS, ["-vvv", "--diff"])
    assert code == 0, output[-3000:]
    assert_root_only_with_the_old_key(tmp_path / "etc/kimi.credentials")
    assert (tmp_path / "etc/ktransformers.env").read_text() == OLD
    assert "Restore the recorded service configuration" in output and str(tmp_path / "etc/kimi.credentials") in output
    for shown in (recorded, output):
        assert leaks(shown) == []


def test_a_credentials_file_the_upgrade_turned_into_a_link_is_replaced_and_the_target_untouched(tmp_path):
    target = tmp_path / "target"
    target.write_text("not the service's\n")
    credentials_upgraded(tmp_path, link_target=target)
    code, output = run(tmp_path, "rollback", CREDENTIALS, ["-vvv", "--diff"])
    assert code == 0, output[-3000:]
    assert_root_only_with_the_old_key(tmp_path / "etc/kimi.credentials")
    assert target.read_text() == "not the service's\n" and leaks(output) == []


def test_a_credentials_file_that_is_a_link_is_not_recorded(tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "secret").write_text("API_KEY=%s\n" % OLD_KEY)
    (tmp_path / "etc/kimi.credentials").symlink_to(tmp_path / "secret")
    code, output = run(tmp_path, "record", ["etc/kimi.credentials"], ["-vvv", "--diff"])
    assert code != 0
    assert "localhost: expected regular files to record before the upgrade, found %s (a link or a folder)" % (
        tmp_path / "etc/kimi.credentials") in output
    assert not (tmp_path / "state/rollback/file-0").exists() and leaks(output) == []


def test_a_manifest_naming_a_path_outside_the_computed_list_fails_the_rollback_without_writing(tmp_path):
    manifest = upgraded(tmp_path)
    elsewhere = tmp_path / "elsewhere.conf"
    manifest.write_text(json.dumps([[str(elsewhere), True], [str(tmp_path / "etc/added-by-upgrade.conf"), False]]))
    code, output = run(tmp_path, "rollback")
    assert code != 0
    assert "localhost: expected %s/manifest.json to record %s, %s (each with whether it existed), found " % (
        tmp_path / "state/rollback", tmp_path / "etc/ktransformers.env", tmp_path / "etc/added-by-upgrade.conf") in output
    assert "Fix: restore the canary's configuration by hand; nothing was restored or removed." in output
    assert not elsewhere.exists()
    assert (tmp_path / "etc/ktransformers.env").read_text() == NEW
    assert (tmp_path / "etc/added-by-upgrade.conf").exists()


def test_a_manifest_that_is_not_a_list_of_path_and_flag_fails_the_rollback_without_writing(tmp_path):
    manifest = upgraded(tmp_path)
    manifest.write_text(json.dumps([[str(tmp_path / "etc/ktransformers.env"), "yes"],
                                    [str(tmp_path / "etc/added-by-upgrade.conf"), False]]))
    code, output = run(tmp_path, "rollback")
    assert code != 0 and "nothing was restored or removed" in output
    assert (tmp_path / "etc/ktransformers.env").read_text() == NEW


def test_an_added_path_that_is_a_folder_is_not_removed(tmp_path):
    upgraded(tmp_path)
    (tmp_path / "etc/added-by-upgrade.conf").unlink()
    (tmp_path / "etc/added-by-upgrade.conf").mkdir()
    (tmp_path / "etc/added-by-upgrade.conf/keep").write_text("keep\n")
    code, output = run(tmp_path, "rollback")
    assert code != 0
    assert "expected the paths the upgrade added to be files or links, found %s (a folder or a special file)" % (
        tmp_path / "etc/added-by-upgrade.conf") in output
    assert (tmp_path / "etc/added-by-upgrade.conf/keep").exists()
    assert (tmp_path / "etc/ktransformers.env").read_text() == NEW


def test_an_added_link_is_removed_itself_not_its_target(tmp_path):
    upgraded(tmp_path)
    target = tmp_path / "target.conf"
    target.write_text("target\n")
    (tmp_path / "etc/added-by-upgrade.conf").unlink()
    (tmp_path / "etc/added-by-upgrade.conf").symlink_to(target)
    code, output = run(tmp_path, "rollback")
    assert code == 0, output[-3000:]
    assert not os.path.lexists(tmp_path / "etc/added-by-upgrade.conf") and target.read_text() == "target\n"


def unsafe_state(tmp_path, how):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/ktransformers.env").write_text(OLD)
    if how == "link":
        (tmp_path / "elsewhere").mkdir()
        (tmp_path / "state").symlink_to(tmp_path / "elsewhere")
    else:
        (tmp_path / "state").mkdir()
        if how == "group-writable":
            (tmp_path / "state").chmod(0o770)
        else:
            os.chown(tmp_path / "state", 65534, 65534)
    return run(tmp_path, "record")


def test_a_state_folder_that_is_a_link_is_refused_and_nothing_is_recorded(tmp_path):
    code, output = unsafe_state(tmp_path, "link")
    assert code != 0
    assert "localhost: expected ktune_canary_gate_state_dir and its rollback folder to be folders (not links) owned " \
           "by root and writable by root alone, found %s (a link)" % (tmp_path / "state") in output
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_group_writable_state_folder_is_refused(tmp_path):
    code, output = unsafe_state(tmp_path, "group-writable")
    assert code != 0 and "found %s (owner uid 0, mode 0770)" % (tmp_path / "state") in output
    assert list((tmp_path / "state").iterdir()) == []


def test_a_state_folder_another_user_owns_is_refused(tmp_path):
    code, output = unsafe_state(tmp_path, "owner")
    assert code != 0 and "found %s (owner uid 65534, mode 0" % (tmp_path / "state") in output
    assert list((tmp_path / "state").iterdir()) == []


PATHS_PLAYBOOK = """
- hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Work out what the gate records
      ansible.builtin.include_role:
        name: ktune.inference.canary_gate
        tasks_from: paths
    - name: Show it
      ansible.builtin.debug:
        msg: "UNITS {{ __canary_gate_units | join(' ') }} FILES {{ __canary_gate_files | join(' ') }} END"
"""


def test_the_default_targets_of_a_per_socket_entry_are_its_replicas_and_router(tmp_path):
    tree = topologies.write_tree(topologies.catalog()["epyc-2s-nps2"], tmp_path / "host")
    for name in ("kimi", "kimi-cpu"):
        (tmp_path / "models" / name).mkdir(parents=True)
    for tool in ("python", "numactl", "ktransformers"):
        (tmp_path / "bin").mkdir(exist_ok=True)
        (tmp_path / "bin" / tool).write_text("#!/bin/sh\n")
        (tmp_path / "bin" / tool).chmod(0o755)
    (tmp_path / "play.yml").write_text(PATHS_PLAYBOOK)
    variables = {"ansible_python_interpreter": sys.executable, "ktune_use_numa_enabled": False,
                 "ktune_sysfs_root": str(tree / "sys"), "ktune_procfs_root": str(tree / "proc"),
                 "ktune_service_python": str(tmp_path / "bin/python"),
                 "ktune_service_executable": str(tmp_path / "bin/ktransformers"),
                 "ktune_service_numactl_path": str(tmp_path / "bin/numactl"),
                 "ktune_service_instances": [{"name": "kimi", "backend": "sglang", "replicas": "per_socket",
                                              "model_path": str(tmp_path / "models/kimi"),
                                              "kt_weight_path": str(tmp_path / "models/kimi-cpu"), "port": 30000}]}
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    done = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", "localhost,",
                           str(tmp_path / "play.yml"), "-e", json.dumps(variables)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    output = " ".join((done.stdout + done.stderr).split())
    assert done.returncode == 0, output[-3000:]
    assert "UNITS ktransformers@kimi-socket0.service ktransformers@kimi-socket1.service " \
           "ktransformers-router@kimi.service FILES " in output
    assert " /etc/ktransformers/kimi-socket0.env /etc/ktransformers/kimi-socket1.env " \
           "/etc/ktransformers/router-kimi.env /etc/ktransformers/kimi-socket0.credentials " \
           "/etc/ktransformers/kimi-socket1.credentials END" in output
