from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
from hypothesis import given, strategies as st

from ansible_collections.ktune.inference.plugins.module_utils.cpulist import (
    CpulistError,
    format_cpulist,
    parse_cpulist,
    parse_cpumask,
)


@pytest.mark.parametrize("text, ids", [
    ("0-3,8,10-11", [0, 1, 2, 3, 8, 10, 11]),
    ("0", [0]),
    ("", []),
    ("\n", []),
    ("5,1,3-4\n", [1, 3, 4, 5]),
    ("0-1,1-2", [0, 1, 2]),
    ("0-95,192-287", list(range(0, 96)) + list(range(192, 288))),
    ("0-7:2/4", [0, 1, 4, 5]),
])
def test_parse_cpulist_examples(text, ids):
    assert parse_cpulist(text) == ids


@pytest.mark.parametrize("text", ["a", "1-", "-1", "3-1", "1,,2", "1;2", "0-7:0/4", "0-7:5/4"])
def test_parse_cpulist_rejects_what_the_kernel_never_writes(text):
    with pytest.raises(CpulistError) as err:
        parse_cpulist(text)
    assert repr(text) in str(err.value)


@pytest.mark.parametrize("ids, text", [
    ([0, 1, 2, 3, 8, 10, 11], "0-3,8,10-11"),
    ([11, 10, 8, 3, 2, 1, 0, 0], "0-3,8,10-11"),
    ([], ""),
    ([7], "7"),
    (range(0, 384, 2), ",".join(str(i) for i in range(0, 384, 2))),
])
def test_format_cpulist_examples(ids, text):
    assert format_cpulist(ids) == text


def test_format_cpulist_rejects_negative_ids():
    with pytest.raises(CpulistError):
        format_cpulist([0, -1])


cpu_sets = st.sets(st.integers(min_value=0, max_value=4096), max_size=300)


@given(cpu_sets)
def test_round_trip_from_ids(ids):
    assert parse_cpulist(format_cpulist(ids)) == sorted(ids)


@given(cpu_sets)
def test_formatted_runs_are_maximal(ids):
    text = format_cpulist(ids)
    bounds = [[int(x) for x in part.split("-")] for part in text.split(",")] if text else []
    ends = [b[-1] for b in bounds]
    starts = [b[0] for b in bounds]
    # Adjacent runs never touch: otherwise they should have been one run.
    assert all(start > end + 1 for end, start in zip(ends, starts[1:]))


@given(st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 64)), max_size=20))
def test_round_trip_from_kernel_style_text(runs):
    text = ",".join("%d-%d" % (first, first + length) if length else str(first) for first, length in runs)
    ids = parse_cpulist(text)
    assert parse_cpulist(format_cpulist(ids)) == ids
    assert set(ids) == set(cpu for first, length in runs for cpu in range(first, first + length + 1))


# --- cpumasks (nodeN/cpumap on kernels without nodeN/cpulist) -------------------------


@pytest.mark.parametrize("text, ids", [
    ("ff", list(range(8))),
    ("00000000,000000f0\n", [4, 5, 6, 7]),
    ("000000ff,fff00000", list(range(20, 40))),
    ("80000000,00000000,00000001", [0, 95]),
    ("00000000", []),
])
def test_parse_cpumask_examples(text, ids):
    assert parse_cpumask(text) == ids


@pytest.mark.parametrize("text", ["", "0x3", "1,,2", "fffffffff,0", "zz", "0-3"])
def test_parse_cpumask_rejects_what_the_kernel_never_writes(text):
    with pytest.raises(CpulistError) as err:
        parse_cpumask(text)
    assert repr(text) in str(err.value)


@given(cpu_sets)
def test_cpumask_written_like_the_kernel_reads_back(ids):
    import topologies
    assert parse_cpumask(topologies.cpumask(ids)) == sorted(ids)
