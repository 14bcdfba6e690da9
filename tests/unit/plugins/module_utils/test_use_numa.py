from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, strategies as st

from ansible_collections.ktune.inference.plugins.module_utils.use_numa import (
    UseNumaInputError,
    decide,
    parse_mode,
    parse_model_size_gb,
)

# --- the four hosts of the tune scenario ------------------------------------------


@pytest.mark.parametrize("name, mode, enabled", [
    ("epyc-2s-nps2", True, True),
    ("epyc-2s-nps1", False, False),
    ("xeon-2s-snc2-interleaved", "auto", True),
    ("vm-1node-no-cpufreq", "auto", False),
])
def test_scenario_hosts(numa, name, mode, enabled):
    decision = decide(numa(name), mode)
    assert decision["enabled"] is enabled
    assert decision["problems"] == []


def test_auto_on_says_why(numa):
    decision = decide(numa("xeon-2s-snc2-interleaved"), "auto")
    assert decision == {"enabled": True, "mode": "auto", "problems": [],
                        "reason": "auto: 4 NUMA nodes with CPUs (no ktune_model_size_gb: memory for 4 model "
                                  "copies not checked)"}


def test_auto_single_node_off(numa):
    decision = decide(numa("vm-1node-no-cpufreq"), "auto")
    assert decision["reason"] == "auto: 1 NUMA node with CPUs, a NUMA build gains nothing"


def test_auto_nps0_single_node_off(numa):
    assert decide(numa("epyc-2s-nps0"), "auto")["enabled"] is False


def test_false_is_off_and_absent(numa):
    decision = decide(numa("epyc-2s-nps2"), False)
    assert decision["enabled"] is False and decision["problems"] == []
    assert "must be absent" in decision["reason"]


# --- memory: one copy per node with memory -------------------------------------


def test_exactly_enough_ram_is_enough(numa):
    # epyc-2s-nps2: 4 nodes of 64 GiB
    decision = decide(numa("epyc-2s-nps2"), "auto", 64)
    assert decision["enabled"] is True
    assert "64 GiB x 4 nodes = 256.0 GiB fits in 256.0 GiB of RAM" in decision["reason"]


def test_auto_with_too_little_ram_is_off_with_reason(numa):
    decision = decide(numa("epyc-2s-nps2"), "auto", 65)
    assert decision["enabled"] is False and decision["problems"] == []
    assert decision["reason"] == (
        "auto: off because a NUMA build keeps one copy of the model per NUMA node with memory: "
        "65 GiB x 4 nodes = 260.0 GiB needed, the host has 256.0 GiB of RAM")


def test_true_with_too_little_ram_is_a_problem_naming_the_fix(numa):
    decision = decide(numa("epyc-2s-64c-nps4"), "true", "380")
    assert decision["enabled"] is False
    (problem,) = decision["problems"]
    assert problem.startswith("ktune_use_numa is true but a NUMA build keeps one copy")
    assert "380 GiB x 8 nodes = 3040.0 GiB needed, the host has 503.7 GiB of RAM" in problem
    assert "Fix: set the BIOS to NPS1" in problem and "ktune_use_numa: false" in problem


def test_node_count_is_nodes_with_memory(numa):
    # memoryless CPU node: 4 CPU nodes, 3 with memory of 64 GiB -> 3 copies
    facts_ = numa("epyc-2s-nps2-memoryless")
    assert decide(facts_, "true", 64)["enabled"] is True
    assert decide(facts_, "true", 65)["problems"]


def test_memory_only_nodes_count_as_copies_when_allowed(numa):
    facts_ = numa("xeon-2s-cxl-memory-only")
    size = facts_["memory_total_mb"] / 1024.0 / facts_["memory_node_count"]
    assert decide(facts_, "true", size, allow_memory_only_nodes=True)["enabled"] is True
    assert decide(facts_, "true", size + 1, allow_memory_only_nodes="true")["enabled"] is False


# --- memory-only nodes ------------------------------------------------------------


def test_memory_only_nodes_refused_with_true(numa):
    decision = decide(numa("xeon-2s-cxl-memory-only"), True)
    assert decision["enabled"] is False
    (problem,) = decision["problems"]
    assert "memory-only NUMA nodes 2, 3" in problem
    assert "ktune_allow_memory_only_nodes: true" in problem


def test_memory_only_nodes_turn_auto_off(numa):
    decision = decide(numa("xeon-2s-cxl-memory-only"), "auto")
    assert decision["enabled"] is False and decision["problems"] == []
    assert decision["reason"].startswith("auto: off because memory-only NUMA nodes 2, 3")


