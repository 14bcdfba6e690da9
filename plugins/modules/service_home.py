#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: service_home
short_description: Create a service user's HOME and config file as root, following no link the user could plant
version_added: 0.1.0
description:
  - Makes sure O(path) (the service user's HOME) and O(path)/O(config_dir) are directories owned by
    O(user):O(group) with O(mode) and O(config_dir_mode); seeds O(path)/O(config_dir)/O(config_file)
    with O(seed) when it is missing; and adds the keys of O(add_missing) the file lacks. One call, for
    the ktransformers_service role, whose service may write its HOME.
  - The service can write its HOME, so a symlink there may point anywhere, for example to C(/etc) or
    C(/etc/shadow). The module opens one path component at a time relative to the last, with
    C(O_NOFOLLOW), and looks at what it opened before using it. Before changing anything, it refuses,
    naming the path and what it found, a symlink at any component (HOME's ancestors included), a
    directory owned by neither O(user) nor root, and a config file that is not a regular file of
    O(user) with one link (a hard link may be another file, a FIFO would hang the read).
  - A directory owned by root is given to O(user) (a user cannot make a directory root's). A config
    file owned by anyone else, root included, is refused.
  - Missing ancestors of O(path) are created, owned by root, mode C(0755).
  - The config file is YAML. Only missing keys are added, as lines inserted into the file, so every
    value, comment and the order of the keys stay. Where the host has PyYAML, it first decides
    which keys are missing and then checks that the edited file reads as the old one plus the added
    keys; without it, the file must be block-style YAML (every section on its own line with its keys
    indented below it, as the seeded file is), and anything else is refused with the line.
  - The edited file replaces the old one atomically (temporary file and rename in the same directory),
    keeps its mode and owner, and is not replaced when it changed since it was read. The seed is
    linked into place only when the file is still missing then.
author:
  - ktune contributors (@ktune)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Everything is inspected and refused as without check mode; nothing is written.
  diff_mode:
    support: full
    details: >-
      Directories as owner and mode before and after; the config file whole when it is seeded, and
      otherwise only the added keys under their sections (the rest of the file is the user's and may
      hold an API key, so it is never shown).
  platform:
    support: full
    platforms: posix
options:
  path:
    description:
      - The service user's HOME, an absolute path without symlinks in any component.
    type: path
    required: true
  user:
    description:
      - The service user. It must exist, except in check mode, where a user that the same run would
        create is reported as such.
    type: str
    required: true
  group:
    description:
      - The service user's group, given to every directory and file the module creates or takes over.
    type: str
    required: true
  mode:
    description:
      - Mode of O(path), in octal.
    type: raw
    default: "0750"
  config_dir:
    description:
      - Name of the config directory inside O(path). One path component.
    type: str
    default: .ktransformers
  config_dir_mode:
    description:
      - Mode of O(path)/O(config_dir), in octal.
    type: raw
    default: "0700"
  config_file:
    description:
      - Name of the YAML config file inside O(config_dir). One path component.
      - Only looked at when O(seed) or O(add_missing) is given.
    type: str
    default: config.yaml
  seed:
    description:
      - Content of the config file when it is missing (mode C(0600), owned by O(user)). An existing
        file is never replaced by it.
    type: str
  add_missing:
    description:
      - "Keys to add to the config file where it lacks them, as C({section: {key: value}}). A key the
        file has, with any value, null included, stays as it is. Values are strings, numbers,
        booleans or null."
      - Two levels only, a section of the top-level mapping and a key in it, which is what
        ktransformers reads without a default.
    type: dict
notes:
  - Run it as root; it is the reason the module exists. Run as another user it can only create and
    take over what that user may anyway.
seealso:
  - name: open(2)
    description: O_NOFOLLOW and O_NONBLOCK, which the module opens every component with.
    link: https://man7.org/linux/man-pages/man2/open.2.html
"""

EXAMPLES = r"""
- name: Create the service's HOME and ~/.ktransformers, seed config.yaml, add the keys upstream needs
  ktune.inference.service_home:
    path: /var/lib/ktransformers
    user: ktransformers
    group: ktransformers
    seed: "{{ lookup('ansible.builtin.template', 'ktransformers-config.yaml.j2') }}"
    add_missing:
      kvc2:
        disk_path: /var/lib/ktransformers/.ktransformers/kvc2
      model:
        name: DeepSeek-R1

- name: Only the directories (no config file)
  ktune.inference.service_home:
    path: /var/lib/ktransformers
    user: ktransformers
    group: ktransformers
"""

RETURN = r"""
path:
  description: The HOME handled.
  returned: always
  type: str
  sample: /var/lib/ktransformers
config_path:
  description: The config file, when O(seed) or O(add_missing) was given.
  returned: when O(seed) or O(add_missing) is given
  type: str
  sample: /var/lib/ktransformers/.ktransformers/config.yaml
changes:
  description: What was (in check mode, would be) done, one line per change, in order.
  returned: always
  type: list
  elements: str
  sample:
    - set /var/lib/ktransformers (ktransformers:ktransformers, 0750)
    - add kvc2.disk_path to /var/lib/ktransformers/.ktransformers/config.yaml
seeded:
  description: Whether the config file was (would be) seeded.
  returned: always
  type: bool
  sample: false
added:
  description: The dotted keys added (to be added) to the config file.
  returned: always
  type: list
  elements: str
  sample: [kvc2.disk_path, model.name]
diff:
  description: Owner and mode of the directories, and the config file's seed or added keys.
  returned: when diff mode is on
  type: list
  elements: dict
  sample:
    - before_header: /var/lib/ktransformers/.ktransformers/config.yaml (only the keys added; the rest of the file stays as it is)
      after_header: /var/lib/ktransformers/.ktransformers/config.yaml (only the keys added; the rest of the file stays as it is)
      before: "kvc2:\n"
      after: "kvc2:\n  disk_path: \"/var/lib/ktransformers/.ktransformers/kvc2\"\n"
"""

import grp
import pwd

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.ktune.inference.plugins.module_utils import service_home


def parse_mode(module, name):
    value = module.params[name]
    try:
        mode = int(value, 8) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        module.fail_json(msg="%s = %r: expected an octal mode such as 0750" % (name, value))
    if not 0 <= mode <= 0o7777:
        module.fail_json(msg="%s = %r: expected an octal mode such as 0750" % (name, value))
    return mode


def one_component(module, name):
    value = module.params[name]
    if not value or "/" in value or value in (".", ".."):
        module.fail_json(msg="%s = %r: expected one path component such as .ktransformers" % (name, value))
    return value


def add_missing_or_fail(module):
    add_missing = module.params["add_missing"] or {}
    for section, keys in add_missing.items():
        if not isinstance(keys, dict) or not all(
                value is None or isinstance(value, (str, int, float, bool)) for value in keys.values()):
            module.fail_json(msg="add_missing.%s = %r: expected a mapping of key to a string, number, boolean "
                                 "or null" % (section, keys))
    return add_missing


def account_or_fail(module):
    """The service account; uid None only in check mode, for a user the same run creates first."""
    user, group = module.params["user"], module.params["group"]
    try:
        uid = pwd.getpwnam(user).pw_uid
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        if not module.check_mode:
            module.fail_json(msg="expected the user %s and the group %s to exist, found at least one missing. "
                                 "Fix: create them first (ansible.builtin.user, ansible.builtin.group)" % (user, group))
        uid = gid = None
    return service_home.Account(user, group, uid, gid)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            path=dict(type="path", required=True),
            user=dict(type="str", required=True),
            group=dict(type="str", required=True),
            mode=dict(type="raw", default="0750"),
            config_dir=dict(type="str", default=".ktransformers"),
            config_dir_mode=dict(type="raw", default="0700"),
            config_file=dict(type="str", default="config.yaml"),
            # The seed holds the server's session secret (user.secret_key): never in -v output.
            seed=dict(type="str", no_log=True),
            add_missing=dict(type="dict"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    add_missing = add_missing_or_fail(module)
    wants_config = params["seed"] is not None or bool(add_missing)
    account = account_or_fail(module)
    try:
        plan = service_home.inspect(
            params["path"], account, parse_mode(module, "mode"), one_component(module, "config_dir"),
            parse_mode(module, "config_dir_mode"),
            config_file=one_component(module, "config_file") if wants_config else None,
            seed=params["seed"], add_missing=add_missing)
    except service_home.Refused as exc:
        module.fail_json(msg="%s. Nothing was changed." % exc, path=exc.path, changed=False)
    except OSError as exc:
        module.fail_json(msg="%s: reading it failed: %s. Nothing was changed." % (params["path"], exc), changed=False)
    if plan.changed and not module.check_mode:
        try:
            service_home.apply(plan)
        except (service_home.Refused, OSError) as exc:
            # Only a change made between the look and the write gets here (another process).
            module.fail_json(msg="%s. The run stopped part way through: %s" % (exc, "; ".join(service_home.changes(plan))),
                             path=getattr(exc, "path", params["path"]), changed=True)

    result = dict(
        changed=plan.changed,
        path=params["path"],
        changes=service_home.changes(plan),
        seeded=plan.seeded,
        added=["%s.%s" % (entry["section"], entry["key"]) for entry in plan.added],
    )
    if wants_config:
        result["config_path"] = plan.config_path
    if module._diff:
        result["diff"] = service_home.diffs(plan)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
