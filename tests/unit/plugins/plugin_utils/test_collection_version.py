"""The running collection's own version (plugin_utils/collection_version.py): galaxy.yml's in a
source checkout, MANIFEST.json's once installed, None when neither says."""

import json

from ansible_collections.ktune.inference.plugins.plugin_utils.collection_version import (
    COLLECTION_ROOT,
    collection_version,
)


def test_a_source_checkout_reads_galaxy_yml(tmp_path):
    (tmp_path / "galaxy.yml").write_text("namespace: ktune\nname: inference\nversion: 1.4.0\n")
    assert collection_version(str(tmp_path)) == "1.4.0"


def test_an_installed_collection_reads_its_manifest_before_anything_else(tmp_path):
    (tmp_path / "galaxy.yml").write_text("version: 9.9.9\n")
    (tmp_path / "MANIFEST.json").write_text(json.dumps({"collection_info": {"namespace": "ktune", "version": "1.5.0"}}))
    assert collection_version(str(tmp_path)) == "1.5.0"


def test_neither_file_is_no_version(tmp_path):
    assert collection_version(str(tmp_path)) is None


def test_this_checkout_knows_its_version():
    import yaml
    with open(COLLECTION_ROOT + "/galaxy.yml", encoding="utf-8") as handle:
        assert collection_version() == yaml.safe_load(handle)["version"]