def test_memory_only_nodes_allowed(numa):
    assert decide(numa("xeon-2s-cxl-memory-only"), "auto", allow_memory_only_nodes=True)["enabled"] is True
    assert decide(numa("epyc-2s-nps1-hbm-sparse"), "true", allow_memory_only_nodes="yes")["enabled"] is True


def test_memory_only_nodes_irrelevant_when_off(numa):
    assert decide(numa("xeon-2s-cxl-memory-only"), "false")["problems"] == []


def test_every_problem_is_listed(numa):
    decision = decide(numa("xeon-2s-cxl-memory-only"), "true", 1000)
    assert len(decision["problems"]) == 2


def test_no_numa_kernel(numa):
    assert decide(numa("no-numa-kernel"), "auto")["enabled"] is False
    decision = decide(numa("no-numa-kernel"), "true")
    assert decision["problems"] and "exposes no NUMA nodes" in decision["problems"][0]


def test_true_on_a_single_node_is_honoured_and_explained(numa):
    decision = decide(numa("vm-1node-no-cpufreq"), "true")
    assert decision["enabled"] is True
    assert "only 1 NUMA node with CPUs" in decision["reason"]


# --- input validation ------------------------------------------------------------


@pytest.mark.parametrize("value, mode", [
    (True, "true"), (False, "false"), ("true", "true"), ("false", "false"), ("True", "true"),
    ("auto", "auto"), ("AUTO", "auto"), ("yes", "true"), ("no", "false"),
])
def test_mode_accepts_bools_and_strings(value, mode):
    assert parse_mode(value) == mode


@pytest.mark.parametrize("value", ["maybe", "", "1", 1, 0, None, "auto-ish"])
def test_mode_rejects_anything_else_naming_the_variable(value):
    with pytest.raises(UseNumaInputError, match="ktune_use_numa must be auto, true or false"):
        parse_mode(value)


@pytest.mark.parametrize("value, size", [(None, None), ("", None), (0, 0.0), (380, 380.0), ("380", 380.0),
                                         ("12.5", 12.5), (7.25, 7.25)])
def test_model_size_accepts_numbers(value, size):
    assert parse_model_size_gb(value) == size


@pytest.mark.parametrize("value", [-5, "-5", "abc", True, "nan", "inf", [1], {}])
def test_model_size_rejects_negative_and_text(value):
    with pytest.raises(UseNumaInputError, match="ktune_model_size_gb must be a number of GiB >= 0"):
        parse_model_size_gb(value)


# --- properties --------------------------------------------------------------------


def synthetic_facts(cpu_nodes, memory_only, node_mib):
    nodes = cpu_nodes + memory_only
    return {"available": True, "cpu_node_count": cpu_nodes, "memory_node_count": nodes,
            "memory_only_nodes": list(range(cpu_nodes, nodes)), "memory_total_mb": node_mib * nodes}


@given(cpu_nodes=st.integers(0, 16), memory_only=st.integers(0, 4), node_mib=st.integers(0, 2 ** 21),
       size=st.one_of(st.none(), st.floats(0, 4096, allow_nan=False)), allow=st.booleans(),
       mode=st.sampled_from(["auto", "true", "false", True, False]))
def test_decision_invariants(cpu_nodes, memory_only, node_mib, size, allow, mode):
    numa = synthetic_facts(cpu_nodes, memory_only, node_mib)
    decision = decide(numa, mode, size, allow)
    assert set(decision) == {"enabled", "mode", "reason", "problems"}
    assert decision["reason"]
    # problems only with true, and then NUMA is off
    if decision["problems"]:
        assert decision["mode"] == "true" and decision["enabled"] is False
    if decision["mode"] == "false":
        assert decision["enabled"] is False and decision["problems"] == []
    if decision["enabled"]:
        # never on with memory-only nodes refused, or RAM for fewer copies than nodes with memory
        assert allow or memory_only == 0
        if size is not None:
            assert numa["memory_total_mb"] >= size * 1024 * numa["memory_node_count"]
        if decision["mode"] == "auto":
            assert cpu_nodes > 1
    # auto is on exactly when true would be on without problems and there is more than one CPU node
    if decision["mode"] == "auto":
        forced = decide(numa, "true", size, allow)
        assert decision["enabled"] == (forced["enabled"] and cpu_nodes > 1)
