"""Fixtures shared by the unit tests."""

import pytest
from hypothesis import settings

import topologies
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts

_FACTS = {}

# Hypothesis' per-example deadline measures how busy the machine is, not the code: on CI's two
# shared cores one example of a 0.1 ms test took 265 ms and failed the run as "flaky". Slowness
# is measured side by side in bench/, not here.
settings.register_profile("ktune", deadline=None)
settings.load_profile("ktune")


@pytest.fixture
def numa(tmp_path_factory):
    """numa("epyc-2s-nps2") -> the ktune_numa facts of that catalog topology, read once per run."""
    def read(name):
        if name not in _FACTS:
            tree = topologies.write_tree(topologies.catalog()[name], tmp_path_factory.mktemp(name))
            _FACTS[name] = gather_numa_facts(str(tree / "sys"), str(tree / "proc"))
        return _FACTS[name]
    return read
