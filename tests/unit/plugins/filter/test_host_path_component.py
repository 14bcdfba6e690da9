"""A host name as one file name on the controller (report_encoding.path_component, the
host_path_component filter, the audit's baseline reader): hostile inventory names never reach
outside the folder they are joined to, ordinary names stay as they are, no two names collide.
Issue 21, item 5."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest
from hypothesis import assume, given, settings, strategies as st

from ansible.errors import AnsibleFilterError

from hostile_text import hostile_text
from ansible_collections.ktune.inference.plugins.action.audit_report import read_baselines
from ansible_collections.ktune.inference.plugins.filter.host_path import host_path_component
from ansible_collections.ktune.inference.plugins.module_utils.report_encoding import path_component

HOST_NAMES = hostile_text(min_size=1).filter(lambda name: 0 < len(name) <= 40)
ORDINARY = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,30}\Z") | st.sampled_from(
    ["10.0.0.5", "fe80::1", "2001:db8::7", "gpu-01.example.com", "node_7"])
EXAMPLES = settings(max_examples=200, deadline=None)


@EXAMPLES
@given(HOST_NAMES)
def test_a_hostile_host_name_is_one_plain_file_name(name):
    component = path_component(name)
    assert "/" not in component and "\x00" not in component
    assert component not in (".", "..") and component[0] not in ".-"
    assert all(" " < char < "\x7f" for char in component)
    folder = os.path.join(os.sep, "reports", "today")
    assert os.path.dirname(os.path.normpath(os.path.join(folder, component))) == folder


@EXAMPLES
@given(HOST_NAMES, HOST_NAMES)
def test_two_host_names_never_share_a_file_name(first, second):
    assume(first != second)
    assert path_component(first) != path_component(second)


@EXAMPLES
@given(ORDINARY)
def test_dns_names_and_addresses_are_kept_as_they_are(name):
    assert path_component(name) == name


@pytest.mark.parametrize("name, component", [
    ("..", "%2E."), (".", "%2E"), ("../../etc", "%2E.%2F..%2Fetc"), ("-rf", "%2Drf"), (".ssh", "%2Essh"),
    ("a/b", "a%2Fb"), ("a\x00b", "a%00b"), ("a\x1b[0m", "a%1B%5B0m"), ("50%", "50%25"),
    ("gpu 1", "gpu%201"), ("h\u00f6st", "h%C3%B6st"), ("\udc80", "%ED%B2%80"),
])
def test_what_is_encoded(name, component):
    assert path_component(name) == component


@pytest.mark.parametrize("name, why", [("", "empty host name"), ("/" * 100, "more than 255")])
def test_a_name_that_makes_no_file_name_fails_the_filter_naming_why(name, why):
    with pytest.raises(AnsibleFilterError, match=why):
        host_path_component(name)


def test_the_filter_refuses_what_is_no_host_name():
    with pytest.raises(AnsibleFilterError, match="expected an inventory host name, got list"):
        host_path_component(["a"])


def test_the_audit_reads_each_baseline_under_the_hosts_file_name_and_nothing_outside(tmp_path):
    baselines = tmp_path / "work" / "ktune-baselines"
    for name in ("gpu-a", "%2E.%2F..%2Fescape", "%2Drf"):
        (baselines / name).mkdir(parents=True)
        (baselines / name / "curve.svg").write_text("<svg>%s</svg>" % name)
    (tmp_path / "escape").mkdir()
    (tmp_path / "escape" / "curve.svg").write_text("<svg>outside</svg>")
    found = read_baselines(str(baselines), ["gpu-a", "../../escape", "-rf", "../escape", ""])
    assert found == {"gpu-a": "<svg>gpu-a</svg>", "../../escape": "<svg>%2E.%2F..%2Fescape</svg>",
                     "-rf": "<svg>%2Drf</svg>"}
