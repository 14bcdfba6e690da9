# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action ktune.inference.judge: the tuning roles' settings, one read of the host for all of
them, and each role's host state and drift, on the controller."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import re

from ansible.errors import AnsibleActionFail, AnsibleError, AnsibleUndefinedVariable
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.action import ActionBase
from ansible.template import Templar

try:
    from ansible.template import trust_as_template
except ImportError:  # ansible-core before 2.19 trusts every template

    def trust_as_template(value):
        return value
from ansible.utils.vars import load_extra_vars

from ansible_collections.ktune.inference.plugins.plugin_utils.judgement import (
    COLLECTION_ROOT,
    RequestConflict,
    RoleSpecError,
    combined,
    judgement,
    layered,
    listed,
    merged_request,
    role_options,
    role_variable,
    selected_by_tags,
    spec_defaults,
    spec_problems,
)
from ansible_collections.ktune.inference.plugins.module_utils.tune_record import (
    record_message,
    record_needs_writing,
    record_text,
    record_verdict,
)
from ansible_collections.ktune.inference.plugins.plugin_utils.collection_version import collection_version
from ansible_collections.ktune.inference.plugins.plugin_utils.role_judgements import ROLE_PARTS, python_part
from ansible_collections.ktune.inference.plugins.plugin_utils.role_settings import settings_problems

ROLE_NAME = re.compile(r"^[a-z][a-z0-9_]*\Z")
READ_MODULE = "ktune.inference.managed_state"


def resolve(templar, name):
    """The value of a variable, templated (ansible-core 2.19 and 2.16)."""
    if hasattr(templar, "resolve_variable_expression"):
        return templar.resolve_variable_expression(name)
    return templar.template("{{ %s }}" % name)


