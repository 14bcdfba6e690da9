"""Make this checkout usable as the collection ktune.inference without a build step.

Ansible finds collections only under <path>/ansible_collections/<namespace>/<name>, and
ansible-test refuses a directory symlink committed in the collection, so the link
collections/ansible_collections/ktune/inference -> ../../.. (what ansible.cfg, molecule.yml
and the tests put on the collection path) is not committed but made here, on demand.

    python3 tests/checkout.py     # makes the link if missing, prints the collections path
"""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / "collections"


def is_installed_layout(root=ROOT):
    """True when the checkout itself sits at .../ansible_collections/ktune/inference (ansible-test)."""
    return root.parts[-3:] == ("ansible_collections", "ktune", "inference")


def ensure_collection_link(root=ROOT):
    """Create collections/ansible_collections/ktune/inference -> ../../.. if missing; return collections/."""
    collections = root / "collections"
    link = collections / "ansible_collections" / "ktune" / "inference"
    if not os.path.lexists(link):
        link.parent.mkdir(parents=True, exist_ok=True)
        try:
            link.symlink_to(Path("..", "..", ".."), target_is_directory=True)
        except FileExistsError:  # made by a parallel process in the meantime
            pass
    if link.resolve() != root.resolve():
        raise SystemExit("%s does not point at %s: remove it and run %s again" % (link, root, __file__))
    return collections


if __name__ == "__main__":
    print(ensure_collection_link())
