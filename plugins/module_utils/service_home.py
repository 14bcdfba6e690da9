# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service user's HOME, its config directory and config file, handled by root without trusting them.

The service writes its HOME, so anything there may have been planted by it: a symlink to /etc,
a hard link to /etc/shadow, a FIFO. Root must never follow such a path. Every step here opens one
path component at a time, relative to the directory opened before it, with O_NOFOLLOW, and looks
at what it opened (fstat) before using it:

- no symlink anywhere on the way, HOME's ancestors included (the fix is the real path);
- directories must belong to the service user, or to root (then they are given to the user: a
  user cannot make a directory root's);
- files must belong to the service user and have one link (a hard link could be another file);
- everything is inspected first (plan), and only then changed (apply), so a refusal changes
  nothing.

The config file is YAML: only missing keys (section.key, two levels) are added, as lines inserted
into the file, so every value, comment and the key order stay. PyYAML, where the host has it,
checks the result; without it the file must be plain block YAML, which the seeded file is.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import binascii
import errno
import json
import os
import re
import stat

try:
    import yaml

    HAS_YAML = True
except ImportError:  # most minimal hosts: the line scanner below decides alone
    HAS_YAML = False

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
# O_NONBLOCK: a FIFO planted in place of the file must not hang the open.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
ANCESTOR_MODE = 0o755
MAX_CONFIG_BYTES = 1024 * 1024


class Refused(Exception):
    """What was found is not safe (or not sane) to touch as root; the message says expected, found and fix."""

    def __init__(self, path, expected, found, fix):
        self.path = path
        super(Refused, self).__init__("%s: expected %s, found %s. Fix: %s" % (path, expected, found, fix))


class Account(object):
    """The service user and group: names for messages, ids for ownership. uid None: not created yet."""

    def __init__(self, user, group, uid, gid):
        self.user, self.group, self.uid, self.gid = user, group, uid, gid

    @property
    def owner(self):
        return "%s:%s" % (self.user, self.group)


# ---------------------------------------------------------------- describing what was found

def _owner_name(uid):
    try:
        import pwd

        return "uid %d (%s)" % (uid, pwd.getpwuid(uid).pw_name)
    except (ImportError, KeyError):
        return "uid %d" % uid


def _kind(st):
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"), (stat.S_ISLNK, "a symlink"),
                       (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device")):
        if test(st.st_mode):
            return name
    return "an unknown file type"


def _found_link(dir_fd, name):
    try:
        return "a symlink to %s" % os.readlink(name, dir_fd=dir_fd)
    except OSError:
        return "a symlink"


def _lstat(dir_fd, name):
    """lstat of name in dir_fd, or None when it does not exist."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise


def _same_file(a, b):
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


# ---------------------------------------------------------------- the checks

def _refuse_link(dir_fd, name, path, what, fix):
    raise Refused(path, what, _found_link(dir_fd, name), fix)


def check_directory(dir_fd, name, path, account):
    """Refuse anything at path but a directory of the service user or of root; return its lstat or None."""
    st = _lstat(dir_fd, name)
    if st is None:
        return None
    expected = "a directory owned by %s or root" % account.user
    if stat.S_ISLNK(st.st_mode):
        _refuse_link(dir_fd, name, path, expected,
                     "remove the link (rm %s); the directory is created again. Root follows no link the "
                     "service user could have made" % path)
    if not stat.S_ISDIR(st.st_mode):
        raise Refused(path, expected, _kind(st), "move it away; the directory is created again")
    if st.st_uid not in (0, account.uid):
        raise Refused(path, expected, "one owned by %s" % _owner_name(st.st_uid),
                      "check what is in it, then chown -R %s %s" % (account.owner, path))
    return st


def check_file(dir_fd, name, path, account):
    """Refuse anything at path but a regular file of the service user with one link; return its lstat or None."""
    st = _lstat(dir_fd, name)
    if st is None:
        return None
    expected = "a regular file owned by %s" % account.user
    if stat.S_ISLNK(st.st_mode):
        _refuse_link(dir_fd, name, path, expected,
                     "remove the link (rm %s); the file is seeded again. Root follows no link the service "
                     "user could have made" % path)
    if not stat.S_ISREG(st.st_mode):
        raise Refused(path, expected, _kind(st), "move it away; the file is seeded again")
    if st.st_uid != account.uid:
        raise Refused(path, expected, "one owned by %s" % _owner_name(st.st_uid),
                      "check its content, then chown %s %s" % (account.owner, path))
    if st.st_nlink != 1:
        raise Refused(path, expected + " with one link", "%d hard links to it (it may be another file)" % st.st_nlink,
                      "replace it with a copy: cp %s %s.copy && mv %s.copy %s" % (path, path, path, path))
    return st


def _split(path):
    if not os.path.isabs(path) or path != os.path.normpath(path) or path == "/":
        raise Refused(path, "an absolute, normalised path below /", repr(path), "give HOME as such a path")
    return [part for part in path.split("/") if part]


# ---------------------------------------------------------------- plan

class Plan(object):
    """What exists now and what apply() will do; built by inspect() without changing anything."""

    def __init__(self, home, account):
        self.home = home
        self.account = account
        self.missing_ancestors = []
        self.directories = []  # [{path, stat or None, mode}]
        self.config_path = None
        self.config_stat = None
        self.config_before = None
        self.config_after = None
        self.seeded = False
        self.added = []  # [{section, key, line, new_section}]

    def directory_changes(self):
        return [entry for entry in self.directories if _directory_differs(entry, self.account)]

    @property
    def changed(self):
        return bool(self.missing_ancestors or self.directory_changes() or self.seeded or self.added)


def _directory_differs(entry, account):
    st = entry["stat"]
    return (st is None or stat.S_IMODE(st.st_mode) != entry["mode"]
            or st.st_uid != account.uid or st.st_gid != account.gid)


def _open_ancestors(parts, plan):
    """Open HOME's parent with no link followed; None when some ancestor is missing (then listed in plan)."""
    fd = os.open("/", _DIR_FLAGS)
    path = ""
    for index, part in enumerate(parts[:-1]):
        path += "/" + part
        st = _lstat(fd, part)
        if st is None:
            os.close(fd)
            plan.missing_ancestors = ["/" + "/".join(parts[:end + 1]) for end in range(index, len(parts) - 1)]
            return None
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(plan.home)
            try:
                _refuse_link(fd, part, path, "a directory on the way to HOME %s" % plan.home,
                             "give HOME as the path without links, such as %s" % real)
            finally:
                os.close(fd)
        if not stat.S_ISDIR(st.st_mode):
            os.close(fd)
            raise Refused(path, "a directory on the way to HOME %s" % plan.home, _kind(st), "choose another HOME")
        fd = _open_dir_checked(fd, part, st, path)
    return fd


def _open_dir_checked(parent_fd, name, st, path):
    """Open name (in parent_fd, which is closed) as the directory lstat saw; refuse a swap in between."""
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError as exc:
        raise Refused(path, "the directory seen a moment before", "it changed while being opened (%s)"
                      % os.strerror(exc.errno), "run again; if it keeps changing, find what changes it")
    finally:
        os.close(parent_fd)
    if not _same_file(os.fstat(fd), st):
        os.close(fd)
        raise Refused(path, "the directory seen a moment before", "another one in its place",
                      "run again; if it keeps changing, find what changes it")
    return fd


def inspect(home, account, home_mode, config_dir, config_dir_mode, config_file=None, seed=None, add_missing=None):
    """Look at HOME, HOME/config_dir and the config file without changing anything; return a Plan.

    Raises Refused for a symlink, a foreign owner, a file with several links or a file type that
    does not belong there.
    """
    plan = Plan(home, account)
    parts = _split(home)
    config_dir_path = home + "/" + config_dir
    fd = _open_ancestors(parts, plan)
    home_stat = config_dir_stat = None
    try:
        if fd is not None:
            home_stat = check_directory(fd, parts[-1], home, account)
            if home_stat is not None:
                parent, fd = fd, None
                fd = _open_dir_checked(parent, parts[-1], home_stat, home)
                config_dir_stat = check_directory(fd, config_dir, config_dir_path, account)
                if config_dir_stat is not None:
                    parent, fd = fd, None
                    fd = _open_dir_checked(parent, config_dir, config_dir_stat, config_dir_path)
                    if config_file:
                        _inspect_config(fd, config_file, config_dir_path + "/" + config_file, plan)
    finally:
        if fd is not None:
            os.close(fd)
    plan.directories = [dict(path=home, stat=home_stat, mode=home_mode),
                        dict(path=config_dir_path, stat=config_dir_stat, mode=config_dir_mode)]
    if config_file:
        plan.config_path = config_dir_path + "/" + config_file
        _plan_config(plan, seed, add_missing or {})
    return plan


def _inspect_config(dir_fd, name, path, plan):
    st = check_file(dir_fd, name, path, plan.account)
    if st is None:
        return
    fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    try:
        if not _same_file(os.fstat(fd), st):
            raise Refused(path, "the file seen a moment before", "another one in its place",
                          "run again; if it keeps changing, find what changes it")
        data = _read_at_most(fd, MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise Refused(path, "a config file under %d bytes" % MAX_CONFIG_BYTES, "a larger file",
                      "check what it is; a ktransformers config.yaml is a few kilobytes")
    try:
        plan.config_before = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(path, "a UTF-8 YAML file", "bytes that are not UTF-8", "check what it is, then fix or remove it")
    plan.config_stat = st


def _read_at_most(fd, limit):
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _plan_config(plan, seed, add_missing):
    text = plan.config_before
    if text is None and seed is not None:
        text = seed
        plan.seeded = True
    if text is None:
        return
    after, plan.added = add_missing_keys(text, add_missing, plan.config_path)
    plan.config_after = after if plan.seeded or plan.added else None


# ---------------------------------------------------------------- the YAML edit

_DOCUMENT_MARKER = re.compile(r"^(---|\.\.\.)(\s|$)")
_TOP_LEVEL_KEY = re.compile(r"""^(?P<key>"[^"]*"|'[^']*'|[^\s#'"{\[&*!|>%@`-][^:#]*?)\s*:(?P<rest>\s.*|)$""")


def _is_content(line):
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _unquote(key):
    return key[1:-1] if key[:1] in "\"'" else key


def _not_editable(path, found):
    return Refused(path, "a block-style YAML mapping (section: on its own line, its keys indented below it)",
                   found, "add the missing keys by hand, or move the file away so it is seeded again")


def _top_level_entries(lines, path):
    """{section: [index of its header line, end index of its block]} for every top-level key."""
    entries, order = {}, []
    for index, line in enumerate(lines):
        if not _is_content(line) or line[0] in " \t":
            continue
        if _DOCUMENT_MARKER.match(line):
            if index == 0 or not any(_is_content(earlier) for earlier in lines[:index]):
                continue
            raise _not_editable(path, "more than one YAML document (a '%s' line at line %d)" % (line.strip(), index + 1))
        match = _TOP_LEVEL_KEY.match(line.rstrip("\r\n"))
        if not match:
            raise _not_editable(path, "line %d, which is not a 'key:' line at the top level" % (index + 1))
        key = _unquote(match.group("key").strip())
        if key in entries:
            raise _not_editable(path, "the key %s twice (lines %d and %d)" % (key, entries[key][0] + 1, index + 1))
        entries[key] = [index, len(lines)]
        if order:
            entries[order[-1]][1] = index
        order.append(key)
        entries[key].append(match.group("rest").strip())
    return entries


def _section_children(lines, header, end, path, section):
    """(indent of the section's keys, {key}, index after its last content line)."""
    indent, keys, insert_at = None, set(), header + 1
    for index in range(header + 1, end):
        line = lines[index]
        if not _is_content(line):
            continue
        insert_at = index + 1
        leading = line[:len(line) - len(line.lstrip(" \t"))]
        if "\t" in leading:
            raise _not_editable(path, "a tab in the indentation of line %d" % (index + 1))
        if indent is None:
            indent = leading
        if leading == indent:
            match = _TOP_LEVEL_KEY.match(line[len(indent):].rstrip("\r\n"))
            if not match:
                raise _not_editable(path, "line %d, which is not a 'key:' line in %s" % (index + 1, section))
            keys.add(_unquote(match.group("key").strip()))
    return indent or "  ", keys, insert_at


def yaml_scalar(value):
    """value as a YAML scalar that reads back as the same str, int, float, bool or null."""
    if isinstance(value, float) and value in (float("inf"), float("-inf")):
        return ".inf" if value > 0 else "-.inf"
    if isinstance(value, float) and "e" in repr(value) and "." not in repr(value):
        return repr(value).replace("e", ".0e")  # YAML 1.1 reads 1e-05 as a string, 1.0e-05 as a float
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    return '"%s"' % "".join(_yaml_char(char) for char in str(value))


def _yaml_char(char):
    # Escaped: what a double-quoted YAML scalar gives a meaning to ("\), and every character that is
    # not printable text, which YAML folds (line breaks, NEL, U+2028), refuses (controls,
    # noncharacters) or UTF-8 cannot hold (lone surrogates).
    if char in '"\\':
        return "\\" + char
    if char.isprintable():
        return char
    code = ord(char)
    return "\\x%02x" % code if code < 0x100 else "\\u%04x" % code if code < 0x10000 else "\\U%08x" % code


def add_missing_keys(text, add_missing, path):
    """(text with every missing section.key added, [{section, key, line, new_section}] added).

    add_missing: {section: {key: value}}. A key present with any value, null included, stays.
    """
    old = _load_yaml(text, path) if HAS_YAML else None
    if HAS_YAML and not _missing_in(old, add_missing):
        return text, []
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    entries = _top_level_entries(lines, path)
    insertions, appended, added = [], [], []
    for section in sorted(add_missing):
        wanted = add_missing[section]
        if section not in entries:
            appended.append("%s:\n" % section)
            for key in sorted(wanted):
                line = "  %s: %s" % (key, yaml_scalar(wanted[key]))
                appended.append(line + "\n")
                added.append(dict(section=section, key=key, line=line, new_section=True))
            continue
        header, end, rest = entries[section]
        if rest and not rest.startswith("#"):
            raise _not_editable(path, "%s with its value on the same line (line %d)" % (section, header + 1))
        indent, keys, insert_at = _section_children(lines, header, end, path, section)
        for key in sorted(set(wanted) - keys):
            line = "%s%s: %s" % (indent, key, yaml_scalar(wanted[key]))
            insertions.append((insert_at, line + "\n"))
            added.append(dict(section=section, key=key, line=line, new_section=False))
    if not added:
        return text, []
    for index, line in sorted(insertions, key=lambda item: item[0], reverse=True):
        lines.insert(index, line)
    after = "".join(lines + appended)
    if HAS_YAML:
        _check_with_yaml(old, after, add_missing, added, path)
    return after, added


def _load_yaml(text, path):
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _not_editable(path, "YAML that does not parse (%s)" % str(exc).splitlines()[0])
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise _not_editable(path, "a %s at the top level" % type(loaded).__name__)
    return loaded


def _missing_in(config, add_missing):
    """[(section, key)] of add_missing that the loaded config lacks."""
    return [(section, key) for section in sorted(add_missing) for key in sorted(add_missing[section])
            if not isinstance(config.get(section), dict) or key not in config[section]]


def _check_with_yaml(old, after, add_missing, added, path):
    """Refuse when PyYAML does not read the edit as exactly the old mapping plus the added keys."""
    expected = dict(old)
    for entry in added:
        expected[entry["section"]] = dict(expected.get(entry["section"]) or {})
        expected[entry["section"]][entry["key"]] = add_missing[entry["section"]][entry["key"]]
    if _load_yaml(after, path) != expected:
        raise _not_editable(path, "a layout the line edit does not understand (PyYAML reads the edited file "
                                  "differently from the original plus the added keys)")


# ---------------------------------------------------------------- apply

def apply(plan):
    """Carry out the plan, again with no link followed; each step re-checks what it opens."""
    account = plan.account
    fd = _create_ancestors(plan)
    try:
        for entry in plan.directories:
            parent, fd = fd, None
            fd = _ensure_directory(parent, os.path.basename(entry["path"]), entry["path"], entry["mode"], account)
        if plan.seeded:
            _seed(fd, os.path.basename(plan.config_path), plan)
        elif plan.added:
            _replace(fd, os.path.basename(plan.config_path), plan)
    finally:
        if fd is not None:
            os.close(fd)


def _create_ancestors(plan):
    parts = _split(plan.home)
    fd = os.open("/", _DIR_FLAGS)
    path = ""
    for part in parts[:-1]:
        path += "/" + part
        if path in plan.missing_ancestors:
            _mkdir(fd, part)
        st = _lstat(fd, part)
        if st is None or not stat.S_ISDIR(st.st_mode):
            found = "nothing" if st is None else (
                _found_link(fd, part) if stat.S_ISLNK(st.st_mode) else _kind(st))
            os.close(fd)
            raise Refused(path, "a directory on the way to HOME %s" % plan.home, found,
                          "run again; if it keeps changing, find what changes it")
        fd = _open_dir_checked(fd, part, st, path)
        if path in plan.missing_ancestors:
            os.fchmod(fd, ANCESTOR_MODE)
    return fd


def _mkdir(dir_fd, name):
    try:
        os.mkdir(name, 0o700, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise


def _ensure_directory(parent_fd, name, path, mode, account):
    """Create or take over path as account's directory with mode; return it opened (parent_fd closed)."""
    if _lstat(parent_fd, name) is None:
        # 0700 and root's until the chown below: never briefly open to others.
        _mkdir(parent_fd, name)
    try:
        st = check_directory(parent_fd, name, path, account)
    except Refused:
        os.close(parent_fd)
        raise
    fd = _open_dir_checked(parent_fd, name, st, path)
    if (st.st_uid, st.st_gid) != (account.uid, account.gid):
        os.fchown(fd, account.uid, account.gid)
    if stat.S_IMODE(st.st_mode) != mode:
        os.fchmod(fd, mode)
    return fd


def _write_temporary(dir_fd, name, content, mode, account):
    """Write content to a new file name in dir_fd, owned by account; O_EXCL: never an existing one."""
    fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        os.fchown(fd, account.uid, account.gid)
        os.fchmod(fd, mode)
        data = content.encode("utf-8")
        while data:
            data = data[os.write(fd, data):]
        os.fsync(fd)
    except Exception:
        os.close(fd)
        os.unlink(name, dir_fd=dir_fd)
        raise
    os.close(fd)


def _temporary_name(name):
    # Unpredictable: the user, who may write the directory, cannot hold the name in advance.
    return ".%s.ktune-%s" % (name, binascii.hexlify(os.urandom(8)).decode("ascii"))


def _seed(dir_fd, name, plan):
    """Put the seed in place only if the file is still missing (link(2) never replaces)."""
    temporary = _temporary_name(name)
    _write_temporary(dir_fd, temporary, plan.config_after, 0o600, plan.account)
    try:
        os.link(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
        raise Refused(plan.config_path, "no file (it was missing a moment before)", "one created meanwhile",
                      "run again")
    finally:
        os.unlink(temporary, dir_fd=dir_fd)


def _replace(dir_fd, name, plan):
    """Replace the file with the edited text, keeping its mode, unless it changed since it was read."""
    temporary = _temporary_name(name)
    _write_temporary(dir_fd, temporary, plan.config_after, stat.S_IMODE(plan.config_stat.st_mode), plan.account)
    now = _lstat(dir_fd, name)
    if now is None or not _same_file(now, plan.config_stat) or now.st_mtime != plan.config_stat.st_mtime:
        os.unlink(temporary, dir_fd=dir_fd)
        raise Refused(plan.config_path, "the file read a moment before", "it changed meanwhile", "run again")
    os.rename(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)


# ---------------------------------------------------------------- reporting

def _describe_directory(st):
    if st is None:
        return "absent\n"
    return "directory, owner %s, mode %04o\n" % (_ids(st.st_uid, st.st_gid), stat.S_IMODE(st.st_mode))


def _ids(uid, gid):
    try:
        import grp
        import pwd

        return "%s:%s" % (pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name)
    except (ImportError, KeyError):
        return "%d:%d" % (uid, gid)


def changes(plan):
    """One line per change, in the order apply() makes them."""
    lines = ["create %s (root, %04o)" % (path, ANCESTOR_MODE) for path in plan.missing_ancestors]
    for entry in plan.directory_changes():
        verb = "create" if entry["stat"] is None else "set"
        lines.append("%s %s (%s, %04o)" % (verb, entry["path"], plan.account.owner, entry["mode"]))
    if plan.seeded:
        lines.append("seed %s" % plan.config_path)
    lines += ["add %s.%s to %s" % (entry["section"], entry["key"], plan.config_path) for entry in plan.added]
    return lines


# Keys of the legacy server's config.yaml whose values are secrets: the API key the launcher
# writes, and the secret that signs its sessions.
SECRET_KEYS = ("api_key", "secret_key")
_SECRET_LINE = re.compile(r"^(\s*(?:%s)\s*:\s*).+$" % "|".join(SECRET_KEYS), re.M)


def redact_secret_values(text):
    """YAML text with the value of every secret key (SECRET_KEYS) replaced by <redacted>."""
    return _SECRET_LINE.sub(r"\1<redacted>", text)


def diffs(plan):
    """The diff: directories as owner and mode; the config file whole when seeded, else only the added keys.

    The config file is the user's (the legacy launcher writes the API key into it), so an edit shows
    the added lines under their section, never the rest of the file.
    """
    result = []
    for path in plan.missing_ancestors:
        result.append(dict(before_header=path, after_header=path, before="absent\n",
                           after="directory, owner root:root, mode %04o\n" % ANCESTOR_MODE))
    for entry in plan.directory_changes():
        after = "directory, owner %s, mode %04o\n" % (plan.account.owner, entry["mode"])
        result.append(dict(before_header=entry["path"], after_header=entry["path"],
                           before=_describe_directory(entry["stat"]), after=after))
    if plan.seeded:
        result.append(dict(before_header=plan.config_path, after_header=plan.config_path, before="",
                           after=redact_secret_values(plan.config_after)))
    elif plan.added:
        header = "%s (only the keys added; the rest of the file stays as it is)" % plan.config_path
        before, after = [], []
        for section in sorted(set(entry["section"] for entry in plan.added)):
            entries = [entry for entry in plan.added if entry["section"] == section]
            if not entries[0]["new_section"]:
                before.append("%s:\n" % section)
            after.append("%s:\n" % section)
            after += [entry["line"] + "\n" for entry in entries]
        result.append(dict(before_header=header, after_header=header, before="".join(before), after="".join(after)))
    return result
