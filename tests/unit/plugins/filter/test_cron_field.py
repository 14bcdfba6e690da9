import re

import pytest
from ansible.errors import AnsibleFilterError
from hypothesis import example, given, strategies as st

from ansible_collections.ktune.inference.plugins.filter.cron_field import FIELDS, FilterModule

cron_field_problems = FilterModule().filters()["cron_field_problems"]


@pytest.mark.parametrize("field, value", [
    ("minute", "17"), ("minute", 17), ("minute", 0), ("minute", "*"), ("minute", "*/15"), ("minute", "0,30"),
    ("minute", "5-55/10"), ("minute", "0-59"), ("minute", "59"), ("minute", "00"), ("minute", "1,2,3-7,*/20"),
    ("hour", "0"), ("hour", "23"), ("hour", "*/6"), ("hour", "8-18"), ("hour", "*/23"),
    ("day", "1"), ("day", "31"), ("day", "1,15"), ("day", "*/2"),
    ("month", "1"), ("month", "12"), ("month", "jan"), ("month", "DEC"), ("month", "1-6/2"),
    ("weekday", "0"), ("weekday", "7"), ("weekday", "1-5"), ("weekday", "mon"), ("weekday", "Sun"),
    ("weekday", "0,6"), ("dow", "1-5"), ("day_of_month", "15"),
])
def test_valid_fields_have_no_problems(field, value):
    assert cron_field_problems(value, field, "v") == []


@pytest.mark.parametrize("field, value, reason", [
    ("minute", "61", "61 is outside 0-59"),
    ("minute", "60", "60 is outside 0-59"),
    ("minute", "5-70", "70 is outside 0-59 (in '5-70')"),
    ("minute", "*/0", "step 0 in '*/0' is outside 1-59"),
    ("minute", "*/60", "step 60 in '*/60' is outside 1-59"),
    ("minute", "30-10", "range '30-10' runs backwards; write 10-30"),
    ("minute", "5/10", "a step needs * or a range before it ('5/10': write 5-59/10)"),
    ("minute", "*/x", "step 'x' in '*/x' is not a number"),
    ("minute", "1,,2", "empty list element (stray comma)"),
    ("minute", "1,", "empty list element (stray comma)"),
    ("minute", "-5", "'' is not a number (in '-5')"),
    ("minute", "5-", "'' is not a number (in '5-')"),
    ("minute", "*-5", "'*' is not a number (in '*-5')"),
    ("minute", "1 2", "it contains whitespace"),
    ("minute", "17\n", "it contains whitespace"),
    ("minute", "", "it is empty"),
    ("minute", "  ", "it is empty"),
    ("minute", "@hourly", "@hourly is a whole-schedule shortcut, not a field"),
    ("minute", "1.5", "'1.5' is not a number"),
    ("minute", "١٧", "is not a number"),  # Arabic-Indic digits: int() takes them, cron does not
    ("minute", -1, "'' is not a number (in '-1')"),
    ("hour", "24", "24 is outside 0-23"),
    ("hour", "*/24", "step 24 in '*/24' is outside 1-23"),
    ("day", "0", "0 is outside 1-31"),
    ("day", "32", "32 is outside 1-31"),
    ("day", "?", "'?' is not a number"),
    ("day", "L", "'L' is not a number"),
    ("day", "15W", "'15W' is not a number"),
    ("month", "13", "13 is outside 1-12"),
    ("month", "0", "0 is outside 1-12"),
    ("month", "jan-mar", "names are not allowed in ranges ('jan-mar'); use numbers"),
    ("month", "jan,feb", "names such as 'jan' are only allowed alone, not in a list; use numbers (jan=1)"),
    ("month", "january", "'january' is not a number"),
    ("weekday", "8", "8 is outside 0-7"),
    ("weekday", "mon-fri", "names are not allowed in ranges ('mon-fri'); use numbers"),
    ("weekday", "sat,sun", "names such as 'sun' are only allowed alone, not in a list; use numbers (sun=0)"),
    ("weekday", "1#2", "'1#2' is not a number"),
    ("weekday", "*/8", "step 8 in '*/8' is outside 1-7"),
])
def test_invalid_fields_name_the_variable_value_reason_and_range(field, value, reason):
    problems = cron_field_problems(value, field, "ktune_drop_caches_x")
    assert len(problems) == 1
    low, high = FIELDS.get(field, (None, None))[:2]
    shown = repr(value) if isinstance(value, str) else str(value)
    assert problems[0].startswith("ktune_drop_caches_x = %s is not a valid cron %s field: " % (shown, field))
    assert reason in problems[0]
    assert "allowed: %s-%s" % (low, high) in problems[0]


