# -*- coding: utf-8 -*-
# Copyright: ktune contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ktune.inference.guard_status: an Event-Driven Ansible source of ktune host guard state changes.

Polls each host's guard (GET /status of ktune-guard.service, the guard role's readiness
listener) every `interval` seconds and puts one event on the queue for each instance whose
state changed since the last poll (the first poll reports every instance):

    {"ktune_guard": {"host": "gpu-a", "instance": "r1", "state": "hot", "drained": false,
                     "ready": true, "reason": "hot: DIMM ...", "previous": "serving"}}

state is the guard's own judgement (serving, hot, draining, cooling, degraded, restarting,
failed, unhealthy; "unreachable" with instance "*" when the guard does not answer); drained
tells whether the fleet's drain file holds the instance out (playbooks/guard_drain.yml).

Arguments:
    guards:    {inventory host: guard base URL such as http://10.0.0.5:9441} (required)
    interval:  seconds between polls (default 10)
    timeout:   seconds to wait for one guard (default 5)
    max_polls: stop after this many polls (default: never; for tests)

The guards listen on loopback by default: a central ansible-rulebook needs
ktune_guard_listen_address set to an address it can reach (the same one a load balancer
checks), or Alertmanager's webhook instead (README, "Fleet rulebook").
"""

import asyncio
import json
import urllib.error
import urllib.request


def fetch(url, timeout):
    """(list of instance statuses, None) or (None, why)."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/status", timeout=timeout) as response:
            data = json.loads(response.read(1 << 20).decode("utf-8"))
    except (OSError, ValueError) as exc:
        return None, str(getattr(exc, "reason", exc))
    if not isinstance(data, list):
        return None, "GET /status did not answer a list"
    return data, None


def changes(host, statuses, why, last):
    """The events for one host's answer; updates last {(host, instance): (state, drained)}."""
    if statuses is None:
        statuses = [{"instance": "*", "state": "unreachable", "ready": False, "reason": why}]
    events = []
    for item in statuses:
        drained = item.get("state") == "drained"
        state = item.get("guard_state") if drained else item.get("state")
        key = (host, item.get("instance"))
        previous = last.get(key)
        if previous == (state, drained):
            continue
        last[key] = (state, drained)
        events.append({"ktune_guard": {"host": host, "instance": item.get("instance"), "state": state,
                                       "drained": drained, "ready": bool(item.get("ready")),
                                       "reason": item.get("reason"), "previous": previous[0] if previous else None}})
    return events


async def main(queue, args):
    guards = args.get("guards")
    if not isinstance(guards, dict) or not guards:
        raise ValueError("ktune.inference.guard_status: guards must map inventory hosts to guard URLs")
    interval = float(args.get("interval", 10))
    timeout = float(args.get("timeout", 5))
    max_polls = args.get("max_polls")
    loop = asyncio.get_running_loop()
    last = {}
    polls = 0
    while max_polls is None or polls < int(max_polls):
        for host in sorted(guards):
            statuses, why = await loop.run_in_executor(None, fetch, guards[host], timeout)
            for event in changes(host, statuses, why, last):
                await queue.put(event)
        polls += 1
        if max_polls is None or polls < int(max_polls):
            await asyncio.sleep(interval)


if __name__ == "__main__":
    # python guard_status.py http://127.0.0.1:9441: print the events of three polls.

    import sys

    class PrintQueue(object):
        async def put(self, event):
            print(json.dumps(event))

    asyncio.run(main(PrintQueue(), {"guards": dict(("host%d" % n, url) for n, url in enumerate(sys.argv[1:])),
                                    "interval": 2, "max_polls": 3}))
