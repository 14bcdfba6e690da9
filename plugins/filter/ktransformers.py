# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters ktransformers_instances, ktransformers_command, ktransformers_problems and the routers' (ktransformers_routers,
ktransformers_router_problems, ktransformers_router_failure, and the restarts through them: ktransformers_restart_routes,
ktransformers_restart_order, ktransformers_replica_restart_failure)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.module_utils.ktransformers import (
    InstanceError,
    host_problems,
    instance_problems,
    memory_fit_problems,
    memory_not_checked,
    parse_listeners,
    instances_without_secrets,
    redact_secrets,
    resolve_instances,
)
from ansible_collections.ktune.inference.plugins.module_utils.router import (
    left_out_of_router,
    leftover_units,
    not_taken_out,
    restart_order,
    restart_routes,
    router_message,
    router_plan,
    router_reading_problems,
    router_worker_problems,
)


def _require_facts(numa, name):
    if not isinstance(numa, dict) or "available" not in numa:
        raise AnsibleFilterError("%s: expected the ktune_numa fact from ktune.inference.numa_facts, got %r"
                                 % (name, type(numa).__name__))


def _settings(settings, name):
    if settings is not None and not isinstance(settings, dict):
        raise AnsibleFilterError("%s: settings must be a dictionary, got %r" % (name, type(settings).__name__))
    return settings


def ktransformers_instances(instances, numa, settings=None):
    _require_facts(numa, "ktransformers_instances")
    try:
        return resolve_instances(instances, numa, _settings(settings, "ktransformers_instances"))
    except InstanceError as exc:
        raise AnsibleFilterError("ktransformers_instances: %s" % exc)


def ktransformers_command(instance, numa, settings=None):
    _require_facts(numa, "ktransformers_command")
    if not isinstance(instance, dict):
        raise AnsibleFilterError("ktransformers_command: expected one instance (a dictionary), got %r"
                                 % type(instance).__name__)
    raw = dict(instance)
    raw.pop("state", None)
    try:
        return resolve_instances([raw], numa, _settings(settings, "ktransformers_command"))[0]["argv"]
    except InstanceError as exc:
        raise AnsibleFilterError("ktransformers_command: %s" % exc)


def ktransformers_problems(instances, numa, settings=None, stats=None, listeners=None, sizes=None):
    _require_facts(numa, "ktransformers_problems")
    settings = _settings(settings, "ktransformers_problems")
    problems = instance_problems(instances, numa, settings)
    if problems or (stats is None and listeners is None and sizes is None):
        return problems
    if sizes is not None:
        if not isinstance(sizes, dict):
            raise AnsibleFilterError("ktransformers_problems: sizes must map weights paths to bytes, got %r"
                                     % type(sizes).__name__)
        problems += memory_fit_problems(resolve_instances(instances, numa, settings), numa, sizes, settings)
    if stats is None and listeners is None:
        return problems
    if isinstance(listeners, str):
        listeners = parse_listeners(listeners)
    if stats is not None and not isinstance(stats, dict):
        raise AnsibleFilterError("ktransformers_problems: stats must map paths to stat results, got %r"
                                 % type(stats).__name__)
    return problems + host_problems(resolve_instances(instances, numa, settings), settings, stats, listeners)


def ktransformers_memory_not_checked(resolved, sizes, settings=None):
    if not isinstance(resolved, list) or not isinstance(sizes, dict):
        raise AnsibleFilterError("ktransformers_memory_not_checked: expected the resolved instances and a dictionary "
                                 "of weights paths to bytes, got %r and %r"
                                 % (type(resolved).__name__, type(sizes).__name__))
    return memory_not_checked(resolved, sizes, _settings(settings, "ktransformers_memory_not_checked"))


def ktransformers_routers(resolved, settings=None):
    if not isinstance(resolved, list):
        raise AnsibleFilterError("ktransformers_routers: expected the output of ktransformers_instances (a list), "
                                 "got %r" % type(resolved).__name__)
    return router_plan(resolved, _settings(settings, "ktransformers_routers"))


def ktransformers_router_problems(router, workers):
    if not isinstance(router, dict) or "workers" not in router:
        raise AnsibleFilterError("ktransformers_router_problems: expected one router of ktransformers_routers, got %r"
                                 % type(router).__name__)
    return router_worker_problems(router, workers)


def ktransformers_router_failure(router, workers, host, error=None):
    if not isinstance(router, dict) or "workers" not in router:
        raise AnsibleFilterError("ktransformers_router_failure: expected one router of ktransformers_routers, got %r"
                                 % type(router).__name__)
    reading = {"active_state": None, "workers": workers, "error": error}
    problems = router_reading_problems(router, reading)
    if not problems:
        return ""
    return router_message(str(host), router, problems, reading,
                          "run playbooks/tune.yml --tags service on %s again" % host)


def ktransformers_restart_routes(routers, readings):
    if not isinstance(routers, list) or not isinstance(readings, list):
        raise AnsibleFilterError("ktransformers_restart_routes: expected the output of ktransformers_routers and the "
                                 "results of reading each router's worker list (two lists), got %r and %r"
                                 % (type(routers).__name__, type(readings).__name__))
    return restart_routes(routers, readings)


def ktransformers_restart_order(instances, routes):
    if not isinstance(instances, list) or not all(isinstance(item, dict) for item in instances) or \
            not isinstance(routes, dict):
        raise AnsibleFilterError("ktransformers_restart_order: expected the instances (a list of dictionaries) and "
                                 "the output of ktransformers_restart_routes, got %r and %r"
                                 % (type(instances).__name__, type(routes).__name__))
    return restart_order(instances, routes)


def ktransformers_replica_restart_failure(route, host, stage, detail):
    if not isinstance(route, dict) or "router_unit" not in route:
        raise AnsibleFilterError("ktransformers_replica_restart_failure: expected one route of "
                                 "ktransformers_restart_routes, got %r" % type(route).__name__)
    if stage == "take_out":
        return not_taken_out(str(host), route, detail)
    if stage == "health":
        return left_out_of_router(str(host), route, detail)
    raise AnsibleFilterError("ktransformers_replica_restart_failure: stage must be take_out or health, got %r" % stage)


def ktransformers_leftovers(resolved, env_files):
    if not isinstance(resolved, list) or not isinstance(env_files, list):
        raise AnsibleFilterError("ktransformers_leftovers: expected the resolved instances and a list of file names, "
                                 "got %r and %r" % (type(resolved).__name__, type(env_files).__name__))
    return leftover_units(resolved, env_files)


def ktransformers_public(instances):
    return instances_without_secrets(instances)


class FilterModule(object):
    def filters(self):
        return {
            "ktransformers_instances": ktransformers_instances,
            "ktransformers_command": ktransformers_command,
            "ktransformers_problems": ktransformers_problems,
            "ktransformers_redact": redact_secrets,
            "ktransformers_public": ktransformers_public,
            "ktransformers_routers": ktransformers_routers,
            "ktransformers_router_problems": ktransformers_router_problems,
            "ktransformers_router_failure": ktransformers_router_failure,
            "ktransformers_leftovers": ktransformers_leftovers,
            "ktransformers_restart_routes": ktransformers_restart_routes,
            "ktransformers_restart_order": ktransformers_restart_order,
            "ktransformers_replica_restart_failure": ktransformers_replica_restart_failure,
            "ktransformers_memory_not_checked": ktransformers_memory_not_checked,
        }