def not_judged():
    return []


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _roles(self, task_vars):
        args = self._task.args
        roles = args.get("roles")
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list) or not all(isinstance(role, str) and ROLE_NAME.match(role) for role in roles):
            raise AnsibleActionFail("judge: roles must be a list of role names of this collection, got %r" % (roles,))
        deprecations = []
        if args.get("select_by_tags", False):
            deprecations.append({
                "msg": "judge: select_by_tags is deprecated; pass the roles this run selects instead "
                       "(tune_host.yml: a set_fact tagged with each role's name, playbooks/tasks/select_roles.yml)",
                "version": "2.0.0", "collection_name": "ktune.inference"})
            roles = selected_by_tags(roles, task_vars.get("ansible_run_tags"), task_vars.get("ansible_skip_tags"))
        return roles, deprecations

    def _role_vars(self, role):
        """The vars/main.yml of a role not yet judged in Python (role_judgements.py), loaded as
        Ansible loads it (templates kept for later)."""
        if role in ROLE_PARTS:
            return {}
        path = os.path.join(COLLECTION_ROOT, "roles", role, "vars", "main.yml")
        if not os.path.exists(path):
            return {}
        try:
            return self._loader.load_from_file(path, trusted_as_template=True) or {}
        except TypeError:  # ansible-core before 2.19 trusts every template it loads
            return self._loader.load_from_file(path) or {}

    def _templar_for(self, role, variables):
        """A templar that sees the role's variables and finds its files and templates (lookups)."""
        role_path = os.path.join(COLLECTION_ROOT, "roles", role)
        search_path = [role_path] + list(variables.get("ansible_search_path") or [])
        # A new templar, not a copy: a copy's lookups would still see the task's variables (2.16).
        return Templar(loader=self._loader,
                       variables=dict(variables, role_path=role_path, ansible_search_path=search_path))

    def _value(self, templar, variables, name, default):
        return resolve(templar, name) if name in variables else default

    def _settings(self, role, variables, before_read=False):
        """The role's settings, each option of its argument specification as the host's variables
        set it (an option not set takes the specification's default), the specification's
        complaints about them (types, choices), and whether some setting was left for after the read.

        Before the read, a setting computed from what the read brings (ktune_numa) is left for the
        check after it; that check is made only for the roles that left one.
        """
        templar = self._templar_for(role, variables)
        try:
            options = role_options(role)
        except RoleSpecError as exc:
            raise AnsibleActionFail("judge: %s" % exc)
        values, errors, deferred = {}, [], False
        for name in options:
            if name not in variables:
                continue
            try:
                values[name] = resolve(templar, name)
            except AnsibleUndefinedVariable:
                if not before_read:
                    raise
                deferred = True
            except AnsibleError as exc:
                errors.append("%s cannot be evaluated: %s" % (name, to_text(exc).splitlines()[0]))
        errors += spec_problems(options, values)
        settings = dict((name, option.get("default")) for name, option in options.items())
        settings.update(values)
        return settings, errors, deferred

    def _rendered(self, role, variables, settings, state):
        """{path: content} of the files the role writes, rendered from its files and templates as
        its tasks render them (the same lookups, on the controller, no round trip); None for a role
        without sources."""
        sources = python_part(role, "sources")
        if sources is None:
            return None
        wanted = sources(settings, state, variables.get("ktune_numa") or {})
        templar = self._templar_for(role, dict(variables, **dict(settings, **wanted["variables"])))
        rendered = {}
        for kind, lookup in (("file", "query('ansible.builtin.file', *__ktune_sources, rstrip=false)"),
                             ("template", "query('ansible.builtin.template', *__ktune_sources)")):
            entries = [entry for entry in wanted["files"] if kind in entry]
            if not entries:
                continue
            templar.available_variables = dict(templar.available_variables,
                                               __ktune_sources=[entry[kind] for entry in entries])
            contents = templar.template(trust_as_template("{{ %s }}" % lookup))
            rendered.update((entry["path"], content) for entry, content in zip(entries, contents))
        return rendered

    def _part(self, role, name, variables, settings, state, empty, rendered=None):
        """A part of the role's judgement: its Python function (empty where a role judged in Python
        has none), or else its templated variable."""
        function = python_part(role, name)
        if function is not None:
            extra = {} if rendered is None else {"rendered": rendered}
            return lambda: function(settings, state, variables.get("ktune_numa") or {}, **extra)
        if role in ROLE_PARTS:
            return lambda: empty
        templar = self._templar_for(role, variables)
        return lambda: self._value(templar, variables, role_variable(role, name), empty)

    def _read(self, roles, variables, settings, task_vars):
        """One managed_state call for every role's request (and the NUMA layout)."""
        args = self._task.args
        requests = [self._part(role, "state_request", variables, settings[role], None, {})() for role in roles]
        try:
            request = merged_request(requests)
        except RequestConflict as exc:
            raise AnsibleActionFail("judge: %s" % exc)
        request["numa"] = bool(args.get("numa", True))
        if args.get("tune_record"):
            request["tune_record"] = args["tune_record"]
        for root in ("sysfs_root", "procfs_root"):
            if args.get(root):
                request[root] = args[root]
        try:
            return self._execute_module(module_name=READ_MODULE, module_args=request, task_vars=task_vars)
        finally:
            self._remove_tmp_path(self._connection._shell.tmpdir)

    def _judge(self, role, variables, checked, state):
        """The role's settings again where some waited for the read, its own checks of them
        (role_settings.py; some need the read, such as a governor some policy lacks), then its host
        state, what it would change, its notes and exports. A part that cannot be worked out is a
        problem of the role, so that tune.yml stops every host rather than this one alone."""
        try:
            settings, errors, deferred = checked
            if deferred:
                settings, errors, _deferred = self._settings(role, variables)

            rendered = {}

            def part(name, empty=None):
                return self._part(role, name, variables, settings, state, [] if empty is None else empty,
                                  rendered.get("files"))
            problems = errors or (settings_problems(role, settings, state) + listed(part("settings_problems")()))
            if not problems:
                rendered["files"] = self._rendered(role, variables, settings, state)
            found = judgement(problems, part("host_problems"), part("drift_items"), part("notes"))
            if not found["problems"] and not found["host_problems"]:
                found["exports"] = part("exports", {})()
                if python_part(role, "plan") is not None:
                    found["plan"] = part("plan", {})()
        except AnsibleError as exc:
            found = judgement(["role %s cannot be judged on this host: %s" % (role, to_text(exc).splitlines()[0])],
                              not_judged, not_judged, not_judged)
        return found

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        roles, deprecations = self._roles(task_vars)
        if deprecations:
            result["deprecations"] = deprecations
        # The roles' defaults are their argument specifications' (tests/unit/roles/test_role_defaults.py
        # keeps defaults/main.yml equal to them); no role's defaults/main.yml is read.
        variables = layered([spec_defaults(role) for role in roles], task_vars,
                            [self._role_vars(role) for role in roles], load_extra_vars(self._loader))
        # The settings' types first, for every role: a host whose settings cannot even be sent to
        # the read is not read.
        checked = dict((role, self._settings(role, variables, before_read=True)) for role in roles)
        if any(checked[role][1] for role in roles):
            judged = dict((role, judgement(checked[role][1], not_judged, not_judged, not_judged)) for role in roles)
            result.update(combined(judged))
            result.update(roles=judged, state={}, changed=False)
            return result
        state = self._task.args.get("state") or self._read(roles, variables, dict((role, checked[role][0]) for role in roles),
                                                           task_vars)
        if state.get("failed"):
            result.update(failed=True, msg="%s: reading the host failed: %s" % (task_vars.get("inventory_hostname"), state.get("msg")))
            return result
        variables["ktune_managed_state"] = state
        facts = state.get("ansible_facts") or {}
        if "ktune_numa" in facts:
            variables["ktune_numa"] = facts["ktune_numa"]
        judged = dict((role, self._judge(role, variables, checked[role], state)) for role in roles)
        result.update(combined(judged))
        result.update(roles=judged, state=state, changed=False)
        for key in ("warnings", "deprecations"):  # what the read has to say (offline CPUs, ...)
            if state.get(key):
                result[key] = result.get(key, []) + state[key]
        if facts:
            result["ansible_facts"] = facts
        if "tune_record" in state:
            result["tune_record"] = tune_record(task_vars.get("inventory_hostname"), state["tune_record"])
            if result["tune_record"]["message"] and result["tune_record"]["comparison"] != "upgrade":
                result["warnings"] = result.get("warnings", []) + [result["tune_record"]["message"]]
        return result


def tune_record(host, record):
    """What tune does with the host's record of which ktune tuned it (module_utils/tune_record.py):
    the record against this collection's version, the line to print, and the content to write
    when it must be written (the time is now: a record that stays is not rewritten)."""
    verdict = record_verdict(record, collection_version())
    verdict["message"] = record_message(host, verdict)
    verdict["write"] = record_needs_writing(verdict)
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    verdict["content"] = record_text(verdict["running"], now) if verdict["write"] else None
    return verdict
