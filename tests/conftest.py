"""Make the checkout importable as ansible_collections.ktune.inference, and tests/ helpers importable."""

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
for path in (TESTS.parent / "collections", TESTS):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
