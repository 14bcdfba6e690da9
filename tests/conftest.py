"""Make the checkout importable as ansible_collections.ktune.inference, and tests/ helpers importable."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

import checkout  # noqa: E402  (found through the line above)

# Under ansible-test the checkout already sits at ansible_collections/ktune/inference.
if not checkout.is_installed_layout():
    COLLECTIONS = str(checkout.ensure_collection_link())
    if COLLECTIONS not in sys.path:
        sys.path.insert(1, COLLECTIONS)