@pytest.mark.parametrize("value, shown", [(None, "null"), (True, "true"), (False, "false"), ([1, 2], "[1, 2]"),
                                          ({"a": 1}, "{'a': 1}"), (1.5, "1.5")])
def test_non_strings_are_problems_not_errors(value, shown):
    problems = cron_field_problems(value, "hour", "ktune_drop_caches_hour")
    assert len(problems) == 1
    assert problems[0].startswith("ktune_drop_caches_hour = %s is not a valid cron hour field: expected a string" % shown)


def test_every_problem_of_a_list_is_reported_once():
    problems = cron_field_problems("61,*/0,61,5", "minute", "m")
    assert len(problems) == 1
    assert problems[0].count("61 is outside 0-59") == 1
    assert "step 0 in '*/0' is outside 1-59" in problems[0]


def test_name_defaults_to_the_field():
    assert cron_field_problems("99", "hour")[0].startswith("hour = '99' is not a valid cron hour field")


def test_unknown_field_is_an_error():
    with pytest.raises(AnsibleFilterError, match="unknown cron field 'second'"):
        cron_field_problems("1", "second")


# ---- properties -------------------------------------------------------------------------------

def reference_values(text, low, high, names):
    """Independent reading of a field: the set of values it selects, or None when cron would refuse it."""
    if names and text.lower() in names:
        return {names.index(text.lower()) + low}
    selected = set()
    for element in text.split(","):
        match = re.fullmatch(r"(\*|([0-9]+)(?:-([0-9]+))?)(?:/([0-9]+))?", element)
        if not match:
            return None
        star, first, last, step = match.group(1) == "*", match.group(2), match.group(3), match.group(4)
        start, stop = (low, high) if star else (int(first), int(last if last is not None else first))
        if step is not None and not star and last is None:
            return None
        step = 1 if step is None else int(step)
        if not (low <= start <= stop <= high and 1 <= step <= high):
            return None
        selected.update(range(start, stop + 1, step))
    return selected


@st.composite
def valid_fields(draw):
    field = draw(st.sampled_from(sorted(FIELDS)))
    low, high, names = FIELDS[field]
    if names and draw(st.booleans()):
        name = draw(st.sampled_from(names))
        return field, draw(st.sampled_from([name, name.upper(), name.title()]))
    elements = []
    for _unused in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["star", "number", "range"]))
        step = "/%d" % draw(st.integers(1, high)) if kind != "number" and draw(st.booleans()) else ""
        if kind == "star":
            elements.append("*" + step)
        elif kind == "number":
            elements.append(str(draw(st.integers(low, high))))
        else:
            first = draw(st.integers(low, high))
            elements.append("%d-%d%s" % (first, draw(st.integers(first, high)), step))
    return field, ",".join(elements)


@given(valid_fields())
def test_generated_valid_fields_pass(case):
    field, value = case
    assert cron_field_problems(value, field, "v") == []


@given(st.sampled_from(sorted(FIELDS)), st.data())
def test_any_number_out_of_range_is_reported_with_the_range(field, data):
    low, high = FIELDS[field][:2]
    bad = data.draw(st.one_of(st.integers(high + 1, 10 ** 6), st.integers(0, low - 1) if low else st.nothing()))
    value = data.draw(st.sampled_from(["%d" % bad, "%d-%d" % (low, bad) if bad > high else "%d-%d" % (bad, high),
                                       "*/5,%d" % bad]))
    problems = cron_field_problems(value, field, "ktune_drop_caches_%s" % field)
    assert len(problems) == 1
    assert "%d is outside %d-%d" % (bad, low, high) in problems[0]
    assert problems[0].startswith("ktune_drop_caches_%s = %r" % (field, value))


@given(st.sampled_from(sorted(FIELDS)), st.text(alphabet="0123456789*/-,abcdefjlmnorstuvwxy ?#L@\t", max_size=12))
@example("minute", "*/0")
@example("minute", "5-70")
@example("weekday", "8")
def test_the_filter_agrees_with_a_reference_reading(field, value):
    low, high, names = FIELDS[field]
    problems = cron_field_problems(value, field, "v")
    assert isinstance(problems, list) and all(isinstance(p, str) for p in problems)
    assert (problems == []) == (reference_values(value, low, high, names) is not None)
