from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

import topologies
from ansible_collections.ktune.inference.plugins.module_utils.layout import layout_problems, numa_summary
from ansible_collections.ktune.inference.plugins.module_utils.numa import gather_numa_facts

CATALOG = topologies.catalog()


@pytest.fixture
def facts(tmp_path):
    def read(name):
        out = tmp_path / name
        topologies.write_tree(CATALOG[name], out)
        return gather_numa_facts(str(out / "sys"), str(out / "proc"))
    return read


def test_matching_host_has_no_problems(facts):
    assert layout_problems(facts("epyc-2s-nps2"), 2, 2) == []


def test_nps4_host_expected_nps2(facts):
    problems = layout_problems(facts("epyc-2s-64c-nps4"), 2, 2)
    assert len(problems) == 1
    assert problems[0].startswith(
        "expected NPS2 (4 nodes on 2 sockets), found NPS4 (8 nodes with CPUs on 2 sockets). Fix: ")
    for attribute in ('NumaNodesPerSocket="2"', "NumaMemoryDomainsPerSocket=TwoMemoryDomainsPerSocket",
                      "Memory_NUMANodesperSocket=NPS2", "Supermicro NUMANodesPerSocket=NPS2"):
        assert attribute in problems[0]


def test_intel_host_is_told_about_snc(facts):
    problems = layout_problems(facts("xeon8592-2s-snc-off"), 2)
    assert problems[0].startswith("expected SNC2 (4 nodes on 2 sockets), found SNC1 (2 nodes with CPUs on 2 sockets)")
    assert "Sub-NUMA Clustering to SNC2" in problems[0]


def test_nps0_expectation_wording(facts):
    problems = layout_problems(facts("epyc-2s-nps1"), 0)
    assert problems[0].startswith("expected NPS0 (1 node spanning 2 sockets), found NPS1")
    assert "NumaNodesPerSocket=\"0\"" in problems[0]


def test_socket_count(facts):
    problems = layout_problems(facts("epyc-1s-llc-numa-8"), 8, 2)
    assert problems == [problems[0]]
    assert problems[0].startswith("expected 2 sockets, found 1")


def test_memory_only_nodes_refused_unless_allowed(facts):
    cxl = facts("xeon-2s-cxl-memory-only")
    problems = layout_problems(cxl, 1, 2)
    assert len(problems) == 1 and "found nodes 2, 3 with memory and no CPUs" in problems[0]
    assert layout_problems(cxl, 1, 2, allow_memory_only_nodes=True) == []


def test_unbalanced_memory_refused_unless_not_required(facts):
    host = facts("epyc-2s-nps1-unbalanced")
    problems = layout_problems(host, 1)
    assert len(problems) == 1
    assert "node0 393216 MiB, node1 327680 MiB (16.7% apart)" in problems[0]
    assert layout_problems(host, 1, require_balanced_memory=False) == []


def test_every_problem_is_reported_at_once(facts):
    problems = layout_problems(facts("epyc-2s-nps2-memoryless"), 4, 1)
    assert [p.split(",", 1)[0] for p in problems] == [
        "expected 1 socket", "expected NPS4 (4 nodes on 1 socket)", "expected memory on every CPU node within 10% of the largest"]


def test_no_expectation_only_checks_the_rest(facts):
    assert layout_problems(facts("epyc-2s-64c-nps4")) == []


def test_host_without_numa(facts):
    problems = layout_problems(facts("no-numa-kernel"), 1)
    assert problems and problems[0].startswith("expected NUMA nodes in sysfs, found none")


def test_summary_lists_every_node(facts):
    lines = numa_summary(facts("xeon-2s-cxl-memory-only"))
    assert lines[0] == ("SNC1: 2 sockets, 4 NUMA nodes (2 with CPUs), 208 CPUs online (SMT), "
                        "104 physical cores, memory balanced")
    assert lines[1] == "node0: cpus 0-51,104-155, 62.7 GiB, socket 0"
    assert lines[3] == "node2: no CPUs (memory only), 64.0 GiB"
    assert len(lines) == 5


def test_snc3_xeon6_host_matches_three_nodes_per_socket(facts):
    assert layout_problems(facts("xeon-1s-snc3"), 3, 1) == []


def test_snc3_expected_on_an_snc2_host_names_snc3(facts):
    problems = layout_problems(facts("xeon-2s-snc2-interleaved"), 3, 2)
    assert problems[0].startswith("expected SNC3 (6 nodes on 2 sockets), found SNC2"), problems
    assert "Sub-NUMA Clustering to SNC3" in problems[0]


def test_three_nodes_per_socket_on_amd_says_no_amd_bios_offers_it(facts):
    problems = layout_problems(facts("epyc-2s-nps2"), 3, 2)
    assert "no AMD BIOS offers it" in problems[0] and "Set ktune_expected_nodes_per_socket to 1, 2 or 4" in problems[0]
