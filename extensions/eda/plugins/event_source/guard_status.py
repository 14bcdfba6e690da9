# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ktune.inference.guard_status: an Event-Driven Ansible source of ktune host guard state changes.

Polls each host's guard (GET /status of ktune-guard.service, the guard role's readiness
listener) every `interval` seconds, with the host's guard token as "Authorization: Bearer",
and puts one event on the queue for each instance whose state changed since the last poll
(the first poll reports every instance):

    {"ktune_guard": {"host": "gpu-a", "instance": "r1", "state": "hot", "drained": false,
                     "ready": true, "previous": "serving"}}

An event carries no free text from the host: ansible-rulebook hands it to playbooks as extra
vars, which Ansible templates, so a guard's words could run code on the controller. host is
the key of `guards`; instance is a name the service role allows; state and previous come from
a fixed list: the guard's own judgement (serving, hot, draining, cooling, degraded, restarting,
failed, unhealthy, starting), or, with instance "*", "unreachable" (no answer), "unauthorized"
(the guard refused the token) or "invalid" (an answer that is not a list of well-formed
instances). drained tells whether the fleet's drain file holds the instance out
(playbooks/guard_drain.yml); the playbook re-reads what it needs from the guard itself.

Arguments:
    guards:    {inventory host: guard base URL such as http://10.0.0.5:9441} (required)
    tokens:    {inventory host: that guard's token}: the content of its
               /var/lib/ktune-guard/token (from a vault), or
    token_dir: a directory on the controller with one file per host, named as the host,
               holding its token (playbooks/guard_tokens.yml fetches them; owner-only)
    interval:  seconds between polls (default 10)
    timeout:   seconds to wait for one guard (default 5)
    max_polls: stop after this many polls (default: never; for tests)

The guards listen on loopback by default: a central ansible-rulebook needs
ktune_guard_listen_address set to an address it can reach (README, "Fleet rulebook"). The
tokens cross that network in plain HTTP: keep it a management network.
"""

import asyncio
import importlib.util
import json
import os
import re
import sys

HOST_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,252}\Z")


def load_module_util(name, **siblings):
    """A module of the collection's plugins/module_utils, found from this plugin's place in the collection.

    siblings: the modules it imports by plain name outside the collection, lent under those names
    while it loads (and only then: the rulebook's own modules keep theirs)."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.normpath(os.path.join(here, "..", "..", "..", "..", "plugins", "module_utils", name + ".py"))
    spec = importlib.util.spec_from_file_location("ktune_inference_" + name, path)
    module = importlib.util.module_from_spec(spec)
    lent = [plain for plain in siblings if plain not in sys.modules]
    sys.modules.update((plain, siblings[plain]) for plain in lent)
    try:
        spec.loader.exec_module(module)
    finally:
        for plain in lent:
            del sys.modules[plain]
    return module


guard = load_module_util("guard")
secret_file = load_module_util("secret_file")
guard_token = load_module_util("guard_token", secret_file=secret_file)
http_body = load_module_util("http_body")
guard_client = load_module_util("guard_client", guard=guard, http_body=http_body)
SOURCE_STATES = (guard_client.UNREACHABLE, guard_client.UNAUTHORIZED, guard_client.INVALID)


def fetch(url, token, timeout):
    """(list of public instance statuses, None) or (None, one of SOURCE_STATES)."""
    answer, _status, statuses = guard_client.ask_status(url, token, timeout)
    return (statuses, None) if answer == guard_client.OK else (None, answer)


def changes(host, statuses, problem, last):
    """The events for one host's answer; updates last {(host, instance): (state, drained)}."""
    if statuses is None:
        statuses = [{"instance": "*", "state": problem, "ready": False}]
    events = []
    for item in statuses:
        drained = item["state"] == guard.DRAINED
        state = item.get("guard_state", guard.STARTING) if drained else item["state"]
        key = (host, item["instance"])
        previous = last.get(key)
        if previous == (state, drained):
            continue
        last[key] = (state, drained)
        events.append({"ktune_guard": {"host": host, "instance": item["instance"], "state": state,
                                       "drained": drained, "ready": item["ready"],
                                       "previous": previous[0] if previous else None}})
    return events


def guard_tokens(guards, args):
    """{host: token} from the tokens argument or the token_dir; ValueError naming what is missing."""
    tokens = dict(args.get("tokens") or {})
    token_dir = args.get("token_dir")
    missing = []
    for host in guards:
        if not tokens.get(host) and token_dir:
            path = os.path.join(token_dir, host)
            if os.path.lexists(path):
                try:
                    tokens[host] = guard_token.read_token(path)
                except guard_token.TokenError as exc:
                    raise ValueError("ktune.inference.guard_status: %s" % exc)
        if not tokens.get(host):
            missing.append(host)
    if missing:
        raise ValueError("ktune.inference.guard_status: no guard token for %s: set tokens {host: token} or "
                         "token_dir (playbooks/guard_tokens.yml fetches each host's /var/lib/ktune-guard/token)"
                         % ", ".join(sorted(missing)))
    return tokens


def check_guards(guards):
    if not isinstance(guards, dict) or not guards:
        raise ValueError("ktune.inference.guard_status: guards must map inventory hosts to guard URLs")
    bad = [host for host in guards if not isinstance(host, str) or not HOST_NAME.match(host)]
    if bad:
        raise ValueError("ktune.inference.guard_status: guards keys must be inventory host names, found %r" % bad)


async def main(queue, args):
    guards = args.get("guards")
    check_guards(guards)
    tokens = guard_tokens(guards, args)
    interval = float(args.get("interval", 10))
    timeout = float(args.get("timeout", 5))
    max_polls = args.get("max_polls")
    loop = asyncio.get_running_loop()
    last = {}
    polls = 0
    while max_polls is None or polls < int(max_polls):
        for host in sorted(guards):
            statuses, problem = await loop.run_in_executor(None, fetch, guards[host], tokens[host], timeout)
            for event in changes(host, statuses, problem, last):
                await queue.put(event)
        polls += 1
        if max_polls is None or polls < int(max_polls):
            await asyncio.sleep(interval)


if __name__ == "__main__":
    # python guard_status.py http://127.0.0.1:9441 TOKEN: print the events of three polls.

    class PrintQueue(object):
        async def put(self, event):
            print(json.dumps(event))

    asyncio.run(main(PrintQueue(), {"guards": {"host0": sys.argv[1]}, "tokens": {"host0": sys.argv[2]},
                                    "interval": 2, "max_polls": 3}))
