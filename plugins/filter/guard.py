# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter guard_settings_problems: the guard daemon's own settings check, for the guard role's validation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.guard import drain_plan, settings_problems


def guard_settings_problems(settings, prefix="ktune_guard_"):
    """Problems with the state machine's settings, each naming prefix + setting; [] when valid."""
    if not isinstance(settings, dict):
        raise AnsibleFilterError("guard_settings_problems: expected a dict of settings, got %s"
                                 % type(settings).__name__)
    return settings_problems(settings, prefix)


def _present(resolved):
    return [instance for instance in resolved or [] if instance.get("state", "present") == "present"]


def guard_instance_problems(wanted, resolved, name="ktune_guard_instances"):
    """Problems with the guarded instances: not a list of {name}, unknown names, repeats, bad baselines."""
    if not isinstance(wanted, list):
        return ["%s = %r: expected a list of {name, baseline_tokens_per_s, metrics}" % (name, wanted)]
    known = [instance["name"] for instance in _present(resolved)]
    problems, seen = [], set()
    for index, entry in enumerate(wanted):
        label = "%s[%d]" % (name, index)
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            problems.append("%s = %r: expected a dict with a name" % (label, entry))
            continue
        if entry["name"] not in known:
            problems.append("%s.name = %r is not a present instance of ktune_service_instances (present: %s)" % (
                label, entry["name"], ", ".join(known) or "none"))
        if entry["name"] in seen:
            problems.append("%s.name = %r is listed twice" % (label, entry["name"]))
        seen.add(entry["name"])
        baseline = entry.get("baseline_tokens_per_s")
        if baseline is not None and (isinstance(baseline, bool) or not isinstance(baseline, (int, float))
                                     or baseline <= 0):
            problems.append("%s.baseline_tokens_per_s = %r: expected tokens/s > 0, or leave it unset to learn it"
                            % (label, baseline))
        if entry.get("metrics") is not None and not isinstance(entry["metrics"], bool):
            problems.append("%s.metrics = %r: expected true or false" % (label, entry["metrics"]))
    return problems


def guard_instances(wanted, resolved):
    """The daemon's instance list: every present instance when wanted is empty, else the named ones.

    resolved: the ktransformers_instances filter's output (health_url, health_path, backend). An
    instance with an API key gets api_key_file, its root-only credentials file (the guard reads the
    key from there at run time: the key itself never enters the guard's settings).
    """
    extra = dict((entry["name"], entry) for entry in wanted or [])
    result = []
    for instance in _present(resolved):
        if extra and instance["name"] not in extra:
            continue
        url, path = instance["health_url"], instance["health_path"]
        entry = {"name": instance["name"], "backend": instance["backend"], "health_url": url,
                 "base_url": url[:-len(path)] if url.endswith(path) else url}
        if instance.get("api_key") and instance.get("credentials_file"):
            entry["api_key_file"] = instance["credentials_file"]
        for key in ("baseline_tokens_per_s", "metrics"):
            if extra.get(instance["name"], {}).get(key) is not None:
                entry[key] = extra[instance["name"]][key]
        result.append(entry)
    return result


def guard_drain_plan(statuses, wanted, floor, max_drains=1):
    """The fleet playbook's decision: which wanted hosts to drain, keeping floor of the group serving."""
    if not isinstance(statuses, dict):
        raise AnsibleFilterError("guard_drain_plan: expected {host: guard status list or None}, got %s"
                                 % type(statuses).__name__)
    return drain_plan(statuses, list(wanted or []), float(floor), int(max_drains))


class FilterModule(object):
    def filters(self):
        return {"guard_settings_problems": guard_settings_problems, "guard_instances": guard_instances,
                "guard_instance_problems": guard_instance_problems, "guard_drain_plan": guard_drain_plan}
