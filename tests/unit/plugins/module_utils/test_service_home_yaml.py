"""service_home's YAML edit: missing section.key lines added to the user's config.yaml, nothing else touched.

The hosts (the molecule image among them) often lack PyYAML, so the line edit must stand alone:
every edit it makes here is read back with PyYAML and must be the old mapping plus the added keys.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from pathlib import Path

import pytest
import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ansible_collections.ktune.inference.plugins.module_utils import service_home

ROLE = Path(__file__).resolve().parents[4] / "roles" / "ktransformers_service"
WANTED = {"kvc2": {"disk_path": "/var/lib/ktransformers/.ktransformers/kvc2"}, "model": {"name": "DeepSeek-R1"}}
LEGACY = {"state": "present", "backend": "legacy", "name": "r1", "served_model_name": "DeepSeek-R1", "port": 10002,
          "host": "127.0.0.1", "model_path": "/srv/models/r1", "gguf_path": "/srv/models/r1-gguf"}


@pytest.fixture(params=[True, False], ids=["with-pyyaml", "without-pyyaml"])
def pyyaml(request, monkeypatch):
    monkeypatch.setattr(service_home, "HAS_YAML", request.param)
    return request.param


def seeded_config(**instance):
    environment = Environment(loader=FileSystemLoader(str(ROLE / "templates")), undefined=StrictUndefined)
    return environment.get_template("ktransformers-config.yaml.j2").render(
        ktune_service_home="/var/lib/ktransformers", lookup=lambda *args, **kwargs: "0" * 64,
        ktransformers_service_resolved=[dict(LEGACY, **instance)])


@pytest.mark.parametrize("host", ["::", "[::]", "[::1]", "0.0.0.0", "127.0.0.1"])
def test_the_seeded_config_is_yaml_for_any_listen_address(host):
    """Issue 21, item 5: an unquoted `ip: ::` was invalid YAML, and every later run failed on it."""
    config = yaml.safe_load(seeded_config(host=host))
    assert config["server"] == {"ip": host, "port": 10002}
    assert config["model"]["path"] == "/srv/models/r1" and config["kvc2"]["disk_path"].endswith("/kvc2")


def test_the_seeded_config_keeps_cross_domain_requests_off():
    """Issue 21, item 8: upstream's default (True) lets any web page call the API through a browser."""
    assert yaml.safe_load(seeded_config())["web"]["open_cross_domain"] is False


def test_the_seeded_config_needs_no_key_and_the_line_edit_reads_it(pyyaml):
    text = seeded_config()
    assert service_home.add_missing_keys(text, WANTED, "config.yaml") == (text, [])


LAYOUTS = {
    "sections with comments and blank lines": "# head\nkvc2:\n  # note\n  gpu_only: true\n\n\nmodel:\n  type: x\n",
    "four-space indent": "kvc2:\n    gpu_only: true\nmodel:\n    type: x\n",
    "a nested mapping last": "kvc2:\n  gpu_only: true\nmodel:\n  extra:\n    deep: 1\n    deeper:\n      - a\n",
    "a block scalar last": "model:\n  prompt: |\n    line one\n\n    line two\nkvc2:\n  gpu_only: true\n",
    "a header with a comment": "kvc2:   # cache\n  gpu_only: true\nmodel: # the model\n  type: x\n",
    "an empty section": "kvc2:\nmodel:\n  type: x\n",
    "quoted keys": "\"kvc2\":\n  'gpu_only': true\nmodel:\n  \"type\": x\n",
    "a document start": "---\nkvc2:\n  gpu_only: true\n",
    "an empty file": "",
    "only comments": "# nothing yet\n",
    "CRLF line ends": "kvc2:\r\n  gpu_only: true\r\nmodel:\r\n  type: x\r\n",
}


