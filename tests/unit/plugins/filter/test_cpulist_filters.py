import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ktune.inference.plugins.filter.cpulist import FilterModule

FILTERS = FilterModule().filters()


def test_expand():
    assert FILTERS["cpulist_expand"]("0-3,8,10-11") == [0, 1, 2, 3, 8, 10, 11]


def test_compress():
    assert FILTERS["cpulist_compress"]([11, 10, 8, 3, 2, 1, 0]) == "0-3,8,10-11"


def test_compress_accepts_strings_of_digits_from_templates():
    assert FILTERS["cpulist_compress"](["2", "1", "0"]) == "0-2"


@pytest.mark.parametrize("name, value", [
    ("cpulist_expand", "0-x"),
    ("cpulist_compress", "0-3"),
    ("cpulist_compress", [1, -2]),
    ("cpulist_compress", ["a"]),
    ("cpulist_compress", 5),
])
def test_bad_input_raises_a_filter_error(name, value):
    with pytest.raises(AnsibleFilterError) as err:
        FILTERS[name](value)
    assert name in str(err.value)


@pytest.mark.parametrize("value", ["0-999999999999", u"\u0660-\u0663", u"\uff10"])
def test_expand_refuses_unbounded_or_non_ascii_host_text(value):
    from bounded_memory import memory_ceiling
    with memory_ceiling(256):
        with pytest.raises(AnsibleFilterError) as err:
            FILTERS["cpulist_expand"](value)
    assert "cpulist_expand" in str(err.value) and repr(value) in str(err.value)
