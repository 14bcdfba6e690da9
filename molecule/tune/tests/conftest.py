"""Controller-side helpers: run the real tune.yml against the scenario's containers."""

import os
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(PROJECT / "tests"))
from playbook_run import run_playbook  # noqa: E402


def run_tune(*args):
    """tune.yml against the scenario's inventory; the result has .output (no colours)."""
    return run_playbook("tune.yml", [os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])], *args, timeout=900)


@pytest.fixture(scope="session")
def tune():
    return run_tune