@pytest.mark.parametrize("text", LAYOUTS.values(), ids=list(LAYOUTS))
def test_the_line_edit_reads_back_as_the_old_mapping_plus_the_added_keys(text, monkeypatch):
    monkeypatch.setattr(service_home, "HAS_YAML", False)
    after, added = service_home.add_missing_keys(text, WANTED, "config.yaml")
    old = yaml.safe_load(text) or {}
    expected = dict(old)
    for section, keys in WANTED.items():
        expected[section] = dict(expected.get(section) or {})
        for key, value in keys.items():
            expected[section].setdefault(key, value)
    assert yaml.safe_load(after) == expected
    assert after.startswith(text.rstrip("\n").split("\n")[0])
    assert [line for line in text.splitlines() if line not in after.splitlines()] == []  # no line lost or changed
    again, added_again = service_home.add_missing_keys(after, WANTED, "config.yaml")
    assert (again, added_again) == (after, [])


REFUSED = {
    "a flow mapping for the section": ("kvc2: {gpu_only: true}\n", "kvc2 with its value on the same line (line 1)"),
    "an anchor on the section": ("kvc2: &cache\n  gpu_only: true\n", "kvc2 with its value on the same line (line 1)"),
    "a list at the top": ("- kvc2\n", "line 1, which is not a 'key:' line at the top level"),
    "a list as the section": ("kvc2:\n  - a\n", "line 2, which is not a 'key:' line in kvc2"),
    "two documents": ("a: 1\n---\nb: 2\n", "more than one YAML document (a '---' line at line 2)"),
    "a section twice": ("kvc2:\n  a: 1\nkvc2:\n  b: 2\n", "the key kvc2 twice (lines 1 and 3)"),
    "a tab in the indentation": ("kvc2:\n\tgpu_only: true\n", "a tab in the indentation of line 2"),
}


@pytest.mark.parametrize("text, found", REFUSED.values(), ids=list(REFUSED))
def test_what_the_line_edit_cannot_follow_is_refused_with_the_line(text, found, monkeypatch):
    monkeypatch.setattr(service_home, "HAS_YAML", False)
    with pytest.raises(service_home.Refused) as refusal:
        service_home.add_missing_keys(text, WANTED, "/home/x/config.yaml")
    assert str(refusal.value) == (
        "/home/x/config.yaml: expected a block-style YAML mapping (section: on its own line, its keys indented "
        "below it), found %s. Fix: add the missing keys by hand, or move the file away so it is seeded again" % found)


def test_with_pyyaml_a_file_that_has_the_keys_is_left_alone_whatever_its_style(monkeypatch):
    monkeypatch.setattr(service_home, "HAS_YAML", True)
    text = "kvc2: {disk_path: /x}\nmodel: {name: m}\n"
    assert service_home.add_missing_keys(text, WANTED, "config.yaml") == (text, [])


def test_with_pyyaml_a_top_level_that_is_no_mapping_is_refused(monkeypatch):
    monkeypatch.setattr(service_home, "HAS_YAML", True)
    with pytest.raises(service_home.Refused, match="found a list at the top level"):
        service_home.add_missing_keys("- kvc2\n- model\n", WANTED, "config.yaml")


def test_a_refusal_never_quotes_the_file(pyyaml):
    """The file is the user's and may hold the API key the launcher writes: messages give line numbers."""
    text = "server:\n  api_key: \"legacy-secret-key\"\n  - oops\nkvc2 here\n"
    with pytest.raises(service_home.Refused) as refusal:
        service_home.add_missing_keys(text, WANTED, "config.yaml")
    assert "legacy-secret-key" not in str(refusal.value) and "oops" not in str(refusal.value)


@pytest.mark.parametrize("value, scalar", [("a: b # c", '"a: b # c"'), ("ü", '"ü"'), (True, "true"), (None, "null"),
                                           (3, "3"), ("yes", '"yes"'), ("0750", '"0750"')])
def test_values_are_written_as_scalars_that_read_back_the_same(value, scalar):
    assert service_home.yaml_scalar(value) == scalar
    assert yaml.safe_load("k: %s\n" % scalar)["k"] == value
