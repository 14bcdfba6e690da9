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


# --- hostile text from a managed host (issue 21, item 7) ---------------------------

from bounded_memory import memory_ceiling  # noqa: E402  (tests/ helper)

# Digits of other scripts that int() and str.isdigit() accept: Arabic-Indic, full-width,
# Devanagari, mathematical bold.
UNICODE_DIGITS = u"\u0660\u0663\uff10\uff13\u0966\U0001d7ce"


@pytest.mark.parametrize("text", ["0-999999999999", "999999999999", "65536", "0-65536", "0-7:1/999999999999"])
def test_parse_cpulist_refuses_ids_above_the_bound_without_expanding_them(text):
    assert parse_cpulist("65534-65535") == [65534, 65535]
    with memory_ceiling(256):
        with pytest.raises(CpulistError) as err:
            parse_cpulist(text)
    assert repr(text) in str(err.value)
    assert "65535" in str(err.value)


def test_parse_cpulist_refuses_a_list_that_expands_past_the_bound():
    text = ",".join(["0-65535"] * 64)
    with memory_ceiling(256):
        with pytest.raises(CpulistError) as err:
            parse_cpulist(text)
    assert "at most 65536" in str(err.value)
    assert len(str(err.value)) < 300  # the 500-character text is cut, not repeated whole


@pytest.mark.parametrize("text", [u"\u0660-\u0663", u"\uff10-\uff13", u"0-\uff13", u"1,\u0662", u"\U0001d7ce",
                                  u"\u0966", u"0-3:\u0661/2", u"1\u00a0", u"1\x1c"])
def test_parse_cpulist_accepts_ascii_digits_only(text):
    with pytest.raises(CpulistError) as err:
        parse_cpulist(text)
    assert repr(text.strip(" \t\r\n")) in str(err.value)


def test_parse_cpulist_refuses_a_number_too_long_for_int():
    with pytest.raises(CpulistError):
        parse_cpulist("1" * 5000)


def test_parse_cpumask_refuses_a_mask_wider_than_the_bound():
    with pytest.raises(CpulistError) as err:
        parse_cpumask(",".join(["ffffffff"] * 2049))
    assert "65536" in str(err.value)


CPULIST_ALPHABET = list("0123456789-,:/ \t\r\n\x00\x1c\x7f") + list(UNICODE_DIGITS)
cpulist_like = st.lists(
    st.tuples(st.integers(0, 10 ** 13), st.integers(0, 10 ** 13), st.sampled_from(["", "-", ":1/2", "-:"])),
    max_size=5,
).map(lambda runs: ",".join("%d%s%d" % (low, sep, high) if sep else str(low) for low, high, sep in runs))


@given(st.one_of(st.text(alphabet=st.sampled_from(CPULIST_ALPHABET), max_size=40), st.text(max_size=20),
                 cpulist_like))
def test_parse_cpulist_gives_bounded_ascii_ids_or_its_own_error(text):
    """Any text: a sorted list of at most 65536 ids in 0..65535, read from ASCII digits only, or CpulistError."""
    with memory_ceiling(256):
        try:
            ids = parse_cpulist(text)
        except CpulistError:
            return
    assert isinstance(ids, list) and len(ids) <= 65536
    assert all(isinstance(cpu, int) and not isinstance(cpu, bool) and 0 <= cpu <= 65535 for cpu in ids)
    assert ids == sorted(set(ids))
    assert not any(ch.isdigit() and ch not in "0123456789" for ch in text)
