"""ktune.inference.service_home: root handles the service user's HOME without following what the user planted.

Run as root (as CI does), the service user is nobody and a foreign owner is uid 1234; run as
another user, the service user is that user and the tests that need chown are skipped.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import grp
import os
import pwd
import stat
import threading

import pytest

from module_runner import run_module
from ansible_collections.ktune.inference.plugins.module_utils import service_home as service_home_utils
from ansible_collections.ktune.inference.plugins.modules import service_home

AS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not AS_ROOT, reason="chown to another user needs root")
FOREIGN_UID = 1234
SHADOW = "root:$6$not-a-real-hash$abcdefghijklmnop:19000:0:99999:7:::\n"
ADD_MISSING = {"kvc2": {"disk_path": "/var/lib/ktransformers/.ktransformers/kvc2"}, "model": {"name": "DeepSeek-R1"}}
SEED = """# Seeded by Ansible
log:
  dir: "/var/lib/ktransformers/.ktransformers/logs"
model:
  name: "DeepSeek-R1"
  type: balance_serve
kvc2:
  gpu_only: true
  disk_path: "/var/lib/ktransformers/.ktransformers/kvc2"
"""
# An older seed: no kvc2.disk_path, no model.name; the launcher already wrote the API key.
OLDER = """# written by an older ktune; keep this comment
log:
  level: "debug"
server:
  ip: 0.0.0.0
  api_key: "legacy-secret-key"
model:
  type: balance_serve
kvc2:
  gpu_only: true
  cpu_memory_size_GB: 500
