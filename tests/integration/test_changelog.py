"""CHANGELOG.md has one source: antsibull-changelog, from changelogs/changelog.yaml (released
versions) and changelogs/fragments/*.yml (the changes since), as Ansible collections keep it.

antsibull-changelog comes from the venv tests/run-all.sh makes beside the main one
(<venv>-changelog; its pins are its own) or KTUNE_ANTSIBULL_CHANGELOG. These tests fail, not skip,
without it.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
CHANGELOGS = PROJECT / "changelogs"
# "issue 21, item 4" means something only to whoever filed it; a change says what changed.
INTERNAL_REFERENCE = re.compile(r"\bissues?[ /#]*\d+", re.I)


@pytest.fixture(scope="module")
def antsibull_changelog():
    path = os.environ.get("KTUNE_ANTSIBULL_CHANGELOG") or os.path.join(sys.prefix + "-changelog", "bin",
                                                                       "antsibull-changelog")
    assert os.access(path, os.X_OK), "%s missing: tests/run-all.sh makes the -changelog venv (pip antsibull-changelog)" % path
    return path


def run(argv, cwd):
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def test_fragments_and_changelog_yaml_pass_the_linters(antsibull_changelog):
    lint = run([antsibull_changelog, "lint"], PROJECT)
    assert lint.returncode == 0 and lint.stdout.strip() == "", lint.stdout + lint.stderr
    lint = run([antsibull_changelog, "lint-changelog-yaml", str(CHANGELOGS / "changelog.yaml")], PROJECT)
    assert lint.returncode == 0 and lint.stdout.strip() == "", lint.stdout + lint.stderr


def test_changelog_md_is_what_antsibull_changelog_generates(antsibull_changelog, tmp_path):
    shutil.copytree(CHANGELOGS, tmp_path / "changelogs")
    shutil.copy(PROJECT / "galaxy.yml", tmp_path)
    done = run([antsibull_changelog, "generate"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    generated = (tmp_path / "CHANGELOG.md").read_text()
    assert "## v0\\.1\\.0" in generated
    assert generated == (PROJECT / "CHANGELOG.md").read_text(), (
        "CHANGELOG.md was edited by hand: change changelogs/ and run `antsibull-changelog generate`")


def test_one_changelog():
    config = yaml.safe_load((CHANGELOGS / "config.yaml").read_text())
    assert config["changelog_filename_template"] == "../CHANGELOG.md" and config["output_formats"] == ["md"]
    assert sorted(path.name for path in PROJECT.glob("CHANGELOG*")) == ["CHANGELOG.md"]


def test_the_fragments_folder_is_in_a_fresh_clone():
    keep = subprocess.run(["git", "ls-files", "--error-unmatch", "changelogs/fragments/.keep"], cwd=PROJECT,
                          capture_output=True, text=True, check=False)
    assert keep.returncode == 0, keep.stderr


def test_no_change_names_an_internal_issue_number():
    found = []
    for path in [PROJECT / "CHANGELOG.md", CHANGELOGS / "changelog.yaml"] + sorted((CHANGELOGS / "fragments").glob("*.yml")):
        found += ["%s: %s" % (path.name, match.group(0)) for match in INTERNAL_REFERENCE.finditer(path.read_text())]
    assert not found
    assert INTERNAL_REFERENCE.search("bugfixes - guard (issue 21, item 3)")
    assert INTERNAL_REFERENCE.search("see https://github.com/ktune/inference/issues/21")
    assert not INTERNAL_REFERENCE.search("known_issues: []")
