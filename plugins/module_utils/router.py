# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The router in front of a sharded entry's replicas: its command line, unit, and its worker list judged.

The router is smg (the Shepherd Model Gateway, https://github.com/smg-project/smg), the PyPI
project the SGLang router moved to: sglang-router 0.3.2, its last release, ships the same
gateway and already installs an `smg` command. One router per sharded entry listens on the
entry's host and port; the replicas listen on loopback, on the ports after it. The router's
Prometheus endpoint is bound to loopback on the port after the last replica (smg would take
0.0.0.0:29000 for every router otherwise, and two routers on one host would collide).

tests/integration/test_router_contract.py parses every line built here with the released
smg's own parser, and runs the router in front of test servers.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json


ROUTER_PACKAGE = "smg"
ROUTER_VERSION = "1.13.0"
ROUTER_CONFIG_DIR = "/etc/ktransformers"
# round_robin: every replica holds the whole model, so any replica can take any request, and a
# replica taken out of the router for a restart leaves the others an even share.
ROUTER_POLICY = "round_robin"
ROUTER_HEALTH_PATH = "/health"
LOOPBACK = "127.0.0.1"
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")
# How much of a router's answer a message shows: the answer is the host's data, of any size.
SHOWN_ANSWER = 300
SHOWN_URLS = 5


def _url_host(host):
    if host in WILDCARD_HOSTS:
        return LOOPBACK
    if ":" in host and not host.startswith("["):
        return "[%s]" % host
    return host


def worker_url(replica):
    return "http://%s:%d" % (_url_host(replica["host"]), replica["port"])


def router_plan(resolved, settings=None):
    """One router per sharded entry with replicas present, in the order the entries came.

    Each: name (the entry's), unit, env_file, host, port, metrics_port, workers (the replicas'
    URLs), replica_units, health_url and argv (smg's command line after the python).
    """
    settings = settings or {}
    health_interval = max(1, int(settings.get("router_health_interval_s") or 5))
    routers = []
    by_entry = {}
    for instance in resolved or []:
        entry = instance.get("replica_of")
        if not entry or instance.get("state", "present") != "present":
            continue
        if entry not in by_entry:
            by_entry[entry] = {"name": entry, "unit": "ktransformers-router@%s.service" % entry,
                               "env_file": "%s/router-%s.env" % (ROUTER_CONFIG_DIR, entry),
                               "host": instance.get("router_host") or LOOPBACK, "port": instance["router_port"],
                               "workers": [], "replica_units": [], "startup_timeout_s": 0}
            routers.append(by_entry[entry])
        # A replica may load for as long as its own health check waits; the router keeps trying it that long.
        by_entry[entry]["startup_timeout_s"] = max(by_entry[entry]["startup_timeout_s"],
                                                   int(instance.get("health_timeout_s") or 0))
        by_entry[entry]["workers"].append(worker_url(instance))
        by_entry[entry]["replica_units"].append(instance["unit"])
    for router in routers:
        router["metrics_port"] = router["port"] + len(router["workers"]) + 1
        router["health_url"] = "http://%s:%d%s" % (_url_host(router["host"]), router["port"], ROUTER_HEALTH_PATH)
        router["workers_url"] = "http://%s:%d/workers" % (_url_host(router["host"]), router["port"])
        router["argv"] = router_argv(router, health_interval)
        router["command"] = " ".join(router["argv"])
    return routers


def router_argv(router, health_interval_s=5):
    """`smg launch` and its options (what follows `python -m smg` in the unit)."""
    head = ["launch", "--host", router["host"], "--port", str(router["port"]), "--worker-urls"]
    return head + list(router["workers"]) + [
        "--policy", ROUTER_POLICY,
        "--health-check-endpoint", ROUTER_HEALTH_PATH,
        "--health-check-interval-secs", str(health_interval_s),
        "--worker-startup-timeout-secs", str(max(1, router.get("startup_timeout_s") or 1800)),
        "--prometheus-host", LOOPBACK,
        "--prometheus-port", str(router["metrics_port"]),
        "--log-level", "warn"]


def _norm(url):
    """A worker URL without its trailing slash; "" for anything that is no string (a router's answer is data)."""
    return url.rstrip("/") if isinstance(url, str) else ""


def shown(value):
    """VALUE as JSON, cut to SHOWN_ANSWER characters, for a message."""
    return _cut(json.dumps(value, sort_keys=True, default=repr))


def _cut(text):
    return text if len(text) <= SHOWN_ANSWER else text[:SHOWN_ANSWER] + "..."


def _and_more(count):
    return " and %d more" % count if count > 0 else ""


def _listed(workers):
    """{url: worker} of the entries that name a URL string."""
    return dict((_norm(worker["url"]), worker) for worker in workers
                if isinstance(worker, dict) and isinstance(worker.get("url"), str))


def router_worker_problems(router, workers_doc):
    """What is wrong with a router's worker list (smg's GET /workers), [] when it routes to exactly the replicas.

    The one judgement the role (after a start) and the audit (service.router) share.
    """
    if not isinstance(workers_doc, dict) or not isinstance(workers_doc.get("workers"), list):
        return ["%s answers no worker list at %s (expected smg's {\"workers\": [...]})"
                % (router["unit"], router["workers_url"])]
    listed = _listed(workers_doc["workers"])
    expected = [_norm(url) for url in router["workers"]]
    problems = []
    odd = [worker for worker in workers_doc["workers"]
           if not isinstance(worker, dict) or not isinstance(worker.get("url"), str)]
    if odd:
        problems.append("%s lists a worker without a URL string (expected smg's {\"url\": \"http://...\"}, found %s)%s"
                        % (router["unit"], shown(odd[0]), _and_more(len(odd) - 1)))
    missing = [url for url in expected if url not in listed]
    if missing:
        problems.append("%s does not route to %s (expected every replica registered)"
                        % (router["unit"], ", ".join(missing)))
    unhealthy = [url for url in expected if url in listed and listed[url].get("is_healthy") is not True]
    if unhealthy:
        problems.append("%s marks %s unhealthy" % (router["unit"], ", ".join(unhealthy)))
    extra = sorted(url for url in listed if url not in expected)
    if extra:
        problems.append("%s also routes to %s%s, which is no replica of %s (expected exactly %s)"
                        % (router["unit"], ", ".join(_cut(url) for url in extra[:SHOWN_URLS]),
                           _and_more(len(extra) - SHOWN_URLS), router["name"], ", ".join(expected)))
    return problems


def router_reading_problems(router, reading):
    """What is wrong with one router as read on its host, [] when it is up and routes to exactly its healthy replicas.

    READING: {"active_state": systemd's ActiveState of the router unit or None, "workers": the parsed
    answer of its GET /workers or None, "error": why there is no answer}. The audit's service.router
    grades this; the role's check after a start judges the answer with router_worker_problems.
    """
    reading = reading or {}
    problems = []
    state = reading.get("active_state")
    if state is not None and state != "active":
        problems.append("%s is %s (expected active)" % (router["unit"], state))
    if reading.get("workers") is None:
        problems.append("%s does not answer at %s: %s" % (router["unit"], router["workers_url"],
                                                          reading.get("error") or "no answer"))
        return problems
    return problems + router_worker_problems(router, reading["workers"])


def router_failure(host, router, problems, reading=None, rerun="run the service role again"):
    """(finding, fix) for a router with PROBLEMS on HOST: "expected ..., found ..." and the fix.

    The fix names the replica units to look at: those the router misses or marks unhealthy, every
    replica when the router itself is down or does not answer. RERUN: how to start again.
    """
    listed = {}
    workers = (reading or {}).get("workers")
    if isinstance(workers, dict) and isinstance(workers.get("workers"), list):
        listed = _listed(workers["workers"])
    lost = [unit for url, unit in zip(router["workers"], router["replica_units"])
            if listed.get(_norm(url), {}).get("is_healthy") is not True]
    finding = "expected %s on %s to route to exactly %s, all healthy; found: %s" % (
        router["unit"], host, ", ".join(router["workers"]), "; ".join(problems))
    fix = ("on %s, systemctl status %s shows why a replica is down or missing and journalctl -u %s what the router "
           "saw; then %s" % (host, " ".join(lost or router["replica_units"]), router["unit"], rerun))
    return finding, fix


def router_message(host, router, problems, reading=None, rerun="run the service role again"):
    """The one failure sentence: expected X, found Y. Fix: Z."""
    finding, fix = router_failure(host, router, problems, reading, rerun)
    return "%s. Fix: %s" % (finding, fix)


def _replica_name_of(name, entries):
    """The entry NAME is a replica of (ENTRY-nodeN or ENTRY-socketN), or None."""
    for entry in entries:
        rest = name[len(entry) + 1:] if name.startswith(entry + "-") else ""
        for suffix in ("node", "socket"):
            if rest.startswith(suffix) and rest[len(suffix):].isdigit():
                return entry
    return None


def leftover_units(resolved, env_files):
    """{'replicas': [...], 'routers': [...]}: instance and router names whose files a layout change left.

    ENV_FILES: the base names of the *.env files in the configuration directory. A replica is left
    over when it is ENTRY-nodeN or ENTRY-socketN of an entry on this host and no longer one of its
    instances (per_numa_node -> per_socket, NPS4 -> NPS2, replicas removed); a router when its
    entry no longer has replicas present.
    """
    names = set(item.get("name") for item in resolved or [])
    entries = sorted(set(item.get("entry") or item.get("name") for item in resolved or []), key=len, reverse=True)
    routers = set(router["name"] for router in router_plan(resolved))
    replicas, stale_routers = [], []
    for file_name in sorted(env_files or []):
        if not file_name.endswith(".env"):
            continue
        name = file_name[:-len(".env")]
        if name.startswith("router-"):
            if name[len("router-"):] not in routers:
                stale_routers.append(name[len("router-"):])
        elif name not in names and _replica_name_of(name, entries):
            replicas.append(name)
    return {"replicas": replicas, "routers": stale_routers}


def restart_routes(routers, readings):
    """{replica unit: route} for the replicas whose router answers its worker list now.

    The role restarts such a replica through its router, one at a time: take it out (the router
    stops sending it requests and waits for those in flight), restart it, wait for its health, put
    it back. A replica whose router does not answer (a fresh host, the router down) keeps the plain
    restart: nothing routes to it, and the role starts and checks the router afterwards.

    READINGS: the answers to each router's GET /workers, each a dict with ``item`` (the router it
    read, one of ROUTERS) and ``json`` (the parsed answer, absent when there was none). A route:
    router_unit, router_url, worker_url, replica_unit, listed (the router lists this replica now)
    and others (the other replicas the router lists healthy now: those that serve meanwhile).
    """
    listed_by_router = {}
    for reading in readings or []:
        if not isinstance(reading, dict) or not isinstance(reading.get("item"), dict):
            continue
        doc = reading.get("json")
        if isinstance(doc, dict) and isinstance(doc.get("workers"), list):
            listed_by_router[reading["item"].get("unit")] = _listed(doc["workers"])
    routes = {}
    for router in routers or []:
        if router["unit"] not in listed_by_router:
            continue
        listed = listed_by_router[router["unit"]]
        serving = [unit for url, unit in zip(router["workers"], router["replica_units"])
                   if listed.get(_norm(url), {}).get("is_healthy") is True]
        base = router["workers_url"][:-len("/workers")]
        for url, unit in zip(router["workers"], router["replica_units"]):
            routes[unit] = {"router_unit": router["unit"], "router_url": base, "worker_url": url,
                            "replica_unit": unit, "listed": _norm(url) in listed,
                            "others": [other for other in serving if other != unit]}
    return routes


def restart_order(instances, routes):
    """INSTANCES with the routed replicas their router does not list first (otherwise in their order).

    Such a replica serves no request, so it goes first: back in its router before any other is
    taken out, the router is never left with none (or the run stops at it, the others untouched).
    """
    unlisted = set(unit for unit, route in (routes or {}).items() if not route.get("listed", True))
    return ([item for item in instances if item.get("unit") in unlisted]
            + [item for item in instances if item.get("unit") not in unlisted])


def left_out_of_router(host, route, health_url):
    """What a failed restart of a routed replica adds to the failure: where it is, who serves, how it gets back."""
    others = ", ".join(route["others"]) or "no other replica (none was listed healthy when this one went out)"
    return ("%s stays out of %s (taken out for its restart), which keeps routing to %s; the next run of the service "
            "role on %s puts it back once it answers HTTP 200 at %s"
            % (route["replica_unit"], route["router_unit"], others, host, health_url))


def not_taken_out(host, route, error):
    """The failure of a routed replica its router would not let go: expected, found, fix. It was not restarted.

    ERROR: router_worker's message ("expected X, found Y. Fix: Z"); its generic fix gives way to this one.
    """
    found = str(error).split(". Fix: ", maxsplit=1)[0]
    return ("%s: %s was not restarted: expected %s (%s) to take it out and let its requests end, found: %s. "
            "No request was cut; its new files are written and the next run restarts it through the router "
            "(if the router let it go meanwhile, it serves nothing until then). "
            "Fix: on %s, systemctl status %s and journalctl -u %s show why the router did not let it go; "
            "then run the service role on %s again"
            % (host, route["replica_unit"], route["router_unit"], route["router_url"], found, host,
               route["router_unit"], route["router_unit"], host))