"""


def service_account():
    if AS_ROOT:
        nobody = pwd.getpwnam("nobody")
        return nobody.pw_name, grp.getgrgid(nobody.pw_gid).gr_name, nobody.pw_uid, nobody.pw_gid
    me = pwd.getpwuid(os.getuid())
    return me.pw_name, grp.getgrgid(me.pw_gid).gr_name, me.pw_uid, me.pw_gid


ACCOUNT = service_account()
USER = ACCOUNT[0]
GROUP = ACCOUNT[1]
UID = ACCOUNT[2]
GID = ACCOUNT[3]


@pytest.fixture
def root(tmp_path):
    """A fake / with a root-only etc/shadow; HOME is root/var/lib/ktransformers (not created)."""
    base = tmp_path.resolve()
    (base / "etc").mkdir(mode=0o755)
    (base / "etc/shadow").write_text(SHADOW)
    os.chmod(str(base / "etc/shadow"), 0o640)
    (base / "var/lib").mkdir(parents=True)
    return base


def home_of(root):
    return root / "var/lib/ktransformers"


def args_for(root, **extra):
    args = dict(path=str(home_of(root)), user=USER, group=GROUP, seed=SEED, add_missing=ADD_MISSING)
    args.update(extra)
    return args


def make_home(root, config=None):
    """HOME and ~/.ktransformers as the service user has them, with config.yaml when given."""
    home = home_of(root)
    (home / ".ktransformers").mkdir(parents=True)
    for path in (home, home / ".ktransformers"):
        os.chown(str(path), UID, GID)
    os.chmod(str(home), 0o750)
    os.chmod(str(home / ".ktransformers"), 0o700)
    if config is not None:
        write_as_user(home / ".ktransformers/config.yaml", config)
    return home


def write_as_user(path, content, mode=0o600):
    path.write_text(content)
    os.chown(str(path), UID, GID)
    os.chmod(str(path), mode)


def snapshot(root):
    """Every path under root with its type, owner, mode and content (links: their target)."""
    state = {}
    for directory, dirnames, filenames in os.walk(str(root)):
        for name in dirnames + filenames + [""]:
            path = os.path.join(directory, name) if name else directory
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                content = "-> " + os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as handle:
                    content = handle.read()
            else:
                content = None
            state[path] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, content)
    return state


def config_text(root):
    return (home_of(root) / ".ktransformers/config.yaml").read_text()


def owner_and_mode(path):
    st = os.lstat(str(path))
    return st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)


@pytest.fixture(params=[True, False], ids=["with-pyyaml", "without-pyyaml"])
def pyyaml(request, monkeypatch):
    """Both ways the host may be: with PyYAML, and without (the Debian image of the molecule tests)."""
    monkeypatch.setattr(service_home_utils, "HAS_YAML", request.param)
    return request.param


# --- normal cases -------------------------------------------------------------------------------


def test_a_fresh_home_is_created_and_seeded_and_a_second_run_changes_nothing(root, pyyaml):
    result, failed = run_module(service_home, args_for(root))
    assert not failed, result
    home = home_of(root)
    assert result["changed"] and result["seeded"] and result["added"] == []
    assert owner_and_mode(home) == (UID, GID, 0o750)
    assert owner_and_mode(home / ".ktransformers") == (UID, GID, 0o700)
    assert owner_and_mode(home / ".ktransformers/config.yaml") == (UID, GID, 0o600)
    assert config_text(root) == SEED
    assert sorted(os.listdir(str(home / ".ktransformers"))) == ["config.yaml"]  # no temporary file left
    assert result["changes"] == ["create %s (%s:%s, 0750)" % (home, USER, GROUP),
                                 "create %s/.ktransformers (%s:%s, 0700)" % (home, USER, GROUP),
                                 "seed %s/.ktransformers/config.yaml" % home]

    again, failed = run_module(service_home, args_for(root))
    assert not failed, again
    assert again["changed"] is False and again["changes"] == [] and not again["seeded"]


def test_an_older_config_gets_only_the_missing_keys_and_keeps_everything_else(root, pyyaml):
    make_home(root, OLDER)
    os.chmod(str(home_of(root) / ".ktransformers/config.yaml"), 0o640)
    result, failed = run_module(service_home, args_for(root))
    assert not failed, result
    assert result["changed"] and not result["seeded"]
    assert result["added"] == ["kvc2.disk_path", "model.name"]
    assert config_text(root) == OLDER.replace(
        "  type: balance_serve\n", '  type: balance_serve\n  name: "DeepSeek-R1"\n').replace(
        "  cpu_memory_size_GB: 500\n",
        '  cpu_memory_size_GB: 500\n  disk_path: "/var/lib/ktransformers/.ktransformers/kvc2"\n')
    assert owner_and_mode(home_of(root) / ".ktransformers/config.yaml") == (UID, GID, 0o640)  # the user's mode stays

    again, failed = run_module(service_home, args_for(root))
    assert not failed and again["changed"] is False and again["added"] == []


def test_a_present_key_keeps_its_value_even_null(root, pyyaml):
    make_home(root, "model:\n  name:\nkvc2:\n  disk_path: /elsewhere\n")
    result, failed = run_module(service_home, args_for(root))
    assert not failed, result
    assert result["changed"] is False
    assert config_text(root) == "model:\n  name:\nkvc2:\n  disk_path: /elsewhere\n"


def test_a_missing_section_is_appended(root, pyyaml):
    make_home(root, "log:\n  level: info")  # no newline at the end either
    result, failed = run_module(service_home, args_for(root))
    assert not failed, result
    assert config_text(root) == ('log:\n  level: info\nkvc2:\n  disk_path: "/var/lib/ktransformers/.ktransformers/kvc2"'
                                 '\nmodel:\n  name: "DeepSeek-R1"\n')


def test_a_root_owned_home_is_given_to_the_service_user(root):
    home = home_of(root)
    home.mkdir(mode=0o755)  # as mkdir by root makes it; the user cannot make a directory root's
    result, failed = run_module(service_home, args_for(root))
    assert not failed, result
    assert owner_and_mode(home) == (UID, GID, 0o750)
    assert result["changes"][0] == "set %s (%s:%s, 0750)" % (home, USER, GROUP)


def test_without_config_options_only_the_directories_are_made(root):
    result, failed = run_module(service_home, dict(path=str(home_of(root)), user=USER, group=GROUP))
    assert not failed, result
    assert os.listdir(str(home_of(root) / ".ktransformers")) == []
    assert "config_path" not in result


# --- check mode and diff -----------------------------------------------------------------------


def test_check_mode_reports_what_a_run_would_do_and_writes_nothing(root):
    before = snapshot(root)
    checked, failed = run_module(service_home, args_for(root), check_mode=True, diff=True)
    assert not failed, checked
    assert snapshot(root) == before
    done, failed = run_module(service_home, args_for(root), diff=True)
    assert not failed
    assert checked == done


def test_check_mode_on_an_older_config_names_the_keys_and_changes_nothing(root, pyyaml):
    make_home(root, OLDER)
    before = snapshot(root)
    result, failed = run_module(service_home, args_for(root), check_mode=True)
    assert not failed, result
    assert result["changed"] and result["added"] == ["kvc2.disk_path", "model.name"]
    assert snapshot(root) == before


def test_check_mode_before_the_user_exists_reports_the_work(root):
    result, failed = run_module(service_home, args_for(root, user="ktune-no-such-user", group="ktune-no-such-group"),
                                check_mode=True)
    assert not failed, result
    assert result["changed"] and result["seeded"]
    assert not home_of(root).exists()


def test_a_missing_user_fails_a_real_run(root):
    result, failed = run_module(service_home, args_for(root, user="ktune-no-such-user"))
    assert failed
    assert result["msg"].startswith("expected the user ktune-no-such-user and the group %s to exist" % GROUP)
    assert not home_of(root).exists()


def test_the_diff_of_an_edit_shows_only_the_added_keys(root):
    make_home(root, OLDER)
    result, failed = run_module(service_home, args_for(root), check_mode=True, diff=True)
    assert not failed, result
    path = "%s/.ktransformers/config.yaml" % home_of(root)
    assert result["diff"] == [dict(
        before_header=path + " (only the keys added; the rest of the file stays as it is)",
        after_header=path + " (only the keys added; the rest of the file stays as it is)",
        before="kvc2:\nmodel:\n",
        after='kvc2:\n  disk_path: "/var/lib/ktransformers/.ktransformers/kvc2"\nmodel:\n  name: "DeepSeek-R1"\n')]
    assert "legacy-secret-key" not in repr(result)


def test_the_diff_of_new_directories_gives_owner_and_mode(root):
    result, failed = run_module(service_home, dict(path=str(home_of(root)), user=USER, group=GROUP),
                                check_mode=True, diff=True)
    assert not failed, result
    assert result["diff"][0] == dict(before_header=str(home_of(root)), after_header=str(home_of(root)),
                                     before="absent\n", after="directory, owner %s:%s, mode 0750\n" % (USER, GROUP))


# --- what the service user may plant: refused, named, nothing changed ------------------------------


def refused(root, **extra):
    """Run the module (check mode, then for real); both must fail alike and change nothing."""
    before = snapshot(root)
    checked, checked_failed = run_module(service_home, args_for(root, **extra), check_mode=True)
    result, failed = run_module(service_home, args_for(root, **extra))
    assert checked_failed and failed, result
    assert checked["msg"] == result["msg"]
    assert result["changed"] is False
    assert result["msg"].endswith("Nothing was changed.")
    assert snapshot(root) == before
    return result


def plant_link(link, target):
    os.symlink(str(target), str(link))
    if AS_ROOT:
        os.lchown(str(link), UID, GID)  # made by the service user


def test_config_dir_linked_to_etc_is_refused_and_etc_keeps_owner_and_mode(root):
    home = make_home(root)
    os.rmdir(str(home / ".ktransformers"))
    plant_link(home / ".ktransformers", root / "etc")
    etc_before = owner_and_mode(root / "etc")
    result = refused(root)
    assert result["msg"].startswith(
        "%s/.ktransformers: expected a directory owned by %s or root, found a symlink to %s/etc. Fix: remove the "
        "link (rm %s/.ktransformers)" % (home, USER, root, home))
    assert owner_and_mode(root / "etc") == etc_before
    assert not (root / "etc/config.yaml").exists()


def test_config_file_linked_to_shadow_is_refused_and_nothing_is_copied(root):
    home = make_home(root)
    plant_link(home / ".ktransformers/config.yaml", root / "etc/shadow")
    result = refused(root)
    assert result["msg"].startswith(
        "%s/.ktransformers/config.yaml: expected a regular file owned by %s, found a symlink to %s/etc/shadow. "
        "Fix: remove the link" % (home, USER, root))
    assert "not-a-real-hash" not in repr(result)
    assert (root / "etc/shadow").read_text() == SHADOW
    copies = [path for path, entry in snapshot(root).items()
              if entry[4] is not None and b"not-a-real-hash" in (entry[4] if isinstance(entry[4], bytes) else b"")]
    assert copies == [str(root / "etc/shadow")]


def test_home_itself_as_a_link_is_refused(root):
    (root / "srv").mkdir()
    os.symlink(str(root / "srv"), str(home_of(root)))
    result = refused(root)
    assert result["msg"].startswith("%s: expected a directory owned by %s or root, found a symlink to %s/srv"
                                    % (home_of(root), USER, root))


def test_a_link_on_the_way_to_home_is_refused_with_the_real_path(root):
    (root / "data/lib").mkdir(parents=True)
    os.symlink(str(root / "data/lib"), str(root / "lib-link"))
    result = refused(root, path=str(root / "lib-link/ktransformers"))
    assert result["msg"].startswith(
        "%s/lib-link: expected a directory on the way to HOME %s/lib-link/ktransformers, found a symlink to "
        "%s/data/lib. Fix: give HOME as the path without links, such as %s/data/lib/ktransformers"
        % (root, root, root, root))
    assert os.listdir(str(root / "data/lib")) == []


def test_a_hard_linked_config_is_refused(root):
    home = make_home(root)
    write_as_user(root / "elsewhere.yaml", OLDER)
    os.link(str(root / "elsewhere.yaml"), str(home / ".ktransformers/config.yaml"))
    result = refused(root)
    assert "found 2 hard links to it (it may be another file)" in result["msg"]


def test_a_fifo_in_place_of_the_config_is_refused_without_hanging(root):
    home = make_home(root)
    os.mkfifo(str(home / ".ktransformers/config.yaml"))
    os.chown(str(home / ".ktransformers/config.yaml"), UID, GID)
    outcome = {}
    worker = threading.Thread(target=lambda: outcome.update(result=refused(root)))
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "the module hangs on a FIFO"
    assert "expected a regular file owned by %s, found a FIFO" % USER in outcome["result"]["msg"]


def test_a_config_the_line_edit_cannot_follow_is_refused(root, pyyaml):
    make_home(root, "kvc2: {gpu_only: true}\nmodel:\n  type: x\n")
    result = refused(root)
    assert "expected a block-style YAML mapping" in result["msg"]


@needs_root
def test_a_config_dir_of_another_user_is_refused(root):
    home = make_home(root)
    os.chown(str(home / ".ktransformers"), FOREIGN_UID, FOREIGN_UID)
    result = refused(root)
    assert result["msg"].startswith(
        "%s/.ktransformers: expected a directory owned by %s or root, found one owned by uid 1234. Fix: check what "
        "is in it, then chown -R %s:%s %s/.ktransformers" % (home, USER, USER, GROUP, home))


@needs_root
def test_a_home_of_another_user_is_refused(root):
    home_of(root).mkdir()
    os.chown(str(home_of(root)), FOREIGN_UID, FOREIGN_UID)
    result = refused(root)
    assert "found one owned by uid 1234" in result["msg"]


@needs_root
def test_a_config_file_of_root_is_refused(root):
    home = make_home(root)
    (home / ".ktransformers/config.yaml").write_text(OLDER)
    result = refused(root)
    assert result["msg"].startswith(
        "%s/.ktransformers/config.yaml: expected a regular file owned by %s, found one owned by uid 0 (root). Fix: "
        "check its content, then chown %s:%s" % (home, USER, USER, GROUP))


@pytest.mark.parametrize("value", ["relative/home", "/var/lib/../lib/ktransformers", "/"])
def test_home_must_be_an_absolute_normalised_path(root, value):
    result, failed = run_module(service_home, args_for(root, path=value))
    assert failed and "expected an absolute, normalised path below /" in result["msg"]


def test_the_diff_of_a_seed_hides_the_session_secret_and_the_key(root):
    """Issue 21, item 4: --diff of a seeded config.yaml never shows user.secret_key or server.api_key."""
    secret, key = "seed-secret-0123456789abcdef", "seed-api-key-0123456789"
    seed = SEED + 'user:\n  secret_key: "%s"\n  algorithm: "HS256"\nserver:\n  api_key: "%s"\n' % (secret, key)
    result, failed = run_module(service_home, args_for(root, seed=seed), check_mode=True, diff=True)
    assert not failed, result
    shown = "".join(entry["after"] for entry in result["diff"])
    assert "  secret_key: <redacted>\n" in shown and "  api_key: <redacted>\n" in shown
    assert secret not in repr(result) and key not in repr(result)
