"""What a service on the host answers is data from the host: every HTTP read the roles and playbooks
make with ansible.builtin.uri follows no redirect (a local user who binds a port while its service
is down must not send root's request elsewhere) and bounds its wait."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]


def uri_tasks(node):
    if isinstance(node, dict):
        if "ansible.builtin.uri" in node:
            yield node
        for value in node.values():
            yield from uri_tasks(value)
    elif isinstance(node, list):
        for item in node:
            yield from uri_tasks(item)


def every_uri_task():
    for path in sorted(list(ROOT.glob("roles/*/tasks/*.yml")) + list(ROOT.glob("playbooks/**/*.yml"))):
        for task in uri_tasks(yaml.safe_load(path.read_text())):
            yield "%s: %s" % (path.relative_to(ROOT), task.get("name")), task["ansible.builtin.uri"]


def test_there_are_uri_reads_to_check():
    assert len(list(every_uri_task())) >= 2


def test_every_uri_read_follows_no_redirect_and_bounds_its_wait():
    loose = [(where, args.get("follow_redirects"), args.get("timeout")) for where, args in every_uri_task()
             if args.get("follow_redirects") != "none" or not isinstance(args.get("timeout"), int)]
    assert loose == []
